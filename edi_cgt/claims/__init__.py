"""837 claims: the frozen claim model, the claim index and the reader that builds claims."""
from .model import Claim, ClaimLocation, DateRange, Diagnosis, Payer, Person, Provider, ServiceLine, TransactionInfo

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
]
