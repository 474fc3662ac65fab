# `edi-cgt validate`: full 5010 syntax validation through pyx12, with a 999 out.
from __future__ import annotations

import click

from ._common import EXIT_OK, EXIT_REJECTED, handle_errors, install_signal_handlers, log, log_options


@click.command("validate")
@click.argument("input_", metavar="[INPUT]", default="-", type=click.Path(allow_dash=True, dir_okay=False))
@click.option("-o", "--output", default="-", show_default=True, type=click.Path(allow_dash=True, dir_okay=False),
              help="Where the 999 (005010X231A1) goes ('-' = stdout).")
@log_options
@click.pass_context
@handle_errors
def validate(ctx: click.Context, input_: str, output: str) -> None:
    """Validate X12 syntax against the 5010 TR3 maps (pyx12) and write a 999.

    Reads one INPUT (a path, a .gz, or '-' for stdin; a byte-order mark and blank
    lines before the ISA are fine) and checks every interchange, group and
    transaction: loops, required segments and elements, code lists, dates.
    The 999 acknowledgment says, per transaction, accepted or rejected and why
    (IK3/IK4 segment and element errors). This is stricter than `filter`, which
    only refuses what would make it read a claim wrongly; the result of
    `validate` does not change what `filter` decides.

    \b
    pyx12 has maps for 837P 005010X222A1 and 837I 005010X223A2 (and 835, 277,
    999 ...); a file in a version it has no map for (005010X222A2, 005010X223A3)
    is refused with a message saying so (exit 2), not guessed at.

    \b
    Examples:
      edi-cgt validate claims.837 -o claims.999
      zcat claims.837.gz | edi-cgt validate > claims.999

    \b
    Logs (JSON on stderr) give each error's segment number, segment, element and
    code, never the data value (which may be a name or member id) unless
    --log-phi is given. The 999 itself copies bad values (IK404), as the
    standard asks: it is a reply to the submitter, not a log.

    \b
    Exit status: 0 valid; 1 invalid (the 999 says why); 2 the input cannot be
    read as X12, its version has no map, the output is the input file, or the
    output cannot be written (no file left); 141 the reader of stdout went
    away; 128+N stopped by signal N.
    """
    from ..io import AtomicOutput, describe_source, read_chunks, refuse_overwrite
    from ..validation import validate_x12
    from ..x12.errors import safe_id

    refuse_overwrite([("input", input_)], [("-o", output)])
    install_signal_handlers()
    where = describe_source(input_)
    logger = log()
    log_phi = bool((ctx.obj or {}).get("log_phi"))
    result = validate_x12(read_chunks(input_), where=where)
    with AtomicOutput(output) as out:
        out.write(result.ack.encode("latin-1"))
    for issue in result.issues:
        fields = dict(file=where, transaction=issue.transaction, segment=issue.segment_number,
                      segment_id=safe_id(issue.segment_id).strip("'") if issue.segment_id else None, element=issue.element or None, code=issue.code,
                      name=issue.name or None)
        if log_phi:
            fields["detail"] = issue.detail
        logger.warning("syntax_error", **fields)
    rejected = sorted(result.rejected_transactions())
    logger.info("validation_summary", file=where, valid=result.valid, transactions=len(result.transactions),
                rejected=len(rejected), errors=len(result.issues),
                rejected_transactions=[t.control for t in result.transactions if t.index in rejected])
    ctx.exit(EXIT_OK if result.valid else EXIT_REJECTED)
