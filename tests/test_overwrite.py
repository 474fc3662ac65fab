# No command ever overwrites an input: an output that is the same file as an input, by any path
# (./, a symbolic link, a hard link, stdin or stdout redirected to it), is refused with exit 2
# before anything is written, and the message names both.
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import FIXTURES, ROOT, error_lines, run_cli

SRC = FIXTURES / "cgt_837p_mixed.837"
SITE = str(FIXTURES / "site.toml")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    shutil.copy(SRC, tmp_path / "x.837")
    return tmp_path


def _refused(res: subprocess.CompletedProcess, work: Path, *named: str, files: tuple[str, ...] = ("x.837",)) -> str:
    assert res.returncode == 2, res.stderr
    (line,) = error_lines(res.stderr.decode())
    assert line.startswith("edi-cgt: error: refusing to write ") and "nothing was written" in line, line
    for name in named:
        assert name in line, line
    assert (work / "x.837").read_bytes() == SRC.read_bytes(), "the input is untouched"
    assert sorted(p.name for p in work.iterdir()) == sorted(files), "nothing else was written"
    return line


@pytest.mark.parametrize("args, named", [
    (["-o", "x.837", "--rejects", "r.277"], ("-o x.837", "the input x.837")),
    (["-o", "./x.837", "--rejects", "r.277"], ("-o ./x.837",)),
    (["-o", "c.837", "--rejects", "x.837"], ("--rejects x.837",)),
    (["-o", "c.837", "--rejects", "r.277", "--validate", "--syntax-ack", "x.837"], ("--syntax-ack x.837",)),
    (["-o", "c.837", "--rejects", "c.837"], ("-o c.837", "the output --rejects c.837")),
    (["--rejects", "-"], ("(standard output)",)),  # -o defaults to stdout too: the two would interleave
])
def test_filter_refuses_an_output_that_is_an_input(work: Path, args: list[str], named: tuple[str, ...]) -> None:
    res = run_cli("filter", "x.837", "--site", SITE, *args, cwd=work)
    _refused(res, work, *named)


def test_filter_follows_symbolic_links_and_sees_hard_links(work: Path) -> None:
    os.symlink("x.837", work / "link.837")
    res = run_cli("filter", "x.837", "-o", "link.837", "--rejects", "r.277", "--site", SITE, cwd=work)
    _refused(res, work, "-o link.837", "x.837", files=("x.837", "link.837"))
    os.unlink(work / "link.837")
    os.link(work / "x.837", work / "hard.837")
    res = run_cli("filter", "hard.837", "-o", "c.837", "--rejects", "x.837", "--site", SITE, cwd=work)
    _refused(res, work, "--rejects x.837", "the input hard.837", files=("x.837", "hard.837"))
    os.symlink(work / "x.837", work / "abs-link.837")  # the input named through a link
    res = run_cli("filter", "abs-link.837", "-o", str(work / "x.837"), "--rejects", "r.277", "--site", SITE, cwd=work)
    _refused(res, work, files=("x.837", "hard.837", "abs-link.837"))


def test_redirected_stdin_and_stdout_are_inputs_and_outputs_too(work: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "edi_cgt", "filter"]
    # `edi-cgt filter x.837 --rejects r.277 >> x.837`
    with open(work / "x.837", "ab") as out:
        res = subprocess.run(cmd + ["x.837", "--rejects", "r.277", "--site", SITE], stdout=out, stderr=subprocess.PIPE,
                             cwd=work, env=env, timeout=120)
    _refused(res, work, "-o (standard output)", "the input x.837")
    # `edi-cgt filter - -o x.837 --rejects r.277 < x.837`
    with open(work / "x.837", "rb") as src:
        res = subprocess.run(cmd + ["-", "-o", "x.837", "--rejects", "r.277", "--site", SITE], stdin=src,
                             capture_output=True, cwd=work, env=env, timeout=120)
    _refused(res, work, "-o x.837", "the input (standard input)")


def test_validate_refuses_its_input_as_the_999(work: Path) -> None:
    res = run_cli("validate", "x.837", "-o", "./x.837", cwd=work)
    _refused(res, work, "-o ./x.837", "the input x.837")


def test_claims_refuses_to_append_to_its_input(work: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(work / "x.837", "ab") as out:
        res = subprocess.run([sys.executable, "-m", "edi_cgt", "claims", "x.837"], stdout=out, stderr=subprocess.PIPE,
                             cwd=work, env=env, timeout=120)
    _refused(res, work, "stdout (standard output)")


def test_devices_and_distinct_files_are_fine(work: Path) -> None:
    res = run_cli("filter", "x.837", "-o", "/dev/null", "--rejects", "/dev/null", "--site", SITE, cwd=work)
    assert res.returncode == 1, res.stderr
    res = run_cli("filter", "x.837", "-o", "c.837", "--rejects", "r.277", "--site", SITE, cwd=work)
    assert res.returncode == 1 and (work / "c.837").exists() and (work / "r.277").exists()
    again = run_cli("filter", "x.837", "-o", "c.837", "--rejects", "r.277", "--site", SITE, cwd=work)
    assert again.returncode == 1, "replacing an earlier output is fine"


def test_the_library_refuses_the_same(work: Path) -> None:
    import edi_cgt
    from edi_cgt.io import OverwriteError

    with pytest.raises(OverwriteError, match="refusing to write --rejects"):
        edi_cgt.filter_file(work / "x.837", work / "c.837", work / "x.837")
    assert (work / "x.837").read_bytes() == SRC.read_bytes()
    assert sorted(p.name for p in work.iterdir()) == ["x.837"]
