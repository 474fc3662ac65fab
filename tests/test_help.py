# --help that teaches: no internal references, dates shown as DATE, logging options on every
# command, and a top-level exit-status list that agrees with each command's own.
from __future__ import annotations

import re

import pytest

from support import FIXTURES, json_events, run_cli


def _help(*command: str) -> str:
    res = run_cli(*command, "--help")
    assert res.returncode == 0, res.stderr
    return res.stdout.decode()


def _commands() -> list[tuple[str, ...]]:
    top = _help()
    block = top.split("Commands:", 1)[1].split("\n\n", 1)[0]
    names = [line.split()[0] for line in block.splitlines() if line.strip()]
    out: list[tuple[str, ...]] = []
    for name in names:
        sub = _help(name)
        if "Commands:" in sub:  # a group: its commands
            block = sub.split("Commands:", 1)[1].split("\n\n", 1)[0]
            out += [(name, line.split()[0]) for line in block.splitlines() if line.strip()]
        else:
            out.append((name,))
    return out


COMMANDS = _commands()
USER_COMMANDS = [c for c in COMMANDS if c[0] != "bench"]  # the benchmark leaves the package (issue 11)


@pytest.mark.parametrize("command", [(), *COMMANDS], ids=lambda c: " ".join(c) or "edi-cgt")
def test_help_has_no_internal_references_or_strftime_patterns(command: tuple[str, ...]) -> None:
    text = _help(*command)
    assert not re.search(r"issue #?\d", text), text
    assert "%Y" not in text and "[%" not in text, text
    if "--as-of" in text:
        assert re.search(r"--as-of DATE\s", text), text


@pytest.mark.parametrize("command", USER_COMMANDS, ids=" ".join)
def test_logging_options_on_every_command(command: tuple[str, ...]) -> None:
    text = _help(*command)
    for option in ("--log-phi", "--log-format [auto|text|json]", "--log-level"):
        assert option in text, (command, option)


def test_the_command_option_log_phi_is_the_global_one(tmp_path) -> None:
    bad = FIXTURES.parent / "fuzz/corpus/phi_837p.x12"
    data = bad.read_bytes().replace(b"DMG*D8*19710413", b"DMG*D8*19710231", 1)
    assert data != bad.read_bytes()
    (tmp_path / "in.x12").write_bytes(data)
    quiet = run_cli("validate", "in.x12", "-o", "v.999", cwd=tmp_path)
    shown = run_cli("validate", "in.x12", "-o", "v.999", "--log-phi", cwd=tmp_path)
    assert quiet.returncode == shown.returncode == 1
    assert b"19710231" not in quiet.stderr and b"19710231" in shown.stderr
    assert [e["event"] for e in json_events(shown.stderr)] == [e["event"] for e in json_events(quiet.stderr)]


def _statuses(text: str) -> set[str]:
    """The statuses a command's own help lists after 'Exit status:'."""
    part = " ".join(text.split("Exit status:", 1)[1].split())
    return set(re.findall(r"(?:^|;)\s*(\d+(?:\+N)?)\b", part))


def _top_level() -> dict[str, str]:
    """status -> its text in `edi-cgt --help`."""
    block = _help().split("Exit status:", 1)[1]
    entries: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        m = re.match(r"\s*(\d+(?:\+N)?)\s{2,}(.*)", line)
        if m:
            current = m.group(1)
            entries[current] = m.group(2)
        elif current and line.strip():
            entries[current] += " " + line.strip()
    return entries


def _names(command: str, text: str) -> bool:
    """The entry lists `command` ("filter, check, replay: ..." or "validate: ...")."""
    return re.search(rf"(?<![\w-]){command}(?=[,:])", text) is not None


def test_top_level_exit_statuses_agree_with_each_command() -> None:
    top = _top_level()
    assert {"0", "1", "2", "3", "141", "128+N"} <= set(top)
    documented = {c: _statuses(_help(*c)) for c in USER_COMMANDS if "Exit status:" in _help(*c)}
    assert {("filter",), ("check",), ("claims",), ("validate",), ("replay",)} <= set(documented)
    for command, statuses in documented.items():
        name = " ".join(command)
        for status in statuses - {"0"}:
            text = top.get(status, "")
            assert "all commands" in text or _names(name, text), (command, status, text)
    for status, text in top.items():
        if "all commands" in text or status == "0":
            continue
        named = [c for c in documented if _names(" ".join(c), text)]
        assert named, (status, text)
        for command in named:
            assert status in documented[command], (status, command, documented[command])
