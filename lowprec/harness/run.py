"""Run one experiment: integrate one (model, format, mode, member) and write its output.

Timeline of a run (``S`` spin-up steps, ``I`` steps per output interval, ``N`` outputs)::

    step 0 (initial state) ... step S (spin-up discarded) ... outputs at S + I, S + 2I, ..., S + NI

The time coordinate is model time since the initial state, spin-up included: the first output
of a run with spin-up "10 days" and interval "1 day" is at day 11. Outputs are instantaneous
snapshots (``cell_methods = "time: point"``), except variables with a longer interval of ``r``
output intervals (``[run.intervals]``, or the model's ``Output.interval``; see
lowprec.harness.config): those are means of the ``r`` snapshots ending at each ``r``-th output,
summed in float64 in time order and divided by ``r`` (``cell_methods`` "time_1d: mean
(interval: <output interval> s)"), on their own time dimension named after the interval
(``time_1d``), whose value is the end of the averaging interval, with CF bounds (start, end):
:mod:`lowprec.harness.output`. Physical models use a ``365_day`` calendar starting 0001-01-01
(1 year = 365 days); dimensionless models (Lorenz-63) a plain "model time" coordinate, units "1".

The run loop (:func:`_integrate`) is a list of named steps: start (initial state, restart or
resume), spin up, then for each output: advance (model steps; a non-finite state is found to
the step), record (a row of each output, the running means), checkpoint if due (the rows since
the last checkpoint appended to the file, then the restart); finish (the restart, then the last
rows with the final status).

Output is streamed to disk (:class:`lowprec.harness.store.RunFile`): the run holds only the rows
since its last checkpoint (at most ``store.WRITE_BYTES``), so its memory does not grow with its
length, and a checkpoint writes only those rows. A checkpoint is taken when that buffer is full,
every ``run.checkpoint_interval`` of model time (else every 10 minutes of wall time), on Ctrl-C,
SIGTERM or an error, and at the end. What is at the output path is always a whole netCDF file
with its status: ``running`` (up to its last checkpoint), ``interrupted`` (stopped: Ctrl-C,
SIGTERM or an error), ``complete`` or ``blown_up``.

Nothing is lost, nothing mislabelled (STYLE §16):

- An existing output is never replaced unless ``overwrite=True``; one writer per output (a lock
  beside it); everything is checked before anything is written (config, the model, memory and
  disk estimates, the output directory, resume compatibility: :mod:`lowprec.harness.resources`).
- Ctrl-C and SIGTERM stop a run at once, except during file I/O, which they wait for
  (:mod:`lowprec.harness.interrupts`): what is complete is then saved (rows up to the last
  output, status ``interrupted``, and its restart) and the run raises
  :class:`~lowprec.harness.interrupts.Interrupted` (a KeyboardInterrupt) or
  :class:`~lowprec.harness.interrupts.Terminated` (SystemExit 143), whose ``saved`` says what was
  kept. Stopped before its first output, a run saves nothing and leaves no file.
- A killed run (SIGKILL included) continues with ``resume=True`` (CLI ``--resume``) from its
  last restart, bit-identical to an uninterrupted run, stochastic rounding included; the running
  sums of means in progress are part of the restart. It loses at most the steps since its last
  checkpoint: a checkpoint writes the rows, then the restart, so a kill between the two falls
  back to the checkpoint before (the rows after it are computed again, and rewritten with the
  same values). Resuming a finished run returns it as it
  is, and refuses (as for an unfinished one) when the experiment differs, naming the keys.
- At the end the restart is written before the output is marked finished, so an output marked
  finished always has its final restart. The restart holds the final state:
  ``restart_from=<output>.restart.nc`` continues the run (time axis continuing, spin-up not
  repeated) and the two outputs concatenated along time equal one longer run bit for bit. A
  restart may come from another precision or member (e.g. a float64 spin-up,
  :mod:`lowprec.harness.spinup`): the state is taken, the precision is this run's, and
  stochastic rounding starts this run's own stream (seeded by (seed, member), counter 0); the
  counter is restored only from a restart of the same precision and member.
- Blow-up: the state is checked for non-finite values on entry, at every output and every
  :data:`CHECK_EVERY` steps in between. A non-finite state stops the run; the outputs before it
  are kept. The run then goes back to the last finite state it checked (kept in memory with the
  emulator's counter, so the replay is exact) and steps one step at a time to the first
  non-finite state. The file records ``lowprec_status = "blown_up"``, ``lowprec_blowup_step``
  (that step, counted from the initial state: 0 when the initial state is not finite) and
  ``lowprec_blowup_time`` (its model time, in the time axis's units: days, or model time
  units). :func:`run` returns that dataset (it does not raise); the CLI exits with status 3.
- Precision, as run: ``lowprec_components`` (JSON) records the format and mode every component
  of the model ran at. The ``sbits`` and ``mode`` coordinates (and the title) say what the run
  was computed at: the base format's, unless no component uses it (every component overrides
  it), when a :class:`~lowprec.harness.config.PrecisionWarning` says so and the coordinates take
  the components' value. ``lowprec_sbits`` / ``lowprec_mode`` are always the base format's, as
  configured. Overrides of a component the model does not declare are a ConfigError.

Storage precision: when every format of the run has sbits <= 23, each variable is stored as
float32 if all its values are exactly float32 (checked value by value as they are written:
a double-range format can hold values outside float32's range or precision), else float64.
Runs with wider formats are stored as float64.
"""
from __future__ import annotations

