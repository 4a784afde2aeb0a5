"""The ``lowprec`` command: parse, call the Python API, print (STYLE §12).

    lowprec run EXPERIMENT.toml [--sbits 10 --mode stochastic --set params.nz=31 ...] -o run.nc
    lowprec run heat -o run.nc              (a packaged experiment, by name)
    lowprec experiments [NAME [-o FILE]]    (list them; print or write one out to edit)
    lowprec inspect run.nc
    lowprec sweep / validate / report       (lowprec.harness.cli_sweep, when present)

Exit status: 0 complete, 1 error (bad config, existing output, unreadable file, full disk ...),
3 the run blew up, 130 / 143 the run was stopped by Ctrl-C / SIGTERM (what was complete is saved:
continue with --resume).
"""
from __future__ import annotations

import sys
import tomllib
import warnings
from pathlib import Path
from typing import Any

import click

from lowprec.errors import LowprecError
from lowprec.harness.cli_experiments import EXPERIMENT

EXIT_BLOWN_UP = 3


def _one_line_warning(message: Any, category: type, *args: Any, **kwargs: Any) -> str:
    return f"warning: {message}\n"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lowprec")
@click.pass_context
def main(ctx: click.Context) -> None:
    """lowprec: run climate models in emulated low precision, and validate them."""
    original = warnings.formatwarning
    warnings.formatwarning = _one_line_warning      # "warning: <message>", no source line
    ctx.call_on_close(lambda: setattr(warnings, "formatwarning", original))


