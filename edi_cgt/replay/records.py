# Done records: the replay's state, and what makes a run resumable.
#
# Strategy: after an input is replayed, its 277CA is written and then its done record (JSON:
# the result row, counters, rejected-claim rows), each whole (edi_cgt.io.AtomicOutput: rename
# on a disk, one object on a store). An engine only asks plan() which inputs lack a valid
# record, and the summaries are rebuilt from the records of all inputs in path order, so an
# interrupted and resumed run ends with the same summary as an uninterrupted one. A record is
# valid for a rerun when the input's stamp (size and mtime, or the store's version tag) and the
# run's fingerprint are unchanged and the 277CA it names exists.
#
# Records carry no PHI: counts, amounts, claim ids (CLM01), dates and codes of service, payer
# ids and rule ids. Error reasons are scrubbed of quoted segment text unless --log-phi.
from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import __version__, store
from ..io import AtomicOutput, InputError
from ..x12.errors import X12Error
from .config import RECORD_VERSION, Decide, ReplayConfig, fingerprint
from .inputs import done_path

__all__ = ["write_record", "load_record", "load_records", "plan", "sweep_temporaries", "out_dir_lock",
           "summary_config", "iter_records", "error_reason", "write_whole"]

_MAX_REASON = 400


def write_whole(target: str, data: bytes) -> None:
    """One of replay's own files, written whole (directories made as needed, no fsync)."""
    out = AtomicOutput(target, durable=False, makedirs=True)
    try:
        out.write(data)
    except BaseException:
        out.discard()
        raise
    out.commit()


def write_record(config: ReplayConfig, path: str, rec: dict[str, Any]) -> str:
    target = done_path(config, path)
    write_whole(target, json.dumps(rec, separators=(",", ":"), sort_keys=True).encode())
    return target


def _parse(data: bytes | None) -> dict[str, Any] | None:
    if not data:
        return None
    try:
        rec = json.loads(data)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) and rec.get("version") == RECORD_VERSION else None


def _valid(config: ReplayConfig, path: str, rec: dict[str, Any] | None, check: str,
           existing: set[str] | None = None) -> bool:
    if rec is None or rec.get("fingerprint") != check or rec.get("source") != store.stamp(path):
        return False
    ack = (rec.get("row") or {}).get("ack")
    if not ack:
        return True
    target = store.join(config.out_dir, ack)
    if existing is not None:
        return target in existing
    return store.size(target) > 0


def load_record(config: ReplayConfig, path: str, *, check: str | None = None) -> dict[str, Any] | None:
    """The done record of `path`, or None if there is none or (with `check` = fingerprint) it
    is stale: other fingerprint, the input's stamp changed, or its 277CA is missing."""
    rec = _parse(store.read_bytes(done_path(config, path)))
    if check is not None and not _valid(config, path, rec, check):
        return None
    return rec


def load_records(config: ReplayConfig, paths: Sequence[str], *, check: str | None = None) -> dict[str, dict[str, Any]]:
    """{path: record} for those of `paths` that have a (valid, with `check`) done record; on a
    store, one listing of done/ and acks/ and concurrent reads instead of a request per input."""
    if not store.is_url(config.out_dir):
        out = {}
        for p in paths:
            rec = load_record(config, p, check=check)
            if rec is not None:
                out[p] = rec
        return out
    store.invalidate(config.out_dir)
    listed = store.listing(store.join(config.out_dir, "done"))
    wanted = {done_path(config, p): p for p in paths}
    blobs = store.read_many([d for d in wanted if d in listed])
    acks = store.listing(store.join(config.out_dir, "acks")) if check is not None else None
    out = {}
    for target, data in blobs.items():
        p = wanted[target]
        rec = _parse(data)
        if rec is not None and (check is None or _valid(config, p, rec, check, acks)):
            out[p] = rec
    return out


