# Faults around a run, not in its input: closed or broken output pipes, a full disk, odd output
# targets (devices, FIFOs, symlinks, missing directories), and SIGTERM/SIGINT half-way through.
# Every case runs the real `edi-cgt filter` process and checks what the user is left with: the
# exit status, one message saying what happened, and no partial or temporary file.
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edi_cgt.io import AtomicOutput, AtomicOutputs, InputError, read_chunks

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from fuzz.oracle import CORPUS, check_outcome, error_lines, filter_in_process, run_filter_cli  # noqa: E402

from edi_cgt.pipeline import run_filter  # noqa: E402

FIXTURE = (CORPUS / "phi_837p.x12").read_bytes()
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
CLI = [sys.executable, "-m", "edi_cgt"]


def _run(args: list[str], *, cwd: Path, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + args, cwd=cwd, env=ENV, capture_output=True, timeout=timeout, **kw)


def _err(proc: subprocess.CompletedProcess) -> str:
    text = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in text, text
    return text


def _error_line(text: str) -> str:
    """The one message of a failed run: an error, or the interrupted event (JSON on a pipe)."""
    lines = error_lines(text) + [f"edi-cgt: {e['message']}" for e in _json_events(text) if e.get("event") == "interrupted"]
    assert len(lines) == 1, text
    return lines[0]


def _json_events(text: str) -> list[dict]:
    return [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]


def _only(directory: Path, *names: str) -> None:
    """The directory holds exactly these files: no target left over, no .tmp file."""
    assert sorted(p.name for p in directory.iterdir()) == sorted(names)


