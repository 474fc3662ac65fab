"""837 claim model and the streaming walker that builds it."""
from .model import Claim, ClaimLocation, DateRange, Diagnosis, Payer, Person, Provider, ServiceLine, TransactionInfo
from .stream import claims_from_segments, read_claims

__all__ = [
    "Claim",
    "ClaimLocation",
    "DateRange",
    "Diagnosis",
    "Payer",
    "Person",
    "Provider",
    "ServiceLine",
    "TransactionInfo",
    "read_claims",
    "claims_from_segments",
]
