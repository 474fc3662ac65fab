# Replay: run the policy over archives of 837 files, one file at a time, on any engine.
#
# Strategy: the unit of work is one input file and the work is one pure-ish function,
# `replay_file(path, config)`, that imports no engine. It streams the file through
# `run_filter` (the clean 837 is thrown away), feeds the claims it decides to the 277CA writer
# and to a small collector of rejection counters, writes the 277CA to a name derived from the input's absolute
# path (tmp + rename, so a Spark task that runs twice writes the same file twice), then writes a
# "done record" (JSON, tmp + rename) holding the file's result row, counters and rejected-claim
# rows. A broken file yields a record with `error` set; it never raises.
#
# The done records are the replay's state. An engine (the process pool here, Spark in
# edi_cgt/spark.py) only decides which inputs still lack a valid record and runs replay_file on
# them; the summary files are then rebuilt from the records of all inputs in path order, so an
# interrupted and resumed run ends with the same summary as an uninterrupted one. A record is
# valid for a rerun when the input's size and mtime and the run's fingerprint (policy and site
# file contents, --as-of, --ack-all, PHI choice) are unchanged.
#
# Records carry no PHI: counts, amounts, claim ids (CLM01), dates and codes of service, payer
# ids and rule ids. Error reasons are scrubbed of quoted segment text.
#
# Large uncompressed files are not split at ST boundaries: one file is one task.
from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .claims.model import Claim
from .decider import DeciderConfig, make_decider
from .io import InputError, read_chunks
from .pipeline import run_filter
from .policy.findings import Decision
from .writers.ack277 import AckWriter
from .writers.report import REJECTION_FIELDS, ROW_FIELDS
from .x12.errors import X12Error

__all__ = [
    "RECORD_VERSION",
    "ROW_FIELDS",
    "REJECTION_FIELDS",
    "ReplayConfig",
    "ReplayRun",
    "Collector",
    "discover_inputs",
    "input_key",
    "ack_path",
    "done_path",
    "fingerprint",
    "replay_file",
    "replay_partition",
    "load_record",
    "plan",
    "sweep_temporaries",
    "out_dir_lock",
    "replay_local",
    "summary_config",
    "iter_records",
    "stderr_progress",
    "error_reason",
    "write_record",
]

RECORD_VERSION = 2  # 2: rejection reason/passage/fix, warnings, by_provider

Decide = Callable[[Claim], Decision]
_NO_VALUE = "(none)"
_MAX_REASON = 400