def _parse_value(text: str) -> Any:
    """A --set value as TOML (31, 1.5, true, "x", [1, 2]); anything else stays a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _overrides(sbits: int | None, ebits: str | None, mode: str | None, seed: int | None,
               member: int | None, length: str | None, output_interval: str | None,
               spinup: str | None, policy: str | None, sets: tuple[str, ...],
               backend: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (("precision.sbits", sbits), ("precision.ebits", ebits),
                       ("precision.mode", mode), ("precision.seed", seed),
                       ("precision.policy", policy), ("precision.backend", backend),
                       ("run.member", member),
                       ("run.length", length), ("run.output_interval", output_interval),
                       ("run.spinup", spinup)):
        if value is not None:
            out[key] = _parse_value(value) if key == "precision.ebits" else value
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r}: write KEY=VALUE, e.g. params.nz=31 or "
                                     "run.length='2 days'.", param_hint="--set")
        out[key.strip()] = _parse_value(value.strip())
    return out


@main.command()
@click.argument("config", type=EXPERIMENT)
@click.option("--sbits", type=int, help="Explicit significand bits, 1..52 (precision.sbits).")
@click.option("--ebits", help="Exponent bits 2..11, or 'none' for float64's range (precision.ebits).")
@click.option("--mode", help="nearest | stochastic | toward_zero | upward | downward.")
@click.option("--seed", type=int, help="Experiment seed (precision.seed).")
@click.option("--policy", help="Compound operations: fused | sequential (precision.policy).")
@click.option("--backend", help="emulated | native: the format's numpy dtype, nearest only "
              "(precision.backend).")
@click.option("--member", type=int, help="Ensemble member (run.member).")
@click.option("--length", help="Output period, e.g. '60 years', '1000 steps' (run.length).")
@click.option("--output-interval", help="Time between outputs, e.g. '1 day' (run.output_interval).")
@click.option("--spinup", help="Model time discarded before output (run.spinup).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Set any key, e.g. --set params.nz=31 --set run.variables='[\"T\"]'. Repeatable.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="netCDF file to write (else [run] output). Beside it: .restart.nc and .toml "
              "(replacing a final .nc, else appended).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output (and companions "
              "another output wrote).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run at --output from its "
              "last checkpoint (a finished run is left as it is).")
@click.option("--restart-from", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Continue from a restart file (<output>.restart.nc of an earlier run).")
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
def run(config: Path, sbits: int | None, ebits: str | None, mode: str | None, seed: int | None,
        policy: str | None, backend: str | None, member: int | None, length: str | None,
        output_interval: str | None,
        spinup: str | None, sets: tuple[str, ...], output: Path | None, overwrite: bool,
        resume: bool, restart_from: Path | None, quiet: bool) -> None:
    """Run the experiment CONFIG (a TOML file, or a packaged experiment's name: `lowprec
    experiments` lists them); flags override the file."""
    from lowprec.harness.config import load_config
    from lowprec.harness.interrupts import STOPS
    from lowprec.harness.run import run as run_experiment
    overrides = _overrides(sbits, ebits, mode, seed, member, length, output_interval, spinup,
                           policy, sets, backend)
    try:
        exp = load_config(config, overrides)
        if output is None and exp.run.output is None:
            raise click.UsageError("no output file: give --output PATH (or [run] output in "
                                   f"{config}).")
        path = output if output is not None else Path(exp.run.output)
        ds = run_experiment(exp, output, overwrite=overwrite, resume=resume,
                            restart_from=restart_from, quiet=quiet)
    except LowprecError as e:
        raise click.ClickException(str(e)) from None
    except STOPS as e:
        by = "Ctrl-C" if isinstance(e, KeyboardInterrupt) else "SIGTERM"
        click.echo(f"\n{path}: stopped by {by}; {e.saved}", err=True)
        sys.exit(e.exit_status)
    with ds:
        status = ds.attrs.get("lowprec_status")
        outputs = ds.sizes.get("time", 0)
        if status == "blown_up":
            click.echo(f"{path}: the run blew up (non-finite state) at step "
                       f"{ds.attrs['lowprec_blowup_step']} (t = "
                       f"{ds.attrs['lowprec_blowup_time']:g}); the {outputs} outputs before it "
                       "are kept.", err=True)
            sys.exit(EXIT_BLOWN_UP)
        if not quiet:
            click.echo(f"{path}: {status}, {outputs} outputs.", err=True)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def inspect(file: Path) -> None:
    """Summarise a run file: dimensions, variables, precision, status."""
    from lowprec.harness.store import open_run
    try:
        ds = open_run(file, load=False)
    except (OSError, ValueError) as e:
        raise click.ClickException(f"{file}: cannot be read as netCDF ({e}).") from None
    with ds:
        click.echo(describe(ds, str(file)))


def _restart_model_time(config: str, step: int) -> str:
    """Model time of a restart's step, from the model its experiment builds ('?' if it cannot)."""
    from lowprec.harness.config import DAY, load_config, make_model
    try:
        model = make_model(load_config(config))
    except Exception:                       # noqa: BLE001 - a summary, not a validation
        return "?"
    if model.time_units == "1":
        return f"{step * model.dt:g} time units"
    return f"{step * model.dt / DAY:g} days"


def _restart_status(a: Any, config_text: str) -> str:
    """What a restart is: a spin-up's, a run's final state, or a checkpoint part way through."""
    if "lowprec_spinup_length" in a:
        date = a.get("lowprec_restart_date")
        return (f"spin-up restart (float64; spin-up {a['lowprec_spinup_length']})"
                + (f", dated {date}" if date else ""))
    from lowprec.harness.config import load_config, make_model
    from lowprec.harness.run import schedule
    written = int(a.get("lowprec_restart_outputs", -1))
    try:
        exp = load_config(config_text)
        model = make_model(exp)
        total = schedule(exp, model.dt, model.time_units).n_outputs
    except Exception:                       # noqa: BLE001 - a summary, not a validation
        return f"after {written} outputs (the run's length is unreadable)"
    if written >= total:
        return f"final: the state after all {total} outputs of the run that wrote it"
    return (f"checkpoint after {written} of {total} outputs (that run was interrupted or is "
            "running: continue it with --resume)")


def describe_restart(ds: Any, name: str) -> str:
    """The text of ``lowprec inspect`` for a restart file (``<output>.restart.nc``)."""
    a = ds.attrs
    config_text = str(a.get("lowprec_config", ""))
    try:
        config = tomllib.loads(config_text)
    except tomllib.TOMLDecodeError:
        config = {}
    p, r = config.get("precision", {}), config.get("run", {})
    step = int(a["lowprec_restart_step"])
    lines = [f"{name}", f"  restart    of a {a.get('lowprec_model', '?')} run (continue with "
             "--restart-from, or --resume its output)"]
    lines.append(f"  model      {a.get('lowprec_model', '?')}")
    lines.append(f"  step       {step} (t = {_restart_model_time(config_text, step)}), "
                 f"{a.get('lowprec_restart_outputs', '?')} outputs written by then")
    for tname in ("time", "model_time"):
        if tname in ds.variables:
            units = ds[tname].encoding.get("units", ds[tname].attrs.get("units", ""))
            lines.append(f"  time       {ds[tname].values}  ({units})")
    lines.append(f"  status     {_restart_status(a, config_text)}")
    emu = str(a.get("lowprec_emulator_state", "{}"))
    lines.append(f"  emulator   {emu if emu != '{}' else '(none: plain float64)'}")
    ebits = p.get("ebits", "none")
    lines.append(f"  precision  sbits {p.get('sbits', '?')}, ebits {ebits}"
                 f"{' (float64 range)' if ebits == 'none' else ''}, mode {p.get('mode', '?')}, "
                 f"policy {p.get('policy', '?')}, subnormals {str(p.get('subnormals', '?')).lower()}"
                 + (f", components {p['components']}" if p.get("components") else ""))
    lines.append(f"  member     {r.get('member', 0)} (seed {p.get('seed', '?')})")
    if r.get("output"):
        lines.append(f"  output     {r['output']}")
    lines.append("  state")
    width = max((len(str(v)) for v in ds.data_vars), default=12)
    for vname, var in ds.data_vars.items():
        dims = f"({', '.join(var.dims)})" if var.attrs.get("long_name") else str(tuple(var.shape))
        described = (f"  [{var.attrs.get('units', '?')}]  {var.attrs['long_name']}"
                     if var.attrs.get("long_name") else "")
        lines.append(f"    {vname:<{width}} {dims}  {var.dtype}{described}")
    return "\n".join(lines)


def _component_lines(a: Any) -> list[str]:
    """The format and mode each component ran at (lowprec_components), and unused base keys."""
    import json
    try:
        components = json.loads(str(a.get("lowprec_components", "{}")))
    except ValueError:
        return ["  components (unreadable lowprec_components)"]
    if not components:
        return []
    lines = []
    width = max(len(n) for n in components)
    for i, (cname, c) in enumerate(components.items()):
        ebits = "float64 range" if c.get("ebits") is None else f"ebits {c['ebits']}"
        ftz = "" if c.get("subnormals", True) else ", flush to zero"
        source = (f"override of {', '.join(c['override'])}" if c.get("override")
                  else "the base format")
        head = "  components " if i == 0 else "             "
        lines.append(f"{head}{cname:<{width}}  sbits {c.get('sbits')}, {ebits}{ftz}, "
                     f"{c.get('mode')}  ({source})")
    for key, attr in (("sbits", "lowprec_sbits"), ("mode", "lowprec_mode")):
        base = str(a.get(attr))
        if all(str(c.get(key)) != base for c in components.values()):
            lines.append(f"  note       the base {key} {base} is used by no component: the run was "
                         f"computed at the components' {key}, not at {base}")
    return lines


def describe(ds: Any, name: str) -> str:
    """The text of ``lowprec inspect`` (run files and restart files)."""
    a = ds.attrs
    if "lowprec_restart_step" in a:
        return describe_restart(ds, name)
    lines = [f"{name}"]
    if "lowprec_model" in a:
        ebits = a.get("lowprec_ebits")
        lines.append(f"  model      {a['lowprec_model']}  (lowprec {a.get('lowprec_version', '?')})")
        lines.append(f"  precision  sbits {a.get('lowprec_sbits')}, ebits {ebits}"
                     f"{' (float64 range)' if ebits == 'none' else ''}, mode "
                     f"{a.get('lowprec_mode')}, policy {a.get('lowprec_policy', '?')}, "
                     f"backend {a.get('lowprec_backend', 'emulated')}, "
                     f"subnormals {a.get('lowprec_subnormals')}"
                     + ("  (the base format)" if "lowprec_components" in a else ""))
        lines.extend(_component_lines(a))
        lines.append(f"  member     {a.get('lowprec_member')} (seed {a.get('lowprec_seed')})")
        status = a.get("lowprec_status")
        if status == "blown_up":
            status += (f" at step {a.get('lowprec_blowup_step')} "
                       f"(t = {a.get('lowprec_blowup_time')})")
        elif status == "interrupted" and a.get("lowprec_interrupted_by"):
            status += f" ({a['lowprec_interrupted_by']}; continue with --resume)"
        elif status == "running":
            status += " (up to its last checkpoint; in progress, or killed: --resume)"
        lines.append(f"  status     {status}")
        if a.get("lowprec_absent_variables"):
            lines.append(f"  absent     {a['lowprec_absent_variables']} (no row before the run "
                         "stopped)")
        lines.append(f"  spin-up    {a.get('lowprec_spinup')}; output every "
                     f"{a.get('lowprec_output_interval')} ({a.get('lowprec_output_interval_steps')}"
                     f" steps of dt = {a.get('lowprec_dt')})")
    else:
        lines.append("  (not a lowprec run file: no lowprec_* attributes)")
    dims = ", ".join(f"{k} {v}" for k, v in ds.sizes.items())
    lines.append(f"  dims       {dims}")
    if "time" in ds.coords and ds.sizes.get("time", 0):
        t, time = ds["time"].values, ds["time"]
        units = time.attrs.get("units") or time.encoding.get("units")
        calendar = time.attrs.get("calendar") or time.encoding.get("calendar")
        lines.append(f"  time       {t[0]} .. {t[-1]}"
                     + (f"  ({units}{', ' + calendar + ' calendar' if calendar else ''})"
                        if units else ""))
    lines.append("  variables")
    bounds = {ds[c].attrs.get("bounds") for c in ds.coords} | {
        v.attrs.get("bounds") for v in ds.data_vars.values()}
    width = max((len(str(v)) for v in ds.data_vars), default=12)
    for vname, var in ds.data_vars.items():
        if vname in bounds:                 # CF cell bounds of a time axis: not an output
            continue
        units = var.attrs.get("units", "?")
        lines.append(f"    {vname:<{width}} ({', '.join(var.dims)})  {var.dtype}  [{units}]  "
                     f"{var.attrs.get('long_name', '')}")
    return "\n".join(lines)


try:                                        # the sweep helper's commands, when present
    from lowprec.harness.cli_sweep import report, sweep, validate
except ImportError:                         # pragma: no cover - only while it is being written
    pass
else:
    main.add_command(sweep)
    main.add_command(validate)
    main.add_command(report)
    try:
        from lowprec.harness.cli_sweep import spinup as _spinup
    except ImportError:
        pass
    else:
        main.add_command(_spinup)
from lowprec.harness.cli_tune import tune as _tune  # noqa: E402 - `lowprec tune`
main.add_command(_tune)
from lowprec.harness.cli_experiments import experiments as _experiments  # noqa: E402
main.add_command(_experiments)