def _big_input(path: Path, megabytes: int) -> int:
    """The fixture's interchange repeated (concatenated interchanges are legal): CLM count."""
    copies = megabytes * (1 << 20) // len(FIXTURE) + 1
    with path.open("wb") as fh:
        for _ in range(copies // 256):
            fh.write(FIXTURE * 256)
        fh.write(FIXTURE * (copies % 256))
    return copies * FIXTURE.count(b"CLM*")


def _char_device(tmp_path: Path) -> Path:
    """A character device that reports ENOSPC on write (/dev/full, major 1 minor 7).

    As root a private node is made in tmp_path, so that a bug replacing the target with a
    regular file could not damage /dev; otherwise /dev/full itself (which a non-root user
    cannot replace anyway).
    """
    if os.geteuid() == 0:
        node = tmp_path / "full"
        try:
            os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
            return node
        except OSError:
            pytest.skip("cannot create a device node here")
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    return Path("/dev/full")


# -- closed and broken standard streams -------------------------------------------------------
def test_closed_stdin_is_a_clear_error(tmp_path: Path) -> None:
    proc = _run(["filter", "-", "-o", "clean.837", "--rejects", "out.277"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                pass_fds=(), preexec_fn=lambda: os.close(0))
    line = _error_line(_err(proc))
    assert proc.returncode == 2
    assert "<stdin>" in line and "standard input is closed" in line
    _only(tmp_path)


def test_closed_stdout_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "in.837").write_bytes(FIXTURE)
    proc = _run(["filter", "in.837", "--rejects", "out.277"], cwd=tmp_path, preexec_fn=lambda: os.close(1))
    line = _error_line(_err(proc))
    assert proc.returncode == 2
    assert "standard output is closed" in line
    _only(tmp_path, "in.837")


def test_reader_closing_the_pipe_ends_quietly_and_leaves_no_277(tmp_path: Path) -> None:
    # `edi-cgt filter in.837 --rejects out.277 | head -c 100`: the reader went away, which is
    # not an input error: exit 141 (128 + SIGPIPE, what a shell reports for `cat | head`), at
    # most one line on stderr (here, not a terminal: the output_closed event), no 277CA left.
    _big_input(tmp_path / "in.837", 4)
    proc = subprocess.Popen(CLI + ["filter", "in.837", "--rejects", "out.277", "--site", str(ROOT / "fixtures/site.toml")],
                            cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    head = proc.stdout.read(100)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert head.startswith(b"ISA")
    assert "Traceback" not in err
    assert [e["event"] for e in _json_events(err) if e["level"] != "info" or e["event"] == "output_closed"] == \
        ["output_closed"], err
    assert error_lines(err) == []
    _only(tmp_path, "in.837")


def test_closed_stdin_in_the_library() -> None:
    saved = sys.stdin
    sys.stdin = None  # type: ignore[assignment]
    try:
        with pytest.raises(InputError, match="standard input is closed"):
            next(read_chunks("-"))
    finally:
        sys.stdin = saved


# -- a full disk ------------------------------------------------------------------------------
def test_full_disk_for_the_clean_837(tmp_path: Path) -> None:
    device = _char_device(tmp_path)
    (tmp_path / "in.837").write_bytes(FIXTURE)
    proc = _run(["filter", "in.837", "-o", str(device), "--rejects", "out.277"], cwd=tmp_path)
    line = _error_line(_err(proc))
    assert proc.returncode == 2
    assert str(device) in line and "No space left on device" in line
    assert stat.S_ISCHR(device.stat().st_mode), "the device was replaced by a regular file"
    assert not (tmp_path / "out.277").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_full_disk_for_a_large_clean_837_fails_during_the_run(tmp_path: Path) -> None:
    # Past the 1 MiB write buffer the failure comes from a write inside the pipeline, not from
    # the final flush: the message must still name the output.
    device = _char_device(tmp_path)
    _big_input(tmp_path / "in.837", 3)
    proc = _run(["filter", "in.837", "-o", str(device), "--rejects", "out.277"], cwd=tmp_path)
    line = _error_line(_err(proc))
    assert proc.returncode == 2
    assert str(device) in line and "No space left on device" in line
    assert not (tmp_path / "out.277").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_full_disk_for_the_277_leaves_no_clean_837(tmp_path: Path) -> None:
    device = _char_device(tmp_path)
    (tmp_path / "in.837").write_bytes(FIXTURE)
    proc = _run(["filter", "in.837", "-o", "clean.837", "--rejects", str(device)], cwd=tmp_path)
    line = _error_line(_err(proc))
    assert proc.returncode == 2
    assert str(device) in line and "No space left on device" in line
    assert stat.S_ISCHR(device.stat().st_mode)
    assert not (tmp_path / "clean.837").exists(), "exit 2 with the clean 837 written: its rejected claims are lost"


# -- output targets ---------------------------------------------------------------------------
def test_missing_output_directory_names_the_target(tmp_path: Path) -> None:
    (tmp_path / "in.837").write_bytes(FIXTURE)
    proc = _run(["filter", "in.837", "-o", "nowhere/clean.837", "--rejects", "out.277"], cwd=tmp_path)
    line = _error_line(_err(proc))
    assert proc.returncode == 2
    assert "nowhere/clean.837" in line and ".tmp" not in line
    _only(tmp_path, "in.837")


def test_fifo_output_is_written_through_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "clean.fifo"
    os.mkfifo(fifo)
    (tmp_path / "in.837").write_bytes(FIXTURE)
    proc = subprocess.Popen(CLI + ["filter", "in.837", "-o", str(fifo), "--rejects", "out.277"], cwd=tmp_path,
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(fifo, "rb") as reader:  # blocks until the filter opens the FIFO for writing
        received = reader.read()
    assert proc.wait(timeout=60) == 1
    assert stat.S_ISFIFO(fifo.stat().st_mode), "the FIFO was replaced by a regular file"
    reference = tmp_path / "reference"
    reference.mkdir()
    assert received == run_filter_cli(FIXTURE, reference).clean


def test_symlinked_output_replaces_the_file_it_points_to(tmp_path: Path) -> None:
    (tmp_path / "in.837").write_bytes(FIXTURE)
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "clean.837"
    target.write_bytes(b"old contents")
    (tmp_path / "link.837").symlink_to(target)
    proc = _run(["filter", "in.837", "-o", "link.837", "--rejects", "out.277"], cwd=tmp_path)
    assert proc.returncode == 1, _err(proc)
    assert (tmp_path / "link.837").is_symlink()
    assert target.read_bytes().startswith(b"ISA") and b"HARD-A1" in target.read_bytes()
    _only(tmp_path / "real", "clean.837")


def test_same_path_for_both_outputs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "in.837").write_bytes(FIXTURE)
    proc = _run(["filter", "in.837", "-o", "both.x12", "--rejects", "./both.x12"], cwd=tmp_path)
    _err(proc)
    assert proc.returncode == 2
    _only(tmp_path, "in.837")


def test_both_outputs_on_stdout_is_refused(tmp_path: Path) -> None:
    (tmp_path / "in.837").write_bytes(FIXTURE)
    proc = _run(["filter", "in.837", "--rejects", "-"], cwd=tmp_path)
    _err(proc)
    assert proc.returncode == 2
    assert proc.stdout == b""


# -- the atomic output layer itself -----------------------------------------------------------
def test_atomic_outputs_all_or_nothing(tmp_path: Path) -> None:
    device = _char_device(tmp_path)
    good = tmp_path / "good.out"
    with pytest.raises(OSError) as info:
        with AtomicOutputs(good, device) as (a, b):
            a.write(b"complete")
            b.write(b"cannot be written")
    assert info.value.filename == str(device)
    assert not good.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    with AtomicOutputs(good, tmp_path / "other.out") as (a, b):
        a.write(b"one")
        b.write(b"two")
    assert good.read_bytes() == b"one" and (tmp_path / "other.out").read_bytes() == b"two"


def test_atomic_output_discards_when_the_commit_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_fsync)
    target = tmp_path / "x.out"
    with pytest.raises(OSError) as info:
        with AtomicOutput(target) as out:
            out.write(b"data")
    assert info.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []


# -- signals ----------------------------------------------------------------------------------
@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_mid_run_leaves_nothing(tmp_path: Path, sig: signal.Signals, status: int) -> None:
    _big_input(tmp_path / "in.837", 50)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(CLI + ["filter", "../in.837", "-o", "clean.837", "--rejects", "out.277"],
                            cwd=out, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    # Wait until the run is under way (its temporary outputs exist), then interrupt it.
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".clean.837.") for p in out.iterdir()):
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.01)
    proc.send_signal(sig)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == status, err
    assert "Traceback" not in err
    assert f"interrupted by {sig.name}" in _error_line(err)
    _only(out)