# -- configuration -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """Everything a worker needs besides the input path (small and picklable)."""

    out_dir: str
    decider: DeciderConfig = DeciderConfig()
    ack_all: bool = False
    ack_phi: bool = False  # patient names/ids in the 277CAs (the global --log-phi opt-in)
    # Codes named in rejections.csv's hcpcs column. None: the policy's trigger codes when the
    # policy package is available, else the codes findings name. (The per-therapy counters
    # count a claim under the policy's therapy drug codes.)
    therapy_codes: frozenset[str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_dir", os.path.abspath(self.out_dir))


# -- inputs and names ----------------------------------------------------------------------
_GLOB_CHARS = re.compile(r"[*?\[]")


def discover_inputs(specs: Iterable[str], *, exclude: Sequence[str] = ()) -> list[str]:
    """Absolute paths of the input files named by `specs`, sorted and without duplicates.

    A spec is a file, a directory (walked recursively; names starting with '.' are skipped)
    or a glob (`**` recursive). Paths under any `exclude` directory (the output) are skipped.
    Raises InputError for a spec that names nothing.
    """
    skip = [os.path.abspath(e) for e in exclude]
    found: dict[str, None] = {}

    def take(path: str) -> None:
        full = os.path.abspath(path)
        if any(full == s or full.startswith(s.rstrip(os.sep) + os.sep) for s in skip):
            return
        found.setdefault(full, None)

    for spec in specs:
        if os.path.isdir(spec):
            for root, dirs, files in os.walk(spec):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in files:
                    if not name.startswith("."):
                        take(os.path.join(root, name))
        elif os.path.isfile(spec):
            take(spec)
        elif _GLOB_CHARS.search(spec):
            matches = [m for m in glob.glob(spec, recursive=True) if os.path.isfile(m)]
            if not matches:
                raise InputError(f"{spec}: the pattern matches no file")
            for m in matches:
                take(m)
        else:
            raise InputError(f"{spec}: no such file or directory")
    return sorted(found)


def input_key(path: str) -> str:
    """A stable id for an input: sha1 of its absolute path."""
    return hashlib.sha1(os.path.abspath(path).encode("utf-8", "surrogateescape")).hexdigest()


def _stem(path: str) -> str:
    name = os.path.basename(path)
    if name.lower().endswith(".gz"):
        name = name[:-3]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "input"
    return name[:80]


def _name(path: str) -> tuple[str, str]:
    key = input_key(path)
    return key[:2], f"{_stem(path)}.{key[:12]}"


def ack_path(config: ReplayConfig, path: str) -> str:
    """Where the 277CA for `path` goes: OUT/acks/<2 hex>/<name>.<12 hex>.277"""
    shard, name = _name(path)
    return os.path.join(config.out_dir, "acks", shard, name + ".277")


def done_path(config: ReplayConfig, path: str) -> str:
    """Where the done record for `path` goes: OUT/done/<2 hex>/<name>.<12 hex>.json"""
    shard, name = _name(path)
    return os.path.join(config.out_dir, "done", shard, name + ".json")


# -- fingerprint ---------------------------------------------------------------------------
_FINGERPRINTS: dict[tuple[ReplayConfig, str], str] = {}


def fingerprint(config: ReplayConfig, decide: Decide | None = None) -> str:
    """Hash of what decides a file's result besides the file itself (for resuming)."""
    label = "" if decide is None else f"{getattr(decide, '__module__', '')}.{getattr(decide, '__qualname__', repr(decide))}"
    cached = _FINGERPRINTS.get((config, label))
    if cached is not None:
        return cached
    h = hashlib.sha256()
    d = config.decider

    def add(*parts: object) -> None:
        for part in parts:
            h.update(part if isinstance(part, bytes) else str(part).encode())
            h.update(b"\0")

    add(RECORD_VERSION, __version__, config.ack_all, config.ack_phi, d.as_of, label)
    add(sorted(config.therapy_codes) if config.therapy_codes is not None else None)
    # The built-in policy data always counts: a policy file may be a revision on top of it.
    data = Path(__file__).resolve().parent / "policy" / "data"
    for item in sorted(data.glob("*")) if data.is_dir() else ():
        add(item.name, _file_digest(str(item)))
    add(_file_digest(d.policy_path) if d.policy_path else None)
    add(_file_digest(d.site_path) if d.site_path else None)
    value = h.hexdigest()[:16]
    _FINGERPRINTS[(config, label)] = value
    return value


def _file_digest(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError as exc:
        return f"unreadable:{exc.errno}"


# -- per-process caches (workers and Spark executors build the policy once) ----------------
_DECIDERS: dict[DeciderConfig, Decide] = {}
_POLICY_CODES: dict[str | None, tuple[frozenset[str], frozenset[str]] | None] = {}


def _decider(config: DeciderConfig) -> Decide:
    fn = _DECIDERS.get(config)
    if fn is None:
        fn = _DECIDERS[config] = make_decider(config)
    return fn


def _therapy_codes(config: ReplayConfig) -> frozenset[str] | None:
    if config.therapy_codes is not None:
        return config.therapy_codes
    codes = _policy_codes(config)
    return codes[0] if codes else None


def _policy_codes(config: ReplayConfig) -> tuple[frozenset[str], frozenset[str]] | None:
    """(trigger codes, therapy drug codes) of the run's policy in every revision; None when no
    policy loads (then the codes findings name stand in)."""
    key = config.decider.policy_path
    if key not in _POLICY_CODES:
        try:
            from .policy import load_policy, trigger_codes

            policy = load_policy(key)
            drugs: frozenset[str] = frozenset().union(*(v.therapies for v in policy.views()))
            _POLICY_CODES[key] = (frozenset(trigger_codes(policy)), drugs)
        except Exception:  # noqa: BLE001 - no usable policy: fall back to the codes findings name
            _POLICY_CODES[key] = None
    return _POLICY_CODES[key]


# -- the claim collector -------------------------------------------------------------------
@dataclass(slots=True)
class Collector:
    """A ClaimSink that keeps a row per rejected claim and per warning, and counts rejected
    claims and their charges per rule, therapy (drug code), payer, month of service and billing
    provider, and warned claims per rule and billing provider. Rows of a transaction that is
    then passed through are dropped.

    Accepted claims are not counted here: the pipeline's fast path copies a transaction in which
    nothing is rejected without showing its claims to the sinks (accepted claims are counted in
    the totals, FilterStats, only). Every rejected claim reaches `add`, and every claim with a
    finding reaches `add` or `add_findings`.
    """

    therapy_codes: frozenset[str] | None = None  # codes named in the `hcpcs` column
    drug_codes: frozenset[str] | None = None  # therapy (drug) codes: a claim counts once under each
    by_rule: dict[str, list] = field(default_factory=dict)
    by_therapy: dict[str, list] = field(default_factory=dict)
    by_payer: dict[str, list] = field(default_factory=dict)
    by_month: dict[str, list] = field(default_factory=dict)
    by_provider: dict[str, list] = field(default_factory=dict)  # billing NPI: [rejected, charges, warned]
    providers: dict[str, str] = field(default_factory=dict)  # billing NPI: name (provider data, not PHI)
    warnings_by_rule: dict[str, list] = field(default_factory=dict)  # rule: [claims, findings]
    rejections: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    pending: list[tuple[Claim, Decision]] = field(default_factory=list)
    transaction: int | None = None

    def add(self, claim: Claim, decision: Decision) -> None:
        self._enter(claim.location.transaction_index if claim.location else None)
        if decision.findings:
            self.pending.append((claim, decision))

    # A claim with findings (warnings) that the fast path read and accepted in a transaction it
    # copies whole; its count is in add_unread's.
    add_findings = add

    def add_unread(self, transaction: Any, transaction_index: int, billing_provider: Any, claims: int,
                   charges: Decimal) -> None:
        """Accepted claims the fast path did not read (so without findings): nothing to keep."""
        self._enter(transaction_index)

    def _enter(self, transaction_index: int | None) -> None:
        """Commit the rows of the previous transaction when a new one begins."""
        if transaction_index != self.transaction:
            self._commit()
            self.transaction = transaction_index

    def discard_transaction(self) -> None:
        self.pending.clear()
        self.transaction = None

    def finish(self) -> None:
        self._commit()

    def counters(self) -> dict[str, Any]:
        """{dimension: {key: {"rejected": claims, "charges_rejected": amount}}} (by_provider also
        "warned": claims with a warning), `warnings_by_rule` {rule: {"claims", "findings"}} and
        `providers` {NPI: name}."""
        out: dict[str, Any] = {
            name: {key: {"rejected": b[0], "charges_rejected": str(b[1])} for key, b in sorted(getattr(self, name).items())}
            for name in ("by_rule", "by_therapy", "by_payer", "by_month")
        }
        out["by_provider"] = {key: {"rejected": b[0], "charges_rejected": str(b[1]), "warned": b[2]}
                              for key, b in sorted(self.by_provider.items())}
        out["providers"] = dict(sorted(self.providers.items()))
        out["warnings_by_rule"] = {key: {"claims": b[0], "findings": b[1]} for key, b in sorted(self.warnings_by_rule.items())}
        return out

    def _commit(self) -> None:
        for claim, decision in self.pending:
            self._count(claim, decision)
        self.pending.clear()

    def _count(self, claim: Claim, decision: Decision) -> None:
        dates = claim.service_dates
        charge = claim.total_charge
        codes = _therapies(claim, decision, self.therapy_codes)
        base = {
            "claim_id": claim.claim_id,
            "service_date": dates.start.isoformat() if dates else "",
            "hcpcs": " ".join(codes or _line_codes(claim)),
        }
        where = {
            "transaction": claim.transaction.transaction_control if claim.transaction else "",
            "segment": claim.location.segment_number if claim.location else None,
        }
        bp = claim.billing_provider
        npi = (bp.npi if bp is not None else None) or _NO_VALUE
        if bp is not None and bp.name:
            self.providers.setdefault(npi, bp.name)
        provider = self.by_provider.setdefault(npi, [0, Decimal(0), 0])
        if decision.rejected:
            errors = decision.errors
            rules = tuple(dict.fromkeys(f.rule_id for f in errors))
            _bump(self.by_payer, claim.payer.payer_id if claim.payer and claim.payer.payer_id else _NO_VALUE, charge)
            _bump(self.by_month, f"{dates.start:%Y-%m}" if dates else _NO_VALUE, charge)
            for key in _drug_keys(claim, decision, codes, self.drug_codes):
                _bump(self.by_therapy, key, charge)
            for rule in rules:
                _bump(self.by_rule, rule, charge)
            provider[0] += 1
            provider[1] += charge
            self.rejections.append({**base, "rules": " ".join(rules), "charge": str(charge), **where,
                                    **_reasons(errors)})
        warned = decision.warnings
        if warned:
            provider[2] += 1
            for rule in dict.fromkeys(f.rule_id for f in warned):
                self.warnings_by_rule.setdefault(rule, [0, 0])[0] += 1
            for f in warned:
                self.warnings_by_rule[f.rule_id][1] += 1
                self.warnings.append({**base, "rule": f.rule_id, "line": f.line_number, "code": f.code or "",
                                      "reason": f.message, "passage": f.passage, "fix": f.fix,
                                      "decision": "reject" if decision.rejected else "accept", **where})


def _reasons(findings: Iterable[Any]) -> dict[str, str]:
    """reason, passage and fix columns of a rejected claim: one part per error finding (passage
    and fix once each), parts separated by ' | '."""
    findings = tuple(findings)
    return {
        "reason": " | ".join(f"{f.rule_id}: {f.message}" for f in findings),
        "passage": " | ".join(dict.fromkeys(f.passage for f in findings if f.passage)),
        "fix": " | ".join(dict.fromkeys(f"{f.rule_id}: {f.fix}" for f in findings if f.fix)),
    }


def _bump(table: dict[str, list], key: str, charge: Decimal) -> None:
    b = table.get(key)
    if b is None:
        b = table[key] = [0, Decimal(0)]
    b[0] += 1
    b[1] += charge


NO_DRUG = "(no drug code)"  # by_therapy key prefix: a claim without a therapy (drug) code


def _drug_keys(claim: Claim, decision: Decision, codes: tuple[str, ...], drugs: frozenset[str] | None) -> tuple[str, ...]:
    """The by_therapy keys a rejected claim counts under, once each: its therapy (drug) codes;
    without one (38228 alone, say), NO_DRUG followed by the policy codes it does carry."""
    if drugs is None:
        return codes or (_NO_VALUE,)
    found = tuple(dict.fromkeys(ln.code for ln in claim.lines if ln.code in drugs))
    return found or (f"{NO_DRUG} {' '.join(codes)}".rstrip(),)


def _therapies(claim: Claim, decision: Decision, codes: frozenset[str] | None) -> tuple[str, ...]:
    """The claim's cell/gene therapy codes: its line codes that are CGT codes, else (for a claim
    with findings) the codes the findings name or point at."""
    seen: dict[str, None] = {}
    if codes is not None:
        for line in claim.lines:
            if line.code and line.code in codes:
                seen.setdefault(line.code, None)
    if not seen and decision.findings:
        by_number = {ln.number: ln.code for ln in claim.lines}
        for f in decision.findings:
            code = f.code or (by_number.get(f.line_number) if f.line_number is not None else None)
            if code:
                seen.setdefault(code, None)
    return tuple(seen)


def _line_codes(claim: Claim) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ln.code for ln in claim.lines if ln.code))


