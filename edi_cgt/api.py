# The Python API for integrators: filter a file, check a file, load a policy.
#
# Strategy: a clearinghouse job imports these instead of shelling out. They are the same path
# as the CLI, not a second one: `edi-cgt filter` calls `_filter`, and `check` and `explain` read
# claims through `_input_claims`: the only places that hand an input to the pipeline or the
# claim reader.
# Results are frozen values; errors are the project's exceptions (X12Error, InputError,
# OverwriteError, PolicyError, SiteError), each naming the file and what was wrong. Nothing
# here reads environment variables or the current directory: site settings are what you pass.
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .claims.model import Claim
    from .decider import Decider
    from .pipeline import FilterStats
    from .policy import Finding, Policy, SiteSettings

__all__ = ["FilterResult", "ClaimResult", "CheckResult", "filter_file", "check_file", "load_policy"]

@dataclass(frozen=True, slots=True)
class FilterResult:
    """What `filter_file` did. Every claim is in exactly one of accepted, rejected, unevaluated
    (its transaction could not be read as claims and was passed through unchanged) and
    syntax_rejected (its transaction failed `validate=True` and is reported in the 999)."""

    input: str
    claims: int
    accepted: int
    rejected: int
    unevaluated: int
    syntax_rejected: int
    warnings: int  # warning findings, on accepted and rejected claims alike
    transactions: int
    transactions_passed_through: int
    charges: Decimal  # CLM02 of every claim read
    charges_rejected: Decimal
    rejected_by_rule: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def exit_status(self) -> int:
        """The status `edi-cgt filter` exits with (it asks this property): 3 when a claim that
        was read could not be (or a transaction was passed through unread), else 1 when a claim
        was rejected, else 0."""
        if self.unevaluated or self.transactions_passed_through:
            return 3
        return 1 if self.rejected or self.syntax_rejected else 0

    @classmethod
    def _of(cls, stats: "FilterStats") -> "FilterResult":
        return cls(input=stats.source, claims=stats.claims_in, accepted=stats.accepted, rejected=stats.rejected,
                   unevaluated=stats.unevaluated, syntax_rejected=stats.syntax_rejected, warnings=stats.warnings,
                   transactions=stats.transactions, transactions_passed_through=stats.transactions_passed_through,
                   charges=stats.charges_in, charges_rejected=stats.charges_rejected,
                   rejected_by_rule=MappingProxyType(dict(sorted(stats.by_rule.items()))))


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """One claim's decision: its CLM01, CLM02 and every finding (errors reject it)."""

    claim_id: str
    charge: Decimal
    rejected: bool
    findings: "tuple[Finding, ...]"

    @property
    def errors(self) -> "tuple[Finding, ...]":
        return tuple(f for f in self.findings if f.is_error)

    @property
    def warnings(self) -> "tuple[Finding, ...]":
        return tuple(f for f in self.findings if not f.is_error)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What `check_file` found: one ClaimResult per claim, in input order."""

    input: str
    claims: tuple[ClaimResult, ...]
    unevaluated: int = 0  # claims that could not be read (skipped; on_event says why)

    @property
    def rejected(self) -> int:
        return sum(c.rejected for c in self.claims)

    @property
    def accepted(self) -> int:
        return len(self.claims) - self.rejected

    @property
    def warnings(self) -> int:
        return sum(len(c.warnings) for c in self.claims)

    @property
    def exit_status(self) -> int:
        """The status `edi-cgt check` exits with: 3 when a claim could not be read, else 1 when
        a claim is rejected, else 0."""
        if self.unevaluated:
            return 3
        return 1 if self.rejected else 0


def load_policy(path: "str | os.PathLike[str] | None" = None) -> "Policy":
    """The policy in `path` with every revision it builds on (None: the built-in Medi-Cal CGT
    policy, July 2025). Raises PolicyError listing every problem, with file and line.

    >>> policy = load_policy()
    >>> policy.latest.rules["CGT-AUTH-REQUIRED"].severity
    'error'
    """
    from .policy import load_policy as load

    return load(path)


def filter_file(
    input: "str | os.PathLike[str]",
    output: "str | os.PathLike[str]",
    rejects: "str | os.PathLike[str]",
    *,
    site: "str | os.PathLike[str] | None" = None,
    policy: "Policy | str | os.PathLike[str] | None" = None,
    as_of: dt.date | None = None,
    ack_all: bool = False,
    redact_acks: bool = False,
    read_all: bool = False,
    strict: bool = False,
    validate: bool = False,
    syntax_ack: "str | os.PathLike[str] | None" = None,
    on_event: Callable[..., None] | None = None,
) -> FilterResult:
    """Filter one 837 file as `edi-cgt filter` does: the clean 837 to `output`, the 277CA of the
    rejected claims to `rejects` (every claim with `ack_all`).

    `input` is a path (gzip is recognised by content) or '-' for stdin; `output` and `rejects`
    are paths or '-' for stdout, written atomically (both appear, or neither). An output that is
    the same file as the input raises OverwriteError before anything is written. `site` is a
    site TOML file (none is looked for); `policy` a policy file or a loaded Policy. Only the
    claims that carry a policy code are read, unless `read_all` (every claim's segments are then
    checked). `strict` reads every claim and raises TransactionError where one cannot be read
    (instead of passing it through unchanged); `validate` runs
    pyx12 first and writes the 999 to `syntax_ack` (default: `rejects` + '.999'). The 277CA
    names each patient as the X214 requires, REDACTED with `redact_acks`.
    `on_event(name, **fields)` receives the log events (`claim_rejected`, `claim_warning`,
    `transaction_passed_through`, `envelope_issue` ...), which carry no PHI.
    """
    decider = _decider(policy, site, as_of)
    stats = _filter(input, output, rejects, decider=decider, ack_all=ack_all, redact_acks=redact_acks,
                    read_all=read_all, strict=strict, validate=validate, syntax_ack=syntax_ack, on_event=on_event)
    return FilterResult._of(stats)


def check_file(
    input: "str | os.PathLike[str]",
    *,
    site: "str | os.PathLike[str] | None" = None,
    policy: "Policy | str | os.PathLike[str] | None" = None,
    as_of: dt.date | None = None,
    on_event: Callable[..., None] | None = None,
) -> CheckResult:
    """Decide every claim of one 837 file as `edi-cgt check` does, writing nothing.

    Holds one small ClaimResult per claim (ids, charge, findings), not the claims themselves.
    Raises X12SyntaxError naming the file and segment when the input cannot be cut into
    segments; a claim that cannot be read is skipped, counted in `unevaluated` and told to
    `on_event` with its segment number and problem.
    """
    from .io import describe_source
    from .pipeline import FilterStats
    from .policy import evaluate

    loaded, settings = _policy_and_site(policy, site)
    results = []
    stats = FilterStats()
    for claim in _input_claims(input, on_event=on_event, stats=stats):
        decision = evaluate(claim, loaded, settings, as_of=as_of)
        results.append(ClaimResult(claim.claim_id, claim.total_charge, decision.rejected, decision.findings))
    return CheckResult(describe_source(input), tuple(results), stats.unevaluated)


# -- the one path, shared with the CLI ---------------------------------------------------------------
def _policy_and_site(policy: Any, site: Any) -> "tuple[Policy, SiteSettings | None]":
    from .policy import Policy, load_policy as load, load_site

    loaded = policy if isinstance(policy, Policy) else load(policy)
    return loaded, (load_site(site, policy=loaded) if site is not None else None)


def _decider(policy: Any, site: Any, as_of: dt.date | None) -> "Decider":
    from .decider import Decider, DeciderConfig
    from .policy import Policy

    if isinstance(policy, Policy):
        return Decider(DeciderConfig(None, _str(site), as_of), policy=policy)
    return Decider(DeciderConfig(_str(policy), _str(site), as_of))


def _str(path: Any) -> str | None:
    return None if path is None else os.fspath(path)


def _input_claims(source: "str | os.PathLike[str]", *, on_event: Callable[..., None] | None = None,
                  stats: "FilterStats | None" = None,
                  wrap: Callable[[Iterable[bytes], str, str], Iterable[bytes]] | None = None,
                  label: str = "reading") -> "Iterator[Claim]":
    """Every claim of one input ('-' = stdin), in order: the one place `check`, `explain` and
    `check_file` read an input (the pipeline's reading, every claim read). `wrap(chunks, label,
    path)` sees the bytes (progress); a claim that cannot be read is skipped, told to
    `on_event` and counted in `stats` as unevaluated."""
    from .io import describe_source, read_chunks
    from .pipeline import read_claims

    where = describe_source(source)
    chunks: Iterable[bytes] = read_chunks(source)
    if wrap is not None:
        chunks = wrap(chunks, f"{label} {where}", os.fspath(source))
    yield from read_claims(chunks, where=where, on_event=on_event, stats=stats)


def _summary_fields(stats: "FilterStats") -> dict[str, Any]:
    """The `summary` event of one filter run (JSON-ready): the counts, warnings and by_rule."""
    fields = stats.as_dict()
    fields["warnings"] = stats.warnings
    fields["by_rule"] = dict(sorted(stats.by_rule.items()))
    return fields


def _filter(
    input: "str | os.PathLike[str]",
    output: "str | os.PathLike[str]",
    rejects: "str | os.PathLike[str]",
    *,
    decider: "Decider",
    ack_all: bool = False,
    redact_acks: bool = False,
    read_all: bool = False,
    strict: bool = False,
    validate: bool = False,
    syntax_ack: "str | os.PathLike[str] | None" = None,
    on_event: Callable[..., None] | None = None,
    wrap: Callable[[Iterable[bytes], str, str], Iterable[bytes]] | None = None,
    sinks: Sequence[Any] = (),
    on_removed: Callable[[str], None] | None = None,
) -> "FilterStats":
    """`filter_file` with what only the CLI sets: `wrap(chunks, label, path)` around each read
    of the input (progress), extra claim `sinks` (counting) and `on_removed(path)` for an
    earlier run's file removed where an output stays empty."""
    from .io import AtomicOutputs, describe_source, read_chunks, refuse_overwrite
    from .pipeline import FilterOptions, run_filter
    from .writers.ack277 import AckWriter

    input, output, rejects = os.fspath(input), os.fspath(output), os.fspath(rejects)
    if validate and syntax_ack is None:
        if rejects == "-":
            raise ValueError("validate with rejects '-' needs a syntax_ack path for the 999")
        syntax_ack = rejects + ".999"
    refuse_overwrite([("input", input)], [("--rejects", rejects), ("-o", output)]
                     + ([("--syntax-ack", os.fspath(syntax_ack))] if validate and syntax_ack is not None else []))
    where = describe_source(input)
    emit = on_event or (lambda name, **fields: None)
    around = wrap or (lambda chunks, label, path: chunks)

    source, spool = input, None
    rejected_syntax: frozenset[int] = frozenset()
    ack999 = ""
    try:
        if validate:
            from .validation import validate_x12

            if input == "-":  # two passes over stdin: keep a copy (memory, then a temporary file)
                import tempfile

                spool = tempfile.NamedTemporaryFile(prefix="edi-cgt-stdin-", suffix=".837")
                for chunk in read_chunks("-"):
                    spool.write(chunk)
                spool.flush()
                source = spool.name
            result = validate_x12(around(read_chunks(source), "validating " + where, source), where=where)
            rejected_syntax = result.rejected_transactions()
            ack999 = result.ack
            for verdict in result.transactions:
                if verdict.rejected:
                    emit("syntax_rejected", file=where, transaction=verdict.control, set_id=verdict.set_id,
                         problems=[f"{i.segment_id}{' ' + i.element if i.element else ''} code {i.code}"
                                   for i in verdict.issues][:10])
        # All outputs appear together or not at all (a failing 277CA write leaves no clean 837).
        paths = (rejects, output) + ((os.fspath(syntax_ack),) if validate and syntax_ack is not None else ())
        # An output that stays empty is not created, and a file an earlier run left there is removed.
        with AtomicOutputs(*paths, on_removed=on_removed) as outs:
            ack_out, clean_out = outs[0], outs[1]
            with AckWriter(ack_out.stream, ack_all=ack_all, include_phi=not redact_acks, now=_now()) as ack:
                # --ack-all reports every claim and --strict vouches for every one: both read them all
                options = FilterOptions(read_all=read_all or ack_all or strict, strict=strict,
                                        syntax_rejected=rejected_syntax)
                stats = run_filter(around(read_chunks(source), "filtering " + where, source), out=clean_out.stream,
                                   decide=decider, sinks=[ack, *sinks], where=where, on_event=emit, options=options)
            if validate:
                outs[2].write(ack999.encode("latin-1"))
    finally:
        if spool is not None:
            spool.close()
    return stats


def _now() -> dt.datetime | None:
    """SOURCE_DATE_EPOCH, when set, fixes the 277CA's dates and times (reproducible output)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.timezone.utc).replace(tzinfo=None)
    return None
