# `edi-cgt check`: apply the policy to every claim and print what each rule found.
#
# Also home of what `check` and `explain` share: the --site/--policy/--as-of options, loading
# them, and `input_claims`, the one place these commands read claims from their inputs.
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from typing import Any, Callable, Iterator

import click

from ._common import DATE, EXIT_OK, EXIT_PASSED_THROUGH, EXIT_REJECTED, handle_errors, log, log_event, log_options, \
    progress_stream, resolve_site
from .terminal import Progress, plural

FORMATS = ("table", "jsonl", "json")  # json: the same JSON Lines as jsonl (its first name)


def policy_options(func: Callable) -> Callable:
    """--site, --policy and --as-of, as check and explain take them."""
    for option in reversed((
        click.option("--site", "site_path", type=click.Path(exists=True, dir_okay=False),
                     help="Site settings (TOML): payer ids by program, facility NPI rosters, options, severities."),
        click.option("--policy", "policy_path", type=click.Path(exists=True, dir_okay=False),
                     help="Policy file (default: the built-in Medi-Cal CGT policy, July 2025)."),
        click.option("--as-of", type=DATE,
                     help="Evaluate every claim as if on this date (YYYY-MM-DD) instead of its dates of service."),
    )):
        func = option(func)
    return func


def load_settings(policy_path: str | None, site_path: str | None, as_of: dt.datetime | None) -> tuple[Any, Any, dt.date | None]:
    """(policy, site or None, as-of date or None) from the option values; the site file is
    --site, else $EDI_CGT_SITE, else ./edi-cgt.toml (resolve_site says which, or warns)."""
    from ..api import _policy_and_site

    policy, site = _policy_and_site(policy_path, resolve_site(site_path, policy_path))
    return policy, site, as_of.date() if as_of else None


def input_claims(inputs: tuple[str, ...], progress: Progress | None = None, stats: Any = None,
                 on_event: Callable[..., None] = log_event) -> Iterator[tuple[str, Any]]:
    """(where, claim) for every claim of every input ('-' = stdin), in order; problems (envelope
    issues, claims or transactions that cannot be read and are skipped) are logged and counted
    in `stats` (a pipeline FilterStats). The one place check and explain read claims (through
    edi_cgt.api._input_claims, which check_file uses too); `progress` shows bytes and claims on
    a terminal."""
    from ..api import _input_claims
    from ..io import describe_source

    for source in inputs or ("-",):
        where = describe_source(source)
        wrap = progress.wrap if progress is not None else None
        for claim in _input_claims(source, on_event=on_event, stats=stats, wrap=wrap, label="checking"):
            if progress is not None:
                progress.claims += 1
            yield where, claim


@click.command()
@click.argument("inputs", nargs=-1, type=click.Path(allow_dash=True, dir_okay=False))
@policy_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table: aligned columns for a person; jsonl (or json): one JSON object per line, "
                   "with the policy passage and what to fix.")
@click.option("--only-findings", is_flag=True, help="Leave out claims with no findings.")
@log_options
@click.pass_context
@handle_errors
def check(ctx: click.Context, inputs: tuple[str, ...], site_path: str | None, policy_path: str | None,
          as_of: dt.datetime | None, fmt: str, only_findings: bool) -> None:
    """Check 837 INPUT files (default: stdin) against the CGT policy; write nothing else.

    \b
    One row per finding (rule id, severity, line, code, 277CA status, message),
    or one "no findings" row for a clean claim. A claim is rejected when any
    finding is an error. Claims are named by CLM01 and position, never by member.

    \b
    JSON Lines fields (--format jsonl): file, claim_id, claim_index,
    segment_number, decision ("accept" | "reject"), rule_id, severity
    ("error" | "warning"), line_number, code, ack, message, passage, fix;
    null where a field does not apply (rule_id of a claim without findings).

    \b
    Examples:
      edi-cgt check fixtures/cgt_837i_mixed.837 --site fixtures/site.toml
      edi-cgt check in.837 --format jsonl | jq 'select(.decision=="reject")'
      edi-cgt explain fixtures/cgt_837i_mixed.837 I02-YESCARTA-INPT   # one claim, why

    \b
    On a terminal stderr shows progress and a closing summary (claims, rejected,
    warnings); otherwise a JSON `summary` event. Without --site, $EDI_CGT_SITE
    or ./edi-cgt.toml, one warning says which rules cannot reject.

    \b
    Exit status: 0 no claim rejected; 1 some claim rejected; 2 bad input, policy
    or site file (the message names the file, line or segment and the problem);
    3 some claims or transactions could not be read and were skipped (logged
    with the segment number and the problem); 141 the reader of stdout went
    away; 128+N stopped by signal N.
    """
    from ..pipeline import FilterStats
    from ..policy import evaluate
    from ..policy.render import CHECK_HEADER, check_rows, table

    policy, site, day = load_settings(policy_path, site_path, as_of)
    rows = []
    n_claims = n_rejected = n_findings = n_warnings = 0
    out = sys.stdout
    progress = Progress(progress_stream(stdout_used=fmt != "table"))
    stats = FilterStats()
    for where, claim in input_claims(inputs, progress, stats):
        decision = evaluate(claim, policy, site, as_of=day)
        n_claims += 1
        n_rejected += decision.rejected
        n_findings += len(decision.findings)
        n_warnings += len(decision.warnings)
        if only_findings and not decision.findings:
            continue
        for row in check_rows(claim, decision, policy, day):
            if fmt == "table":
                rows.append(row.cells())
            else:
                out.write(json.dumps({"file": where, **dataclasses.asdict(row)}, separators=(",", ":")) + "\n")
    progress.close()
    if fmt == "table":
        if rows:
            out.write(table(CHECK_HEADER, rows, max_width=100) + "\n")
        skipped = f", {plural(stats.unevaluated, 'claim')} not read (see the log)" if stats.unevaluated else ""
        out.write(f"{plural(n_claims, 'claim')}, {n_rejected:,} rejected, {plural(n_warnings, 'warning')}{skipped}\n")
        if n_findings:
            out.write("Why, and what to fix: edi-cgt explain FILE CLAIM-ID (or RULE-ID)\n")
    out.flush()
    log().info("summary", files=len(inputs or ("-",)), claims=n_claims, accepted=n_claims - n_rejected,
               rejected=n_rejected, warnings=n_warnings,
               **({"unevaluated": stats.unevaluated} if stats.unevaluated else {}))
    if stats.unevaluated:
        ctx.exit(EXIT_PASSED_THROUGH)
    ctx.exit(EXIT_REJECTED if n_rejected else EXIT_OK)