import datetime as _dt
import errno
import json
import math
import time as _time
import tomllib
import warnings
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import xarray as xr

from lowprec.errors import ConfigError
from lowprec.harness.config import (DAY, Duration, Experiment, PrecisionWarning, date_attrs,
                                    interval_ratio, load_config, make_arithmetic, make_model, member_seed,
                                    parse_duration, recorded_params, whole_ratio)
from lowprec.harness.interrupts import STOPS, Interrupted, StopSignals, Terminated
from lowprec.harness.output import Outputs, restart_layout
from lowprec.harness.progress import Progress, ProgressInfo
from lowprec.harness.resources import (STEP_MEMORY_FACTOR, available_memory, check_disk,
                                       check_memory, output_shapes, prepare_output_directory,
                                       run_output_bytes, size_text)
from lowprec.harness.store import (CALENDAR, RESOLVED_HEADER, TIME_UNITS, Restart, RunFile,
                                   StorageError, companion_owner, open_run, output_companions,
                                   chunk_shape, output_lock, read_restart, rows_per_write,
                                   write_restart, write_text_atomic)
from lowprec.harness.store import _global_attributes

__all__ = ["run", "run_member", "schedule", "Schedule", "Interrupted", "Terminated"]

CHECK_EVERY = 1000          # steps between finiteness checks when outputs are further apart
WALL_CHECKPOINT = 600.0     # s of wall time between checkpoints when none is configured
STATUSES = ("complete", "blown_up", "running", "interrupted")
FINISHED = ("complete", "blown_up")


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
# Provenance

def _time_values(steps: np.ndarray, dt: float, time_units: str,
                 encoding: tuple[str, str] = (TIME_UNITS, CALENDAR)) -> tuple[Any, dict, dict]:
    """(values, attrs, encoding) of a time coordinate at ``steps`` (as cftime dates if physical;
    ``encoding``: their (units, calendar))."""
    if time_units == "1":
        attrs = {"long_name": "model time (dimensionless)", "units": "1"}
        return steps * dt, attrs, {}
    import cftime
    units, calendar = encoding
    days = steps * (dt / DAY)
    attrs = {"standard_name": "time", "long_name": "time", "axis": "T", **date_attrs(calendar)}
    if days.size == 0:
        return days, dict(attrs, units=units, calendar=calendar), {}
    dates = cftime.num2date(days, units, calendar=calendar)
    return np.asarray(dates), attrs, {"units": units, "calendar": calendar, "dtype": "float64"}


def _now() -> str:
    return f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ}"


def _format_text(c: Mapping[str, Any]) -> str:
    """'sbits 10, stochastic' (+ ebits, flush to zero when they apply) of one format and mode."""
    parts = [f"sbits {c['sbits']}"]
    if c["ebits"] is not None:
        parts.append(f"ebits {c['ebits']}" + ("" if c["subnormals"] else ", flush to zero"))
    return ", ".join(parts) + f", {c['mode']}"


@dataclass(frozen=True)
class PrecisionRecord:
    """What a run was computed at: every component's format and mode, and its labels."""

    components: dict[str, dict[str, Any]]   # name -> sbits, ebits, subnormals, mode, override
    sbits: int                              # the label: the base's unless no component uses it
    mode: str
    unused: tuple[str, ...]                 # base keys no component uses ("sbits", "mode")
    text: str                               # for titles: "sbits 10, stochastic rounding" ...

    @classmethod
    def of(cls, exp: Experiment, declared: tuple[str, ...]) -> "PrecisionRecord":
        p = exp.precision
        components = {}
        for name in declared:
            c = p.component(name)
            c["override"] = sorted(p.components.get(name, {}))
            components[name] = c
        unused = tuple(p.unused_base(declared))
        sbits_used = sorted({c["sbits"] for c in components.values()})
        modes_used = sorted({c["mode"] for c in components.values()})
        sbits = p.sbits if "sbits" not in unused else sbits_used[0]
        mode = p.mode if "mode" not in unused else (modes_used[0] if len(modes_used) == 1
                                                    else "mixed")
        base = {"sbits": p.sbits, "ebits": p.ebits, "subnormals": p.subnormals, "mode": p.mode}
        distinct = {_format_text(c) for c in components.values()}
        if len(distinct) <= 1:
            text = (distinct.pop() if distinct else _format_text(base)) + " rounding"
        else:
            text = "; ".join(f"{name} {_format_text(c)}" for name, c in components.items())
        return cls(components, sbits, mode, unused, text)

    def warnings(self, exp: Experiment) -> list[str]:
        """Why the base format's label would be untrue (PrecisionWarning texts)."""
        p = exp.precision
        where = f"{exp.source}: " if exp.source else ""
        out = []
        for key in self.unused:
            used = sorted({str(c[key]) for c in self.components.values()})
            out.append(f"{where}precision.{key} = {getattr(p, key)!r} is used by no component of "
                       f"model {exp.model!r} (every one overrides it: "
                       + ", ".join(f"{n} {c[key]}" for n, c in self.components.items())
                       + f"); the run is computed at {key} {' and '.join(used)}, and its file "
                       f"says so (the {key} coordinate, title and lowprec_components).")
        return out

    def sbits_comment(self, exp: Experiment) -> str:
        p = exp.precision
        if "sbits" in self.unused:
            return (f"precision.sbits = {p.sbits} is used by no component; this is the narrowest "
                    "sbits the components ran at (each one's: lowprec_components)")
        overridden = [n for n, c in self.components.items() if c["sbits"] != p.sbits]
        if overridden:
            return ("the base format's; components " + ", ".join(overridden) + " ran at other "
                    "sbits (lowprec_components)")
        return "every component ran at this format (lowprec_components)"


