# Inputs and outputs: the only module that touches files, pipes and gzip.
#
# Strategy: inputs become iterables of bounded byte chunks (gzip recognised by its magic bytes,
# not by the file name, so a .gz on stdin works too); a path may also be a URL of an object
# store (edi_cgt.store, through fsspec). Small configuration files (policy XML, site TOML, the
# schema) are read whole, up to a size limit, from a path or from package data, and handed to
# their parsers as bytes. Every output file goes through AtomicOutput, the one output helper:
# it appears only when complete, and only if something was written to it.
#
#   local path   written to a temporary file beside the target, renamed onto it when complete
#   URL          spooled here, then written to the store whole (one object, or one multipart
#                upload that appears only when complete): object stores have no rename
#   '-', device  streamed (stdout, /dev/null, a FIFO): nothing to roll back
#
# Nothing is created before the first byte, so an output that stays empty never exists (no
# 0-byte file); a file an earlier run left at that path is then removed, so the path never
# shows an earlier run's data. A target whose name ends in .gz is gzip-compressed.
from __future__ import annotations

import contextlib
import errno
import gzip
import os
import stat
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

from . import store

__all__ = ["InputError", "FileReadError", "OverwriteError", "read_chunks", "read_small_file", "read_range",
           "describe_source", "AtomicOutput", "AtomicOutputs", "CHUNK_SIZE", "is_gzip", "refuse_overwrite"]

CHUNK_SIZE = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_SPOOL_IN_MEMORY = 16 << 20  # an output to a URL is kept in memory up to this size


class InputError(Exception):
    """An input could not be opened or decompressed (message names the input)."""


