# The `edi-cgt` command: one sub-command per verb, each in its own module.
#
# Strategy: this module only builds the click group and sets up logging; every verb lives in
# edi_cgt/cli/<verb>.py and imports the heavy layers lazily, so `edi-cgt --help` and the fast
# path start quickly. The logging options exist here and on every command (edi_cgt.cli._common
# log_options); a command's own value wins.
from __future__ import annotations

import gc

import click

from ._common import LOG_FORMATS, LOG_LEVELS, configure_logging

EXIT_CODES_HELP = """
\b
Exit status:
  0      success: nothing rejected, every input read (validate: valid)
  1      filter, check, replay: some claims rejected, every output complete;
         explain: the claim asked about is rejected; validate: the input
         fails 5010 syntax (the 999 says why)
  2      all commands: bad input, usage, policy or site file, an output that
         is an input, or an output that could not be written; one message
         names the file, segment number and problem; no output file is left
  3      filter, check, claims, explain: some claims that were read could
         not be (or a transaction could not be) and were passed through
         unchanged or skipped, each logged with its segment and problem;
         replay: also some inputs could not be read; outputs complete
  141    all commands: the reader of stdout went away (`| head`); stopped
         quietly, no output file left
  128+N  all commands: stopped by signal N (130 SIGINT, 143 SIGTERM); no
         output file is left (replay: finished inputs are kept for resuming)
"""


@click.group(epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="edi-cgt")
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True,
              help="Log events on stderr at or above this level.")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default="auto", show_default=True,
              help="auto: readable lines, progress and a summary when stderr is a terminal, JSON lines "
                   "otherwise; text or json force one.")
@click.option("--log-phi", is_flag=True, help="Allow member names, ids and birth dates in logs (off by default).")
@click.pass_context
def main(ctx: click.Context, log_level: str, log_format: str, log_phi: bool) -> None:
    """Catch Medi-Cal cell and gene therapy claim problems before submission.

    \b
    edi-cgt reads X12 837P/837I files (paths, .gz, or '-' for stdin), applies the
    Medi-Cal "Cell and Gene Therapy" policy to each claim, and writes the clean
    claims as an 837 and the rejected ones as a 277CA acknowledgment.

    \b
    Typical use:
      cat in.837 | edi-cgt filter --rejects out.277 > clean.837
      edi-cgt check fixtures/cgt_837i_mixed.837 --site fixtures/site.toml
      edi-cgt replay archive/ --out replay-out/

    \b
    Site settings come from --site, else $EDI_CGT_SITE, else ./edi-cgt.toml;
    without any, one warning names the rules that cannot reject. Logging
    options (--log-level, --log-format, --log-phi) go before the command or
    after it.
    """
    # Claims are many small acyclic objects made and dropped in a stream: the cyclic garbage
    # collector's default (a pass every 700 allocations) cost 8% of a run in which every claim
    # is read (bench: 10 MB, 100% CGT, median of 3). Rarer young-generation passes keep its
    # work small; memory stays bounded since a pass still comes every 50,000 allocations.
    gc.set_threshold(50_000, 20, 100)
    ctx.ensure_object(dict)
    ctx.obj.update(log_phi=log_phi, log_format=log_format, log_level=log_level)
    configure_logging(log_level, log_phi=log_phi, log_format=log_format)


def _register() -> None:
    from .claims import claims

    main.add_command(claims)
    import importlib

    for module, names in (
        ("check", ("check",)),
        ("explain", ("explain",)),
        ("policy", ("policy",)),
        ("filter", ("filter_",)),
        ("replay", ("replay",)),
        ("validate", ("validate",)),
    ):
        try:
            mod = importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(__name__):
                continue
            raise
        for name in names:
            cmd = getattr(mod, name, None)
            if isinstance(cmd, click.Command):
                main.add_command(cmd)


_register()