# -- one file ------------------------------------------------------------------------------
class _Discard:
    """The clean 837 of a replay goes nowhere."""

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def replay_file(path: str, config: ReplayConfig, *, decide: Decide | None = None, record: bool = True) -> dict[str, Any]:
    """Replay one input file; return its record (and write it to done_path when `record`).

    The record holds the result row (ROW_FIELDS), the counters (`by_rule`, `by_therapy`,
    `by_payer`, `by_month`, `by_provider`, `warnings_by_rule`; see Collector.counters),
    `providers`, `rejections` (REJECTION_FIELDS dicts), `warnings` (WARNING_FIELDS dicts) and
    bookkeeping (`version`, `fingerprint`, `source` size/mtime). Any exception reading the file
    becomes `error`.
    """
    t0 = time.perf_counter()
    source = os.path.abspath(path)
    target = ack_path(config, source)
    row: dict[str, Any] = {name: 0 for name in ROW_FIELDS}
    row.update(file=source, charges_in="0", charges_rejected="0", error="", ack="")
    rec: dict[str, Any] = {"version": RECORD_VERSION, "fingerprint": fingerprint(config, decide),
                           "source": _source_stamp(source), "row": row,
                           "by_rule": {}, "by_therapy": {}, "by_payer": {}, "by_month": {}, "rejections": [],
                           "by_provider": {}, "providers": {}, "warnings_by_rule": {}, "warnings": []}
    row["stored_bytes"] = rec["source"]["size"] if rec["source"] else 0
    try:
        decide_fn = decide or _decider(config.decider)
        codes = config.therapy_codes or getattr(decide_fn, "trigger_codes", None) or _therapy_codes(config)
        collector = Collector(therapy_codes=codes, drug_codes=(_policy_codes(config) or (None, None))[1])
        out = _LazyAtomicFile(target)
        try:
            ack = AckWriter(out, ack_all=config.ack_all, include_phi=config.ack_phi)  # type: ignore[arg-type]
            stats = run_filter(read_chunks(source), out=_Discard(), decide=decide_fn,  # type: ignore[arg-type]
                               sinks=[ack, collector], where=source, fast=not config.ack_all)
            ack.close()
            collector.finish()
        except BaseException:
            out.discard()
            raise
        if out.commit():
            row["ack"] = os.path.relpath(target, config.out_dir)
        else:
            _unlink(target)  # left by an earlier run with other settings
        row.update(
            bytes=stats.bytes_in, transactions=stats.transactions,
            transactions_passed_through=stats.transactions_passed_through, claims_in=stats.claims_in,
            accepted=stats.accepted, rejected=stats.rejected, unevaluated=stats.unevaluated,
            warnings=stats.warnings, charges_in=str(stats.charges_in), charges_rejected=str(stats.charges_rejected),
        )
        rec.update(collector.counters())
        rec["rejections"] = collector.rejections
        rec["warnings"] = collector.warnings
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a replay
        _unlink(target)
        row["error"] = error_reason(exc, source)
    row["seconds"] = round(time.perf_counter() - t0, 4)
    if record:
        write_record(config, source, rec)
    return rec