def plan(paths: Sequence[str], config: ReplayConfig, *, force: bool = False,
         decide: Decide | None = None) -> tuple[list[str], list[str]]:
    """Split inputs into (to do, already done) by their done records."""
    if force:
        return list(paths), []
    valid = load_records(config, paths, check=fingerprint(config, decide))
    todo = [p for p in paths if p not in valid]
    done = [p for p in paths if p in valid]
    return todo, done


def iter_records(paths: Sequence[str], config: ReplayConfig) -> Iterator[dict[str, Any]]:
    """The done records of `paths`, in the order given (missing ones are skipped)."""
    if store.is_url(config.out_dir):
        found = load_records(config, paths)
        for p in paths:
            if p in found:
                yield found[p]
        return
    for p in paths:
        rec = load_record(config, p)
        if rec is not None:
            yield rec


def sweep_temporaries(config: ReplayConfig) -> int:
    """Remove what a killed run left: temporary files in OUT/acks and OUT/done (local), and
    the pieces of split inputs in OUT/parts. Returns the number of temporary files."""
    store.remove_tree(store.join(config.out_dir, "parts"))
    if store.is_url(config.out_dir):
        return 0
    n = 0
    for sub in ("acks", "done"):
        for tmp in glob.glob(os.path.join(config.out_dir, sub, "*", ".*.tmp")):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
                n += 1
    return n


@contextlib.contextmanager
def out_dir_lock(config: ReplayConfig) -> Iterator[None]:
    """Hold an exclusive lock on OUT/.lock: one replay per local output directory at a time.
    An object store has no such lock: two runs into one prefix are not prevented."""
    if store.is_url(config.out_dir):
        yield
        return
    import fcntl

    os.makedirs(config.out_dir, exist_ok=True)
    fd = os.open(os.path.join(config.out_dir, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{config.out_dir}: another replay is writing to this output directory") from None
        yield
    finally:
        os.close(fd)


def summary_config(config: ReplayConfig) -> dict[str, Any]:
    """The run settings shown in summary.json and the report (no paths of temporary files)."""
    d = config.decider
    return {
        "policy": d.policy_path or "built-in",
        "site": d.site_path or "",
        "as_of": d.as_of.isoformat() if d.as_of else "",
        "ack_all": config.ack_all,
        "edi_cgt": __version__,
    }


# -- error reasons -------------------------------------------------------------------------
_QUOTED = re.compile(r"'([^'\n]*)'|\"([^\"\n]*)\"")


def error_reason(exc: BaseException, where: str = "", *, log_phi: bool = False) -> str:
    """A one-line reason without PHI: our errors keep their message (less the file name, which
    the row has) with quoted segment text cut to the segment id (kept whole with `log_phi`);
    other exceptions give only their type and where they were raised."""
    if isinstance(exc, (X12Error, InputError, OSError)):
        if isinstance(exc, X12Error):
            text = exc.describe(where="")
        elif isinstance(exc, OSError):
            text = f"{type(exc).__name__}: {exc.strerror or exc}"
        else:
            text = str(exc)
        for name in (where, store.display(where)):
            if name and text.startswith(name + ": "):
                text = text[len(name) + 2:]
        if not log_phi:
            text = _QUOTED.sub(_scrub_quoted, text)
    elif log_phi:
        text = f"internal error {type(exc).__name__}: {exc}"
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "edi_cgt" in f.filename]
        at = ""
        if frames:
            f = frames[-1]
            at = f" at {Path(f.filename).name}:{f.lineno}"
        text = (f"internal error {type(exc).__name__}{at} (details withheld: they may quote claim data; "
                "run `edi-cgt filter` on this file to see them)")
    text = " ".join(text.split())
    return text[:_MAX_REASON]


def _scrub_quoted(m: re.Match[str]) -> str:
    q = "'" if m.group(1) is not None else '"'
    inner = m.group(1) if m.group(1) is not None else m.group(2)
    if len(inner) <= 3:
        return m.group(0)
    head = re.match(r"[A-Za-z0-9]{1,3}", inner)
    return f"{q}{head.group(0) if head else ''}...{q}"
