"""Spin-up: integrate a model once in float64 and write restart files for sweeps to start from.

A turbulent model needs years to forget its initial state (the shallow-water channel: turbulence
within months, equilibrium over years; specs/models.md §3). Rather than spin up every run of a
sweep, spin up once in double precision, save restarts at chosen dates, and start each member
of the sweep from one of them::

    lowprec spinup shallow_water_sweep.toml --output spinup --length "14 years" \\
        --restart-every "1 year" --first-restart "5 years"
    lowprec sweep shallow_water_sweep.toml --set sweep.restarts=spinup   # or [sweep] restarts = "spinup"

or in Python ``spinup(config, "spinup", length="14 years", restart_every="1 year",
first_restart="5 years")``.

What it does: the experiment's model and ``[params]`` at float64 (sbits 52, float64 exponent
range, round to nearest, fused compound operations, no per-component formats, whatever the
experiment's ``[precision]`` says), from ``model.initial_state(member_seed)`` of the
experiment's seed and ``[run] member``, for ``length`` (default: the experiment's
``[run] spinup``). It writes into the output directory:

- ``restart_<T>.nc``: one restart file (:func:`lowprec.harness.store.write_restart`) at each
  restart date, named by its model time (``restart_01825d.nc`` = day 1825; ``restart_t10.nc``
  for dimensionless models). Attributes: ``lowprec_restart_step`` (steps since the initial
  state), ``lowprec_restart_time`` and ``lowprec_restart_time_units`` ("days since" the run's
  start date, or model time units), ``lowprec_restart_date`` (in the run's calendar: [run]
  start and calendar, carried on by runs from it) and ``lowprec_config`` (the float64
  spin-up experiment, TOML). Its emulator state is empty: a run starting from it begins its own
  stochastic-rounding stream, seeded by (seed, member) (see :mod:`lowprec.harness.run`).
- ``spinup_diagnostics.nc``: domain means of every model output (``<name>_mean`` for fields;
  scalar outputs such as the shallow water's energies and enstrophy as they are), every
  ``diagnostics_interval`` (default: the experiment's ``[run] output_interval``) from the
  initial state on: a small CF file to check that the spin-up has equilibrated.
- ``spinup.toml``: the resolved float64 spin-up experiment.

Restart dates: ``restarts`` (a list of durations, or one comma-separated string), or
``restart_every`` (every interval from ``first_restart``, default one interval, to ``length``);
neither: one restart at the end. Each date is rounded to whole steps (within 1 %, as run
durations) and must lie within ``length``.

Nothing is lost or silently replaced: every file is written atomically, the diagnostics so far
are rewritten at each restart date (a killed spin-up keeps its restarts), and a directory that
already holds a spin-up (``restart_*.nc`` or the diagnostics) is refused unless
``overwrite=True`` (CLI ``--overwrite``), which also removes restarts of the old spin-up that the
new one does not rewrite (a sweep reads every restart in the directory). Not resumable: a
killed spin-up is rerun with ``--overwrite`` (or continued by hand with ``lowprec run
--restart-from`` its last restart).
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import xarray as xr

from lowprec.errors import BlowUpError, ConfigError
from lowprec.harness.config import (DAY, Experiment, Precision, load_config, make_model,
                                    member_seed)
from lowprec.harness.output import restart_layout
from lowprec.harness.progress import Progress, ProgressInfo
from lowprec.harness.run import _time_values, _whole_steps
from lowprec.harness.store import (CALENDAR, TIME_UNITS, Restart, RestartLayout, write_atomic,
                                   write_restart, write_text_atomic)

DIAGNOSTICS = "spinup_diagnostics.nc"
RESOLVED = "spinup.toml"
RESTART_GLOB = "restart_*.nc"


@dataclass(frozen=True)
class SpinupResult:
    """What a spin-up wrote: restart files (by date), the diagnostics file, the resolved config."""

    restarts: list[Path]
    diagnostics: Path
    config: Path
    steps: int                  # steps integrated


def float64_experiment(exp: Experiment) -> Experiment:
    """The experiment in double precision (fused, no components), with no sweep or restart."""
    precision = Precision(seed=exp.precision.seed)
    run = replace(exp.run, restart_from=None, output=None, spinup="0 steps")
    return exp.replace(precision=precision, run=run, sweep=None)


def _durations(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(v).strip() for v in items if str(v).strip()]


def restart_steps(exp: Experiment, dt: float, time_units: str, total: int,
                  restarts: str | Sequence[str] | None = None, restart_every: str | None = None,
                  first_restart: str | None = None) -> list[int]:
    """The steps (since the initial state) at which restarts are written, sorted, unique."""
    where = exp.source or ""
    prefix = f"{where}: " if where else ""
    dates = _durations(restarts)
    if dates and restart_every is not None:
        raise ConfigError(f"{prefix}restarts = {restarts!r} and restart_every = {restart_every!r}: "
                          "give one of them (a list of dates, or an interval).")
    if first_restart is not None and restart_every is None:
        raise ConfigError(f"{prefix}first_restart = {first_restart!r} needs restart_every.")
    if restart_every is not None:
        every = _whole_steps(restart_every, "restart_every", dt, time_units, where)
        first = (every if first_restart is None else
                 _whole_steps(first_restart, "first_restart", dt, time_units, where))
        steps = list(range(first, total + 1, every))
    elif dates:
        steps = [_whole_steps(d, "restarts", dt, time_units, where) for d in dates]
    else:
        steps = [total]
    late = [s for s in steps if s > total]
    if late or not steps:
        raise ConfigError(f"{prefix}restart dates {restarts or first_restart!r}: "
                          f"{'beyond' if late else 'none within'} the spin-up length of {total} "
                          "steps; every restart must lie within --length.")
    return sorted(set(steps))


def restart_name(step: int, dt: float, time_units: str) -> str:
    """File name of the restart at ``step``: restart_<days>d.nc, or restart_t<time>.nc."""
    if time_units == "1":
        return f"restart_t{step * dt:g}.nc"
    days = step * dt / DAY
    if abs(days - round(days)) * DAY <= dt / 2:     # the step nearest a whole day: name the day
        return f"restart_{round(days):05d}d.nc"
    return f"restart_{days:010.4f}d.nc"     # 5 digits of days, as above


def spinup(config: Any, outdir: str | Path, *, length: str | None = None,
           restarts: str | Sequence[str] | None = None, restart_every: str | None = None,
           first_restart: str | None = None, diagnostics_interval: str | None = None,
           overwrite: bool = False, quiet: bool = True,
           progress: bool | Callable[[ProgressInfo], Any] | None = None,
           overrides: Mapping[str, Any] | None = None) -> SpinupResult:
    """Spin up ``config``'s model in float64 and write restarts into ``outdir`` (module docstring).

    config: a TOML path, TOML text, a dict or an Experiment; ``overrides`` are dotted keys.
    length: model time to integrate, a duration ("5 years"; default: ``[run] spinup``).
    restarts / restart_every, first_restart: restart dates (durations since the initial state).
    diagnostics_interval: time between domain-mean diagnostics (default ``[run] output_interval``).
    Returns a :class:`SpinupResult`. Raises ConfigError for bad settings or an existing spin-up
    (unless ``overwrite``), BlowUpError if the state becomes non-finite.
    """
    given = load_config(config, overrides)
    length = length if length is not None else given.run.spinup
    exp = float64_experiment(given)
    where = exp.source or ""
    from models.base import FLOAT64
    model = make_model(exp, FLOAT64)
    dt, tu = model.dt, model.time_units
    total = _whole_steps(length, "length", dt, tu, where, allow_zero=True)
    if total == 0:
        raise ConfigError(f"{where + ': ' if where else ''}spin-up length = {length!r}: nothing to "
                          "integrate; give --length (e.g. '5 years') or set [run] spinup.")
    wanted = restart_steps(exp, dt, tu, total, restarts, restart_every, first_restart)
    diag_text = diagnostics_interval or exp.run.output_interval
    diag_every = _whole_steps(diag_text, "diagnostics_interval", dt, tu, where)
    exp = exp.replace(run=replace(exp.run, length=length, output_interval=diag_text))

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    names = {s: outdir / restart_name(s, dt, tu) for s in wanted}
    diag_path, toml_path = outdir / DIAGNOSTICS, outdir / RESOLVED
    old = sorted(p for p in outdir.glob(RESTART_GLOB)) + ([diag_path] if diag_path.exists() else [])
    if old and not overwrite:
        raise ConfigError(f"{outdir} already holds a spin-up ({', '.join(p.name for p in old[:3])}"
                          f"{' ...' if len(old) > 3 else ''}); spin-ups never overwrite silently. "
                          "Pass overwrite=True (CLI --overwrite) to replace it, or choose another "
                          "--output directory.")
    for stale in old:
        if stale not in names.values() and stale != diag_path and _is_restart(stale):
            stale.unlink()                          # a sweep would otherwise pick it up
    write_text_atomic("# lowprec spin-up experiment (float64), written by lowprec spinup\n"
                      + exp.to_toml(), toml_path)

    show = progress if progress is not None else not quiet
    time_unit = "time units" if tu == "1" else "days"
    step_time = dt if tu == "1" else dt / DAY
    bar = Progress(f"{exp.model} spin-up (float64)", total, step_time=step_time, start_time=0.0,
                   time_unit=time_unit, enabled=show)

    state = model.initial_state(member_seed(exp))
    diag_steps: list[int] = []
    diag_values: dict[str, list[np.float64]] = {}
    fields: set[str] = set()        # outputs with space dimensions, kept as their domain means
    written: list[Path] = []

    def record(step: int) -> None:
        # Reduced at once: a spin-up of decades with fields kept whole would not fit in memory
        for name, value in model.diagnostics(state).items():
            value = np.asarray(value, dtype=np.float64)
            if value.ndim:
                fields.add(name)
            diag_values.setdefault(name, []).append(value.reshape(-1).mean() if value.ndim
                                                    else value[()])
        diag_steps.append(step)

    def save_diagnostics(status: str = "running", blowup_step: int = -1) -> None:
        write_atomic(_diagnostics_dataset(model, exp, diag_steps, diag_values, fields, written,
                                          total, diag_every, status, blowup_step), diag_path)

    record(0)
    events = sorted(set(wanted) | set(range(diag_every, total + 1, diag_every)))
    step = 0
    with np.errstate(all="ignore"):
        for event in events:
            while step < event:
                state = model.step(state)
                step += 1
            arrays = model.state_arrays(state)
            if not all(np.isfinite(a).all() for a in arrays.values()):
                save_diagnostics("blown_up", step)
                raise BlowUpError(f"spin-up of {exp.model} became non-finite by step {step} "
                                  f"(t = {step * step_time:g} {time_unit}); the diagnostics so far "
                                  f"are in {diag_path}. Check the model parameters (time step).")
            if event % diag_every == 0:
                record(step)
            if event in names:
                _write_dated_restart(Restart(arrays, step, 0, {}, exp.model, exp.to_toml()),
                                     names[event], step * step_time, tu, total, length,
                                     restart_layout(model, step, None, exp.run.time_encoding()),
                                     exp.run.time_encoding())
                written.append(names[event])
                save_diagnostics()
            bar.update(step)
    save_diagnostics("complete")
    bar.close(step)
    return SpinupResult(restarts=written, diagnostics=diag_path, config=toml_path, steps=step)


def _write_dated_restart(restart: Restart, path: Path, t: float, time_units: str, total: int,
                         length: str, layout: RestartLayout,
                         encoding: tuple[str, str] = (TIME_UNITS, CALENDAR)) -> None:
    """write_restart to a temporary name, add the time stamp, then rename (atomic)."""
    import netCDF4
    partial = path.with_name(path.name + ".dated")
    try:
        write_restart(restart, partial, layout)
        with netCDF4.Dataset(partial, "a") as nc:
            nc.setncattr("lowprec_restart_time", float(t))
            if time_units == "1":
                nc.setncattr("lowprec_restart_time_units", "1 (model time)")
            else:
                import cftime
                units, calendar = encoding
                date = cftime.num2date(t, units, calendar=calendar)
                nc.setncattr("lowprec_restart_time_units", units)
                nc.setncattr("lowprec_restart_date", f"{date.isoformat()} ({calendar} calendar)")
            nc.setncattr("lowprec_spinup_length", f"{length} ({total} steps)")
            nc.setncattr("history", f"{nc.getncattr('history')} (lowprec spinup: float64)")
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _diagnostics_dataset(model: Any, exp: Experiment, steps: list[int],
                         values: dict[str, list[np.float64]], fields: set[str],
                         restarts: list[Path], total: int, every: int, status: str,
                         blowup_step: int) -> xr.Dataset:
    """The diagnostics so far; ``status``: running (rewritten at each restart date), complete,
    or blown_up (at ``blowup_step``). ``values``: a scalar per record, the domain mean for the
    names in ``fields``. The precision attributes are those of a run file's."""
    import lowprec
    t, t_attrs, t_enc = _time_values(np.asarray(steps, dtype=np.int64), model.dt, model.time_units,
                                     exp.run.time_encoding())
    # CF reserves a coordinate named time for "<unit> since <epoch>" (§4.4, §5.1): dimensionless
    # model time is model_time, as in validation.nc
    tname = "model_time" if model.time_units == "1" else "time"
    outputs = {o.name: o for o in model.OUTPUTS}
    data_vars = {}
    for name, series in values.items():
        out = outputs.get(name)
        stacked = np.asarray(series, dtype=np.float64)
        attrs = out.attrs() if out is not None else {}
        space = [d for d in (out.dims if out is not None else ()) if d != "time"]
        if name in fields:
            attrs["long_name"] = f"domain mean of {attrs.get('long_name', name)}"
            # The file has no (y, x) or (depth) dimension for cell_methods to name: the mean is
            # said in words (an unweighted mean over the grid points, not an area mean).
            attrs["cell_methods"] = "time: point"
            attrs["comment"] = (f"unweighted mean over every grid point of ({', '.join(space)}) "
                                "of the model's output variable " + name)
            attrs.pop("standard_name", None)
            name = f"{name}_mean"
        if "cell_methods" in attrs:
            attrs["cell_methods"] = attrs["cell_methods"].replace("time:", f"{tname}:")
        data_vars[name] = xr.Variable((tname,), stacked, attrs)
    ds = xr.Dataset(data_vars, {tname: xr.Variable((tname,), t, t_attrs, t_enc)})
    ds.attrs = {
        "Conventions": "CF-1.11",
        "title": f"lowprec {exp.model} spin-up (float64): domain-mean diagnostics",
        "history": f"written by lowprec spinup {lowprec.__version__} (float64)",
        "lowprec_version": lowprec.__version__,
        "lowprec_model": exp.model,
        "lowprec_spinup_steps": np.int64(total),
        # the precision it ran at, as a run file says it: float64 is plain numpy
        "lowprec_sbits": np.int32(52),
        "lowprec_ebits": "none",
        "lowprec_subnormals": "true",
        "lowprec_mode": "nearest",
        "lowprec_policy": "fused",
        "lowprec_backend": "float64 (plain numpy)",
        "lowprec_seed": np.int64(exp.precision.seed),
        "lowprec_member": np.int32(exp.run.member),
        "lowprec_status": status,
        "lowprec_blowup_step": np.int64(blowup_step),
        "lowprec_spinup": "none: this file is the spin-up",
        "lowprec_output_interval": exp.run.output_interval,
        "lowprec_output_interval_steps": np.int64(every),
        "lowprec_dt": float(model.dt),
        "lowprec_restarts": " ".join(p.name for p in restarts),
        "lowprec_config": exp.to_toml(),
    }
    if blowup_step >= 0:
        ds.attrs["lowprec_blowup_time"] = blowup_step * (
            model.dt if model.time_units == "1" else model.dt / DAY)
    return ds


