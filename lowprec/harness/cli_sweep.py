"""The `lowprec spinup`, `sweep`, `validate` and `report` commands (parse, call, print).

`lowprec.harness.cli` adds these to the `lowprec` group.
"""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import click

from lowprec.errors import LowprecError
from lowprec.harness.cli_experiments import EXPERIMENT

VALIDATION_FILE = "validation.nc"
REPORT_DIR = "report"
# Pooled when the run files predate their lowprec_sample_dims attribute (Lorenz-63's trajectories).
LEGACY_POOL_DIMS = ("particle",)


def _fail(e: Exception) -> click.ClickException:
    return click.ClickException(str(e))


# The validator's messages name its Python arguments; on the command line they are options.
CLI_SPELLING = (("pvalues=False", "--no-pvalues"),
                ("pvalue_method='permutation'", "--pvalues permutation"),
                ("pvalue_method='leave_one_out'", "--pvalues leave_one_out"))


def _fail_validation(e: Exception) -> click.ClickException:
    text = str(e)
    for python, option in CLI_SPELLING:
        text = text.replace(python, option)
    return click.ClickException(text)


def validation_options(command):
    """The options of `lowprec validate`, shared by `lowprec report`."""
    options = [
        click.option("--spinup", type=click.IntRange(min=0), default=None,
                     help="Leading output times to discard, in outputs (default 0: the runs "
                          "already discarded their [run] spinup)."),
        click.option("--pool-dim", "pool_dims", multiple=True, metavar="DIM",
                     help="Model dimension pooled with time into one sample (repeatable). "
                          "Default: the dims the run files name in lowprec_sample_dims "
                          "(Lorenz-63: particle), else none."),
        click.option("--statistic", type=click.Choice(["w1", "w2"]), default=None,
                     help="Wasserstein distance of order 1 (default) or 2."),
        click.option("--normalise", type=click.Choice(["weights", "count"]), default=None,
                     help="Global means divide by the sum of the weights (default) or by the "
                          "number of points (as Kimpson et al.'s code)."),
        click.option("--windows", type=click.IntRange(min=0), default=None,
                     help="Number of growing windows [0, t] for W(t) (default 4; 0: none)."),
        click.option("--alpha", type=float, default=None,
                     help="False-discovery rate (default 0.05)."),
        click.option("--pvalues", "pvalue_method",
                     type=click.Choice(["permutation", "leave_one_out"]), default=None,
                     help="p-values by an exact permutation test of setting vs null runs "
                          "(default), or leave-one-out against the double-vs-double pair "
                          "distances (needs M·N + M(M−1)/2 ≥ 1/alpha − 1 of them)."),
        click.option("--no-pvalues", is_flag=True, help="Skip the p-values and FDR maps."),
        click.option("--memory", default=None, metavar="BYTES",
                     help="Memory the validator's blocks of grid points may take, e.g. 4GiB, "
                          "2000MB (default 4GiB): run files are read out of core, block by "
                          "block; a smaller budget, smaller blocks."),
        click.option("--skip-unreadable", is_flag=True,
                     help="Validate without run files that cannot be read (truncated, corrupt); "
                          "by default they are an error."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _validation_kwargs(spinup, pool_dims, statistic, normalise, windows, alpha, pvalue_method,
                       no_pvalues, skip_unreadable, memory=None) -> dict[str, object]:
    return dict(spinup=spinup, statistic=statistic, normalise=normalise, windows=windows,
                alpha=alpha, pool_dims=pool_dims or None, pvalues=False if no_pvalues else None,
                pvalue_method=pvalue_method, skip_unreadable=skip_unreadable or None,
                memory=None if memory is None else parse_bytes(memory))


_BYTE_UNITS = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 10**3, "mb": 10**6, "gb": 10**9,
               "b": 1}


def parse_bytes(text: str) -> int:
    """'4GiB', '2000MB', '512 MiB' or a number of bytes, as bytes; BadParameter otherwise."""
    t = str(text).strip().lower().replace(" ", "")
    unit = next((u for u in sorted(_BYTE_UNITS, key=len, reverse=True) if t.endswith(u)), "")
    try:
        value = float(t[:len(t) - len(unit)]) * _BYTE_UNITS.get(unit, 1)
    except ValueError:
        value = -1.0
    if not value >= 1:
        raise click.BadParameter(f"{text!r}: a memory size such as 4GiB, 2000MB or 512MiB "
                                 "(at least 1 byte)", param_hint="--memory")
    return int(value)


@click.command()
@click.argument("config", type=EXPERIMENT)
@click.option("--output", "-o", "output", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Sweep directory (default: [sweep] output, else ./<config name>).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="A running dask scheduler (tcp://host:8786), or 'serial' to run in this "
                   "process. Default: a LocalCluster of worker processes on this machine.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="LocalCluster worker processes (default: the number of CPUs, at most the runs).")
@click.option("--retry-failed", is_flag=True, help="Rerun the runs recorded as failed.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Set any key of CONFIG, e.g. --set params.particles=100 --set "
                   "sweep.sbits='[8, 10]'. Repeatable.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines (failures are still reported).")
def sweep(config: Path, output: Path | None, scheduler: str | None, workers: int | None,
          retry_failed: bool, sets: tuple[str, ...], quiet: bool) -> None:
    """Run the [sweep] of CONFIG: every sbits × mode × member, plus controls and the null.

    Finished runs in the output directory are skipped, so rerunning resumes a killed sweep.
    Exits with status 1 if any run failed (see DIR/sweep.json for the errors).

    Every run's configuration is checked before anything is written or started (an error names
    the run and the key). A directory holding run files of a different experiment is refused
    (the message lists the keys that differ): use another --output, or delete the directory to
    discard its runs. One whose sweep.json has no run files (every run failed) is taken over.
    """
    from lowprec.harness.sweep import sweep as run_sweep
    overrides = parse_sets(sets)
    try:
        outdir = output or default_output(config, overrides)
        result = run_sweep(config, outdir, scheduler=scheduler, workers=workers, quiet=quiet,
                           retry_failed=retry_failed, overrides=overrides)
    except LowprecError as e:
        raise _fail(e) from e
    click.echo(str(result.outdir))
    if result.failed:
        sys.exit(1)


@click.command()
@click.argument("config", type=EXPERIMENT)
@click.option("--output", "-o", "output", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Directory for the restart files and diagnostics.")
@click.option("--length", default=None,
              help="Model time to integrate, e.g. '5 years' (default: [run] spinup of CONFIG).")
@click.option("--restarts", default=None, metavar="DATES",
              help="Comma-separated restart dates since the initial state, e.g. "
                   "'1 year,2 years,3 years' (default: one restart at the end).")
@click.option("--restart-every", default=None, metavar="DURATION",
              help="A restart every DURATION, e.g. '30 days' (instead of --restarts).")
@click.option("--first-restart", default=None, metavar="DURATION",
              help="With --restart-every: date of the first restart, e.g. '5 years' "
                   "(default: one interval).")
@click.option("--diagnostics-interval", default=None, metavar="DURATION",
              help="Time between domain-mean diagnostics (default: [run] output_interval).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Set any key of CONFIG, e.g. --set params.nx=50. Repeatable.")
@click.option("--overwrite", is_flag=True,
              help="Replace a spin-up already in the output directory (its old restarts go).")
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
def spinup(config: Path, output: Path, length: str | None, restarts: str | None,
           restart_every: str | None, first_restart: str | None,
           diagnostics_interval: str | None, sets: tuple[str, ...], overwrite: bool,
           quiet: bool) -> None:
    """Spin up CONFIG's model once in float64 and write restart files for sweeps to start from.

    Integrates the model of CONFIG (its [params]; always float64, whatever [precision] says)
    from the seeded initial state of [precision] seed and [run] member, for --length, and
    writes into the output directory restart_<days>d.nc at each restart date (state, step,
    time stamp, config), spinup_diagnostics.nc (domain means of every output, to check the
    spin-up has equilibrated) and spinup.toml. Prints the paths written.

    Then start a sweep's members from them: [sweep] restarts = "DIR" in CONFIG (or
    --set sweep.restarts=DIR); member m starts from the m-th restart by date, so the sweep
    needs controls + members restarts. An existing spin-up in DIR is never replaced without
    --overwrite.

    \b
    Example (shallow water: 5 years to equilibrium, then a restart every year, a run's length):
      lowprec spinup shallow_water_sweep.toml -o sw-spinup --length "14 years" \\
          --restart-every "1 year" --first-restart "5 years"
      lowprec sweep shallow_water_sweep.toml -o sw-sweep
    """
    from lowprec.harness.spinup import spinup as run_spinup
    try:
        result = run_spinup(config, output, length=length, restarts=restarts,
                            restart_every=restart_every, first_restart=first_restart,
                            diagnostics_interval=diagnostics_interval, overwrite=overwrite,
                            quiet=quiet, overrides=parse_sets(sets))
    except LowprecError as e:
        raise _fail(e) from e
    for path in result.restarts:
        click.echo(str(path))
    click.echo(str(result.diagnostics))


@click.command()
@click.argument("sweep_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@validation_options
def validate(sweep_dir: Path, spinup: int | None, pool_dims: tuple[str, ...], statistic: str | None,
             normalise: str | None, windows: int | None, alpha: float | None,
             pvalue_method: str | None, no_pvalues: bool, memory: str | None,
             skip_unreadable: bool) -> None:
    """Compare every setting of SWEEP_DIR with the double-precision null; write validation.nc."""
    options = _validation_kwargs(spinup, pool_dims, statistic, normalise, windows, alpha,
                                 pvalue_method, no_pvalues, skip_unreadable, memory)
    try:
        path = run_validation(sweep_dir, **options)
    except (LowprecError, FileNotFoundError) as e:
        raise _fail_validation(e) from e
    click.echo(str(path))


@click.command()
@click.argument("sweep_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@validation_options
def report(sweep_dir: Path, spinup: int | None, pool_dims: tuple[str, ...], statistic: str | None,
           normalise: str | None, windows: int | None, alpha: float | None,
           pvalue_method: str | None, no_pvalues: bool, memory: str | None,
           skip_unreadable: bool) -> None:
    """Figures (PNG) and a markdown table from SWEEP_DIR/validation.nc.

    Without validation.nc, SWEEP_DIR is validated first. The options are those of `lowprec
    validate`; given any of them, SWEEP_DIR is validated again with them (replacing
    validation.nc) before the report is made.
    """
    options = _validation_kwargs(spinup, pool_dims, statistic, normalise, windows, alpha,
                                 pvalue_method, no_pvalues, skip_unreadable, memory)
    try:
        paths = make_report(sweep_dir, **options)
    except (LowprecError, FileNotFoundError) as e:
        raise _fail_validation(e) from e
    for path in paths:
        click.echo(str(path))


def parse_sets(sets: tuple[str, ...]) -> dict[str, object]:
    """--set KEY=VALUE items as dotted overrides; VALUE is read as TOML, else kept as text."""
    out: dict[str, object] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r}: write KEY=VALUE, e.g. params.particles=100 or "
                                     "sweep.sbits='[8, 10]'.", param_hint="--set")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value.strip()
    return out


def default_output(config: Path, overrides: dict | None = None) -> Path:
    """The sweep directory when --output is not given: [sweep] output, else ./<config stem>."""
    from lowprec.harness.config import load_config
    from lowprec.harness.sweep import parse_sweep
    exp = load_config(config, overrides)
    spec = parse_sweep(exp.sweep, str(config))
    return Path(spec.output) if spec.output else Path(Path(config).stem)


def run_validation(sweep_dir: Path, **options: object) -> Path:
    """validation.evaluate on open_sweep(SWEEP_DIR), written as CF netCDF to SWEEP_DIR/validation.nc."""
    import validation
    from lowprec.harness.store import write_atomic
    from lowprec.harness.sweep import open_sweep

    kwargs = {k: v for k, v in options.items() if v is not None}
    if kwargs.pop("skip_unreadable", None):
        ds = open_sweep(sweep_dir, skip_unreadable=True)
        for item in filter(None, str(ds.attrs.get("lowprec_unreadable_files", "")).split("; ")):
            print(f"warning: unreadable run file, validated without it: {item}", file=sys.stderr)
    else:
        ds = open_sweep(sweep_dir)
    if "pool_dims" not in kwargs and "lowprec_sample_dims" not in ds.attrs:
        # Run files written before the harness recorded their sample dims.
        kwargs["pool_dims"] = tuple(d for d in LEGACY_POOL_DIMS if d in ds.dims)
    results = validation.evaluate(ds, **kwargs)
    for line in validation.design_notes(results.attrs):   # the p-value floor
        print(line, file=sys.stderr)
    path = Path(sweep_dir) / VALIDATION_FILE
    write_atomic(results.compute(), path)
    return path


def make_report(sweep_dir: Path, **options: object) -> list[Path]:
    """validation.report on SWEEP_DIR/validation.nc; the written paths.

    validation.nc is made first when absent, and made again when any validation ``options``
    (run_validation's keywords) are given.
    """
    import validation
    import xarray as xr

    from lowprec.harness.store import StorageError, unreadable_reason
    path = Path(sweep_dir) / VALIDATION_FILE
    given = {k: v for k, v in options.items() if v is not None}
    reused = not given and path.exists()    # else validated here, which prints the p-value floor
    if given:
        print(f"validating {sweep_dir} with {', '.join(f'{k}={v!r}' for k, v in given.items())}",
              file=sys.stderr)
        run_validation(sweep_dir, **given)
    elif not path.exists():
        print(f"{path} does not exist yet: validating first (with the defaults of `lowprec "
              "validate`)", file=sys.stderr)
        run_validation(sweep_dir)
    why = unreadable_reason(path)
    if why is not None:
        raise StorageError(f"{path}: cannot be read ({why}); run `lowprec validate {sweep_dir}` "
                           "again to remake it (or delete it: `lowprec report` then validates "
                           "first).")
    with xr.open_dataset(path, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True)) as results:
        if reused:
            for line in validation.design_notes(results.attrs):
                print(line, file=sys.stderr)
        paths = validation.report(results.load(), Path(sweep_dir) / REPORT_DIR)
    return [Path(p) for p in paths]
