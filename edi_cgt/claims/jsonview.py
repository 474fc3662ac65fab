# Claims as plain dicts for JSON output (`edi-cgt claims`, reports).
#
# Strategy: one function turns the frozen model into JSON-ready dicts; dates become ISO
# strings, Decimals become strings (no float rounding of money). Person fields (PHI) are left
# out unless the caller asks for them.
from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from .model import Claim, Person

__all__ = ["claim_to_dict", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def claim_to_dict(claim: Claim, *, include_phi: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(claim):
        value = getattr(claim, f.name)
        if isinstance(value, Person) or f.name in ("subscriber", "patient"):
            if include_phi:
                out[f.name] = to_jsonable(value)
            continue
        out[f.name] = to_jsonable(value)
    out["type_of_bill"] = claim.type_of_bill
    sd = claim.service_dates
    out["service_dates"] = to_jsonable(sd) if sd else None
    if claim.transaction is not None:
        tx = claim.transaction
        out["transaction"] = {
            "interchange_control": tx.interchange_control,
            "group_control": tx.group_control,
            "transaction_control": tx.transaction_control,
            "version": tx.version,
            "reference": tx.reference,
            "sender_id": tx.sender_id,
            "receiver_id": tx.receiver_id,
        }
    return out
