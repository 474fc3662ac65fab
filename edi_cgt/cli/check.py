# `edi-cgt check`: apply the policy to every claim and print what each rule found.
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys

import click

from .terminal import plural
from ._common import DATE, EXIT_OK, EXIT_REJECTED, handle_errors, log, log_options, progress_stream, resolve_site


@click.command()
@click.argument("inputs", nargs=-1, type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--site", "site_path", type=click.Path(exists=True, dir_okay=False),
              help="Site settings (TOML): payer ids by program, facility NPI rosters, options, severities.")
@click.option("--policy", "policy_path", type=click.Path(exists=True, dir_okay=False),
              help="Policy file (default: the built-in Medi-Cal CGT policy, July 2025).")
@click.option("--as-of", type=DATE, help="Evaluate every claim as if on this date (YYYY-MM-DD) instead of its dates of service.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table: aligned columns; json: one JSON object per row.")
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
    Examples:
      edi-cgt check fixtures/cgt_837i_mixed.837 --site fixtures/site.toml
      edi-cgt check in.837 --as-of 2025-10-01 --format json | jq .rule_id

    \b
    On a terminal stderr shows progress and a closing summary (claims, rejected,
    warnings); otherwise a JSON `summary` event. Without --site, $EDI_CGT_SITE
    or ./edi-cgt.toml, one warning says which rules cannot reject.

    \b
    Exit status: 0 no claim rejected; 1 some claim rejected; 2 bad input, policy
    or site file (the message names the file, line or segment and the problem);
    141 the reader of stdout went away; 128+N stopped by signal N.
    """
    from ..api import _decide_claims, _policy_and_site
    from ..io import describe_source, read_chunks
    from ..policy.render import CHECK_HEADER, check_rows, table
    from .terminal import Progress

    site_path = resolve_site(site_path, policy_path)
    policy, site = _policy_and_site(policy_path, site_path)
    day = as_of.date() if as_of else None
    rows = []
    n_claims = n_rejected = n_warnings = 0
    out = sys.stdout
    progress = Progress(progress_stream(stdout_used=fmt != "table"))
    for source in inputs or ("-",):
        where = describe_source(source)

        def issue(i, where=where):
            log().warning("envelope", file=where, segment=i.segment_number, problem=i.problem)

        chunks = progress.wrap(read_chunks(source), "checking " + where, source)
        for claim, decision in _decide_claims(chunks, where=where, policy=policy, site=site, as_of=day, on_issue=issue):
            n_claims += 1
            progress.claims += 1
            n_rejected += decision.rejected
            n_warnings += len(decision.warnings)
            if only_findings and not decision.findings:
                continue
            for row in check_rows(claim, decision, policy, day):
                if fmt == "json":
                    out.write(json.dumps({"file": where, **dataclasses.asdict(row)}, separators=(",", ":")) + "\n")
                else:
                    rows.append(row.cells())
    progress.close()
    if fmt == "table":
        if rows:
            out.write(table(CHECK_HEADER, rows, max_width=100) + "\n")
        out.write(f"{plural(n_claims, 'claim')}, {n_rejected:,} rejected, {plural(n_warnings, 'warning')}\n")
    out.flush()
    log().info("summary", files=len(inputs or ("-",)), claims=n_claims, accepted=n_claims - n_rejected,
               rejected=n_rejected, warnings=n_warnings)
    ctx.exit(EXIT_REJECTED if n_rejected else EXIT_OK)