@pytest.mark.parametrize("where", ["read_claim", "read_level", "read_header"])
def test_an_interrupt_while_a_claim_is_read_is_not_swallowed(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    # Deterministic stand-in for a signal landing while a claim is read: the signal handler
    # raises Interrupted from whatever Python code runs at that moment, and no `except` on the
    # way (an unreadable claim is a TransactionError, nothing broader) may take it for one.
    from edi_cgt.claims.walker import ClaimReader
    from edi_cgt.cli._common import Interrupted

    real = getattr(ClaimReader, where)
    fired = []

    def interrupted(self, *args, **kw):  # type: ignore[no-untyped-def]
        if not fired:
            fired.append(where)
            raise Interrupted(signal.SIGTERM)
        return real(self, *args, **kw)

    monkeypatch.setattr(ClaimReader, where, interrupted)
    with pytest.raises(Interrupted):
        filter_in_process(FIXTURE)
    assert fired


def test_run_to_completion_on_the_same_big_input_conserves_claims(tmp_path: Path) -> None:
    # The control for the signal test: the same kind of input, not interrupted, is complete.
    data = FIXTURE * 200
    run = run_filter_cli(data, tmp_path)
    assert check_outcome(data, run) == "output"
    assert run.summary is not None and run.summary["claims_in"] == 200 * FIXTURE.count(b"CLM*")
