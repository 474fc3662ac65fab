# The little 837 grammar the walker checks, kept as data.
#
# Strategy: edi-cgt is not a full TR3 validator (that is `edi-cgt validate`, through pyx12). The
# walker only refuses what would make it read a claim wrongly: a segment id that is not an 837
# segment, a required element it relies on being empty, and name-loop segments out of order
# (N4 before N3, an address after the REF). These tables say which; the walker is one engine.
from __future__ import annotations

import re

__all__ = ["SEGMENT_IDS", "REQUIRED_ELEMENTS", "NAME_LOOP_RANK", "VALID_ID", "VERSION_FAMILY"]

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

# GS08/ST03 values accepted as 837P and 837I (the whole X222/X223 errata family).
VERSION_FAMILY: dict[str, str] = {
    "005010X222": "P",
    "005010X222A1": "P",
    "005010X222A2": "P",
    "005010X223": "I",
    "005010X223A1": "I",
    "005010X223A2": "I",
    "005010X223A3": "I",
}
