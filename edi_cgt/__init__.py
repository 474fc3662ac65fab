"""edi-cgt: streaming X12 837 interceptor for Medi-Cal cell and gene therapy claims.

The Python API (imported on first use, so `import edi_cgt` stays light)::

    import edi_cgt

    result = edi_cgt.filter_file("in.837", "clean.837", "rejects.277", site="site.toml")
    if result.rejected:
        ...

`filter_file`, `check_file` and `load_policy` are documented in edi_cgt.api; their results
(`FilterResult`, `CheckResult`, `ClaimResult`) are frozen values.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "filter_file", "check_file", "load_policy", "FilterResult", "CheckResult", "ClaimResult"]

_API = frozenset(__all__[1:])

if TYPE_CHECKING:
    from .api import CheckResult, ClaimResult, FilterResult, check_file, filter_file, load_policy


def __getattr__(name: str) -> Any:
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'edi_cgt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _API)
