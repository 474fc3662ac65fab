# Inputs and outputs: the only module that touches files, pipes and gzip.
#
# Strategy: inputs become iterables of bounded byte chunks (gzip recognised by its magic bytes,
# not by the file name, so a .gz on stdin works too); small configuration files (policy XML,
# site TOML, the schema) are read whole, up to a size limit, and handed to their parsers as
# bytes, from a path or from package data; outputs are written to a temporary file
# beside the target and renamed into place only when complete, so a reader never sees half a
# file and a failed run leaves nothing behind. '-' means stdin/stdout, which are streamed.
from __future__ import annotations

import contextlib
import errno
import gzip
import os
import stat
import sys
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["InputError", "FileReadError", "OverwriteError", "read_chunks", "read_small_file", "describe_source",
           "AtomicOutput", "AtomicOutputs", "CHUNK_SIZE", "refuse_overwrite"]

CHUNK_SIZE = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


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
    return "<stdin>" if str(source) == "-" else str(source)


def read_chunks(source: str | os.PathLike, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the (decompressed) bytes of a path or '-' in chunks of at most `chunk_size`."""
    name = describe_source(source)
    if str(source) == "-":
        if sys.stdin is None:  # started with stdin closed (`<&-`)
            raise InputError(f"{name}: cannot read: standard input is closed")
        stream: BinaryIO = sys.stdin.buffer
        close = False
    else:
        try:
            stream = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InputError(f"{name}: cannot open: {exc.strerror or exc}") from None
        close = True
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
    """A binary output that appears at `path` only when closed successfully.

    `path` '-' writes straight to stdout (streamed; nothing to roll back), and so does a path
    that names an existing device, FIFO or socket (`-o /dev/null`, a named pipe): those cannot
    be replaced by a rename, and replacing them would be wrong. A symbolic link is followed, so
    the file it points to is the one replaced. Use as a context manager: an exception inside the
    block, or a failure while committing (a full disk shows up at flush or fsync), discards the
    temporary file.
    """

    def __init__(self, path: str | os.PathLike, *, mode: int = 0o644) -> None:
        self.path = str(path)
        self._mode = mode
        self._tmp: str | None = None
        self._direct = False  # writing straight to a device, FIFO or socket
        self.stream: BinaryIO
        if self.path == "-":
            if sys.stdout is None:  # started with stdout closed (`>&-`)
                raise OSError(errno.EBADF, "standard output is closed", "<stdout>")
            self.stream = sys.stdout.buffer
            return
        real = os.path.realpath(self.path)
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
            self.stream = _NamedStream(raw, self.path)
            self._direct = True
            return
        target = Path(real)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, self.path) from None
        self._tmp = tmp
        self._target = str(target)
        self.stream = _NamedStream(os.fdopen(fd, "wb", buffering=1 << 20), self.path)

    def write(self, data: bytes) -> int:
        return self.stream.write(data)

    def prepare(self) -> None:
        """Flush everything to disk (or to the device); the target is not touched yet.

        On failure the temporary file is discarded and the error is raised, naming the target.
        """
        try:
            self.stream.flush()
            if self._tmp is not None:
                os.fsync(self.stream.fileno())
                self.stream.close()
                os.chmod(self._tmp, self._mode & ~_umask())
            elif self._direct:
                self.stream.close()
        except BaseException as exc:
            self.discard()
            if isinstance(exc, OSError) and not exc.filename and self.path != "-":
                raise OSError(exc.errno, exc.strerror, self.path) from None
            raise

    def publish(self) -> None:
        """Rename the prepared temporary file onto the target."""
        if self._tmp is None:
            return
        try:
            os.replace(self._tmp, self._target)
        except BaseException:
            self.discard()
            raise
        self._tmp = None

    def commit(self) -> None:
        self.prepare()
        self.publish()

    def discard(self) -> None:
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self.stream.close()
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None
        elif self._direct:
            with contextlib.suppress(OSError):
                self.stream.close()

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
    before any is renamed into place, so a failure on one leaves none of them behind:

        with AtomicOutputs(rejects_path, clean_path) as (ack_out, clean_out):
            ...
    """

    def __init__(self, *paths: str | os.PathLike) -> None:
        self.outputs: list[AtomicOutput] = []
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

    def _discard(self) -> None:
        for out in self.outputs:
            out.discard()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def open_gzip_writer(path: str) -> BinaryIO:  # pragma: no cover - convenience for scripts
    return gzip.open(path, "wb")


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
