# `edi-cgt filter`: clean 837 out, 277CA of rejections out; pipe-safe.
from __future__ import annotations

import datetime as dt

import click

from ._common import (
    DATE,
    handle_errors,
    install_signal_handlers,
    log,
    log_event,
    log_options,
    progress_stream,
    resolve_site,
)


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
@click.option("--as-of", type=DATE, help="Evaluate every claim as if on this date (YYYY-MM-DD).")
@click.option("--read-all", is_flag=True,
              help="Read and decide every claim, not only those that carry a policy code (the others cannot be "
                   "rejected): every claim's segments are then checked; slower. Implied by --ack-all and --strict.")
@click.option("--strict", is_flag=True,
              help="Read every claim (--read-all) and treat one that cannot be read as fatal (exit 2) instead of "
                   "passing it through.")
@click.option("--validate", is_flag=True,
              help="Run full 5010 syntax validation (pyx12) first: a transaction that fails it is left out "
                   "of the clean 837 whole and reported in a 999 (see --syntax-ack).")
@click.option("--syntax-ack", type=click.Path(dir_okay=False),
              help="Where the 999 goes with --validate (default: the --rejects path + '.999').")
@log_options
@click.pass_context
@handle_errors
def filter_(ctx: click.Context, input_: str, output: str, rejects: str, ack_all: bool, redact_acks: bool,
            site_path: str | None,
            policy_path: str | None, as_of: dt.datetime | None, read_all: bool, strict: bool, validate: bool,
            syntax_ack: str | None) -> None:
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
    Only the claims that carry one of the policy's codes are read and decided;
    every other claim is counted and passes through as it came (no rule can
    reject it; --read-all reads them too). Every claim that goes in comes out
    once: in the clean 837 or in the 277CA (or, if it could not be read, passed
    through unchanged and logged). Files are written to a temporary name and renamed when complete;
    on any error or signal no partial file is left, and an output that is the
    input file is refused before anything is written.

    \b
    On a terminal, stderr shows one line per rejected claim (and per claim with
    warnings), a progress line and a closing summary; otherwise (or with
    --log-format json) one JSON event per line: claim_rejected, claim_warning,
    summary ... Logs carry claim ids and control numbers, never member names,
    ids or birth dates (unless --log-phi). Without --site, $EDI_CGT_SITE or
    ./edi-cgt.toml, one warning says which rules cannot reject.

    \b
    Exit status: 0 nothing rejected; 1 some claims rejected (outputs complete);
    2 bad input, usage, an output that is the input, or an output that could
    not be written (no file left); 3 some claims that were read could not be,
    and were passed through unchanged (logged; outputs complete); 141 the reader of stdout went away (no file
    left); 128+N stopped by signal N (no file left).
    """
    from ..api import FilterResult, _filter, _summary_fields
    from ..decider import DeciderConfig, make_decider
    from .terminal import Progress

    if validate and syntax_ack is None and rejects == "-":
        raise click.UsageError("--validate with --rejects - needs --syntax-ack PATH for the 999")
    install_signal_handlers()
    site_path = resolve_site(site_path, policy_path)
    decide = make_decider(DeciderConfig(policy_path, site_path, as_of.date() if as_of else None))
    logger = log()
    progress = Progress(progress_stream(stdout_used=output == "-"))
    stats = _filter(input_, output, rejects, decider=decide, ack_all=ack_all, redact_acks=redact_acks,
                    read_all=read_all, strict=strict, validate=validate, syntax_ack=syntax_ack, on_event=log_event,
                    wrap=progress.wrap, sinks=[progress.sink] if progress.active else [],
                    on_removed=lambda path: logger.warning("empty_output_removed", output=path))
    logger.info("summary", **_summary_fields(stats))
    ctx.exit(FilterResult._of(stats).exit_status)
