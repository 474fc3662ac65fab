# Where bytes live: local paths, or URLs of object stores and HDFS through fsspec.
#
# Strategy: a path is either local (read and written with the os module, as always) or a URL
# ("s3://bucket/key", "gs://...", "abfs://...", "hdfs://..."), handed to fsspec, which finds the
# filesystem package for its protocol. This module is the one place that knows which package
# serves which protocol, turns a missing one into an InputError naming it (the CLI's exit 2),
# and keeps fsspec's protocol-less paths from leaking out: every path it returns is a full URL
# again. Credentials and endpoints are never passed here: each filesystem package reads them
# from the environment the way that store's own tools do (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL,
# GOOGLE_APPLICATION_CREDENTIALS, ...), so nothing secret is in a command line or a log.
#
# Object stores have no rename: an output is written whole in one request (or one multipart
# upload that only appears when complete), see edi_cgt.io.AtomicOutput.
from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

__all__ = [
    "is_url", "filesystem", "join", "display", "canonical", "open_read", "stamp", "kind",
    "walk", "glob", "read_bytes", "read_many", "write_bytes", "remove", "remove_tree", "invalidate", "local", "size", "listing",
    "EXTRAS",
]

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+://)[^/@]*@")
# protocol -> (package that serves it, the edi-cgt extra that installs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs"),
    "abfs": ("adlfs", "azure"), "abfss": ("adlfs", "azure"), "az": ("adlfs", "azure"),
    "hdfs": ("pyarrow", "hdfs"),
}


# What listings said about URLs (size, version tag): resuming then needs no request per input.
_INFO: dict[str, dict[str, Any]] = {}


def is_url(path: str) -> bool:
    """True for 'scheme://...' other than file://, which is a local path."""
    m = _URL.match(str(path))
    return bool(m) and m.group(1).lower() != "file"


def local(path: str) -> str:
    """A local path without a file:// prefix."""
    path = str(path)
    return path[7:] if path.lower().startswith("file://") else path


def display(path: str) -> str:
    """The path as shown in logs and messages: any user:password@ in a URL is cut out."""
    return _USERINFO.sub(r"\1", str(path))


def canonical(path: str) -> str:
    """A URL with its protocol lower-cased (s3a as s3) and no trailing '/', or an absolute,
    symlink-resolved local path: two names of one place compare equal."""
    if not is_url(path):
        return os.path.realpath(local(path))
    proto, rest = str(path).split("://", 1)
    proto = proto.lower()
    return f"{'s3' if proto == 's3a' else proto}://{rest.rstrip('/')}"


