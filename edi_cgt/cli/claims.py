# `edi-cgt claims`: one JSON line per claim, model fields only (no policy).
from __future__ import annotations

import json
import sys

import click

from ._common import EXIT_PASSED_THROUGH, handle_errors, log, log_event, log_options


@click.command()
@click.argument("inputs", nargs=-1, type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--phi", is_flag=True, help="Include subscriber/patient names, member ids and birth dates (PHI).")
@log_options
@click.pass_context
@handle_errors
def claims(ctx: click.Context, inputs: tuple[str, ...], phi: bool) -> None:
    """Print every claim of 837 INPUT files as JSON lines (default: stdin).

    \b
    Each line holds the claim id (CLM01), charge, place of service or type of bill,
    dates, diagnoses, authorizations, providers, payer and service lines. Member
    names, ids and birth dates are left out unless --phi is given.

    \b
    Examples:
      edi-cgt claims fixtures/cgt_837p_mixed.837
      zcat archive.837.gz | edi-cgt claims - | jq .claim_id

    \b
    Exit status: 0 every claim read; 2 an input could not be read (message names
    the file, the segment number and the problem; the claims before it are
    printed) or stdout is an input file; 3 some claims or transactions could not
    be read and were skipped (logged, with segment number and problem); 141 the
    reader of stdout went away (`| head`: stopped quietly); 128+N stopped by
    signal N.
    """
    from ..claims.jsonview import claim_to_dict
    from ..io import describe_source, read_chunks, refuse_overwrite
    from ..pipeline import FilterStats, read_claims

    refuse_overwrite([("input", source) for source in inputs or ("-",)], [("stdout", "-")])
    out = sys.stdout
    stats = FilterStats()
    for source in inputs or ("-",):
        where = describe_source(source)
        n = 0
        for claim in read_claims(read_chunks(source), where=where, on_event=log_event, stats=stats):
            out.write(json.dumps(claim_to_dict(claim, include_phi=phi), separators=(",", ":")) + "\n")
            n += 1
        out.flush()
        log().info("read", file=where, claims=n)
    if stats.unevaluated:
        ctx.exit(EXIT_PASSED_THROUGH)
