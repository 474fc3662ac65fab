# `edi-cgt filter`: clean 837 out, 277CA of rejections out; pipe-safe.
from __future__ import annotations

import datetime as dt

import click

from ._common import (
    EXIT_OK,
    EXIT_PASSED_THROUGH,
    EXIT_REJECTED,
    handle_errors,
    install_signal_handlers,
    log,
)

_DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.command("filter")
@click.argument("input_", metavar="[INPUT]", default="-", type=click.Path(allow_dash=True, dir_okay=False))
@click.option("-o", "--output", default="-", show_default=True, type=click.Path(allow_dash=True, dir_okay=False),
              help="Where the clean 837 goes ('-' = stdout).")
@click.option("--rejects", required=True, type=click.Path(allow_dash=True, dir_okay=False),
              help="Where the 277CA (005010X214) goes. Required.")
@click.option("--ack-all", is_flag=True, help="Acknowledge every claim in the 277CA (accepted ones A2:20/WQ).")
@click.option("--redact-acks", is_flag=True,
              help="Put REDACTED for the patient's name and member id in the 277CA (by default the 277CA names "
                   "the patient, as the X214 requires: it goes back to the submitter).")
@click.option("--site", "site_path", type=click.Path(exists=True, dir_okay=False),
              help="Site settings (TOML): payer ids by program, facility NPI rosters.")
@click.option("--policy", "policy_path", type=click.Path(exists=True, dir_okay=False),
              help="Policy file (default: the built-in Medi-Cal CGT policy, July 2025).")
@click.option("--as-of", type=_DATE, help="Evaluate every claim as if on this date (YYYY-MM-DD).")
@click.option("--strict", is_flag=True,
              help="Treat a transaction that cannot be read as claims as fatal (exit 2) instead of passing it through.")
@click.option("--validate", is_flag=True,
              help="Run full 5010 syntax validation (pyx12) first: a transaction that fails it is left out "
                   "of the clean 837 whole and reported in a 999 (see --syntax-ack).")
@click.option("--syntax-ack", type=click.Path(dir_okay=False),
              help="Where the 999 goes with --validate (default: the --rejects path + '.999').")
@click.option("--fast-path/--no-fast-path", "fast", default=True, show_default=True,
              help="Read only the claims that carry a policy code: copy the rest of the input as bytes, "
                   "and cut rejected claims out around them when the transaction is shown well-formed "
                   "(outputs are identical either way; off with --ack-all and --strict, since those "
                   "need every claim read).")
