# `edi-cgt check`: apply the policy to every claim and print what each rule found.
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys

import click

from ._common import EXIT_OK, EXIT_PASSED_THROUGH, EXIT_REJECTED, handle_errors, log, log_event as _log_event

_DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.command()
@click.argument("inputs", nargs=-1, type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--site", "site_path", type=click.Path(exists=True, dir_okay=False),
              help="Site settings (TOML): payer ids by program, facility NPI rosters, options, severities.")
@click.option("--policy", "policy_path", type=click.Path(exists=True, dir_okay=False),
              help="Policy file (default: the built-in Medi-Cal CGT policy, July 2025).")
@click.option("--as-of", type=_DATE, help="Evaluate every claim as if on this date (YYYY-MM-DD) instead of its dates of service.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table: aligned columns; json: one JSON object per row.")
@click.option("--only-findings", is_flag=True, help="Leave out claims with no findings.")
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
    Examples:
      edi-cgt check fixtures/cgt_837i_mixed.837 --site fixtures/site.toml
      edi-cgt check in.837 --as-of 2025-10-01 --format json | jq .rule_id

    \b
    Exit status: 0 no claim rejected; 1 some claim rejected; 2 bad input, policy
    or site file (the message names the file, line or segment and the problem);
    3 some claims or transactions could not be read and were skipped (logged).
    """
    from ..decider import DeciderConfig, make_decider
    from ..io import describe_source, read_chunks
    from ..pipeline import FilterStats, decide_claims
    from ..policy.render import CHECK_HEADER, check_rows, table

    day = as_of.date() if as_of else None
    decider = make_decider(DeciderConfig(policy_path, site_path, day))
    rows = []
    n_claims = n_rejected = 0
    out = sys.stdout
    stats = FilterStats()
    for source in inputs or ("-",):
        where = describe_source(source)
        for claim, decision in decide_claims(read_chunks(source), decide=decider, where=where, on_event=_log_event,
                                           stats=stats):
            n_claims += 1
            n_rejected += decision.rejected
            if only_findings and not decision.findings:
                continue
            for row in check_rows(claim, decision, decider.policy, day):
                if fmt == "json":
                    out.write(json.dumps({"file": where, **dataclasses.asdict(row)}, separators=(",", ":")) + "\n")
                else:
                    rows.append(row.cells())
    if fmt == "table":
        if rows:
            out.write(table(CHECK_HEADER, rows, max_width=100) + "\n")
        skipped = f", {stats.unevaluated} not read (see the log)" if stats.unevaluated else ""
        out.write(f"{n_claims} claims, {n_rejected} rejected{skipped}\n")
    out.flush()
    log().info("check", claims=n_claims, rejected=n_rejected, unevaluated=stats.unevaluated)
    if stats.unevaluated:
        ctx.exit(EXIT_PASSED_THROUGH)
    ctx.exit(EXIT_REJECTED if n_rejected else EXIT_OK)