def _source_stamp(path: str) -> dict[str, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


_QUOTED = re.compile(r"'([^'\n]*)'|\"([^\"\n]*)\"")


def error_reason(exc: BaseException, where: str = "") -> str:
    """A one-line reason without PHI: our errors keep their message (less the file name, which
    the row has) with quoted segment text cut to the segment id; other exceptions give only
    their type and where they were raised."""
    if isinstance(exc, (X12Error, InputError, OSError)):
        if isinstance(exc, X12Error):
            text = exc.describe(where="")
        elif isinstance(exc, OSError):
            text = f"{type(exc).__name__}: {exc.strerror or exc}"
        else:
            text = str(exc)
        if where and text.startswith(where + ": "):
            text = text[len(where) + 2:]
        text = _QUOTED.sub(_scrub_quoted, text)
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


def write_record(config: ReplayConfig, path: str, rec: dict[str, Any]) -> str:
    target = done_path(config, path)
    out = _LazyAtomicFile(target)
    try:
        out.write(json.dumps(rec, separators=(",", ":"), sort_keys=True).encode())
    except BaseException:
        out.discard()
        raise
    out.commit()
    return target


class _LazyAtomicFile:
    """A file that appears at `target` by rename on commit(), and that exists (as a temporary
    file beside the target, directory created as needed) only once something is written to it:
    most inputs of an archive have nothing to acknowledge, and they cost no file at all.

    No fsync per file (it dominated the run time on small files): a kill leaves whole files or
    temporaries (swept on the next run); after a power failure a record may be empty or its
    277CA missing, and load_record then treats the input as not done."""

    __slots__ = ("target", "_tmp", "_f")

    def __init__(self, target: str) -> None:
        self.target = target
        self._tmp: str | None = None
        self._f: Any = None

    def write(self, data: bytes) -> int:
        if self._f is None:
            if not data:
                return 0
            directory, name = os.path.split(self.target)
            os.makedirs(directory, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
            self._f = os.fdopen(fd, "wb", buffering=1 << 16)
        return self._f.write(data)

    def flush(self) -> None:
        pass

    def commit(self) -> bool:
        """Rename into place; False (and nothing written) if nothing was ever written."""
        if self._f is None:
            return False
        try:
            self._f.close()
            os.chmod(self._tmp, 0o644 & ~_umask())  # type: ignore[arg-type]
            os.replace(self._tmp, self.target)  # type: ignore[arg-type]
        except BaseException:
            self.discard()
            raise
        self._f = self._tmp = None
        return True

    def discard(self) -> None:
        if self._f is not None:
            with contextlib.suppress(OSError):
                self._f.close()
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)  # type: ignore[arg-type]
        self._f = self._tmp = None


_UMASK: int | None = None


def _umask() -> int:
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0)
        os.umask(_UMASK)
    return _UMASK


