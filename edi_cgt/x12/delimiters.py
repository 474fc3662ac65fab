# Delimiters, read from the fixed-width ISA segment.
#
# Strategy: the ISA is the one segment whose layout is fixed (106 bytes with its terminator), so
# every delimiter is read from a byte position, never assumed. Before trusting the positions we
# check that the element separator really stands at all sixteen element boundaries; a one-byte
# slip (a 105-byte ISA, prose before it) is reported as exactly that instead of producing a
# garbage tokenisation.
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import X12SyntaxError

__all__ = ["Delimiters", "ISA_LENGTH", "detect_delimiters"]

ISA_LENGTH = 106  # including the segment terminator
# Byte offsets of the element separator in a well-formed ISA (ISA00 is "ISA").
_ELEMENT_OFFSETS = (3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103)
_ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The four X12 delimiters as single bytes. `repetition` is None when ISA11 is not one."""

    element: bytes = b"*"
    component: bytes = b":"
    segment: bytes = b"~"
    repetition: bytes | None = b"^"

    # the same delimiters as str (elements are decoded as latin-1), set once
    element_str: str = field(init=False, repr=False, compare=False)
    component_str: str = field(init=False, repr=False, compare=False)
    segment_str: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("element", "component", "segment"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != 1:
                raise ValueError(f"{name} delimiter must be one byte, got {value!r}")
            object.__setattr__(self, f"{name}_str", value.decode("latin-1"))


def detect_delimiters(isa: bytes, *, segment_number: int = 1, where: str = "") -> Delimiters:
    """Read the delimiters from the first 106 bytes of an ISA segment.

    `isa` must start with b"ISA". Raises X12SyntaxError naming what is wrong.
    """
    if not isa.startswith(b"ISA"):
        raise X12SyntaxError("expected an ISA segment", segment_number=segment_number, where=where)
    if len(isa) < ISA_LENGTH:
        raise X12SyntaxError(
            f"ISA segment is truncated: {len(isa)} bytes where 106 are required",
            segment_number=segment_number,
            where=where,
        )
    element = isa[3:4]
    for i, off in enumerate(_ELEMENT_OFFSETS):
        if isa[off : off + 1] != element:
            # Find where the separator really is, to say how the ISA is off.
            n = i  # element ISA(n) ends here
            raise X12SyntaxError(
                f"ISA is not fixed-width: element separator {element.decode('latin-1')!r} expected "
                f"at byte {off} (end of ISA{n:02d}, width {_ISA_WIDTHS[n - 1] if n else 3}) but found "
                f"{isa[off:off + 1].decode('latin-1')!r}; an ISA must be exactly 106 characters",
                segment_number=segment_number,
                where=where,
            )
    component = isa[104:105]
    segment = isa[105:106]
    version = isa[84:89]
    rep = isa[82:83]
    repetition: bytes | None = rep
    # ISA11 is the repetition separator only from 00501 on; 'U' (the 00401 standards id) and
    # alphanumerics are not separators. A repetition equal to another delimiter is ignored.
    if version < b"00501" or rep.isalnum() or rep in (element, component, segment) or rep == b" ":
        repetition = None
    problems = []
    if len({element, component, segment}) != 3:
        problems.append("element, component and segment delimiters must all differ")
    for name, d in (("element", element), ("component", component), ("segment", segment)):
        if d.isalnum():
            problems.append(f"{name} delimiter {d.decode('latin-1')!r} is a letter or digit")
    if problems:
        raise X12SyntaxError(
            "ISA delimiters are unusable: " + "; ".join(problems),
            segment_number=segment_number,
            where=where,
        )
    return Delimiters(element=element, component=component, segment=segment, repetition=repetition)
