"""Run one experiment: integrate one (model, format, mode, member) and write its output.

Timeline of a run (``S`` spin-up steps, ``I`` steps per output interval, ``N`` outputs)::

    step 0 (initial state) ... step S (spin-up discarded) ... outputs at S + I, S + 2I, ..., S + NI

The time coordinate is model time since the initial state, spin-up included: the first output
of a run with spin-up "10 days" and interval "1 day" is at day 11. Outputs are instantaneous
snapshots (``cell_methods = "time: point"``), except variables with a longer interval of ``r``
output intervals (``[run.intervals]``, or the model's ``Output.interval``; see
lowprec.harness.config): those are means of the ``r`` snapshots ending at each ``r``-th output,
summed in float64 in time order and divided by ``r`` (``cell_methods`` "time_1d: mean
(interval: <output interval> s)"). Means, not subsampled snapshots: a daily energy should say what the day
was, and it costs one float64 array per variable. Each such variable has its own time dimension
named after its interval (``time_1d``) whose value is the end of the averaging interval (as the
snapshot times are the state reached), with CF bounds ``time_1d_bounds`` (start, end). The base
dimension is always ``time``. Physical models use a ``365_day`` calendar
starting 0001-01-01 (1 year = 365 days); dimensionless models (Lorenz-63) a plain "model time"
coordinate with units "1".

Nothing is lost (STYLE §16):

- Writes are atomic; an existing output is never replaced unless ``overwrite=True``.
- Checkpoints: every ``run.checkpoint_interval`` of model time (else every 10 minutes of wall
  time), moved to the next output that completes every variable's averaging interval (so a
  checkpoint never holds a partial mean), and when the run is interrupted by an exception
  (Ctrl-C included, and SIGTERM, which raises :class:`Terminated` while integrating in the main
  thread), the output so far (``lowprec_status = "running"``) and a restart file
  (``<output>.restart.nc``; companions: :func:`lowprec.harness.store.output_companions`) are
  written; a killed run continues with ``resume=True`` (CLI ``--resume``), bit-identical to an
  uninterrupted run, stochastic rounding included.
- At the end the restart is written before the output, so an output marked finished always has
  its final restart (a kill between the two leaves the older output, still "running").
- At the end the restart holds the final state: ``restart_from=<output>.restart.nc`` continues
  the run (time axis continuing, spin-up not repeated) and the two outputs concatenated along
  time equal one longer run bit for bit. A restart may come from another precision or member
  (e.g. a float64 spin-up, :mod:`lowprec.harness.spinup`): the state is taken, the precision is
  this run's, and stochastic rounding starts this run's own stream (seeded by (seed, member),
  counter 0); the counter is restored only from a restart of the same precision and member.
- Blow-up: the state is checked for non-finite values on entry, at every output and every
  :data:`CHECK_EVERY` steps in between. A non-finite state stops the run; the outputs before it
  are kept. The run then goes back to the last finite state it checked (kept in memory with the
  emulator's counter, so the replay is exact) and steps one step at a time to the first
  non-finite state. The file records ``lowprec_status = "blown_up"``, ``lowprec_blowup_step``
  (that step, counted from the initial state: 0 when the initial state is not finite) and
  ``lowprec_blowup_time`` (its model time, in the time axis's units: days, or model time
  units). :func:`run` returns that dataset (it does not raise); the CLI exits with status 3.

Storage precision: when every format of the run has sbits <= 23, each variable is stored as
float32 if all its values are exactly float32 (checked value by value as they are written:
a double-range format can hold values outside float32's range or precision), else float64.
Runs with wider formats are stored as float64.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import signal
import threading
import time as _time
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import xarray as xr

from lowprec.errors import ConfigError
from lowprec.harness.config import (DAY, Duration, Experiment, interval_ratio, load_config,
                                    make_arithmetic, make_model, member_seed, parse_duration,
                                    whole_ratio)
from lowprec.harness.progress import Progress, ProgressInfo
from lowprec.harness.store import (CALENDAR, RESOLVED_HEADER, TIME_UNITS, Restart,
                                   companion_owner, open_run, output_companions, read_restart,
                                   write_atomic, write_restart, write_text_atomic)

CHECK_EVERY = 1000          # steps between finiteness checks when outputs are further apart
WALL_CHECKPOINT = 600.0     # s of wall time between checkpoints when none is configured
STATUSES = ("complete", "blown_up", "running")


# --------------------------------------------------------------------------------------------
# Durations to steps

@dataclass(frozen=True)
class Schedule:
    """A run's durations in whole steps."""

    spinup_steps: int
    interval_steps: int
    n_outputs: int
    checkpoint_every: int | None    # outputs between checkpoints (None: by wall time)
    ratios: dict[str, int] = field(default_factory=dict)    # variable -> outputs per mean (> 1)
    time_dims: dict[str, str] = field(default_factory=dict)  # variable -> its time dimension

    @property
    def total_steps(self) -> int:
        return self.spinup_steps + self.interval_steps * self.n_outputs

    @property
    def aligned_every(self) -> int:
        """Outputs between points where every mean is complete (checkpoints go only there)."""
        return math.lcm(1, *self.ratios.values())