@click.pass_context
@handle_errors
def filter_(ctx: click.Context, input_: str, output: str, rejects: str, ack_all: bool, redact_acks: bool,
            site_path: str | None,
            policy_path: str | None, as_of: dt.datetime | None, strict: bool, validate: bool,
            syntax_ack: str | None, fast: bool) -> None:
    """Pass clean claims on, pull policy rejections out into a 277CA.

    Reads one 837P/837I INPUT (a path, a .gz, or '-' for stdin), applies the policy
    to every claim and writes two outputs:

    \b
      - the clean 837: the input minus rejected claims, same delimiters and
        control numbers, HL numbers and SE/GE/IEA counts fixed. When nothing
        is rejected it is byte-for-byte the input;
      - the 277CA: one 277 per input transaction with a rejection (every claim
        with --ack-all), status codes and the policy passage in STC12.

    \b
    Examples:
      cat in.837 | edi-cgt filter --rejects out.277 > clean.837
      edi-cgt filter in.837.gz -o clean.837 --rejects out.277 --site site.toml

    \b
    Every claim that goes in comes out once: in the clean 837 or in the 277CA
    (or, if its transaction could not be read, passed through unchanged and
    logged). Files are written to a temporary name and renamed when complete;
    on any error or signal no partial file is left. Logs (JSON on stderr) carry
    claim ids and control numbers, never member names, ids or birth dates.

    \b
    Exit status: 0 nothing rejected; 1 some claims rejected (outputs complete);
    2 bad input, usage or an output that could not be written (no file left);
    3 some transactions were passed through unread (outputs complete).
    """
    from ..decider import DeciderConfig, make_decider
    from ..io import AtomicOutputs, describe_source, read_chunks
    from ..pipeline import run_filter
    from ..writers.ack277 import AckWriter

    import os

    same = rejects == output or (rejects != "-" and output != "-" and os.path.abspath(rejects) == os.path.abspath(output))
    if same and not _is_device(output):
        raise click.UsageError("--rejects and --output must be different places (both name %r)" % rejects)
    if validate and syntax_ack is None:
        if rejects == "-":
            raise click.UsageError("--validate with --rejects - needs --syntax-ack PATH for the 999")
        syntax_ack = rejects + ".999"
    install_signal_handlers()
    where = describe_source(input_)
    decide = make_decider(DeciderConfig(policy_path, site_path, as_of.date() if as_of else None))
    logger = log()

    def on_event(name: str, **fields: object) -> None:
        if name == "transaction_passed_through" and strict:
            from ..x12.errors import TransactionError

            raise TransactionError(str(fields.get("problem")), segment_number=fields.get("segment"), where=where)  # type: ignore[arg-type]
        level = "warning" if name in ("transaction_passed_through", "envelope_issue") else "info"
        getattr(logger, level)(name, **fields)

    source, spool = input_, None
    rejected_syntax: frozenset[int] = frozenset()
    ack999 = ""
    if validate:
        from ..validation import validate_x12

        if input_ == "-":  # two passes over stdin: keep a copy (memory, then a temporary file)
            import tempfile

            spool = tempfile.NamedTemporaryFile(prefix="edi-cgt-stdin-", suffix=".837")
            for chunk in read_chunks("-"):
                spool.write(chunk)
            spool.flush()
            source = spool.name
        result = validate_x12(read_chunks(source), where=where)
        rejected_syntax = result.rejected_transactions()
        ack999 = result.ack
        for verdict in result.transactions:
            if verdict.rejected:
                logger.warning("syntax_rejected", file=where, transaction=verdict.control, set_id=verdict.set_id,
                               problems=[f"{i.segment_id}{' ' + i.element if i.element else ''} code {i.code}"
                                         for i in verdict.issues][:10])

    # All outputs appear together or not at all (a failing 277CA write leaves no clean 837).
    paths = (rejects, output) + ((syntax_ack,) if validate else ())
    # An output that stays empty is not created, and a file an earlier run left there is removed.
    with AtomicOutputs(*paths, on_removed=lambda p: logger.warning("empty_output_removed", output=p)) as outs:
        ack_out, clean_out = outs[0], outs[1]
        with AckWriter(ack_out.stream, ack_all=ack_all, include_phi=not redact_acks, now=_now()) as ack:
            stats = run_filter(read_chunks(source), out=clean_out.stream, decide=decide, sinks=[ack], where=where,
                               on_event=on_event, fast=fast and not ack_all and not strict,
                               syntax_rejected=rejected_syntax)
        if validate:
            outs[2].write(ack999.encode("latin-1"))
    if spool is not None:
        spool.close()
    summary = stats.as_dict()
    summary["by_rule"] = dict(sorted(stats.by_rule.items()))
    logger.info("summary", **summary)
    if stats.transactions_passed_through:
        ctx.exit(EXIT_PASSED_THROUGH)
    ctx.exit(EXIT_REJECTED if stats.rejected or stats.syntax_rejected else EXIT_OK)


def _now() -> dt.datetime | None:
    """SOURCE_DATE_EPOCH, when set, fixes the 277CA's dates and times (reproducible output)."""
    import os

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.timezone.utc).replace(tzinfo=None)
    return None


def _is_device(path: str) -> bool:
    """True for a character device such as /dev/null, which two outputs may share."""
    import os
    import stat

    try:
        return path != "-" and stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False