def load_record(config: ReplayConfig, path: str, *, check: str | None = None) -> dict[str, Any] | None:
    """The done record of `path`, or None if there is none or (with `check` = fingerprint) it
    is stale: other fingerprint, or the input's size or mtime changed."""
    try:
        with open(done_path(config, path), "rb") as fh:
            rec = json.loads(fh.read())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("version") != RECORD_VERSION:
        return None
    if check is not None:
        if rec.get("fingerprint") != check or rec.get("source") != _source_stamp(os.path.abspath(path)):
            return None
        ack = (rec.get("row") or {}).get("ack")
        if ack and not _nonempty(os.path.join(config.out_dir, ack)):
            return None
    return rec


def _nonempty(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def replay_partition(paths: Iterable[str], config: ReplayConfig, *, decide: Decide | None = None) -> Iterator[dict[str, Any]]:
    """replay_file over an iterable of paths (a Spark partition); yields the records."""
    for path in paths:
        yield replay_file(path, config, decide=decide)


def plan(paths: Sequence[str], config: ReplayConfig, *, force: bool = False,
         decide: Decide | None = None) -> tuple[list[str], list[str]]:
    """Split inputs into (to do, already done) by their done records."""
    if force:
        return list(paths), []
    check = fingerprint(config, decide)
    todo: list[str] = []
    done: list[str] = []
    for p in paths:
        (done if load_record(config, p, check=check) is not None else todo).append(p)
    return todo, done


def sweep_temporaries(config: ReplayConfig) -> int:
    """Remove temporary files a killed run left in OUT/acks and OUT/done. Returns the count."""
    n = 0
    for sub in ("acks", "done"):
        for tmp in glob.glob(os.path.join(config.out_dir, sub, "*", ".*.tmp")):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
                n += 1
    return n


@contextlib.contextmanager
def out_dir_lock(config: ReplayConfig) -> Iterator[None]:
    """Hold an exclusive lock on OUT/.lock: one replay per output directory at a time."""
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


def iter_records(paths: Sequence[str], config: ReplayConfig) -> Iterator[dict[str, Any]]:
    """The done records of `paths`, in the order given (missing ones are skipped)."""
    for p in paths:
        rec = load_record(config, p)
        if rec is not None:
            yield rec


# -- local engine --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReplayRun:
    """What an engine did: inputs processed now, inputs skipped as done, and the summary."""

    processed: int
    skipped: int
    seconds: float
    summary: dict[str, Any]


_WORKER_CONFIG: tuple[ReplayConfig, Decide | None] | None = None


def _worker_init(config: ReplayConfig, decide: Decide | None) -> None:
    global _WORKER_CONFIG
    # The parent handles SIGINT/SIGTERM (it terminates the pool); workers just stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _WORKER_CONFIG = (config, decide)


def _worker_run(path: str) -> dict[str, Any]:
    assert _WORKER_CONFIG is not None
    config, decide = _WORKER_CONFIG
    rec = replay_file(path, config, decide=decide)
    return rec["row"]  # the record itself is on disk; the parent needs the row for progress


def replay_local(
    paths: Sequence[str],
    config: ReplayConfig,
    *,
    jobs: int | None = None,
    force: bool = False,
    decide: Decide | None = None,
    progress: TextIO | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> ReplayRun:
    """Replay `paths` on this machine with `jobs` processes (None: all cores; 1: in-process),
    skipping inputs with a valid done record unless `force`, then write the summary files.

    `progress`: a stream for a progress line (pass sys.stderr when it is a terminal).
    `on_row(row)` is called in the parent for each input finished in this run.
    """
    from .writers.report import write_summary

    t0 = time.perf_counter()
    jobs = max(1, jobs or os.cpu_count() or 1)
    paths = sorted(os.path.abspath(p) for p in paths)
    with out_dir_lock(config):
        sweep_temporaries(config)
        todo, done = plan(paths, config, force=force, decide=decide)
        bar = _Progress(progress, len(todo), len(done))
        try:
            for row in _run_pool(todo, config, jobs, decide):
                bar.update(row)
                if on_row is not None:
                    on_row(row)
        finally:
            bar.close()
        summary = write_summary(config.out_dir, iter_records(paths, config), config=summary_config(config))
    return ReplayRun(processed=len(todo), skipped=len(done), seconds=time.perf_counter() - t0, summary=summary)


def _run_pool(todo: list[str], config: ReplayConfig, jobs: int, decide: Decide | None) -> Iterator[dict[str, Any]]:
    if not todo:
        return
    if jobs == 1 or len(todo) == 1:
        for path in todo:
            yield replay_file(path, config, decide=decide)["row"]
        return
    import multiprocessing

    if decide is None:
        _decider(config.decider)  # loaded once here; forked workers inherit it
    workers = min(jobs, len(todo))
    chunk = max(1, min(8, len(todo) // (workers * 8)))
    pool = multiprocessing.get_context().Pool(workers, initializer=_worker_init, initargs=(config, decide))
    try:
        yield from pool.imap_unordered(_worker_run, todo, chunksize=chunk)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


class _Progress:
    """One self-rewriting stderr line: files, claims, MB/s. Silent without a stream."""

    def __init__(self, stream: TextIO | None, total: int, skipped: int) -> None:
        self._s = stream
        self._total = total
        self._skipped = skipped
        self._files = self._claims = self._bytes = self._errors = 0
        self._t0 = time.perf_counter()
        self._last = 0.0
        self._width = 0

    def update(self, row: dict[str, Any]) -> None:
        self._files += 1
        self._claims += int(row.get("claims_in") or 0)
        self._bytes += int(row.get("bytes") or 0)
        self._errors += 1 if row.get("error") else 0
        now = time.perf_counter()
        if self._s is not None and (now - self._last >= 0.2 or self._files == self._total):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        assert self._s is not None
        elapsed = max(now - self._t0, 1e-9)
        text = (f"replay: {self._files}/{self._total} files"
                + (f" (+{self._skipped} done before)" if self._skipped else "")
                + f"  {self._claims:,} claims  {self._bytes / elapsed / 1e6:.1f} MB/s"
                + (f"  {self._errors} unreadable" if self._errors else "")
                + f"  {elapsed:.0f}s")
        pad = max(0, self._width - len(text))
        self._width = len(text)
        self._s.write("\r" + text + " " * pad)
        self._s.flush()

    def close(self) -> None:
        if self._s is not None and self._width:
            self._s.write("\n")
            self._s.flush()


def stderr_progress() -> TextIO | None:
    """sys.stderr when it is a terminal, else None (no progress line in logs or pipes)."""
    try:
        return sys.stderr if sys.stderr.isatty() else None
    except (AttributeError, ValueError):
        return None