def _whole_steps(value: str, key: str, dt: float, time_units: str, where: str,
                 allow_zero: bool = False) -> int:
    d = parse_duration(value, key, where, allow_zero=allow_zero, time_units=time_units)
    x = d.in_steps(dt)
    n = round(x)
    prefix = f"{where}: " if where else ""
    if x == 0 and allow_zero:
        return 0
    if n < 1:
        raise ConfigError(f"{prefix}{key} = {value!r}: shorter than one time step "
                          f"(dt = {dt:g} {'s' if time_units == 's' else 'time units'}).")
    if abs(x - n) > 0.01 * n:
        raise ConfigError(f"{prefix}{key} = {value!r} is {x:.4g} time steps of dt = {dt:g} "
                          f"{'s' if time_units == 's' else 'time units'}; durations must be within "
                          f"1 % of a whole number of steps. Use e.g. '{n} steps' instead.")
    return n


def schedule(exp: Experiment, dt: float, time_units: str, outputs: Any = None) -> Schedule:
    """Convert the run's durations to steps of ``dt`` (rules in lowprec.harness.config).

    outputs: the model's OUTPUTS, to resolve per-variable intervals (None: all at the output
    interval).
    """
    where = exp.source or ""
    r = exp.run
    interval = _whole_steps(r.output_interval, "run.output_interval", dt, time_units, where)
    length = parse_duration(r.length, "run.length", where, time_units=time_units)
    every = parse_duration(r.output_interval, "run.output_interval", where, time_units=time_units)
    ratio = (length.amount / every.amount if length.kind == every.kind
             else length.in_steps(dt) / interval)
    n = round(ratio)
    if n < 1 or abs(ratio - n) > 1e-6 * max(1, n):
        raise ConfigError(f"{where + ': ' if where else ''}run.length = {r.length!r}: must be a "
                          f"whole number of output intervals ({r.output_interval!r}); it is "
                          f"{ratio:.6g} of them.")
    spinup = _whole_steps(r.spinup, "run.spinup", dt, time_units, where, allow_zero=True)
    checkpoint = None
    if r.checkpoint_interval is not None:
        c = _whole_steps(r.checkpoint_interval, "run.checkpoint_interval", dt, time_units, where)
        checkpoint = max(1, round(c / interval))
    ratios, dims = _variable_intervals(exp, outputs, every, dt, n, time_units, where)
    return Schedule(spinup, interval, n, checkpoint, ratios, dims)


def _variable_intervals(exp: Experiment, outputs: Any, base: Duration, dt: float, n_outputs: int,
                        time_units: str, where: str) -> tuple[dict[str, int], dict[str, str]]:
    """Outputs per mean and time dimension of each variable written less often than ``base``.

    An interval in ``[run.intervals]`` must be a whole multiple of the output interval and divide
    the run's length (ConfigError); a model's default (``Output.interval``) applies only when it
    does both, else the variable is written at the output interval.
    """
    explicit = exp.run.intervals or {}
    wanted = exp.run.variables
    ratios: dict[str, int] = {}
    dims: dict[str, str] = {}
    prefix = f"{where}: " if where else ""
    for out in outputs or ():
        if wanted is not None and out.name not in wanted:
            continue
        text = explicit.get(out.name, out.interval)
        if text is None:
            continue
        key = f"run.intervals.{out.name}" if out.name in explicit else f"{out.name}'s default interval"
        d = parse_duration(text, key, where, time_units=time_units)
        r = whole_ratio(interval_ratio(d, base, dt))
        ok = r is not None and n_outputs % r == 0
        if not ok and out.name in explicit:
            if r is None:
                raise ConfigError(f"{prefix}{key} = {text!r}: must be a whole multiple of "
                                  f"run.output_interval = {base.text!r} (it is "
                                  f"{interval_ratio(d, base, dt):.6g} of them).")
            raise ConfigError(f"{prefix}{key} = {text!r}: run.length = {exp.run.length!r} must be "
                              f"a whole number of this interval ({n_outputs} outputs of "
                              f"{base.text!r} are {n_outputs / r:.6g} of them).")
        if ok and r > 1:
            ratios[out.name] = r
            dims[out.name] = _time_dim_name(d, r * round(base.in_steps(dt)))
    return ratios, dims


