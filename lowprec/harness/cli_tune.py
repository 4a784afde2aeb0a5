"""The `lowprec tune` command (parse, call lowprec.harness.tune, print).

`lowprec.harness.cli` adds it to the `lowprec` group.
"""
from __future__ import annotations

from pathlib import Path

import click

from lowprec.errors import LowprecError
from lowprec.harness.cli_experiments import EXPERIMENT


@click.command()
@click.argument("config", type=EXPERIMENT)
@click.option("--output", "-o", "output", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Tune directory (default: [tune] output, else ./<config name>-tune).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="A running dask scheduler (tcp://host:8786), or 'serial' to run in this "
                   "process. Default: a LocalCluster of worker processes on this machine.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="LocalCluster worker processes (default: the number of CPUs).")
@click.option("--retry-failed", is_flag=True, help="Rerun runs recorded as failed in a probe.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Set any key of CONFIG, e.g. --set tune.members=8 --set "
                   "tune.components='[\"prognostic\"]' --set params.nx=20. Repeatable.")
@click.option("--check", "check_only", is_flag=True,
              help="Only the design check (significance reachable? estimated cost); run nothing.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines (errors are still reported).")
def tune(config: Path, output: Path | None, scheduler: str | None, workers: int | None,
         retry_failed: bool, sets: tuple[str, ...], check_only: bool, quiet: bool) -> None:
    """Find the fewest sbits each precision component of CONFIG's model needs, per mode.

    For each component (all the model declares, or [tune] components) and each mode, a search
    over sbits with the other components in double precision: a coarse ladder, then bisection
    where the verdicts are monotone, a fine scan where they are not. Each probe is a small sweep
    (members from the same restarts as the double-precision controls and null) scored by the
    validator's permutation test (or a paired sign-flip test: [tune] test = "paired"), at a
    level that keeps the family-wise error rate of the whole tune at [tune] alpha. Then each mode's combined configuration is validated; where it fails,
    a bit is added to the component with the largest excess, until it passes.

    Writes into the output directory precision_<mode>.toml (a ready [precision.components]
    block), report.md with report/*.png, tune.nc (every probe's statistics) and tune.json (the
    state). Running the same command again resumes: no finished probe is recomputed.

    \b
    Example (shallow water, from a spin-up's restarts):
      lowprec spinup shallow_water_tune.toml -o sw-tune-spinup --length "1435 days" \\
          --restart-every "20 days" --first-restart "1095 days"
      lowprec tune shallow_water_tune.toml -o sw-tune --check
      lowprec tune shallow_water_tune.toml -o sw-tune
    """
    from lowprec.harness.cli_sweep import parse_sets
    from lowprec.harness.tune import check_design, load_tune, tune as run_tune
    overrides = parse_sets(sets)
    try:
        if check_only:
            exp, spec = load_tune(config, overrides)
            check = check_design(exp, spec, workers=workers or (1 if scheduler == "serial" else None))
            click.echo(check.summary())
            if not check.ok:
                raise click.ClickException(check.problem())
            return
        outdir = output or _default_output(config, overrides)
        result = run_tune(config, outdir, scheduler=scheduler, workers=workers, quiet=quiet,
                          retry_failed=retry_failed, overrides=overrides)
    except LowprecError as e:
        raise click.ClickException(str(e)) from e
    for path in result.files.values():
        click.echo(str(path))


def _default_output(config: Path, overrides: dict) -> Path:
    """[tune] output, else ./<config stem>-tune."""
    from lowprec.harness.tune import load_tune
    _, spec = load_tune(config, overrides)
    return Path(spec.output) if spec.output else Path(f"{Path(config).stem}-tune")
