# Which files a replay reads, and where their outputs go.
#
# Strategy: a PATH argument is a file, a directory (walked recursively, names starting with '.'
# skipped) or a glob, locally or as a URL (edi_cgt.store). --include/--exclude globs then select
# by name; without --include, every file is a candidate and its first bytes decide (sniff):
# only a file that starts like an 837 interchange is read. The output location is never read,
# and an input that is, or lies inside, the output location is refused before anything is
# written. Output names derive from the input's path alone, so a retried task rewrites the
# same files.
from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from collections.abc import Iterable, Sequence

from .. import store
from ..io import InputError
from ..x12.delimiters import ISA_LENGTH, detect_delimiters
from ..x12.errors import X12Error
from ..x12.reader import iter_segments

__all__ = ["discover_inputs", "refuse_overlap", "input_key", "ack_path", "done_path", "sniff", "SNIFF_BYTES",
           "matches"]

_GLOB_CHARS = re.compile(r"[*?\[]")
_BOM = b"\xef\xbb\xbf"
SNIFF_BYTES = 64 << 10  # how much of an input's start the sniff looks at, at most


def discover_inputs(specs: Iterable[str], *, exclude: Sequence[str] = (), include_globs: Sequence[str] = (),
                    exclude_globs: Sequence[str] = ()) -> list[str]:
    """The input files named by `specs`, sorted and without duplicates: absolute local paths,
    or URLs as given (protocol kept).

    A spec is a file, a directory (walked recursively; names starting with '.' are skipped) or
    a glob (`**` recursive). Paths under any `exclude` location (the output) are skipped.
    `include_globs` (when given, a file must match one) and `exclude_globs` (it must match
    none) test a pattern without '/' against the file name, one with '/' against the whole
    path. Raises InputError for a spec that names nothing.
    """
    skip = [store.canonical(e) for e in exclude]
    found: dict[str, None] = {}

    def take(path: str) -> None:
        full = path if store.is_url(path) else os.path.abspath(path)
        canon = store.canonical(full)
        if any(canon == s or canon.startswith(s.rstrip("/" if store.is_url(s) else os.sep) + ("/" if store.is_url(s) else os.sep))
               for s in skip):
            return
        if include_globs and not matches(full, include_globs):
            return
        if exclude_globs and matches(full, exclude_globs):
            return
        found.setdefault(full, None)

    for spec in specs:
        what = store.kind(spec)
        if what == "directory":
            for path, _ in store.walk(spec):
                take(path)
        elif what == "file":
            take(store.local(spec) if not store.is_url(spec) else spec)
        elif _GLOB_CHARS.search(spec):
            matched = store.glob(spec)
            if not matched:
                raise InputError(f"{store.display(spec)}: the pattern matches no file")
            for path, _ in matched:
                take(path)
        else:
            raise InputError(f"{store.display(spec)}: no such file or directory")
    return sorted(found)


def matches(path: str, patterns: Sequence[str]) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(path if "/" in p else name, p) for p in patterns)


def refuse_overlap(specs: Iterable[str], out: str) -> None:
    """InputError when the output location is an input or contains one: the same place
    (symlinks and './' resolved; for local paths also the same inode), or a file, directory or
    glob named as input inside it. A directory input that contains the output is fine: the
    output is skipped when it is walked."""
    target = store.canonical(out)
    url = store.is_url(out)
    sep = "/" if url else os.sep
    for spec in specs:
        if store.is_url(spec) != url:
            continue
        place = spec
        if _GLOB_CHARS.search(spec):  # the directory every match lies in
            place = _GLOB_CHARS.split(spec, 1)[0]
            place = place[: place.rfind(sep) + 1] if sep in place else "."
        canon = store.canonical(place)
        inside = canon == target or canon.startswith(target.rstrip(sep) + sep)
        if not inside and not url:
            inside = _same_place_or_below(store.local(place), store.local(out))
        if inside:
            raise InputError(f"--out {store.display(out)} is or contains the input {store.display(spec)}: "
                             "choose an output location outside the inputs")


def _same_place_or_below(path: str, out: str) -> bool:
    """True when `path` or one of its parents is the same directory as `out` (same inode)."""
    try:
        out_st = os.stat(out)
    except OSError:
        return False
    p = os.path.abspath(path)
    while True:
        try:
            st = os.stat(p)
            if (st.st_dev, st.st_ino) == (out_st.st_dev, out_st.st_ino):
                return True
        except OSError:
            pass
        parent = os.path.dirname(p)
        if parent == p:
            return False
        p = parent


def sniff(head: bytes) -> str | None:
    """Why a file whose (decompressed) first bytes are `head` is not read as an 837, or None.

    An input is read when it starts, after an optional UTF-8 byte-order mark and whitespace,
    with an ISA segment and its first functional group is GS01 'HC' (health care claim, the
    837's group); also when it starts with an ISA but the group is not in `head`, or the ISA is
    malformed (the replay then reports why it cannot be read). Another X12 group (999 'FA',
    277 'HN', 835 'HP' ...) or anything else (README.txt, a PDF, UTF-16 text) is skipped."""
    text = head[3:] if head.startswith(_BOM) else head
    text = text.lstrip(b" \t\r\n")
    if not text.startswith(b"ISA"):
        return "not X12: it does not start with an ISA segment"
    try:
        detect_delimiters(text[:ISA_LENGTH])
    except X12Error:
        return None  # an X12 file with a broken ISA: read it, so the run says what is wrong
    try:
        for seg in iter_segments([text], delimiters=None):
            if seg.data and seg.id == "GS":
                group = seg.get(1)
                if group != "HC":
                    return f"X12 but not an 837: its first functional group is GS01 {group[:2]!r}, not 'HC'"
                return None
            if seg.data and seg.id not in ("ISA", "TA1"):
                return None
    except X12Error:
        return None
    return None


# -- output names --------------------------------------------------------------------------
def input_key(path: str) -> str:
    """A stable id for an input: sha1 of its absolute path (a URL as written, s3a as s3)."""
    name = store.canonical(path) if store.is_url(path) else os.path.abspath(path)
    return hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()


def _stem(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if name.lower().endswith(".gz"):
        name = name[:-3]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "input"
    return name[:80]


def _name(path: str) -> tuple[str, str]:
    key = input_key(path)
    return key[:2], f"{_stem(path)}.{key[:12]}"


def ack_path(config: "object", path: str) -> str:
    """Where the 277CA for `path` goes: OUT/acks/<2 hex>/<name>.<12 hex>.277"""
    shard, name = _name(path)
    return store.join(config.out_dir, "acks", shard, name + ".277")  # type: ignore[attr-defined]


def done_path(config: "object", path: str) -> str:
    """Where the done record for `path` goes: OUT/done/<2 hex>/<name>.<12 hex>.json"""
    shard, name = _name(path)
    return store.join(config.out_dir, "done", shard, name + ".json")  # type: ignore[attr-defined]


def part_path(config: "object", path: str, run: str, index: int) -> str:
    """Where piece `index` of a split input keeps its 277CA calls during run `run`."""
    shard, name = _name(path)
    return store.join(config.out_dir, "parts", run, f"{name}.{index:05d}.calls")  # type: ignore[attr-defined]
