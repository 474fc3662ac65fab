# The little 837 grammar the claim reader checks, kept as data.
#
# Strategy: edi-cgt is not a full TR3 validator (that is `edi-cgt validate`, through pyx12). The
# reader only refuses what would make it read a claim wrongly: a segment id that is not an 837
# segment, a required element it relies on being empty, name-loop segments out of order (N4
# before N3, an address after the REF), and an HL tree it cannot hang claims in. These tables
# say which; the reader (edi_cgt.claims.walker) and the index (edi_cgt.claims.index) are the
# engines that apply them, each check in one place.
from __future__ import annotations

import re

__all__ = [
    "SEGMENT_IDS", "REQUIRED_ELEMENTS", "NAME_LOOP_RANK", "NAME_LOOP_END", "VALID_ID", "VERSION_FAMILY",
    "HL_PARENT_LEVEL", "CLAIM_LEVELS", "CLAIM_ONLY", "kind_of",
]

VALID_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}\Z")

# Every segment id the 005010X222/X223 families use inside ST..SE.
SEGMENT_IDS = frozenset(
    """
    ST BHT NM1 N3 N4 PER REF HL PRV CUR SBR PAT DMG CLM DTP CL1 PWK CN1 AMT K3 NTE
    CR1 CR2 CR3 CR4 CR5 CR6 CR7 CR8 CRC HI HCP LX SV1 SV2 SV3 SV4 SV5 SV6 SV7 TOO PS1
    HSD LIN CTP SVD CAS OI MIA MOA LQ FRM QTY MEA SE
    """.split()
)

# Element positions (1-based) that must not be empty, per segment id.
REQUIRED_ELEMENTS: dict[str, tuple[int, ...]] = {
    "ST": (1, 2),
    "BHT": (1, 2),
    "NM1": (1, 2),
    "HL": (1, 3),
    "SBR": (1,),
    "CLM": (1, 2, 5),
    "LX": (1,),
    "SV1": (1, 2, 3, 4),
    "SV2": (1,),
    "DTP": (1, 2, 3),
    "REF": (1, 2),
    "HI": (1,),
    "N3": (1,),
    "SE": (1, 2),
}

# Inside a name loop (from NM1 to the next loop start) these must come in rising rank.
NAME_LOOP_RANK: dict[str, int] = {"NM1": 0, "PRV": 1, "N3": 2, "N4": 3, "DMG": 4, "REF": 5, "PER": 6}
# Segments that end a name loop (they start another loop or level).
NAME_LOOP_END = frozenset({"HL", "CLM", "LX", "SBR", "PAT", "LIN", "SVD", "SE", "OI", "MOA", "MIA", "AMT", "CAS"})

# Segments that only exist inside a claim (2300 and below): one between an HL and its first CLM
# cannot be read.
CLAIM_ONLY = frozenset({"LX", "SV1", "SV2", "SV3", "SV4", "SV5", "SV6", "SV7", "LIN"})

# HL03 level codes of an 837 and the level each hangs under (by level and order: a 22 under the
# last 20, a 23 under the last 22). Claims hang under 22 (subscriber) or 23 (patient).
HL_PARENT_LEVEL: dict[str, str | None] = {"20": None, "22": "20", "23": "22"}
CLAIM_LEVELS = frozenset({"22", "23"})

# GS08/ST03 values read as 837P and 837I (the whole X222/X223 errata family). An 837 of any
# other version (4010, predetermination X291/X292, X298, dental X224) is not read: it passes
# through untouched.
VERSION_FAMILY: dict[str, str] = {
    "005010X222": "P",
    "005010X222A1": "P",
    "005010X222A2": "P",
    "005010X223": "I",
    "005010X223A1": "I",
    "005010X223A2": "I",
    "005010X223A3": "I",
}


def kind_of(st03: str, gs08: str) -> tuple[str, str | None]:
    """(version, "P" | "I" | None) of an 837 transaction: ST03, else GS08, names the version."""
    version = st03 or gs08
    return version, VERSION_FAMILY.get(version) or VERSION_FAMILY.get(gs08)