def _time_dim_name(d: Duration, steps: int) -> str:
    """``time_1d``, ``time_12h``, ``time_90min``, ``time_10steps``, ``time_0p5tu`` ..."""
    if d.kind == "steps":
        return f"time_{steps}steps"
    if d.kind == "time units":
        return f"time_{d.amount:g}tu".replace(".", "p")
    for unit, seconds in (("d", DAY), ("h", 3600.0), ("min", 60.0), ("s", 1.0)):
        if d.amount >= seconds and float(d.amount / seconds).is_integer():
            return f"time_{int(d.amount / seconds)}{unit}"
    return f"time_{d.amount:g}s".replace(".", "p")


# --------------------------------------------------------------------------------------------
# Output accumulation

class OutputBuffer:
    """Preallocated outputs of one variable: float32 while every value is exactly float32."""

    def __init__(self, n: int, shape: tuple[int, ...], try_float32: bool) -> None:
        self.data = np.empty((n, *shape), dtype=np.float32 if try_float32 else np.float64)

    def put(self, k: int, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        if self.data.dtype == np.float32:
            with np.errstate(over="ignore", invalid="ignore"):
                v32 = values.astype(np.float32)
            if np.array_equal(v32.astype(np.float64), values, equal_nan=True):
                self.data[k] = v32
                return
            self.data = self.data.astype(np.float64)     # values so far were exact: no loss
        self.data[k] = values


# --------------------------------------------------------------------------------------------
# The dataset

def _time_values(steps: np.ndarray, dt: float, time_units: str) -> tuple[Any, dict, dict]:
    """(values, attrs, encoding) of the time coordinate for output steps ``steps``."""
    if time_units == "1":
        # Dimensionless: CF has no "since" units for it; the checker's §4.4/§5.1 tests for a
        # coordinate named time are the known, documented deviation of such files.
        attrs = {"long_name": "model time (dimensionless)", "units": "1"}
        return steps * dt, attrs, {}
    import cftime
    days = steps * (dt / DAY)
    if days.size == 0:              # no outputs (an early blow-up): an empty, still CF, axis
        return days, {"standard_name": "time", "long_name": "time", "axis": "T",
                      "units": TIME_UNITS, "calendar": CALENDAR}, {}
    dates = cftime.num2date(days, TIME_UNITS, calendar=CALENDAR)
    attrs = {"standard_name": "time", "long_name": "time", "axis": "T"}
    return np.asarray(dates), attrs, {"units": TIME_UNITS, "calendar": CALENDAR,
                                      "dtype": "float64"}


def _mean_time(model: Any, dim: str, output_steps: np.ndarray, r: int, interval: int,
               n: int) -> dict[str, xr.Variable]:
    """Coordinate ``dim`` (ends of the averaging intervals) and its CF bounds variable."""
    ends = output_steps[r - 1::r][:n // r]
    values, attrs, enc = _time_values(ends, model.dt, model.time_units)
    bounds = np.stack([ends - r * interval, ends], axis=-1)
    bvalues, _, benc = _time_values(bounds.reshape(-1), model.dt, model.time_units)
    attrs = dict(attrs, long_name=f"{attrs['long_name']} at the end of each averaging interval",
                 bounds=f"{dim}_bounds")
    battrs = {"units": "1"} if model.time_units == "1" else {}
    return {dim: xr.Variable((dim,), values, attrs, enc),
            f"{dim}_bounds": xr.Variable((dim, "nv"), np.asarray(bvalues).reshape(-1, 2), battrs, benc)}


def _mean_cell_methods(cm: str | None, model: Any, dim: str, interval: int) -> str:
    """cell_methods of a time mean over ``dim`` of snapshots ``interval`` steps apart."""
    every = f" (interval: {interval * model.dt:g} s)" if model.time_units == "s" else ""
    method = f"{dim}: mean{every}"
    if cm and "time: point" in cm:
        return cm.replace("time: point", method)
    return f"{cm} {method}" if cm else method


def build_dataset(model: Any, exp: Experiment, output_steps: np.ndarray,
                  buffers: Mapping[str, OutputBuffer], n: int, attrs: dict[str, Any],
                  sched: Schedule | None = None) -> xr.Dataset:
    """The first ``n`` outputs as a CF-1.11 dataset with lowprec_* provenance attributes.

    sched: gives the variables written as means over several outputs (their buffers hold
    ``n // r`` values) and their time dimensions; None: every variable at every output.
    """
    ratios = sched.ratios if sched is not None else {}
    time_dims = sched.time_dims if sched is not None else {}
    values, time_attrs, time_enc = _time_values(output_steps[:n], model.dt, model.time_units)
    coords: dict[str, Any] = {"time": xr.Variable(("time",), values, time_attrs, time_enc)}
    mean_vars: dict[str, xr.Variable] = {}
    for name in buffers:
        dim = time_dims.get(name)
        if dim is not None and dim not in coords:
            c = _mean_time(model, dim, output_steps, ratios[name], sched.interval_steps, n)
            coords[dim] = c[dim]
            mean_vars[f"{dim}_bounds"] = c[f"{dim}_bounds"]
    for name, (dims, vals, cattrs) in model.coords().items():
        coords[name] = xr.Variable(dims, np.asarray(vals), dict(cattrs))
    p = exp.precision
    coords["sbits"] = xr.Variable((), np.int32(p.sbits), {
        "long_name": "explicit significand bits of the number format", "units": "1"})
    coords["mode"] = xr.Variable((), np.array(p.mode, dtype=object), {"long_name": "rounding mode"})
    coords["member"] = xr.Variable((), np.int32(exp.run.member), {
        "standard_name": "realization", "long_name": "ensemble member", "units": "1"})
    outputs = {o.name: o for o in model.OUTPUTS}
    data_vars = {}
    for name, buf in buffers.items():
        out = outputs[name]
        vattrs = out.attrs()
        cm = vattrs.get("cell_methods")
        if name in ratios:
            vattrs["cell_methods"] = _mean_cell_methods(cm, model, time_dims[name],
                                                        sched.interval_steps)
            dims = tuple(time_dims[name] if d == "time" else d for d in out.dims)
            data_vars[name] = xr.Variable(dims, buf.data[:n // ratios[name]], vattrs)
            continue
        if cm is None or "time:" not in cm:
            vattrs["cell_methods"] = f"{cm} time: point" if cm else "time: point"
        data_vars[name] = xr.Variable(out.dims, buf.data[:n], vattrs)
    data_vars.update(mean_vars)
    ds = xr.Dataset(data_vars, coords)
    ds.attrs = attrs
    return ds


def _now() -> str:
    return f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ}"


def _provenance(exp: Experiment, status: str, spinup: str, start_step: int, sched: Schedule,
                dt: float, sample_dims: tuple[str, ...] = ()) -> dict[str, Any]:
    import lowprec
    p = exp.precision
    return {
        "Conventions": "CF-1.11",
        "title": f"lowprec {exp.model} run: sbits {p.sbits}, {p.mode} rounding, member {exp.run.member}",
        "source": f"lowprec {lowprec.__version__}, model {exp.model}",
        "history": f"{_now()} lowprec run: {exp.model}, sbits {p.sbits}, {p.mode}, member {exp.run.member}",
        "lowprec_version": lowprec.__version__,
        "lowprec_model": exp.model,
        "lowprec_sbits": np.int32(p.sbits),
        "lowprec_ebits": "none" if p.ebits is None else np.int32(p.ebits),
        "lowprec_subnormals": "true" if p.subnormals else "false",
        "lowprec_mode": p.mode,
        "lowprec_policy": p.policy,
        "lowprec_backend": p.backend,
        "lowprec_seed": np.int64(p.seed),
        "lowprec_member": np.int32(exp.run.member),
        "lowprec_status": status,
        "lowprec_blowup_step": np.int64(-1),
        "lowprec_spinup": spinup,
        "lowprec_start_step": np.int64(start_step),
        "lowprec_dt": float(dt),
        "lowprec_output_interval": exp.run.output_interval,
        "lowprec_output_interval_steps": np.int64(sched.interval_steps),
        # model dims whose points are samples, pooled with time by validation (space-separated)
        "lowprec_sample_dims": " ".join(sample_dims),
        "lowprec_config": exp.to_toml(),
    }


# --------------------------------------------------------------------------------------------
# Running

def _identity(exp_dict: dict) -> dict:
    """What must match for a run to be resumed: everything but output paths and checkpoints."""
    d = json.loads(json.dumps(exp_dict, default=str))
    d.get("run", {}).pop("output", None)
    d.get("run", {}).pop("checkpoint_interval", None)
    d.pop("sweep", None)
    return d


_ABSENT = object()


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """'key: <old> in the file, <new> now' for every dotted key whose values differ."""
    a, b = _flatten(old), _flatten(new)
    shown = lambda v: "absent" if v is _ABSENT else repr(v)      # noqa: E731
    return [f"{k}: {shown(a.get(k, _ABSENT))} in the file, {shown(b.get(k, _ABSENT))} now"
            for k in sorted(set(a) | set(b)) if a.get(k, _ABSENT) != b.get(k, _ABSENT)]


def _check_companion_owners(output: Path, overwrite: bool) -> None:
    """Refuse companions that equal the output, or that another output wrote (unless overwrite)."""
    for companion in output_companions(output):
        if companion.resolve() == output.resolve():
            raise ConfigError(f"output {str(output)!r}: its companion file {str(companion)!r} "
                              "would be the output itself; choose an output name ending in .nc.")
        if overwrite or not companion.exists():
            continue
        owner = companion_owner(companion)
        if owner is not None and Path(owner).name != output.name:
            raise ConfigError(f"{str(companion)!r} belongs to the output {owner!r}, not "
                              f"{str(output)!r}: this run would replace it. Choose another output "
                              "name (outputs ending in .nc share nothing), or pass overwrite=True "
                              "(CLI --overwrite) to replace it.")


def _check_output_paths(output: Path, exp: Experiment, overwrite: bool) -> None:
    _check_companion_owners(output, overwrite)
    _, toml_path = output_companions(output)
    if exp.source and toml_path.exists() and toml_path.resolve() == Path(exp.source).resolve():
        raise ConfigError(f"output {str(output)!r}: the resolved config would be written to "
                          f"{str(toml_path)!r}, which is your experiment file. Choose another "
                          "output name (e.g. runs/<name>.nc).")
    if output.exists() and not overwrite:
        raise ConfigError(f"output {str(output)!r} exists; runs never overwrite silently. Pass "
                          "overwrite=True (CLI --overwrite) to replace it, resume=True (--resume) "
                          "to continue an interrupted run, or choose another path.")
    if toml_path.exists() and not overwrite:
        first = toml_path.read_text().splitlines()[:1]
        if not (first and first[0].startswith(RESOLVED_HEADER)):
            raise ConfigError(f"{str(toml_path)!r} exists and was not written by lowprec; the "
                              f"output {str(output)!r} would replace it with the resolved config. "
                              "Choose another output name, or pass overwrite=True.")


def run(config: Any, output: str | Path | None = None, *, overwrite: bool = False,
        restart_from: str | Path | None = None, resume: bool = False, quiet: bool = True,
        progress: bool | Callable[[ProgressInfo], Any] | None = None,
        overrides: Mapping[str, Any] | None = None) -> xr.Dataset:
    """Integrate one experiment; return its output (and write it when an output path is given).

    config: a TOML path, TOML text, a dict, or an :class:`Experiment`; ``overrides`` are dotted
        keys applied on top (``{"precision.sbits": 10}``).
    output: netCDF path (else ``[run] output``; neither: nothing is written). Beside it go
        ``<output>.restart.nc`` (restart) and ``<output>.toml`` (the resolved experiment).
    overwrite: replace an existing output. resume: continue an interrupted run at ``output`` from
        its last checkpoint (a finished run is returned as it is, not recomputed).
    restart_from: continue from a restart file (else ``[run] restart_from``).
    quiet / progress: progress on stderr when ``progress`` is True, or when it is None and not
        ``quiet``; a callable receives :class:`ProgressInfo` snapshots instead.

    Returns the dataset; ``ds.attrs["lowprec_status"]`` is "complete" or "blown_up".
    """
    exp = config if isinstance(config, Experiment) and not overrides else load_config(
        config.to_dict() if isinstance(config, Experiment) else config, overrides)
    if isinstance(config, Experiment) and overrides:
        exp = replace(exp, source=config.source)
    out_path = Path(output) if output is not None else (
        Path(exp.run.output) if exp.run.output else None)
    restart_path = restart_from if restart_from is not None else exp.run.restart_from
    exp = replace(exp, run=replace(exp.run, output=None if out_path is None else str(out_path),
                                   restart_from=None if restart_path is None else str(restart_path)))
    show = progress if progress is not None else not quiet

    resume_from: Restart | None = None
    prior: xr.Dataset | None = None
    if out_path is not None:
        own_restart, toml_path = output_companions(out_path)
        if resume and out_path.exists():
            prior = open_run(out_path)
            status = prior.attrs.get("lowprec_status")
            if status in ("complete", "blown_up"):
                return prior
            _check_companion_owners(out_path, overwrite)
            resume_from = read_restart(own_restart) if own_restart.exists() else None
            if resume_from is not None:
                diff = _differences(_identity(tomllib.loads(resume_from.config)),
                                    _identity(exp.to_dict()))
                if diff and overwrite:
                    resume_from, prior = None, None      # asked to start afresh
                elif diff:
                    raise ConfigError(f"resume {str(out_path)!r}: the experiment differs from the "
                                      "one that wrote it in " + "; ".join(diff) + ". Resume "
                                      "with the same experiment, or pass overwrite=True "
                                      "(--overwrite) to start afresh.")
            if resume_from is None or prior is None or resume_from.outputs > prior.sizes.get("time", 0):
                resume_from, prior = None, None          # no usable checkpoint: start afresh
        else:
            _check_output_paths(out_path, exp, overwrite)
        write_text_atomic(f"{RESOLVED_HEADER} (written by lowprec run; load it with "
                          "lowprec.harness.config.load_config)\n" + exp.to_toml(), toml_path)

    emu = _arithmetic(exp)
    model = make_model(exp, emu)
    sched = schedule(exp, model.dt, model.time_units, model.OUTPUTS)
    return _integrate(exp, model, emu, sched, out_path, resume_from, prior, restart_path, show)


class Terminated(SystemExit):
    """SIGTERM arrived during a run (batch walltime, ``kill``): raised in the main thread.

    The run's emergency checkpoint is written on the way out (as for Ctrl-C); uncaught, the
    process exits with status 128 + 15 = 143, the shell's convention for death by SIGTERM.
    """


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While integrating, SIGTERM raises :class:`Terminated` (so the checkpoint is saved).

    Only in the main thread (Python runs signal handlers there), and not when SIGTERM is being
    ignored; the previous handler is restored afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN:
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


@dataclass(frozen=True)
class _RunProgressInfo(ProgressInfo):
    """ProgressInfo whose step counts from the run's start; speed from this session's steps."""

    earlier: int = 0        # steps done by earlier sessions (a resumed run)

    @property
    def steps_per_second(self) -> float:
        done = self.step - self.earlier
        return done / self.elapsed if self.elapsed > 0 else float("nan")


class _RunProgress(Progress):
    """Progress of a whole run: ``earlier`` steps were done before this session (resumed)."""

    def __init__(self, *args: Any, earlier: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.earlier = earlier

    def info(self, step: int, done: bool = False) -> ProgressInfo:
        base = super().info(step, done)
        return _RunProgressInfo(**{f.name: getattr(base, f.name) for f in fields(base)},
                                earlier=self.earlier)


def _same_rounding_stream(restart_config: str, exp: Experiment) -> bool:
    """Whether a restart continues this run's stochastic-rounding stream.

    Only a restart written with the same [precision] and member carries this run's counter; a
    restart from another precision or member (a float64 spin-up, say) does not, and the run
    starts its own stream, seeded by (seed, member), at counter 0.
    """
    try:
        old = tomllib.loads(restart_config)
    except tomllib.TOMLDecodeError:
        return False
    new = exp.to_dict()
    return (old.get("precision") == new["precision"]
            and old.get("run", {}).get("member", 0) == exp.run.member)


def _arithmetic(exp: Experiment) -> Any:
    """Plain numpy for float64 with fused compound operations; the emulator, or the native
    arithmetic (``precision.backend``), otherwise."""
    return make_arithmetic(exp)


def _integrate(exp: Experiment, model: Any, emu: Any, sched: Schedule, out_path: Path | None,
               resume_from: Restart | None, prior: xr.Dataset | None,
               restart_path: str | Path | None, show: Any) -> xr.Dataset:
    where = exp.source or ""
    interval, n_out = sched.interval_steps, sched.n_outputs
    if resume_from is not None:
        r = resume_from
        state = model.state_from_arrays(r.arrays)
        if r.emulator_state:            # float64 runs (plain numpy) have no emulator state
            emu.set_state(r.emulator_state)
        attrs0 = prior.attrs
        start_step = int(attrs0["lowprec_start_step"])
        spun = int(r.step - start_step - r.outputs * interval)     # spin-up done before
        spinup_text = str(attrs0["lowprec_spinup"])
        step, k0, spin = r.step, r.outputs, 0
    elif restart_path is not None:
        r = read_restart(restart_path)
        if r.model != exp.model:
            raise ConfigError(f"{where + ': ' if where else ''}restart_from = {str(restart_path)!r}"
                              f": written by model {r.model!r}, not {exp.model!r}.")
        old = tomllib.loads(r.config).get("params", {})
        if old != exp.params:
            diff = sorted(k for k in set(old) | set(exp.params) if old.get(k) != exp.params.get(k))
            raise ConfigError(f"{where + ': ' if where else ''}restart_from = {str(restart_path)!r}"
                              f": its model parameters differ in {', '.join(diff)}; a restart "
                              "continues the same model (precision may differ).")
        state = model.state_from_arrays(r.arrays)
        if r.emulator_state and _same_rounding_stream(r.config, exp):
            emu.set_state(r.emulator_state)     # after entering the state: counter exactly restored
        start_step = step = r.step
        spin = spun = k0 = 0
        spinup_text = f"none (continued from {restart_path} at step {r.step})"
    else:
        state = model.initial_state(member_seed(exp))
        start_step = step = k0 = 0
        spin = spun = sched.spinup_steps
        spinup_text = exp.run.spinup
    first_output = start_step + spun + interval
    output_steps = first_output + interval * np.arange(n_out, dtype=np.int64)

    names = list(exp.run.variables or [o.name for o in model.OUTPUTS])
    try_f32 = exp.precision.max_sbits <= 23
    buffers: dict[str, OutputBuffer] = {}
    ratios = sched.ratios

    def rows(name: str) -> int:
        return n_out // ratios.get(name, 1)

    if prior is not None and k0 > 0:
        for name in names:
            vals = prior[name].values[:k0 // ratios.get(name, 1)]
            buffers[name] = OutputBuffer(rows(name), vals.shape[1:], try_f32)
            for k in range(len(vals)):
                buffers[name].put(k, vals[k])
    sums: dict[str, np.ndarray] = {}    # running float64 sums of the means in progress
    attrs = _provenance(exp, "running", spinup_text, start_step, sched, model.dt,
                        tuple(getattr(model, "SAMPLE_DIMS", ())))
    if restart_path is not None:
        attrs["lowprec_restart_from"] = str(restart_path)
    if resume_from is not None:
        attrs["history"] = f"{prior.attrs.get('history', '')}\n{_now()} resumed at step {step}".strip()

    time_unit = "time units" if model.time_units == "1" else "days"
    step_time = model.dt if model.time_units == "1" else model.dt / DAY
    p = exp.precision
    # Progress counts from the run's start (an earlier session's steps included when resumed).
    bar = _RunProgress(f"{exp.model} sb{p.sbits} {p.mode} m{exp.run.member}",
                       int(output_steps[-1]) - start_step, step_time=step_time,
                       start_time=start_step * step_time, time_unit=time_unit, enabled=show,
                       earlier=step - start_step)

    def checkpoint(k_done: int, good: tuple, status: str = "running") -> None:
        if out_path is None:
            return
        a = dict(attrs, lowprec_status=status)
        # Output first, then its restart: a kill between them leaves an older restart that the
        # newer output (status "running") still covers, and resume continues from it.
        write_atomic(build_dataset(model, exp, output_steps, buffers, k_done, a, sched), out_path)
        g_arrays, g_step, g_emu = good
        write_restart(Restart(g_arrays, g_step, k_done, g_emu, exp.model, exp.to_toml()),
                      output_companions(out_path)[0])

    def finite(arrays: Mapping[str, np.ndarray]) -> bool:
        return all(np.isfinite(a).all() for a in arrays.values())

    last_finite: tuple | None = None    # (state arrays, step, emulator state) at the last check

    def check(state: Any, step: int) -> dict[str, np.ndarray] | None:
        """The state's arrays if finite (remembered as the last finite state), else None."""
        nonlocal last_finite
        arrays = model.state_arrays(state)
        if not finite(arrays):
            return None
        last_finite = (arrays, step, emu.get_state())
        return arrays

    def first_nonfinite_step(noticed: int) -> int:
        """Re-step from the last finite state, checking every step, to when it blew up.

        Deterministic: the state and the stochastic-rounding counter are restored exactly.
        """
        if last_finite is None:
            return noticed
        arrays, s, emu_state = last_finite
        state = model.state_from_arrays(arrays)
        if emu_state:
            emu.set_state(emu_state)        # after entering the state: counter exactly restored
        while s < noticed:
            state = model.step(state)
            s += 1
            if not finite(model.state_arrays(state)):
                return s
        return noticed                      # not reproduced (cannot happen if deterministic)

    blowup_step: int | None = None
    k = k0
    good: tuple | None = None       # (state arrays, step, emulator state) at the last output
    aligned: tuple[int, tuple] | None = None    # (k, good) where every mean was last complete
    saved_k = k0
    last_save = _time.monotonic()
    with _sigterm_raises():
        try:
            with np.errstate(all="ignore"):
                if check(state, step) is None:
                    blowup_step = step          # a non-finite state to start from
                for i in range(spin if blowup_step is None else 0):
                    state = model.step(state)
                    step += 1
                    if (i + 1) % CHECK_EVERY == 0:
                        if check(state, step) is None:
                            blowup_step = step
                            break
                        bar.update(step - start_step)
                while blowup_step is None and k < n_out:
                    for j in range(interval):
                        state = model.step(state)
                        step += 1
                        if (j + 1) % CHECK_EVERY == 0 and j + 1 < interval:
                            if check(state, step) is None:
                                blowup_step = step
                                break
                            bar.update(step - start_step)
                    if blowup_step is not None:
                        break
                    arrays = check(state, step)
                    if arrays is None:
                        blowup_step = step
                        break
                    for name, values in model.diagnostics(state).items():
                        if name not in names:
                            continue
                        if name not in buffers:
                            buffers[name] = OutputBuffer(rows(name), np.shape(values), try_f32)
                        r = ratios.get(name, 1)
                        if r == 1:
                            buffers[name].put(k, values)
                            continue
                        values = np.asarray(values, dtype=np.float64)
                        sums[name] = values.copy() if k % r == 0 else sums[name] + values
                        if (k + 1) % r == 0:
                            buffers[name].put(k // r, sums.pop(name) / r)
                    k += 1
                    good = last_finite
                    if k % sched.aligned_every == 0:
                        aligned = (k, good)
                    bar.update(step - start_step)
                    due = (k - saved_k >= sched.checkpoint_every if sched.checkpoint_every
                           else _time.monotonic() - last_save >= WALL_CHECKPOINT)
                    if due and k < n_out and k % sched.aligned_every == 0:
                        checkpoint(k, good)
                        saved_k, last_save = k, _time.monotonic()
                if blowup_step is not None:
                    blowup_step = first_nonfinite_step(blowup_step)
        except BaseException:           # Ctrl-C and SIGTERM included
            if out_path is not None and aligned is not None and aligned[0] > saved_k:
                try:                            # keep what was computed; resume continues from here
                    checkpoint(*aligned)        # (where no mean was partial)
                except Exception:               # noqa: BLE001 - the original error matters more
                    pass
            raise

    status = "complete" if blowup_step is None else "blown_up"
    attrs["lowprec_status"] = status
    if blowup_step is not None:
        attrs["lowprec_blowup_step"] = np.int64(blowup_step)
        attrs["lowprec_blowup_time"] = float(blowup_step * step_time)
    bar.close(step - start_step, status)
    if not buffers:                 # no output before a blow-up: empty variables of the right shape
        buffers = {name: OutputBuffer(0, np.shape(values), try_f32)
                   for name, values in model.diagnostics(state).items() if name in names}
    ds = build_dataset(model, exp, output_steps, {n: buffers[n] for n in names}, k, attrs, sched)
    if out_path is not None:
        # The restart before the output: an output marked finished implies its final restart
        # exists (a kill between the two leaves the older output, status "running").
        own_restart = output_companions(out_path)[0]
        if good is not None:
            write_restart(Restart(good[0], good[1], k, good[2], exp.model, exp.to_toml()),
                          own_restart)
        elif k == 0:
            own_restart.unlink(missing_ok=True)     # a stale restart would not match this file
        write_atomic(ds, out_path)
    return ds


def run_member(exp: Experiment, path: str | Path, *, quiet: bool = True) -> str:
    """One run of a sweep to ``path``: resumes an interrupted run, skips a finished one.

    Returns the run's final status ("complete" or "blown_up").
    """
    ds = run(exp, path, resume=True, quiet=quiet)
    return str(ds.attrs["lowprec_status"])
