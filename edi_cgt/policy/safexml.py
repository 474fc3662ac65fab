# Safe XML parsing for policy files.
#
# Strategy: a policy file is data a site may edit or download, so it is parsed defensively:
# size-capped, UTF-8 only, and any DOCTYPE or entity declaration is refused before lxml sees
# the bytes (that rules out external entities (XXE) and entity expansion bombs such as
# "billion laughs"). The lxml parser itself is also locked down (no entity resolution, no DTD
# loading, no network, no huge trees), and the parsed document is checked once more for a DTD
# or entity nodes, so the refusal does not rest on the byte scan alone.
from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

__all__ = ["Problem", "PolicyError", "MAX_POLICY_BYTES", "parse_xml_bytes", "check_tree", "safe_parser"]

MAX_POLICY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a policy or site file: where it is and what is wrong."""

    source: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"


class PolicyError(ValueError):
    """A policy file could not be used; `problems` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid policy")


def safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def _line_of(data: bytes, needle: bytes) -> int:
    return data[: data.find(needle)].count(b"\n") + 1


def parse_xml_bytes(data: bytes, source: str) -> etree._ElementTree:
    """Parse `data` or raise PolicyError naming `source`, the line and the reason."""
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError([Problem(source, None, f"file is {len(data)} bytes; policy files are limited to {MAX_POLICY_BYTES}")])
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PolicyError([Problem(source, line, "policy files must be UTF-8 encoded")]) from None
    for marker, what in ((b"<!DOCTYPE", "a DOCTYPE declaration"), (b"<!ENTITY", "an entity declaration")):
        if marker in data:
            raise PolicyError([Problem(source, _line_of(data, marker), f"refused: {what} is not allowed in a policy file (no DTDs or entities)")])
    try:
        tree = etree.ElementTree(etree.fromstring(data, safe_parser()))
    except etree.XMLSyntaxError as exc:
        raise PolicyError([Problem(source, exc.lineno or None, f"not well-formed XML: {exc.msg}")]) from None
    check_tree(tree, source)
    return tree


def check_tree(tree: etree._ElementTree, source: str) -> None:
    """Refuse a parsed document that has a DTD or entity references (defence in depth)."""
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise PolicyError([Problem(source, 1, "refused: a DOCTYPE declaration is not allowed in a policy file")])
    for node in tree.iter():
        if isinstance(node, etree._Entity):
            raise PolicyError([Problem(source, node.sourceline, "refused: entity references are not allowed in a policy file")])
