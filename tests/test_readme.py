# The README's commands, run: an example in the README cannot rot unnoticed.
#
# The convention (also in the README's Development section):
# - every line of a ```bash block is a command (a trailing backslash continues it; lines that
#   start with '#' are comments), run under `bash -o pipefail` in a temporary directory holding
#   copies of fixtures/ and docs/, with `edi-cgt` (and python/python3) meaning this checkout's
#   `python -m edi_cgt` and this interpreter, and no $EDI_CGT_SITE;
# - it must exit with the status its trailing comment gives as `# exit N` (0 when there is none);
# - a line whose comment says `# illustrative` shows a shape with made-up names: not run;
# - a line that needs what CI lacks is listed in SKIPPED with the reason (an entry that matches
#   no line fails a test, so the list cannot go stale);
# - the quick start's `python3 -m pip install . && COMMAND` runs COMMAND only: the checkout under
#   test is already what is installed (.ci/run installs it once);
# - each ```python block runs as one script in such a directory and must exit 0.
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT

README = ROOT / "README.md"

# A substring that names one README line -> why CI does not run it.
SKIPPED: dict[str, str] = {
    "python3 -m pip install -e '.[test,spark]' && python3 -m pytest": "is the test suite itself",
    'python3 -m pytest -m "not spark"': "is the test suite itself",
    "--engine spark --master yarn": "needs a YARN cluster and an s3a bucket",
    "python bench/run.py -r 3": "a 25-minute benchmark run, not a test",
    "python3 -m bench.corpus --claims 100000": "generates a 100,000-claim corpus (about 10 s); tests/test_corpus.py "
                                               "covers generation on small corpora",
    "python -m fuzz.fuzz_filter --seconds 3600": "an hour-long fuzz run; tests run seeded fuzz briefly",
    "python -m fuzz.fuzz_reader --seconds 3600": "an hour-long fuzz run; tests run seeded fuzz briefly",
    "pip install atheris": "installs atheris and fuzzes for an hour",
}

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
_EXIT = re.compile(r"#\s*exit (\d+)\b")
_ILLUSTRATIVE = re.compile(r"#.*\billustrative\b")


def _blocks(kind: str) -> list[tuple[int, str]]:
    """(line number of the block's first line, text) of every ```kind block."""
    text = README.read_text()
    return [(text.count("\n", 0, m.start(2)) + 1, m.group(2)) for m in _FENCE.finditer(text) if m.group(1) == kind]


def _commands() -> list[tuple[int, str]]:
    """(README line number, command) for every shell line, continuations joined."""
    out: list[tuple[int, str]] = []
    for first, body in _blocks("bash") + _blocks("sh"):
        pending, start = "", 0
        for i, line in enumerate(body.splitlines()):
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if not pending:
                start = first + i
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            out.append((start, pending + line))
            pending = ""
    return out


# The quick start installs, then runs the main job: here only the job runs (on this checkout).
_INSTALL_THEN = "python3 -m pip install . && "

# Tools a README line may pipe into that a machine may lack: the line is skipped there, saying so.
OPTIONAL_TOOLS = ("jq",)


def _skip_reason(command: str) -> str | None:
    if _ILLUSTRATIVE.search(command):
        return "illustrative (made-up names), marked in the README"
    for tool in OPTIONAL_TOOLS:
        if re.search(rf"\|\s*{tool}\b", command) and shutil.which(tool) is None:
            return f"{tool} is not installed here"
    hits = [reason for key, reason in SKIPPED.items() if key in command]
    return hits[0] if hits else None


def _workdir(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A directory like a checkout's root for a reader: fixtures/ and docs/ (copies), and a
    PATH on which edi-cgt, python and python3 are this checkout and this interpreter."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("fixtures", "docs"):
        shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("edi-cgt", f'exec "{sys.executable}" -m edi_cgt "$@"'),
                       ("python", f'exec "{sys.executable}" "$@"'), ("python3", f'exec "{sys.executable}" "$@"')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "EDI_CGT_SITE"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    return work, env


COMMANDS = _commands()


def test_the_readme_has_commands_and_every_skip_names_one() -> None:
    assert len(COMMANDS) >= 15, COMMANDS
    for key in SKIPPED:
        assert any(key in c for _, c in COMMANDS), f"SKIPPED entry {key!r} matches no README line: remove it"


@pytest.mark.parametrize("line, command", COMMANDS, ids=[f"README:{n}" for n, _ in COMMANDS])
def test_readme_command(tmp_path: Path, line: int, command: str) -> None:
    reason = _skip_reason(command)
    if reason:
        pytest.skip(f"README line {line}: {reason}")
    expected = int(m.group(1)) if (m := _EXIT.search(command)) else 0
    command = command.removeprefix(_INSTALL_THEN)
    work, env = _workdir(tmp_path)
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=work, env=env, capture_output=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == expected, f"README line {line}: {command}\nexit {proc.returncode}, stderr:\n{err[-3000:]}"
    assert "Traceback" not in err, err


@pytest.mark.parametrize("line, script", _blocks("python"), ids=[f"README:{n}" for n, _ in _blocks("python")])
def test_readme_python(tmp_path: Path, line: int, script: str) -> None:
    work, env = _workdir(tmp_path)
    (work / "example.py").write_text(script)
    proc = subprocess.run([sys.executable, "example.py"], cwd=work, env=env, capture_output=True, timeout=300)
    assert proc.returncode == 0, f"README line {line}:\n{proc.stderr.decode()[-3000:]}"
    assert proc.stdout.strip(), "the example prints what it found"