def filesystem(url: str) -> tuple[Any, str]:
    """(fsspec filesystem, path within it) for a URL; InputError when the protocol's package
    is missing or the store cannot be set up."""
    from .io import InputError

    proto = _URL.match(url).group(1).lower()  # type: ignore[union-attr]
    try:
        import fsspec.core
    except ImportError:  # pragma: no cover - fsspec is a dependency
        raise InputError(f"{display(url)}: URLs need the fsspec package: pip install fsspec") from None
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as exc:
        pkg, extra = EXTRAS.get(proto, (getattr(exc, "name", None) or "?", ""))
        hint = f"pip install 'edi-cgt[{extra}]' (or pip install {pkg})" if extra else f"pip install {pkg}"
        raise InputError(f"{display(url)}: {proto}:// needs the {pkg} package, which is not installed: {hint}") from None
    except ValueError as exc:
        raise InputError(f"{display(url)}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a filesystem that cannot start (no libhdfs, bad config)
        raise InputError(f"{display(url)}: cannot use this store: {type(exc).__name__}: {_short(exc)}") from None


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _protocol_of(url: str) -> str:
    return _URL.match(url).group(1)  # type: ignore[union-attr]


def join(base: str, *parts: str) -> str:
    if is_url(base):
        return posixpath.join(base.rstrip("/"), *parts)
    return os.path.join(local(base), *parts)


def open_read(path: str) -> BinaryIO:
    """A binary file object for reading."""
    if not is_url(path):
        return open(local(path), "rb")  # noqa: SIM115 - the caller closes it
    fs, p = filesystem(path)
    return fs.open(p, "rb")


def stamp(path: str, info: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """What identifies this version of a file: size and mtime (local), size and the store's
    version tag (ETag, generation, mtime) for a URL. None when it does not exist."""
    if not is_url(path):
        try:
            st = os.stat(local(path))
        except OSError:
            return None
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if info is None:
        info = _INFO.get(path)
    if info is None:
        fs, p = filesystem(path)
        try:
            info = fs.info(p)
        except (FileNotFoundError, OSError):
            return None
    version = next((info[k] for k in ("ETag", "etag", "generation", "LastModified", "last_modified", "mtime", "updated")
                    if info.get(k) not in (None, "")), "")
    return {"size": int(info.get("size") or 0), "version": str(version).strip('"')}


def kind(path: str) -> str | None:
    """'file', 'directory' or None (nothing there)."""
    if not is_url(path):
        p = local(path)
        return "directory" if os.path.isdir(p) else "file" if os.path.isfile(p) else None
    fs, p = filesystem(path)
    try:
        if fs.isdir(p):
            return "directory"
        return "file" if fs.isfile(p) else None
    except (FileNotFoundError, OSError):
        return None


def walk(path: str) -> Iterator[tuple[str, int]]:
    """(file, size) for every file under a directory, recursively; names that start with '.'
    (files or directories) are skipped."""
    if not is_url(path):
        root = local(path)
        for top, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    full = os.path.join(top, name)
                    try:
                        yield full, os.path.getsize(full)
                    except OSError:
                        continue
        return
    fs, p = filesystem(path)
    base = p.rstrip("/")
    for found, info in sorted(fs.find(base, detail=True).items()):
        rel = found[len(base):].lstrip("/")
        if info.get("type", "file") != "file" or any(part.startswith(".") for part in rel.split("/")):
            continue
        url = _url(path, found)
        _INFO[url] = info
        yield url, int(info.get("size") or 0)


def glob(pattern: str) -> list[tuple[str, int]]:
    """(file, size) for the files a glob matches ('**' crosses directories)."""
    if not is_url(pattern):
        import glob as _glob

        out = []
        for m in _glob.glob(local(pattern), recursive=True):
            if os.path.isfile(m):
                out.append((m, os.path.getsize(m)))
        return out
    fs, p = filesystem(pattern)
    out = []
    for f, info in sorted(fs.glob(p, detail=True).items()):
        if info.get("type", "file") == "file":
            url = _url(pattern, f)
            _INFO[url] = info
            out.append((url, int(info.get("size") or 0)))
    return out


def _url(like: str, found: str) -> str:
    """`found` (a path fsspec returned, without protocol) as a URL of the same protocol as `like`."""
    return f"{_protocol_of(like)}://{found.split('://', 1)[-1]}"


def size(path: str) -> int:
    """The size in bytes of a file (0 when it cannot be found)."""
    st = stamp(path)
    return int(st["size"]) if st else 0


def listing(path: str) -> set[str]:
    """Every file under a directory or URL prefix (nothing there: an empty set)."""
    if not is_url(path):
        return {p for p, _ in walk(path)} if os.path.isdir(local(path)) else set()
    fs, p = filesystem(path)
    try:
        return {_url(path, f) for f in fs.find(p.rstrip("/"))}
    except (FileNotFoundError, OSError):
        return set()


def read_bytes(path: str) -> bytes | None:
    """The whole content of a file, or None when it does not exist (or cannot be read)."""
    try:
        if not is_url(path):
            with open(local(path), "rb") as fh:
                return fh.read()
        fs, p = filesystem(path)
        return fs.cat_file(p)
    except (OSError, ValueError):
        return None


def read_many(paths: list[str]) -> dict[str, bytes]:
    """{path: content} of those of `paths` that exist; a URL store fetches them concurrently
    where it can (one listing is not needed: missing files are left out)."""
    if not paths:
        return {}
    if not is_url(paths[0]):
        out = {}
        for p in paths:
            data = read_bytes(p)
            if data is not None:
                out[p] = data
        return out
    fs, _ = filesystem(paths[0])
    stripped = {fs._strip_protocol(p): p for p in paths}
    try:
        got = fs.cat(list(stripped), on_error="omit")
    except (OSError, ValueError):
        got = {}
    if isinstance(got, bytes):  # a single path
        got = {next(iter(stripped)): got}
    return {stripped[k]: v for k, v in got.items() if k in stripped and isinstance(v, bytes)}


def write_bytes(path: str, data: bytes) -> None:
    """Write a whole object to a URL in one request (local files go through AtomicOutput)."""
    fs, p = filesystem(path)
    fs.pipe_file(p, data)


def remove(path: str) -> bool:
    """Delete a file; False when there was none."""
    try:
        if not is_url(path):
            os.unlink(local(path))
            return True
        fs, p = filesystem(path)
        if not fs.exists(p):
            return False
        fs.rm_file(p)
        return True
    except FileNotFoundError:
        return False


def remove_tree(path: str) -> None:
    """Delete a directory (a prefix) and everything under it; nothing there is fine."""
    if not is_url(path):
        import shutil

        shutil.rmtree(local(path), ignore_errors=True)
        return
    fs, p = filesystem(path)
    try:
        if fs.exists(p):
            fs.rm(p, recursive=True)
    except FileNotFoundError:
        pass


def invalidate(path: str) -> None:
    """Forget cached listings under a URL (another process may have written there)."""
    if is_url(path):
        fs, _ = filesystem(path)
        fs.invalidate_cache()