def _provenance(exp: Experiment, status: str, spinup: str, start_step: int, sched: "Schedule",
                dt: float, record: PrecisionRecord,
                sample_dims: tuple[str, ...] = ()) -> dict[str, Any]:
    import lowprec
    p = exp.precision
    member = exp.run.member
    return {
        "Conventions": "CF-1.11",
        "title": f"lowprec {exp.model} run: {record.text}, member {member}",
        "source": f"lowprec {lowprec.__version__}, model {exp.model}",
        "history": f"{_now()} lowprec run: {exp.model}, {record.text}, member {member}",
        "lowprec_version": lowprec.__version__,
        "lowprec_model": exp.model,
        "lowprec_sbits": np.int32(p.sbits),
        "lowprec_ebits": "none" if p.ebits is None else np.int32(p.ebits),
        "lowprec_subnormals": "true" if p.subnormals else "false",
        "lowprec_mode": p.mode,
        "lowprec_policy": p.policy,
        "lowprec_backend": p.backend,
        # the format and mode each component of the model ran at (JSON; "override": the keys
        # its [precision.components.NAME] set, the rest being the base format's)
        "lowprec_components": json.dumps(record.components),
        "lowprec_seed": np.int64(p.seed),
        "lowprec_member": np.int32(member),
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


def _labels(exp: Experiment, record: PrecisionRecord) -> dict[str, tuple[Any, dict]]:
    """The scalar coordinates sbits, mode, member with their attributes."""
    return {
        "sbits": (np.int32(record.sbits), {
            "long_name": "explicit significand bits of the number format", "units": "1",
            "comment": record.sbits_comment(exp)}),
        "mode": (np.array(record.mode, dtype=object), {"long_name": "rounding mode"}),
        "member": (np.int32(exp.run.member), {
            "standard_name": "realization", "long_name": "ensemble member", "units": "1"}),
    }


# --------------------------------------------------------------------------------------------
# Checks before a run starts

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


# --------------------------------------------------------------------------------------------
# Running

@dataclass
class _Plan:
    """A run, checked and built, before anything is written."""

    exp: Experiment
    emu: Any
    model: Any
    sched: "Schedule"
    record: PrecisionRecord
    names: list[str]
    shapes: dict[str, tuple[int, ...]]
    out_path: Path | None
    restart_path: Path | None
    restart: Restart | None             # read from restart_path
    show: Any

    @property
    def where(self) -> str:
        return f"{self.exp.source}: " if self.exp.source else ""

    def output_bytes(self) -> float:
        """The whole output, uncompressed (float32 where the run may store it so)."""
        rows = {n: self.sched.n_outputs // self.sched.ratios.get(n, 1) for n in self.names}
        itemsize = 4 if self.exp.precision.max_sbits <= 23 else 8
        return run_output_bytes(rows, {n: self.shapes[n] for n in self.names}, itemsize)


def run(config: Any, output: str | Path | None = None, *, overwrite: bool = False,
        restart_from: str | Path | None = None, resume: bool = False, quiet: bool = True,
        progress: bool | Callable[[ProgressInfo], Any] | None = None,
        overrides: Mapping[str, Any] | None = None) -> xr.Dataset:
    """Integrate one experiment; return its output (and write it when an output path is given).

    config: a TOML path, TOML text, a dict, or an :class:`Experiment`; ``overrides`` are dotted
        keys applied on top (``{"precision.sbits": 10}``).
    output: netCDF path (else ``[run] output``; neither: nothing is written and the output is
        returned in memory). Beside it go ``<output>.restart.nc`` (restart) and
        ``<output>.toml`` (the resolved experiment).
    overwrite: replace an existing output. resume: continue an interrupted run at ``output`` from
        its last checkpoint (a finished run is returned as it is, not recomputed; a different
        experiment is refused either way).
    restart_from: continue from a restart file (else ``[run] restart_from``).
    quiet / progress: progress on stderr when ``progress`` is True, or when it is None and not
        ``quiet``; a callable receives :class:`ProgressInfo` snapshots instead.

    Returns the dataset; ``ds.attrs["lowprec_status"]`` is "complete" or "blown_up". With an
    output file, the dataset reads that file lazily (close it, or use ``with``, when done).
    Raises ConfigError before anything is written when the run cannot run as asked,
    StorageError (lowprec.harness.store) when its files cannot be read or written (a full disk:
    what was complete is kept), and Interrupted / Terminated on Ctrl-C / SIGTERM after saving
    what was complete (module docstring).
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
    with StopSignals() as stops:
        try:
            plan = _plan(exp, out_path, None if restart_path is None else Path(restart_path),
                         show)
            if plan.restart_path is not None:
                with stops.io():
                    plan.restart = _read_restart_from(exp, plan.restart_path)
                plan.exp = _continue_dates(plan.exp, plan.restart, plan.restart_path)
            if out_path is None:
                return _integrate(_Run(plan, stops, _Start()))
            prepare_output_directory(out_path)
            with output_lock(out_path):
                with stops.io():
                    start = _resume_point(plan, overwrite, resume)
                if isinstance(start, xr.Dataset):
                    return start                    # finished: returned as it is
                check_disk(out_path.parent, plan.output_bytes(), _what(exp, "run.length"))
                run = _Run(plan, stops, start)
                return _integrate(run)
        except STOPS as e:
            if not e.saved:                         # stopped before the run loop began
                e.saved = ("stopped before the run started: nothing was written"
                           + (f" ({out_path} is as it was)." if out_path is not None
                              and out_path.exists() else "."))
            raise


def _what(exp: Experiment, key: str) -> str:
    """The experiment and a key, for messages: 'exp.toml: run.length = '60 years''."""
    where = f"{exp.source}: " if exp.source else ""
    if key == "params":
        from lowprec.harness.config import get_model_class
        cls = get_model_class(exp.model)
        defaults = {f.name: f.default for f in fields(cls.Params)}
        changed = {k: v for k, v in exp.params.items() if defaults.get(k) != v}
        return (f"{where}model {exp.model!r}" + (" with " + ", ".join(
            f"params.{k} = {v!r}" for k, v in changed.items()) if changed else ""))
    value = exp.run.length if key == "run.length" else ""
    return f"{where}{key} = {value!r}"


def _plan(exp: Experiment, out_path: Path | None, restart_path: Path | None,
          show: Any) -> _Plan:
    """Build the run's arithmetic, model and schedule, and check everything that can be checked."""
    where = f"{exp.source}: " if exp.source else ""
    emu = _arithmetic(exp)
    try:
        model = make_model(exp, emu)
        all_shapes = output_shapes(model, [o.name for o in model.OUTPUTS])
    except MemoryError:
        raise ConfigError(f"{_what(exp, 'params')}: needs more memory than is available: even "
                          "building the model and its coordinates fails within a "
                          f"{STEP_MEMORY_FACTOR}th of the {size_text(available_memory())} "
                          f"available (a step needs at least {STEP_MEMORY_FACTOR} times the "
                          "state). Make the model smaller.") from None
    sched = schedule(exp, model.dt, model.time_units, model.OUTPUTS)
    declared = tuple(getattr(emu, "declared_components", None) or getattr(model, "COMPONENTS", ()))
    undeclared = sorted(set(exp.precision.components) - set(declared))
    if undeclared:
        name = undeclared[0]
        raise ConfigError(f"{where}precision.components.{name}: model {exp.model!r} does not use "
                          f"a component {name!r}, so this override would change nothing; its "
                          f"components are: {', '.join(declared) or '(none)'}.")
    record = PrecisionRecord.of(exp, declared)
    for text in record.warnings(exp):
        warnings.warn(text, PrecisionWarning, stacklevel=3)
    default = getattr(model, "default_outputs", None)     # else every output the model has
    names = list(exp.run.variables or (default() if default else [o.name for o in model.OUTPUTS]))
    state_bytes = sum(8 * math.prod(s) for s in all_shapes.values())
    plan = _Plan(exp, emu, model, sched, record, names, all_shapes, out_path, restart_path, None,
                 show)
    held = 0
    what = _what(exp, "params")
    if out_path is None:                    # the whole output is returned in memory
        held = int(plan.output_bytes())
        what += f", {_what(exp, 'run.length').split(': ')[-1]} (no output file)"
    check_memory(state_bytes, held, what)
    return plan


def _read_restart_from(exp: Experiment, path: Path) -> Restart:
    where = f"{exp.source}: " if exp.source else ""
    try:
        r = read_restart(path)
    except ConfigError as e:
        raise ConfigError(f"{where}{e}") from None
    if r.model != exp.model:
        raise ConfigError(f"{where}restart_from = {str(path)!r}: written by model {r.model!r}, "
                          f"not {exp.model!r}.")
    old = recorded_params(exp.model, tomllib.loads(r.config).get("params", {}))
    if old != exp.params:
        diff = sorted(k for k in set(old) | set(exp.params) if old.get(k) != exp.params.get(k))
        raise ConfigError(f"{where}restart_from = {str(path)!r}: its model parameters differ in "
                          f"{', '.join(diff)}; a restart continues the same model (precision "
                          "may differ).")
    return r


def _continue_dates(exp: Experiment, restart: Restart, path: Path) -> Experiment:
    """A run from a restart continues its dates: an unset [run] start or calendar takes the
    restart's; one set to another value is an error (the time axis would jump)."""
    from lowprec.harness.config import DEFAULT_CALENDAR, DEFAULT_START
    theirs = tomllib.loads(restart.config).get("run", {})
    changes = {}
    for key, default in (("start", DEFAULT_START), ("calendar", DEFAULT_CALENDAR)):
        mine = getattr(exp.run, key)
        if mine is None:
            changes[key] = theirs.get(key)
        elif mine != (theirs.get(key) or default):
            raise ConfigError(f"{exp.source + ': ' if exp.source else ''}run.{key} = {mine!r}: "
                              f"the restart {str(path)!r} continues a run whose {key} is "
                              f"{theirs.get(key) or default!r}; leave run.{key} unset to "
                              "continue its dates, or set the same value.")
    return exp.replace(run=replace(exp.run, **changes))


@dataclass
class _Start:
    """Where a run to a file starts: afresh, or resumed from its file and restart."""

    resume: Restart | None = None       # the output's own restart
    prior: dict[str, Any] | None = None     # the output's attributes
    legacy: xr.Dataset | None = None    # an output of the whole-file layout, to be rewritten
    fresh_file: bool = True             # the file at the path (if any) is replaced


def _resume_point(plan: _Plan, overwrite: bool, resume: bool) -> "_Start | xr.Dataset":
    """Resume the output's run (or return it, finished), or start afresh; refuse what differs."""
    exp, out = plan.exp, plan.out_path
    assert out is not None
    if not (resume and out.exists()):
        _check_output_paths(out, exp, overwrite)
        return _Start()
    try:
        attrs = _global_attributes(out)
    except (OSError, RuntimeError, ValueError) as e:
        if overwrite:
            return _Start()                 # asked to start afresh: it is replaced
        from lowprec.harness.store import _short_reason
        raise StorageError(f"resume {str(out)!r}: the output cannot be read ({_short_reason(e)}),"
                           " so it cannot be continued. Pass overwrite=True (--overwrite) to run "
                           "it again from the start, or move it away.") from None
    new = _identity(exp.to_dict())
    diff = []
    if "lowprec_config" in attrs:
        with_file = _identity(tomllib.loads(str(attrs["lowprec_config"])))
        diff = _differences(with_file, new)
    status = attrs.get("lowprec_status")
    if status in FINISHED:
        if not diff:
            return open_run(out, load=False, what="output")
        if not overwrite:
            raise ConfigError(f"resume {str(out)!r}: it is finished ({status}) but was run with "
                              "a different experiment: " + "; ".join(diff) + ". It is left as "
                              "it is. Resume with the same experiment, or pass overwrite=True "
                              "(--overwrite) to run this one in its place.")
        return _Start()
    _check_companion_owners(out, overwrite)
    own_restart = output_companions(out)[0]
    restart = read_restart(own_restart, key="resume: its restart") if own_restart.exists() else None
    if restart is not None and not diff:
        diff = _differences(_identity(tomllib.loads(restart.config)), new)
    if diff and not overwrite:
        raise ConfigError(f"resume {str(out)!r}: the experiment differs from the one that wrote "
                          "it in " + "; ".join(diff) + ". Resume with the same experiment, or pass "
                          "overwrite=True (--overwrite) to start afresh.")
    if diff:
        return _Start()                     # asked to start afresh
    rows = RunFile.rows_in(out).get("time", 0)
    if restart is None or restart.outputs > rows or restart.outputs == 0:
        return _Start()                     # no usable checkpoint: start afresh
    legacy = None if RunFile.appendable(out) else open_run(out, what="output")
    return _Start(restart, attrs, legacy, fresh_file=legacy is not None)


def _arithmetic(exp: Experiment) -> Any:
    """Plain numpy for float64 with fused compound operations; the emulator, or the native
    arithmetic (``precision.backend``), otherwise."""
    return make_arithmetic(exp)


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


# --------------------------------------------------------------------------------------------
# The run loop

@dataclass
class _Snapshot:
    """A finite state kept to return to: arrays (copies), step, emulator state."""

    arrays: dict[str, np.ndarray]
    step: int
    emu_state: dict[str, Any]


class _Run:
    """One run in progress: where it is, what it has recorded, what is saved (STYLE §17)."""

    def __init__(self, plan: _Plan, stops: StopSignals, start: _Start) -> None:
        self.plan, self.stops = plan, stops
        self.exp, self.model, self.emu, self.sched = plan.exp, plan.model, plan.emu, plan.sched
        self.out_path = plan.out_path
        self._begin(start)
        self.good: _Snapshot | None = None          # the state at the last output recorded
        self.last_finite: _Snapshot | None = None   # the last state checked finite
        self.blowup_step: int | None = None
        model, sched, exp = self.model, self.sched, self.exp
        self.step_time = model.dt if model.time_units == "1" else model.dt / DAY
        self.time_unit = "time units" if model.time_units == "1" else "days"
        first_output = self.start_step + self.spun + sched.interval_steps
        shapes = {n: np.shape(v) for n, v in model.diagnostics(self.state).items()
                  if n in plan.names}
        per_write = chunk = capacity = sched.n_outputs
        if self.out_path is not None:
            per_write, chunk = _write_sizes(shapes, sched)
            capacity = per_write
        self.outputs = Outputs(model, plan.names, shapes, sched.ratios, sched.time_dims,
                               first_output, sched.interval_steps, exp.precision.max_sbits <= 23,
                               per_write, capacity, _labels(exp, plan.record), chunk,
                               exp.run.time_encoding(),
                               total_rows=sched.n_outputs if self.out_path is not None else None)
        self.file: RunFile | None = None
        if start.resume is not None:
            self.outputs.restore(self.k, start.resume.sums)
        if start.legacy is not None:
            self.outputs.preload(self.k, start.legacy)
        if self.out_path is not None:
            self.file = RunFile(self.out_path, self.outputs.layout(), fresh=start.fresh_file)
        self.saved_k = self.k                       # outputs in the file and the restart
        self.restart_k = self.k if start.resume is not None else -1
        self.last_save = _time.monotonic()
        self.wrote_config = False
        self.finished: str | None = None            # the final status, once written
        self.bar = _RunProgress(f"{exp.model} sb{plan.record.sbits} {plan.record.mode} "
                                f"m{exp.run.member}",
                                first_output + sched.interval_steps * (sched.n_outputs - 1)
                                - self.start_step, step_time=self.step_time,
                                start_time=self.start_step * self.step_time,
                                time_unit=self.time_unit, enabled=plan.show,
                                earlier=self.step - self.start_step)

    def _begin(self, start: _Start) -> None:
        """The starting state: resumed from the output's restart, a restart file, or the seed."""
        plan, model, emu, sched = self.plan, self.model, self.emu, self.sched
        interval = sched.interval_steps
        if start.resume is not None:
            r = start.resume
            self.state = model.state_from_arrays(r.arrays)
            if r.emulator_state:            # float64 runs (plain numpy) have no emulator state
                emu.set_state(r.emulator_state)
            prior = start.prior or {}
            self.start_step = int(prior["lowprec_start_step"])
            self.spun = int(r.step - self.start_step - r.outputs * interval)   # spin-up done
            self.spinup_text = str(prior["lowprec_spinup"])
            self.step, self.k, self.spin = r.step, r.outputs, 0
        elif plan.restart is not None:
            r = plan.restart
            self.state = model.state_from_arrays(r.arrays)
            if r.emulator_state and _same_rounding_stream(r.config, self.exp):
                emu.set_state(r.emulator_state)     # after entering the state: counter exact
            self.start_step = self.step = r.step
            self.spin = self.spun = self.k = 0
            self.spinup_text = f"none (continued from {plan.restart_path} at step {r.step})"
        else:
            self.state = model.initial_state(member_seed(self.exp))
            self.start_step = self.step = self.k = 0
            self.spin = self.spun = sched.spinup_steps
            self.spinup_text = self.exp.run.spinup
        self.attrs = _provenance(self.exp, "running", self.spinup_text, self.start_step, sched,
                                 model.dt, plan.record, tuple(getattr(model, "SAMPLE_DIMS", ())))
        if plan.restart_path is not None:
            self.attrs["lowprec_restart_from"] = str(plan.restart_path)
        if start.resume is not None:
            history = str((start.prior or {}).get("history", ""))
            self.attrs["history"] = f"{history}\n{_now()} resumed at step {self.step}".strip()

    # -- the steps of the loop -----------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.blowup_step is None and self.k < self.sched.n_outputs

    def check_start(self) -> None:
        """A non-finite state to start from is a blow-up at this step."""
        if self._check() is None:
            self.blowup_step = self.step

    def spin_up(self) -> None:
        """The spin-up steps (discarded), checked every CHECK_EVERY steps."""
        for i in range(self.spin if self.blowup_step is None else 0):
            self.state = self.model.step(self.state)
            self.step += 1
            if (i + 1) % CHECK_EVERY == 0:
                self.stops.raise_pending()      # a signal dropped where it landed (interrupts)
                if self._check() is None:
                    self.blowup_step = self.step
                    return
                self.bar.update(self.step - self.start_step)

    def advance(self) -> None:
        """Model steps to the next output; a non-finite state stops the run (blowup_step)."""
        interval = self.sched.interval_steps
        model = self.model
        for j in range(interval):
            self.state = model.step(self.state)
            self.step += 1
            if (j + 1) % CHECK_EVERY == 0 and j + 1 < interval:
                self.stops.raise_pending()
                if self._check() is None:
                    self.blowup_step = self.step
                    return
                self.bar.update(self.step - self.start_step)
        self.stops.raise_pending()
        if self._check() is None:
            self.blowup_step = self.step

    def record(self) -> None:
        """A row of every output variable at this output; the running means add it."""
        if self.blowup_step is not None:
            return
        with self.stops.io():               # all or nothing: the snapshot matches the rows
            self.outputs.record(self.k, self.model.diagnostics(self.state))
            self.k += 1
            self.good = self.last_finite
        self.bar.update(self.step - self.start_step)

    def checkpoint_if_due(self) -> None:
        """Write the rows since the last checkpoint (and the restart) when due."""
        if self.file is None or not self.running:
            return
        every = self.sched.checkpoint_every
        due = (self.outputs.pending(self.k) >= self.outputs.rows_per_write
               or (every is not None and self.k - self.saved_k >= every)
               or (every is None and _time.monotonic() - self.last_save >= WALL_CHECKPOINT))
        if due:
            self.checkpoint("running")

    def finish(self) -> xr.Dataset:
        """The blow-up step found exactly, then the restart and the last rows with the status."""
        if self.blowup_step is not None:
            self.blowup_step = self._first_nonfinite_step(self.blowup_step)
        status = "complete" if self.blowup_step is None else "blown_up"
        if self.blowup_step is not None:
            self.attrs["lowprec_blowup_step"] = np.int64(self.blowup_step)
            self.attrs["lowprec_blowup_time"] = float(self.blowup_step * self.step_time)
        self.bar.close(self.step - self.start_step, status)
        if self.file is None:
            return self.outputs.dataset(self.k, dict(self.attrs, lowprec_status=status))
        # The restart before the output: an output marked finished has its final restart (a
        # kill between the two leaves the older output, status "running").
        self.checkpoint(status, final=True, restart_first=True)
        with self.stops.io():
            return open_run(self.out_path, load=False, what="output")

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint(self, status: str, *, final: bool = False, restart_first: bool = False,
                   extra: Mapping[str, Any] | None = None) -> None:
        """Append the rows since the last checkpoint (status set last), and write the restart.

        The output first, then its restart: a kill between them leaves an older restart that
        the newer output still covers (resume rewrites the rows after it, with the same values).
        """
        assert self.file is not None and self.out_path is not None
        own_restart, toml_path = output_companions(self.out_path)
        with self.stops.io():
            if not self.wrote_config:
                write_text_atomic(f"{RESOLVED_HEADER} (written by lowprec run; load it with "
                                  "lowprec.harness.config.load_config)\n" + self.exp.to_toml(),
                                  toml_path)
                if self.file.fresh and self.restart_k < 0:     # the replaced output's restart
                    own_restart.unlink(missing_ok=True)
                self.wrote_config = True
            if restart_first:
                self._write_restart(own_restart)
            attrs = dict(self.attrs, **(extra or {}), lowprec_status=status)
            self.file.write(self.outputs.block(self.k, attrs), final=final)
            if status in FINISHED:
                self.finished = status
            self.outputs.mark_written(self.k)
            if not restart_first:
                self._write_restart(own_restart)
            self.saved_k = self.k
            self.last_save = _time.monotonic()

    def _write_restart(self, path: Path) -> None:
        if self.good is None:
            if self.k == 0:
                path.unlink(missing_ok=True)    # a stale restart would not match this file
            return
        if self.restart_k == self.k:
            return
        g = self.good
        sums = dict(self.outputs.sums)
        write_restart(Restart(g.arrays, g.step, self.k, g.emu_state, self.exp.model,
                              self.exp.to_toml(), sums=sums), path,
                      restart_layout(self.model, g.step, sums, self.exp.run.time_encoding()))
        self.restart_k = self.k

    def save_what_is_complete(self, error: BaseException) -> None:
        """After Ctrl-C, SIGTERM or an error: the rows so far, status "interrupted", the restart."""
        self.stops.discard_pending()
        reason = getattr(error, "signal_name", None) or f"error: {type(error).__name__}: {error}"
        note = self._nothing_saved()
        if self.finished:                   # the signal came during the last write: it is done
            note = f"the run had just finished: {self.out_path} is {self.finished}."
        elif self.file is not None and self.k > 0:
            try:
                self.checkpoint("interrupted", final=True,
                                extra={"lowprec_interrupted_by": reason[:200]})
                note = self._saved("interrupted")
            except Exception as e:          # noqa: BLE001 - the original error matters more
                note = (f"saving on the way out failed ({type(e).__name__}: {e}); "
                        + self._saved("running"))
        if isinstance(error, STOPS):
            error.saved = note
        else:
            error.add_note(note)

    def storage_failure(self, error: StorageError) -> StorageError:
        """A write failed (disk full ...): say what is kept, one line."""
        first = str(error).rstrip(".")
        kept = self._saved("running") if self.saved_k else self._nothing_saved()
        if error.errno == errno.ENOSPC:
            kept = kept.replace("continue with", "free some space and continue with")
        return StorageError(error.errno, f"{first}. The run stopped at t = "
                            f"{self.step * self.step_time:g} {self.time_unit}; {kept}")

    def _saved(self, status: str) -> str:
        own_restart = output_companions(self.out_path)[0]
        if self.saved_k == 0:
            return self._nothing_saved()
        t = (self.outputs.first_output + (self.saved_k - 1) * self.sched.interval_steps) \
            * self.step_time
        return (f"saved: {self.out_path} holds {self.saved_k} outputs (to t = {t:g} "
                f"{self.time_unit}, lowprec_status = {status!r}) and {own_restart} the state "
                "there; continue with --resume (resume=True).")

    def _nothing_saved(self) -> str:
        when = ("during the spin-up" if self.step < self.start_step + self.spun
                else "before the first output")
        return f"nothing was saved (stopped {when}; no output file was written)."

    # -- finiteness ----------------------------------------------------------------------------
    def _check(self) -> dict[str, np.ndarray] | None:
        """The state's arrays if finite (remembered as the last finite state), else None."""
        arrays = self.model.state_arrays(self.state)
        if not all(np.isfinite(a).all() for a in arrays.values()):
            return None
        self.last_finite = _Snapshot(arrays, self.step, self.emu.get_state())
        return arrays

    def _first_nonfinite_step(self, noticed: int) -> int:
        """Re-step from the last finite state, checking every step, to when it blew up.

        Deterministic: the state and the stochastic-rounding counter are restored exactly.
        """
        if self.last_finite is None:
            return noticed
        s = self.last_finite
        state = self.model.state_from_arrays(s.arrays)
        if s.emu_state:
            self.emu.set_state(s.emu_state)     # after entering the state: counter exactly restored
        step = s.step
        with np.errstate(all="ignore"):
            while step < noticed:
                state = self.model.step(state)
                step += 1
                if not all(np.isfinite(a).all() for a in self.model.state_arrays(state).values()):
                    return step
        return noticed                          # not reproduced (cannot happen if deterministic)


def _write_sizes(shapes: Mapping[str, tuple[int, ...]], sched: "Schedule") -> tuple[int, int]:
    """(outputs buffered between writes, outputs per chunk along time) of a run to a file.

    The buffer is what fits in store.WRITE_BYTES with chunks under store.CHUNK_BYTES. Chunks
    are that long, unless checkpoints come more often (run.checkpoint_interval): then as long
    as a checkpoint's rows, but not shorter than an eighth of the buffer, so that a checkpoint
    appends whole chunks or rewrites at most one short last chunk of each variable. Both are
    whole numbers of the longest mean, so that every mean is complete at a write.
    """
    row_bytes = sum(8 * math.prod(s) for s in shapes.values())
    block = max((math.prod(chunk_shape(s, 1, sched.n_outputs)[1:]) for s in shapes.values()),
                default=1)
    aligned = sched.aligned_every
    per_write = rows_per_write(row_bytes, block, sched.n_outputs, aligned)
    chunk = per_write
    every = sched.checkpoint_every
    if every is not None and every < per_write:
        chunk = max(every, per_write // 8)
        chunk = min(per_write, -(-chunk // aligned) * aligned)      # a whole number of means
        per_write = max(chunk, per_write - per_write % chunk)
    return per_write, chunk


def _integrate(run: _Run) -> xr.Dataset:
    """The run loop, as a list of its steps."""
    try:
        with np.errstate(all="ignore"):
            run.check_start()                   # a non-finite state to start from
            run.spin_up()                       # discarded steps
            while run.running:                  # until every output, or a non-finite state
                run.advance()                   # model steps to the next output
                run.record()                    # a row of each output; running means
                run.checkpoint_if_due()         # rows appended to the file, then the restart
        return run.finish()                     # restart, then the last rows with the status
    except StorageError as e:
        raise run.storage_failure(e) from None
    except MemoryError:
        run.save_what_is_complete(MemoryError())
        raise ConfigError(f"{_what(run.exp, 'params')}: ran out of memory; "
                          f"{run._saved('interrupted') if run.saved_k else run._nothing_saved()}"
                          " Make the model smaller.") from None
    except BaseException as e:                  # Ctrl-C, SIGTERM and errors
        run.save_what_is_complete(e)
        raise


def run_member(exp: Experiment, path: str | Path, *, quiet: bool = True,
               progress: Callable[[ProgressInfo], Any] | None = None) -> str:
    """One run of a sweep to ``path``: resumes an interrupted run, skips a finished one.

    progress: called with the run's ProgressInfo as it goes (the sweep's progress lines).
    Returns the run's final status ("complete" or "blown_up").
    """
    with run(exp, path, resume=True, quiet=quiet, progress=progress) as ds:
        return str(ds.attrs["lowprec_status"])
