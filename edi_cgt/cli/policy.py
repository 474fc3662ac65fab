# `edi-cgt policy show|validate`: read the policy data without any claims.
from __future__ import annotations

import datetime as dt
import sys

import click

from ._common import DATE, EXIT_BAD_INPUT, EXIT_OK, handle_errors, log_options


@click.group()
def policy() -> None:
    """Show or validate policy files (XML, schema schemas/cgt-policy.xsd)."""


@policy.command()
@click.option("--policy", "policy_path", type=click.Path(exists=True, dir_okay=False),
              help="Policy file (default: the built-in Medi-Cal CGT policy, July 2025).")
@click.option("--as-of", type=DATE, help="Show what is in force on this date of service (YYYY-MM-DD); default: the latest revision.")
@log_options
@handle_errors
def show(policy_path: str | None, as_of: dt.datetime | None) -> None:
    """Print the therapies, programs and rules in force.

    \b
    Examples:
      edi-cgt policy show --as-of 2025-10-01
      edi-cgt policy show --policy docs/policy-revision-example.xml --as-of 2025-10-01
    """
    from ..policy import load_policy, render_policy_text

    sys.stdout.write(render_policy_text(load_policy(policy_path), as_of.date() if as_of else None))


@policy.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@log_options
@click.pass_context
@handle_errors
def validate(ctx: click.Context, files: tuple[str, ...]) -> None:
    """Check policy FILES against the schema and the loader's cross-checks.

    \b
    Prints FILE: ok, or one FILE:LINE: problem per problem (also for the files
    a revision builds on). Exit status: 0 all valid; 2 some file has problems.
    """
    from ..policy import validate_policy_file

    bad = 0
    for f in files:
        problems = validate_policy_file(f)
        if problems:
            bad += 1
            for p in problems:
                click.echo(str(p))
        else:
            click.echo(f"{f}: ok")
    ctx.exit(EXIT_BAD_INPUT if bad else EXIT_OK)