# --------------------------------------------------------------------------------------------
# Finding restarts (for sweeps)

def _is_restart(path: Path) -> bool:
    return _restart_attrs(path) is not None


def _restart_attrs(path: Path) -> dict[str, Any] | None:
    try:
        import netCDF4
        with netCDF4.Dataset(path) as nc:
            attrs = {k: nc.getncattr(k) for k in nc.ncattrs()}
    except Exception:                       # unreadable or not netCDF: not a restart
        return None
    return attrs if "lowprec_restart_step" in attrs else None


def find_restarts(source: str | Path | Iterable[str | Path], *, model: str | None = None,
                  params: Mapping[str, Any] | None = None, where: str = "") -> list[Path]:
    """Restart files of a directory (every lowprec restart in it) or a list, sorted by step.

    With ``model`` / ``params``, each restart must have been written by that model with those
    parameters (ConfigError otherwise, naming the file and the differing parameters).
    """
    # ``where`` may already name the key ("exp.toml: [sweep] restarts"): say it once.
    label = where if where.rstrip().endswith("restarts") else f"{where}: restarts" if where else "restarts"
    prefix = f"{label}: "
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            files = [p for p in sorted(path.glob("*.nc")) if _is_restart(p)]
            if not files:
                raise ConfigError(f"{label} = {str(source)!r}: no lowprec restart files in "
                                  "that directory; make them with `lowprec spinup CONFIG --output "
                                  f"{source}`.")
        else:
            files = [path]
    else:
        files = [Path(p) for p in source]
    found: list[tuple[int, str, Path]] = []
    for f in files:
        attrs = _restart_attrs(f) if f.is_file() else None
        if attrs is None:
            raise ConfigError(f"{prefix}{str(f)!r} is "
                              f"{'not a lowprec restart file' if f.is_file() else 'not a file'} "
                              "(give a directory written by `lowprec spinup`, or a list of "
                              "restart files).")
        if model is not None and attrs.get("lowprec_model") != model:
            raise ConfigError(f"{prefix}{str(f)!r} was written by model "
                              f"{attrs.get('lowprec_model')!r}, not {model!r}.")
        if params is not None:
            old = tomllib.loads(str(attrs.get("lowprec_config", ""))).get("params", {})
            if old != dict(params):
                diff = sorted(k for k in set(old) | set(params) if old.get(k) != params.get(k))
                raise ConfigError(f"{prefix}{str(f)!r} has other model parameters "
                                  f"({', '.join(diff)}); spin up with this experiment's [params].")
        found.append((int(attrs["lowprec_restart_step"]), str(f), f))
    return [f for _, _, f in sorted(found)]
