"""Packaged experiments on the command line: CONFIG arguments by name, and `lowprec experiments`.

Every command taking an experiment file (run, sweep, spinup, tune) takes :data:`EXPERIMENT`: a
TOML path, or when no such file exists the name of one shipped in ``lowprec/experiments``
(``lowprec run heat``), so the README's commands work from any directory.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from lowprec.errors import LowprecError


class ExperimentParam(click.ParamType):
    """A TOML file, or the name of a packaged experiment (``heat``, ``heat.toml``)."""

    name = "EXPERIMENT"

    def convert(self, value: Any, param: Any, ctx: Any) -> Path:
        from lowprec.experiments import resolve
        if isinstance(value, Path) and value.is_file():
            return value
        try:
            return resolve(value)
        except LowprecError as e:
            self.fail(str(e), param, ctx)


EXPERIMENT = ExperimentParam()


@click.command()
@click.argument("name", required=False)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the experiment NAME to this file (to edit, then run it).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output file.")
def experiments(name: str | None, output: Path | None, overwrite: bool) -> None:
    """List the packaged experiments, or print (or write out) the one called NAME.

    \b
    lowprec experiments                      names, with a one-line description each
    lowprec experiments heat                 the TOML of heat, on stdout
    lowprec experiments heat -o my_heat.toml a copy to edit; then: lowprec run my_heat.toml ...
    Any command taking an experiment file also takes a packaged name: lowprec run heat -o h.nc
    """
    from lowprec import experiments as packaged
    from lowprec.harness.store import write_text_atomic
    if name is None:
        if output is not None:
            raise click.UsageError("--output needs an experiment NAME (lowprec experiments "
                                   "NAME -o FILE).")
        names = packaged.names()
        width = max(len(n) for n in names)
        for n in names:
            click.echo(f"{n:<{width}}  {packaged.description(n)}")
        return
    try:
        text = packaged.path(name).read_text()
    except LowprecError as e:
        raise click.ClickException(str(e)) from None
    if output is None:
        sys.stdout.write(text)
        return
    if output.exists() and not overwrite:
        raise click.ClickException(f"{output}: already exists; choose another --output, or "
                                   "pass --overwrite to replace it.")
    try:
        write_text_atomic(text, output)
    except (OSError, LowprecError) as e:
        raise click.ClickException(f"{output}: cannot be written ({e}).") from None
    click.echo(f"{output}: written (from the packaged {name}); run it with `lowprec run "
               f"{output} -o OUTPUT.nc`", err=True)