class FileReadError(InputError):
    """A small file could not be read whole: `source` names it, `reason` says why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


def read_small_file(source: "str | os.PathLike | Traversable", limit: int, what: str = "file") -> bytes:
    """The whole content of a small file: a path, or package data (an importlib.resources
    Traversable, which also works when the package is imported from a zip). Raises
    FileReadError naming the file when it cannot be read or holds more than `limit` bytes;
    never reads more than `limit` + 1 bytes."""
    name = str(source)
    try:
        with (open(source, "rb") if isinstance(source, (str, os.PathLike)) else source.open("rb")) as fh:
            data = fh.read(limit + 1)
            size = _size_of(fh) if len(data) > limit else len(data)
    except OSError as exc:
        raise FileReadError(name, f"cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise FileReadError(name, f"{what} is {size or f'over {limit}'} bytes; {what}s are limited to {limit}")
    return data


def _size_of(fh: BinaryIO) -> int | None:
    try:
        return os.fstat(fh.fileno()).st_size
    except (OSError, AttributeError, ValueError):  # a zip member has no file descriptor
        return None


def describe_source(source: str | os.PathLike) -> str:
    return "<stdin>" if str(source) == "-" else store.display(str(source))


def is_gzip(head: bytes) -> bool:
    return head[:2] == _GZIP_MAGIC


def _open(source: str | os.PathLike, name: str) -> BinaryIO:
    try:
        return store.open_read(str(source))
    except InputError:
        raise
    except OSError as exc:
        raise InputError(f"{name}: cannot open: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - a store's own error types (no such bucket, access denied)
        raise InputError(f"{name}: cannot open: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from None


def read_chunks(source: str | os.PathLike, chunk_size: int = CHUNK_SIZE, *,
                on_bytes: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """Yield the (decompressed) bytes of a path, URL or '-' in chunks of at most `chunk_size`.

    `on_bytes(n)` is called with the number of stored (compressed) bytes after each read."""
    name = describe_source(source)
    if str(source) == "-":
        if sys.stdin is None:  # started with stdin closed (`<&-`)
            raise InputError(f"{name}: cannot read: standard input is closed")
        stream: BinaryIO = sys.stdin.buffer
        close = False
    else:
        stream = _open(source, name)
        close = True
    if on_bytes is not None:
        stream = _Counted(stream, on_bytes)  # type: ignore[assignment]
    try:
        head = stream.read(2)
        if head == _GZIP_MAGIC:
            yield from _gunzip(stream, head, name, chunk_size)
        else:
            if head:
                first = head + stream.read(chunk_size - len(head))
                yield first
            while True:
                chunk = stream.read(chunk_size)
                if not chunk:
                    break
                yield chunk
    except OSError as exc:
        raise InputError(f"{name}: read failed: {exc.strerror or exc}") from None
    finally:
        if close:
            stream.close()


def read_range(source: str, start: int, end: int, chunk_size: int = CHUNK_SIZE, *,
               on_bytes: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """Yield the stored bytes [start, end) of a file or URL (no decompression)."""
    name = describe_source(source)
    stream = _open(source, name)
    try:
        stream.seek(start)
        left = end - start
        while left > 0:
            chunk = stream.read(min(chunk_size, left))
            if not chunk:
                raise InputError(f"{name}: the file is shorter than when it was listed (ends before byte {end})")
            left -= len(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
            yield chunk
    except OSError as exc:
        raise InputError(f"{name}: read failed: {exc.strerror or exc}") from None
    finally:
        stream.close()


class _Counted:
    """A read-only stream that reports how many bytes each read returned."""

    __slots__ = ("_f", "_on")

    def __init__(self, f: BinaryIO, on_bytes: Callable[[int], None]) -> None:
        self._f, self._on = f, on_bytes

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        if data:
            self._on(len(data))
        return data

    def close(self) -> None:
        self._f.close()


def _gunzip(stream: BinaryIO, head: bytes, name: str, chunk_size: int) -> Iterator[bytes]:
    # Concatenated gzip members (cat a.gz b.gz) are decoded one after the other.
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = head
    in_member = True
    try:
        while True:
            if not data:
                data = stream.read(chunk_size)
                if not data:
                    break
            if not in_member:
                if data[:2] != _GZIP_MAGIC[: len(data[:2])]:
                    if data.strip(b"\x00"):
                        raise InputError(f"{name}: trailing garbage after gzip data")
                    data = b""
                    continue
                decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
                in_member = True
            out = decomp.decompress(data, chunk_size)
            if out:
                yield out
            while decomp.unconsumed_tail:
                out = decomp.decompress(decomp.unconsumed_tail, chunk_size)
                if out:
                    yield out
            if decomp.eof:
                in_member = False
                data = decomp.unused_data
            else:
                data = b""
        if in_member:
            tail = decomp.flush()
            if tail:
                yield tail
            if not decomp.eof:
                raise InputError(f"{name}: gzip data is truncated (the archive ends early)")
    except zlib.error as exc:
        raise InputError(f"{name}: corrupt gzip data: {exc}") from None


class AtomicOutput:
    """A binary output that appears at `path` only when committed, and only if something was
    written to it (see the module comment for local paths, URLs, '-' and devices).

    `durable` fsyncs a local file before the rename (off for replay's many small files).
    `makedirs` creates missing parent directories at the first write; without it a missing
    directory is reported at once. A symbolic link is followed, so the file it points to is
    the one replaced. Use as a context manager: an exception inside the block, or a failure
    while committing (a full disk shows up at flush or fsync), discards the temporary file.
    After commit(), `state` is "written", "empty" (nothing written, nothing there) or
    "removed" (nothing written, and a file an earlier run left at the path was deleted).
    """

    def __init__(self, path: str | os.PathLike, *, mode: int = 0o644, durable: bool = True,
                 makedirs: bool = False) -> None:
        self.path = str(path)
        self.state = ""
        self._mode = mode
        self._durable = durable
        self._makedirs = makedirs
        self._url = store.is_url(self.path)
        self._gz = self.path.lower().endswith(".gz")
        self._tmp: str | None = None  # local temporary file, once something is written
        self._raw: Any = None  # the file under the gzip layer (temporary file or spool)
        self._f: Any = None  # what write() writes to (None until the first byte)
        self._direct = False  # '-' or a device, FIFO or socket: streamed
        self._target = self.path
        if self.path == "-":
            if sys.stdout is None:  # started with stdout closed (`>&-`)
                raise OSError(errno.EBADF, "standard output is closed", "<stdout>")
            self._f = sys.stdout.buffer
            self._direct = True
            self._gz = False
            return
        if self._url:
            return
        real = os.path.realpath(store.local(self.path))
        try:
            st_mode = os.stat(real).st_mode
        except OSError:
            st_mode = None
        if st_mode is not None and (stat.S_ISCHR(st_mode) or stat.S_ISFIFO(st_mode) or stat.S_ISSOCK(st_mode)
                                    or stat.S_ISBLK(st_mode)):
            try:
                raw = open(real, "wb", buffering=1 << 20)  # noqa: SIM115 - closed in commit/discard
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, self.path) from None
            self._f = _NamedStream(raw, self.path)
            self._direct = True
            self._gz = False
            return
        self._target = real
        parent = os.path.dirname(real)
        if not makedirs and not os.path.isdir(parent):
            raise OSError(errno.ENOENT, "No such file or directory", self.path)

    # -- writing ---------------------------------------------------------------------------
    @property
    def stream(self) -> "AtomicOutput":
        """What to hand a writer: this object (it creates the file at the first byte)."""
        return self

    def write(self, data: bytes) -> int:
        f = self._f
        if f is None:
            if not data:
                return 0
            f = self._start()
        return f.write(data)

    def flush(self) -> None:
        if self._f is not None and self._direct:
            self._f.flush()

    def _start(self) -> Any:
        if self._url:
            self._raw = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
        else:
            directory, name = os.path.split(self._target)
            try:
                if self._makedirs:
                    os.makedirs(directory, exist_ok=True)
                # A signal between the file's creation and the name's assignment would leave a
                # temporary file that discard() cannot know of: hold signals for that moment.
                with _signals_held():
                    fd, self._tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, self.path) from None
            self._raw = _NamedStream(os.fdopen(fd, "wb", buffering=1 << 20), self.path)
        # mtime 0 and no file name in the gzip header: the same bytes give the same file.
        self._f = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0) if self._gz else self._raw
        return self._f

    # -- committing ------------------------------------------------------------------------
    def prepare(self) -> None:
        """Flush everything (to disk, or into the spool); the target is not touched yet.

        On failure the temporary file is discarded and the error is raised, naming the target.
        """
        try:
            if self._direct:
                self._f.flush()
                if self.path != "-":
                    self._f.close()
                return
            if self._f is None:
                return
            if self._gz:
                self._f.close()  # writes the gzip trailer; the file under it stays open
            self._raw.flush()
            if self._tmp is not None:
                if self._durable:
                    os.fsync(self._raw.fileno())
                self._raw.close()
                os.chmod(self._tmp, self._mode & ~_umask())
        except BaseException as exc:
            self.discard()
            if isinstance(exc, OSError) and not exc.filename and self.path != "-":
                raise OSError(exc.errno, exc.strerror, self.path) from None
            raise

    def publish(self) -> None:
        """Put the prepared output in place (rename, or upload); with nothing written, remove
        a file an earlier run left at the path."""
        if self._direct:
            self.state = "written"
            return
        try:
            if self._f is None:
                self.state = "removed" if self._remove_stale() else "empty"
            elif self._url:
                self._upload()
                self.state = "written"
            else:
                os.replace(self._tmp, self._target)  # type: ignore[arg-type]
                self._tmp = None
                self.state = "written"
        except BaseException:
            self.discard()
            raise
        self._f = self._raw = None

    def _remove_stale(self) -> bool:
        if self._url:
            return store.remove(self.path)
        try:
            if not stat.S_ISREG(os.lstat(self._target).st_mode):
                return False
            os.unlink(self._target)
            return True
        except FileNotFoundError:
            return False

    def _upload(self) -> None:
        spool = self._raw
        spool.seek(0)
        try:
            if not getattr(spool, "_rolled", True):
                store.write_bytes(self.path, spool.read())
                return
            fs, p = store.filesystem(self.path)
            f = fs.open(p, "wb")
            try:
                while True:
                    block = spool.read(8 << 20)
                    if not block:
                        break
                    f.write(block)
            except BaseException:
                with contextlib.suppress(Exception):
                    getattr(f, "discard", lambda: None)()  # abort a multipart upload: nothing appears
                raise
            f.close()
        finally:
            spool.close()

    def commit(self) -> str:
        self.prepare()
        self.publish()
        return self.state

    def discard(self) -> None:
        if self._direct:
            if self.path != "-":
                with contextlib.suppress(OSError):
                    self._f.close()
            return
        if self._raw is not None:
            with contextlib.suppress(Exception):
                self._raw.close()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
        self._f = self._raw = self._tmp = None

    def __enter__(self) -> "AtomicOutput":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


class _NamedStream:
    """A binary file whose OSErrors name the output the user asked for, not a temporary file."""

    __slots__ = ("_f", "_name")

    def __init__(self, f: BinaryIO, name: str) -> None:
        self._f = f
        self._name = name

    def _fail(self, exc: OSError) -> OSError:
        return OSError(exc.errno, exc.strerror, self._name)

    def write(self, data: bytes) -> int:
        try:
            return self._f.write(data)
        except OSError as exc:
            raise self._fail(exc) from None

    def flush(self) -> None:
        try:
            self._f.flush()
        except OSError as exc:
            raise self._fail(exc) from None

    def fileno(self) -> int:
        return self._f.fileno()

    def close(self) -> None:
        try:
            self._f.close()
        except OSError as exc:
            raise self._fail(exc) from None

    @property
    def closed(self) -> bool:
        return self._f.closed


class AtomicOutputs:
    """Several AtomicOutputs that appear together or not at all.

    Every output is prepared (flushed and synced: where a full disk or a closed pipe shows up)
    before any is put in place, so a failure on one leaves none of them behind. `on_removed(path)`
    is called for each output that stayed empty and whose earlier file was removed:

        with AtomicOutputs(rejects_path, clean_path) as (ack_out, clean_out):
            ...
    """

    def __init__(self, *paths: str | os.PathLike, on_removed: Callable[[str], None] | None = None) -> None:
        self.outputs: list[AtomicOutput] = []
        self._on_removed = on_removed
        try:
            for path in paths:
                self.outputs.append(AtomicOutput(path))
        except BaseException:
            self._discard()
            raise

    def __enter__(self) -> tuple[AtomicOutput, ...]:
        return tuple(self.outputs)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._discard()
            return
        try:
            for out in self.outputs:
                out.prepare()
            for out in self.outputs:
                out.publish()
        except BaseException:
            self._discard()
            raise
        for out in self.outputs:
            if out.state == "removed" and self._on_removed is not None:
                self._on_removed(out.path)

    def _discard(self) -> None:
        for out in self.outputs:
            out.discard()


_UMASK: int | None = None


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends (where the platform and thread allow)."""
    import signal

    held = {signal.SIGINT, signal.SIGTERM}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError, OSError):  # no pthread_sigmask here
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _umask() -> int:
    """The process umask (read once: reading it means setting it)."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0)
        os.umask(_UMASK)
    return _UMASK


# -- never overwrite an input ------------------------------------------------------------------
class OverwriteError(ValueError):
    """An output names a file that is also an input (or another output): nothing was written."""


def refuse_overwrite(inputs: "list[tuple[str, str | os.PathLike]]",
                     outputs: "list[tuple[str, str | os.PathLike]]") -> None:
    """Raise OverwriteError when an output is the same file as an input or as another output.

    `inputs` and `outputs` are (what the user called it, path) pairs, e.g. ("input", "x.837"),
    ("--rejects", "x.837"); '-' is stdin for an input and stdout for an output (checked too, when
    it is a regular file: `filter x.837 >> x.837`). The same file means the same device and inode,
    so `./x.837`, a symbolic link to it and a hard link are all caught; an output that does not
    exist yet can only clash with another output of the same resolved path. Devices, FIFOs and
    sockets (`-o /dev/null`) are never "the same file". Call it before anything is written:

        refuse_overwrite([("input", src)], [("-o", out), ("--rejects", rejects)])
    """
    seen: list[tuple[str, tuple[int, int] | None, str | None]] = []
    for role, pairs, fd in (("input", inputs, 0), ("output", outputs, 1)):
        for what, path in pairs:
            name = f"{what} ({'standard input' if fd == 0 else 'standard output'})" if str(path) == "-" \
                else f"{what} {path}"
            key = _file_key(path, fd)
            real = None
            if fd == 1 and key is None:  # stdout (not a file) once; a file not made yet by its path
                real = "<stdout>" if str(path) == "-" else _new_file(path)
            if fd == 1:
                for other, other_key, other_real in seen:
                    if (key is not None and key == other_key) or (real is not None and real == other_real):
                        raise OverwriteError(f"refusing to write {name}: it is the same file as {other}; "
                                             "nothing was written (choose another output name)")
            seen.append((f"the {role} {name}" if what != role else f"the {name}", key, real))


def _file_key(path: str | os.PathLike, fd: int) -> tuple[int, int] | None:
    """(device, inode) of a regular file ('-': of stdin/stdout), else None."""
    try:
        st = os.fstat(fd) if str(path) == "-" else os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _new_file(path: str | os.PathLike) -> str | None:
    """The resolved path of an output that does not exist yet (None for anything else)."""
    if os.path.lexists(path) and os.path.exists(path):
        return None
    return os.path.realpath(path)
