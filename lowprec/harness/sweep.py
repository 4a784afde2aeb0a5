"""Sweeps: every (sbits, mode, member) of an experiment, run on dask.distributed, resumable.

An experiment file's ``[sweep]`` section names the design (see :class:`SweepSpec`)::

    [sweep]
    sbits = [6, 8, 10, 12, 16, 23]   # or "6:23" or {start = 6, stop = 23, step = 1}; stop included
    modes = ["nearest", "stochastic"]
    controls = 5                      # M double-precision control members: 0 .. M-1
    members = 5                       # N competitor members: M .. M+N-1, at every (sbits, mode)
    null = true                       # also run the competitors in double precision: the null
    restarts = "spinup"               # optional: start member m from restart file number m

With ``restarts`` (a directory written by ``lowprec spinup``, or a list of restart files),
member ``m`` of every setting starts from the ``m``-th restart, sorted by date (its step), via
``[run] restart_from``: the state is the restart's, the precision the setting's, the spin-up is
not repeated, and stochastic rounding starts the member's own stream seeded by (seed, m). The
restarts must number at least controls + members (ConfigError otherwise).

Member ``m`` has the same initial condition at every setting (the run harness derives it from the
seed and ``m``), so the null and each setting are paired ensembles. The double-precision runs are
sbits 52, float64 exponent range, mode ``"nearest"``, no per-component formats.

Layout of a sweep directory::

    sweep.json    the manifest: design, base config, status of every run (error text if failed)
    sweep.toml    the resolved experiment
    runs/<model>_sb<sbits>_<mode>_m<member:03d>.nc    one CF netCDF file per run

Before anything is written or a cluster started, every distinct run's configuration is checked
as the run harness would (:func:`preflight`): a ConfigError names the run and the problem. A
design too small to validate (fewer than 2 controls or members, or too few members for p-values)
is run, with a warning on stderr. Paths handed to workers are absolute, so a relative output
directory works with workers of a remote scheduler started elsewhere.

A run is finished when its file exists with ``lowprec_status`` ``complete`` or ``blown_up``;
finished runs are never recomputed, so a killed sweep, started again, resumes. A run that raised
is recorded as ``failed`` with its error and is retried only when asked (``retry_failed``).

Progress (:mod:`lowprec.harness.sweep_progress`): runs report their steps as they go (a
callback when serial, dask events from the workers), so the sweep shows each running run's
fraction, the dashboard address of its cluster, and a speed and ETA measured from step rates.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import re
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from lowprec.errors import ConfigError
from lowprec.harness.sweep_progress import TOPIC as PROGRESS_TOPIC
from lowprec.harness.sweep_progress import SweepProgress

FLOAT64_SBITS = 52
CONTROL_MODE = "nearest"
FINISHED = ("complete", "blown_up")
SWEEP_KEYS = {
    "sbits": "list of significand bits (1..52), or a range: \"6:23\", \"6:23:2\", "
             "{start = 6, stop = 23, step = 1} (stop included)",
    "modes": "list of rounding modes",
    "members": "number of competitor members N (integer >= 1)",
    "controls": "number of double-precision control members M (integer >= 0)",
    "null": "true (default) runs the competitor members in double precision too: the null",
    "output": "default sweep directory for the command line (relative to the working directory)",
    "restarts": "a directory of restart files written by `lowprec spinup`, or a list of restart "
                "files: member m starts from the m-th, sorted by date",
}
MANIFEST = "sweep.json"
MANIFEST_EVERY = 2.0        # s: least time between manifest writes for runs that finished
RESOLVED_CONFIG = "sweep.toml"
RUNS = "runs"
SERIAL = ("serial", "synchronous", "sync")
SCHEDULER_TIMEOUT = 10      # s to connect to a scheduler address before giving up
RUN_NAME = re.compile(r"^(?P<model>\w+?)_sb(?P<sbits>\d+)_(?P<mode>[a-z_]+)_m(?P<member>\d{3,})\.nc$")


def _known_modes() -> tuple[str, ...]:
    try:
        from lowprec.rounding import MODES
        return tuple(MODES)
    except ImportError:                     # core not importable: the contract's list
        return ("nearest", "stochastic", "toward_zero", "upward", "downward")


# --------------------------------------------------------------------------------------------
# The [sweep] section

@dataclass(frozen=True)
class SweepSpec:
    """The design of a sweep: settings (sbits × modes), control and competitor members."""

    sbits: tuple[int, ...]
    modes: tuple[str, ...]
    members: int                 # N competitor members
    controls: int                # M control members
    null: bool = True
    output: str | None = None
    restarts: str | tuple[str, ...] | None = None   # a directory, or restart files

    @property
    def control_members(self) -> list[int]:
        return list(range(self.controls))

    @property
    def competitor_members(self) -> list[int]:
        return list(range(self.controls, self.controls + self.members))

    def runs(self, model: str) -> list["RunKey"]:
        """Every run of the design, in the order they are submitted (double precision first)."""
        keys: dict[tuple[int, str, int], RunKey] = {}
        double = (FLOAT64_SBITS, CONTROL_MODE)
        for m in self.control_members:
            keys[(*double, m)] = RunKey(model, *double, m, "control")
        if self.null:
            for m in self.competitor_members:
                keys[(*double, m)] = RunKey(model, *double, m, "null")
        for s in self.sbits:
            for mode in self.modes:
                for m in self.competitor_members:
                    keys.setdefault((s, mode, m), RunKey(model, s, mode, m, "competitor"))
        return list(keys.values())

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"sbits": list(self.sbits), "modes": list(self.modes),
                             "members": self.members, "controls": self.controls, "null": self.null}
        if self.output is not None:
            d["output"] = self.output
        if self.restarts is not None:
            d["restarts"] = self.restarts if isinstance(self.restarts, str) else list(self.restarts)
        return d

    @property
    def n_members(self) -> int:
        """Members of the design: controls + competitors (restarts needed, with ``restarts``)."""
        return self.controls + self.members


def _where(source: str | None, key: str) -> str:
    return f"{source + ': ' if source else ''}[sweep] {key}"


def _int(value: Any, key: str, source: str | None, low: int, high: int | None = None) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        allowed = f"an integer {low}..{high}" if high is not None else f"an integer >= {low}"
        raise ConfigError(f"{_where(source, key)} = {value!r}: must be {allowed}")
    return int(value)


def _parse_sbits(value: Any, source: str | None) -> tuple[int, ...]:
    where = _where(source, "sbits")
    if isinstance(value, str):
        parts = value.split(":")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) not in (2, 3):
            raise ConfigError(f"{where} = {value!r}: a range is written \"start:stop\" or "
                              "\"start:stop:step\" with integers, stop included (e.g. \"6:23\")")
        value = dict(zip(("start", "stop", "step"), numbers))
    if isinstance(value, Mapping):
        unknown = set(value) - {"start", "stop", "step"}
        if unknown or not {"start", "stop"} <= set(value):
            raise ConfigError(f"{where} = {dict(value)!r}: a range table has keys start, stop "
                              "(included) and optionally step, e.g. {start = 6, stop = 23, step = 1}")
        start = _int(value["start"], "sbits.start", source, 1, FLOAT64_SBITS)
        stop = _int(value["stop"], "sbits.stop", source, 1, FLOAT64_SBITS)
        step = _int(value.get("step", 1), "sbits.step", source, 1)
        if stop < start:
            raise ConfigError(f"{where}: stop {stop} < start {start}; the range would be empty")
        value = list(range(start, stop + 1, step))
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{where} = {value!r}: must be {SWEEP_KEYS['sbits']}")
    for s in value:
        _int(s, "sbits", source, 1, FLOAT64_SBITS)
    return tuple(sorted({int(s) for s in value}))


def parse_sweep(section: Mapping[str, Any] | None, source: str | None = None) -> SweepSpec:
    """Validate a ``[sweep]`` table; ConfigError names the key, the value and what is allowed.

    ``source`` (a file name) prefixes the messages.
    """
    if section is None:
        raise ConfigError(f"{source + ': ' if source else ''}no [sweep] section; a sweep needs one, "
                          "e.g. [sweep] sbits = [8, 10, 23], modes = [\"nearest\", \"stochastic\"], "
                          "controls = 5, members = 5")
    if isinstance(section, SweepSpec):
        return section
    if not isinstance(section, Mapping):
        raise ConfigError(f"{_where(source, '')}: expected a table, got {section!r}")
    unknown = sorted(set(section) - set(SWEEP_KEYS))
    if unknown:
        allowed = "; ".join(f"{k}: {v}" for k, v in SWEEP_KEYS.items())
        raise ConfigError(f"{_where(source, unknown[0])}: unknown key (allowed: {allowed})")
    for key in ("sbits", "modes", "members", "controls"):
        if key not in section:
            raise ConfigError(f"{_where(source, key)} is missing: {SWEEP_KEYS[key]}")
    sbits = _parse_sbits(section["sbits"], source)
    modes_value = section["modes"]
    if isinstance(modes_value, str):
        modes_value = [modes_value]
    known = _known_modes()
    if not isinstance(modes_value, (list, tuple)) or not modes_value:
        raise ConfigError(f"{_where(source, 'modes')} = {modes_value!r}: a list of modes from "
                          f"{list(known)}")
    for mode in modes_value:
        if mode not in known:
            raise ConfigError(f"{_where(source, 'modes')}: {mode!r} is not a rounding mode "
                              f"(allowed: {', '.join(known)})")
    modes = tuple(dict.fromkeys(modes_value))
    members = _int(section["members"], "members", source, 1)
    controls = _int(section["controls"], "controls", source, 0)
    null = section.get("null", True)
    if not isinstance(null, bool):
        raise ConfigError(f"{_where(source, 'null')} = {null!r}: must be true or false")
    output = section.get("output")
    if output is not None and not isinstance(output, str):
        raise ConfigError(f"{_where(source, 'output')} = {output!r}: must be a directory path string")
    restarts = section.get("restarts")
    if restarts is not None:
        if isinstance(restarts, (list, tuple)) and restarts and all(
                isinstance(r, str) and r for r in restarts):
            restarts = tuple(restarts)
        elif not (isinstance(restarts, str) and restarts):
            raise ConfigError(f"{_where(source, 'restarts')} = {restarts!r}: must be "
                              f"{SWEEP_KEYS['restarts']}")
    return SweepSpec(sbits, modes, members, controls, null, output, restarts)


def sweep_restarts(spec: SweepSpec, exp: Any) -> list[Path] | None:
    """The restart files of a sweep's members (index = member), or None without ``restarts``.

    ConfigError when there are fewer than controls + members, or a restart is of another model
    or other model parameters.
    """
    if spec.restarts is None:
        return None
    from lowprec.harness.spinup import find_restarts
    source = getattr(exp, "source", None)
    where = _where(source, "restarts")
    files = find_restarts(spec.restarts, model=exp.model, params=exp.params, where=where)
    if len(files) < spec.n_members:
        raise ConfigError(f"{where} = {spec.restarts!r}: {len(files)} restart file(s), but the "
                          f"sweep needs {spec.n_members}, one per member (controls {spec.controls} "
                          f"+ members {spec.members}). Write more with `lowprec spinup CONFIG "
                          "--output DIR --restart-every ...`, or run fewer members.")
    return [f.resolve() for f in files]


# --------------------------------------------------------------------------------------------
# Runs and the manifest

@dataclass(frozen=True)
class RunKey:
    """One run of a sweep: a model at (sbits, mode) for one member; ``role`` in the design."""

    model: str
    sbits: int
    mode: str
    member: int
    role: str = "competitor"     # "control" | "null" | "competitor"

    @property
    def name(self) -> str:
        return f"{self.model}_sb{self.sbits}_{self.mode}_m{self.member:03d}"

    @property
    def filename(self) -> str:
        return self.name + ".nc"


@dataclass
class SweepResult:
    """What a sweep did: counts, and the runs that failed or blew up (from the manifest)."""

    outdir: Path
    total: int
    computed: int
    skipped: int
    failed: list[dict] = field(default_factory=list)
    blown_up: list[dict] = field(default_factory=list)
    pending: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.pending

    def summary(self) -> str:
        lines = [f"sweep {self.outdir}: {self.total} runs; computed {self.computed}, "
                 f"already finished {self.skipped}, failed {len(self.failed)}, "
                 f"blown up {len(self.blown_up)}"
                 + (f", not run {self.pending}" if self.pending else "")]
        for r in self.blown_up:
            lines.append(f"  blown up: {r['name']} at step {r.get('blowup_step')}")
        for r in self.failed:
            lines.append(f"  FAILED:   {r['name']}: {r.get('error')}")
        if self.failed:
            lines.append("  (failed runs are retried with --retry-failed / retry_failed=True)")
        return "\n".join(lines)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(obj: Any, path: Path) -> None:
    """Write JSON under a temporary name, then rename: readers see the old or the new file."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


def read_manifest(outdir: Path | str) -> dict | None:
    """The sweep manifest (``sweep.json``) of a sweep directory, or None if there is none.

    ConfigError (one line) when it is not valid JSON: a truncated or edited file.
    """
    path = Path(outdir) / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("runs", {}), dict):
            raise ValueError("not a lowprec sweep manifest (no table of runs)")
    except (OSError, ValueError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ConfigError(f"{path}: cannot be read ({reason}). It is the sweep's record of its "
                          "runs: restore it, or delete it (lowprec sweep finds the finished runs "
                          "again from their files; failed runs are then run again).") from None
    return manifest


def run_file_status(path: Path) -> tuple[str | None, int | None]:
    """(lowprec_status, lowprec_blowup_step) of a run file, or (None, None) if unreadable/absent."""
    status, step, _ = run_file_state(path)
    return (None if status == "unreadable" else status), step


def run_file_state(path: Path) -> tuple[str | None, int | None, str | None]:
    """(status, blowup step, why unreadable) of a run file: status None when it is absent,
    "unreadable" when it is not a readable netCDF file (truncated, corrupt)."""
    if not path.exists():
        return None, None, None
    try:
        import netCDF4
        with netCDF4.Dataset(path) as nc:
            attrs = {k: nc.getncattr(k) for k in nc.ncattrs()}
    except Exception as e:                  # noqa: BLE001 - a truncated or foreign file
        from lowprec.harness.store import _short_reason
        return "unreadable", None, _short_reason(e)
    step = attrs.get("lowprec_blowup_step")
    try:
        step = int(step) if step is not None and int(step) >= 0 else None
    except (TypeError, ValueError):
        step = None
    status = attrs.get("lowprec_status")
    return (str(status) if status is not None else None), step, None


@contextlib.contextmanager
def _sweep_lock(outdir: Path) -> Iterator[None]:
    """One sweep at a time per directory (``.sweep.lock``, removed when the sweep ends)."""
    from lowprec.harness.store import output_lock
    try:
        with output_lock(outdir / ".sweep", what="sweep"):
            yield
    except ConfigError as e:
        if "another sweep" not in str(e):
            raise
        raise ConfigError(f"{outdir} is in use by another running sweep; wait for it to finish "
                          "or use another output directory") from None


# --------------------------------------------------------------------------------------------
# Experiments for each run

def _load_experiment(config: Any, overrides: dict | None = None) -> Any:
    from lowprec.harness.config import Experiment, load_config
    if isinstance(config, Experiment) and not overrides:
        return config
    return load_config(config, overrides)


def experiment_for(exp: Any, key: RunKey, restarts: list[Path] | None = None) -> Any:
    """The experiment of one run: the base experiment at the key's format, mode and member.

    With ``restarts`` (index = member), the run starts from ``restarts[key.member]``.
    """
    if key.sbits == FLOAT64_SBITS and key.mode == CONTROL_MODE:
        precision = _replace_fields(exp.precision, sbits=FLOAT64_SBITS, ebits=None, mode=CONTROL_MODE,
                                    components=_empty_like(exp.precision.components))
    else:
        precision = _replace_fields(exp.precision, sbits=key.sbits, mode=key.mode)
    run = _replace_fields(exp.run, member=key.member)
    if restarts is not None:
        run = _replace_fields(run, restart_from=os.path.abspath(restarts[key.member]))
    elif getattr(run, "restart_from", None):
        # absolute: a worker of a remote scheduler runs in another working directory
        run = _replace_fields(run, restart_from=os.path.abspath(run.restart_from))
    return dataclasses.replace(exp, precision=precision, run=run, sweep=None)


def preflight(exp: Any, keys: list[RunKey], restarts: list[Path] | None = None,
              outdir: Path | None = None) -> None:
    """Check every distinct run's configuration as the run harness would, without integrating.

    For each (sbits, mode) of ``keys``: the run's experiment is validated again
    (``load_config``), its arithmetic and model are built and its durations converted to steps
    (``lowprec.harness.run.schedule``), the checks ``run`` does before its first step. With
    ``outdir``, a run's output path must be a file or absent. ConfigError names the run and the
    problem; nothing is written.
    """
    from lowprec.harness.config import load_config, make_emulator, make_model
    from lowprec.harness.run import schedule
    where = getattr(exp, "source", None)
    prefix = f"{where}: " if where else ""
    seen: set[tuple[int, str]] = set()
    for key in keys:
        if outdir is not None:
            path = outdir / RUNS / key.filename
            if path.exists() and not path.is_file():
                what = "a directory" if path.is_dir() else "not a regular file"
                raise ConfigError(f"{path} is {what}, where run {key.name} writes its output "
                                  "file; move it away (or delete it) and start the sweep again.")
        if (key.sbits, key.mode) in seen:
            continue
        seen.add((key.sbits, key.mode))
        run_exp = experiment_for(exp, key, restarts)
        try:
            checked = load_config(run_exp)
            emu = (None if checked.precision.is_float64 and checked.precision.policy == "fused"
                   else make_emulator(checked))
            model = make_model(checked, emu)
            schedule(checked, model.dt, model.time_units, getattr(model, "OUTPUTS", None))
            declared = tuple(getattr(emu, "declared_components", None)
                             or getattr(model, "COMPONENTS", ()))
            undeclared = sorted(set(checked.precision.components) - set(declared))
            if undeclared:
                raise ConfigError(f"precision.components.{undeclared[0]}: model "
                                  f"{checked.model!r} does not use a component "
                                  f"{undeclared[0]!r}; its components are: "
                                  f"{', '.join(declared) or '(none)'}")
        except Exception as e:              # noqa: BLE001 - every reason a run cannot start
            text = str(e)
            if where and text.startswith(prefix):
                text = text[len(prefix):]
            text = text.rstrip(". ")
            if not isinstance(e, ConfigError):
                text = f"{type(e).__name__}: {text}"
            raise ConfigError(f"{prefix}run {key.name} (sbits {key.sbits}, mode {key.mode!r}) "
                              f"cannot start: {text}. No run was started; fix the experiment "
                              "(or the --set values) and start the sweep again.") from e


def restart_spacing_warning(exp: Any, restarts: list[Path] | None, n_members: int) -> str | None:
    """A warning when the members' restarts lie closer together than a run is long (else None).

    A float64 member continues the spin-up's own trajectory bit for bit, so members started
    from restarts ``gap`` steps apart share all but ``gap`` steps of their series: the
    double-vs-double null then measures that overlap, not the spread the weather gives.
    """
    if not restarts or n_members < 2:
        return None
    import netCDF4

    from lowprec.harness.config import make_model
    from lowprec.harness.run import schedule
    steps = []
    for f in restarts[:n_members]:
        with netCDF4.Dataset(f) as nc:
            steps.append(int(nc.getncattr("lowprec_restart_step")))
    gap = min(b - a for a, b in zip(steps, steps[1:]))
    model = make_model(exp)
    sched = schedule(exp, model.dt, model.time_units)
    length = sched.interval_steps * sched.n_outputs
    if gap >= length:
        return None
    return (f"[sweep] restarts: the members start {gap} steps apart, but a run is {length} steps "
            f"long ({exp.run.length}); a float64 member continues the spin-up's trajectory bit "
            "for bit, so the double-precision members share most of their series and the null "
            "measures that overlap, not the weather's spread (every setting then looks "
            "significant). Space the restarts at least a run length apart (`lowprec spinup "
            "--restart-every`).")


def check_axes(exp: Any, spec: SweepSpec) -> None:
    """Refuse a sweep whose sbits (or modes) axis would vary nothing the model computes.

    When every component of the model overrides ``sbits`` ([precision.components.NAME]), the
    runs at sbits 6, 8, 10 ... are all computed at the components' sbits, and their files
    would be filed under sbits values they never used; the same for ``mode``. A single-valued
    axis whose value some component uses labels its runs truthfully and passes (a tune's
    combined configuration: every component set, filed under the widest reduced sbits).
    """
    from lowprec.harness.config import get_model_class
    cls = get_model_class(exp.model, getattr(exp, "source", None) or "")
    declared = tuple(getattr(cls, "COMPONENTS", ()))
    prefix = f"{exp.source}: " if getattr(exp, "source", None) else ""
    for key in exp.precision.fixed_by_overrides(declared):
        axis = "sbits" if key == "sbits" else "modes"
        values = list(spec.sbits) if key == "sbits" else list(spec.modes)
        used = {exp.precision.components[n][key] for n in declared}
        if len(values) == 1 and values[0] in used:
            continue    # one run label that some component does use (a tune's combined probe)
        overrides = ", ".join(f"[precision.components.{n}] {key} = "
                              f"{exp.precision.components[n][key]!r}" for n in declared)
        raise ConfigError(f"{prefix}[sweep] {axis} = {values}: would vary nothing: every component "
                          f"of model {exp.model!r} overrides {key} ({overrides}), so every run "
                          f"would be computed at those and filed under {key} values it never "
                          f"used. Remove the {key} override of at least one component (the ones "
                          "left follow the sweep), or drop the overrides.")


def design_warnings(spec: SweepSpec, alpha: float = 0.05) -> list[str]:
    """Why a sweep's runs could not be validated as they stand (empty: they can).

    Validation needs at least 2 control and 2 competitor members and the double-precision
    null; the permutation test's smallest p-value with N members is 1/C(2N, N), which must not
    exceed ``alpha``.
    """
    import math
    out = []
    if spec.controls < 2:
        out.append(f"[sweep] controls = {spec.controls}: `lowprec validate` needs at least 2 "
                   "double-precision control members (the paper used 5); the runs are computed, "
                   "but cannot be validated until controls >= 2 (finished runs are kept).")
    if spec.members < 2:
        out.append(f"[sweep] members = {spec.members}: `lowprec validate` needs at least 2 "
                   "competitor members; the runs are computed, but cannot be validated until "
                   "members >= 2 (finished runs are kept).")
    smallest = 1 / math.comb(2 * spec.members, spec.members)
    if spec.members >= 2 and smallest > alpha:
        out.append(f"[sweep] members = {spec.members}: the permutation test's smallest p-value "
                   f"is 1/C({2 * spec.members}, {spec.members}) = {smallest:.3g} > alpha = "
                   f"{alpha}, so validation can give distances but no p-values (use members >= 3, "
                   "or `lowprec validate --no-pvalues`).")
    if not spec.null:
        out.append("[sweep] null = false: no double-precision runs of the competitor members, "
                   "so `lowprec validate` has no null to compare with.")
    return out


def _replace_fields(obj: Any, **changes: Any) -> Any:
    names = {f.name for f in dataclasses.fields(obj)}
    return dataclasses.replace(obj, **{k: v for k, v in changes.items() if k in names})


def _empty_like(components: Any) -> Any:
    if components is None:
        return None
    return type(components)() if isinstance(components, (dict, tuple, list)) else None


def _base_fingerprint(exp: Any) -> str:
    """The experiment minus its sweep design: runs of one sweep directory must share it."""
    return dataclasses.replace(exp, sweep=None).to_toml()


def config_differences(old_toml: str, new_toml: str) -> list[str]:
    """The dotted keys where two experiment TOML texts differ: "key: OLD there, NEW here"."""
    import tomllib

    def flat(text: str) -> dict[str, Any]:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return {"<text>": text}
        out: dict[str, Any] = {}

        def walk(d: Mapping, prefix: str) -> None:
            for k, v in d.items():
                if isinstance(v, Mapping) and v:
                    walk(v, f"{prefix}{k}.")
                else:
                    out[f"{prefix}{k}"] = v
        walk(data, "")
        return out

    old, new = flat(old_toml), flat(new_toml)
    missing = object()

    def show(v: Any) -> str:
        return "(not set)" if v is missing else repr(v)
    return [f"{k}: {show(old.get(k, missing))} there, {show(new.get(k, missing))} here"
            for k in sorted(set(old) | set(new)) if old.get(k, missing) != new.get(k, missing)]


def _sweep_section(exp: Any) -> Any:
    section = getattr(exp, "sweep", None)
    if section is None and isinstance(getattr(exp, "raw", None), Mapping):
        section = exp.raw.get("sweep")
    return section


def _run_one(exp: Any, path: str, name: str = "", report: Any = None) -> dict:
    """A worker's task: one run to ``path``; exceptions come back as text, not as objects.

    report: where the run's progress goes (sweep_progress.reporter: a callable in this process,
    or a dask event topic on a worker); None: nowhere.
    """
    from lowprec.harness.run import run_member
    from lowprec.harness.sweep_progress import reporter
    start = time.perf_counter()
    try:
        status = run_member(exp, Path(path), progress=reporter(name, report))
        error = tb = None
    except BaseException as e:              # noqa: BLE001 - recorded, reported, not swallowed
        if isinstance(e, (KeyboardInterrupt, SystemExit)):     # Ctrl-C, SIGTERM: stop the sweep
            raise
        status, error = "failed", f"{type(e).__name__}: {e}"
        tb = traceback.format_exc(limit=-8)
    return {"status": str(status), "error": error, "traceback": tb,
            "seconds": round(time.perf_counter() - start, 3)}


# --------------------------------------------------------------------------------------------
# Execution

def _connect(scheduler: Any) -> Any:
    """A Client on a scheduler address (None for other schedulers): one line if unreachable."""
    if not isinstance(scheduler, str) or scheduler in SERIAL or scheduler == "local":
        return None
    from distributed import Client
    try:
        return Client(scheduler, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as e:
        reason = str(e).strip() or type(e).__name__
        raise ConfigError(f"scheduler {scheduler!r}: cannot connect ({reason}); nothing was "
                          "written. Is a dask scheduler running there (`dask scheduler`)? Omit "
                          "the scheduler for a LocalCluster, or use 'serial'.") from None


@contextlib.contextmanager
def _client(scheduler: Any, workers: int | None, n_tasks: int) -> Iterator[Any]:
    """A dask.distributed Client: a given one, one on a scheduler address, or a LocalCluster."""
    from distributed import Client, LocalCluster
    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler is None or scheduler == "local":
        n = workers or min(os.cpu_count() or 1, max(n_tasks, 1))
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            yield client
        return
    if not isinstance(scheduler, str):
        raise ConfigError(f"scheduler = {scheduler!r}: use None (a LocalCluster), 'serial', an "
                          "address such as 'tcp://host:8786', or a distributed.Client")
    with Client(scheduler) as client:
        yield client


def _execute(tasks: list[tuple[RunKey, Any, Path]], scheduler: Any, workers: int | None,
             progress: SweepProgress) -> Iterator[tuple[RunKey, dict]]:
    """Yield (key, outcome) as runs finish, serially or on a dask cluster; the runs' progress
    reports go to ``progress`` (dask events from the workers, on a topic of this sweep's own)."""
    if not tasks:
        return
    if isinstance(scheduler, str) and scheduler in SERIAL:
        for key, exp, path in tasks:
            yield key, _run_one(exp, str(path), key.name, progress.receive)
        return
    from distributed import as_completed
    with _client(scheduler, workers, len(tasks)) as client:
        if client.dashboard_link:
            progress.note(f"dask dashboard at {client.dashboard_link}")
        topic = f"{PROGRESS_TOPIC}-{uuid.uuid4().hex}"
        client.subscribe_topic(topic, lambda event: progress.receive(event[1]))
        futures = {}
        for key, exp, path in tasks:
            future = client.submit(_run_one, exp, str(path), key.name, topic, pure=False,
                                   retries=0, key=f"lowprec-{key.name}-{uuid.uuid4().hex}")
            futures[future] = key
        try:
            for future in as_completed(futures):
                key = futures[future]
                try:
                    outcome = future.result()
                except Exception as e:      # the worker died (killed, out of memory ...)
                    outcome = {"status": "failed", "error": f"{type(e).__name__}: {e}",
                               "traceback": None, "seconds": None}
                yield key, outcome
        finally:
            client.cancel(list(futures))
            client.unsubscribe_topic(topic)


def sweep(config: Any, outdir: Path | str, *, scheduler: Any = None, workers: int | None = None,
          quiet: bool = False, retry_failed: bool = False, overrides: dict | None = None,
          on_run_done: Callable[[RunKey, dict], None] | None = None) -> SweepResult:
    """Run every (sbits, mode, member) of an experiment's ``[sweep]`` design into ``outdir``.

    config: TOML path, TOML text, dict, or a loaded Experiment (with a ``[sweep]`` section).
    scheduler: None (a LocalCluster of ``workers`` processes, one thread each), "serial"
        (in this process, one run after the other), a scheduler address ("tcp://host:8786"),
        or a ``distributed.Client``. Results are bitwise the same whichever is used.
    retry_failed: also rerun runs recorded as failed (by default they are reported, not rerun).
    on_run_done: called with (key, outcome) after each run is recorded in the manifest.

    Finished runs (file present with status complete or blown_up) are skipped. Returns a
    :class:`SweepResult`; failures are in it and in ``outdir/sweep.json``, never raised away.

    Raises ConfigError, before writing anything, when a run's configuration cannot run (see
    :func:`preflight`), and when ``outdir`` holds run files of another experiment (the message
    lists the keys that differ). A ``sweep.json`` of another experiment without any run file
    (e.g. every run failed) is started again for this one.
    """
    exp = _load_experiment(config, overrides)
    spec = parse_sweep(_sweep_section(exp), getattr(exp, "source", None))
    restarts = sweep_restarts(spec, exp)   # checked before anything is written
    shown = Path(outdir)
    # Workers of a remote scheduler run in another working directory: every path they are
    # handed (run outputs, restart files, [run] restart_from) is absolute.
    outdir = Path(os.path.abspath(outdir))
    keys = spec.runs(exp.model)
    check_axes(exp, spec)                   # an sbits or modes axis that varies nothing
    preflight(exp, keys, restarts, outdir)  # every run's config, before a file or a cluster
    for line in design_warnings(spec):     # even when quiet: a sweep nobody can validate
        print(f"warning: {line}", file=sys.stderr, flush=True)
    overlap = restart_spacing_warning(exp, restarts, spec.n_members)
    if overlap:
        print(f"warning: {overlap}", file=sys.stderr, flush=True)
    client = _connect(scheduler)            # an address: reachable before anything is written
    try:
        return _run_sweep(exp, spec, keys, restarts, outdir, shown, client or scheduler, workers,
                          quiet, retry_failed, on_run_done)
    finally:
        if client is not None:
            client.close()


def _run_sweep(exp: Any, spec: SweepSpec, keys: list[RunKey], restarts: list[Path] | None,
               outdir: Path, shown: Path, scheduler: Any, workers: int | None, quiet: bool,
               retry_failed: bool, on_run_done: Callable[[RunKey, dict], None] | None,
               ) -> SweepResult:
    """The sweep's runs under its lock: manifest, the runs to do, executed, recorded."""
    (outdir / RUNS).mkdir(parents=True, exist_ok=True)
    with _sweep_lock(outdir):
        manifest = _open_manifest(outdir, exp, spec, keys)
        if restarts is not None:
            manifest["design"]["restart_files"] = [str(f) for f in restarts]
        for stale in (outdir / RUNS).glob("*.partial"):
            stale.unlink()                  # left by a killed write; under the lock, nobody writes it
        todo, skipped, failed_before = [], 0, 0
        for key in keys:
            record = manifest["runs"][key.name]
            status, step = run_file_status(outdir / RUNS / key.filename)
            if status in FINISHED:
                record.update(status=status, blowup_step=step, error=None, traceback=None)
                skipped += 1
            elif record["status"] == "failed" and not retry_failed:
                skipped += 1
                failed_before += 1
            else:
                todo.append((key, experiment_for(exp, key, restarts), outdir / RUNS / key.filename))
        write_json_atomic(manifest, outdir / MANIFEST)

        progress = _progress(exp, f"{exp.model} ({shown})", len(keys), skipped, todo, quiet)
        if not quiet and skipped:
            print(f"sweep {exp.model} ({shown}): {skipped - failed_before} of {len(keys)} runs "
                  f"already finished, {failed_before} failed before (not retried without "
                  f"retry_failed); running {len(todo)}", file=sys.stderr, flush=True)
        last_write = time.monotonic()
        try:
            for key, outcome in _execute(todo, scheduler, workers, progress):
                record = manifest["runs"][key.name]
                status = outcome["status"]
                step = None
                if status != "failed":
                    status_in_file, step = run_file_status(outdir / RUNS / key.filename)
                    if status_in_file not in FINISHED:
                        status = "failed"
                        outcome["error"] = (f"run_member returned {outcome['status']!r} but the file "
                                            f"says lowprec_status={status_in_file!r}")
                record.update(status=status, error=outcome.get("error"),
                              traceback=outcome.get("traceback"), seconds=outcome.get("seconds"),
                              finished=_now(), blowup_step=step,
                              attempts=record.get("attempts", 0) + 1)
                manifest["updated"] = _now()
                # Failures are written at once; finished runs at most every MANIFEST_EVERY seconds
                # (their files are the record: a rerun reads their status from the files).
                if status == "failed" or time.monotonic() - last_write >= MANIFEST_EVERY:
                    write_json_atomic(manifest, outdir / MANIFEST)
                    last_write = time.monotonic()
                progress.finished(key.name, status)
                if on_run_done is not None:
                    on_run_done(key, record)
        finally:
            write_json_atomic(manifest, outdir / MANIFEST)

    runs = [dict(manifest["runs"][k.name], name=k.name) for k in keys]
    result = SweepResult(
        outdir=shown, total=len(keys), computed=progress.computed, skipped=skipped,
        failed=[r for r in runs if r["status"] == "failed"],
        blown_up=[r for r in runs if r["status"] == "blown_up"],
        pending=sum(r["status"] not in (*FINISHED, "failed") for r in runs))
    if not quiet or result.failed:
        print(result.summary(), file=sys.stderr, flush=True)
    return result


def _progress(exp: Any, label: str, total: int, skipped: int,
              todo: list[tuple[RunKey, Any, Path]], quiet: bool) -> SweepProgress:
    """The sweep's progress lines, knowing each run's steps before it starts."""
    from lowprec.harness.config import make_model
    from lowprec.harness.run import schedule
    model = make_model(exp)
    steps = {}
    for key, run_exp, _ in todo:
        sched = schedule(run_exp, model.dt, model.time_units)
        from_restart = getattr(run_exp.run, "restart_from", None) is not None
        steps[key.name] = (sched.interval_steps * sched.n_outputs if from_restart
                           else sched.total_steps)      # a run from a restart has no spin-up
    physical = model.time_units != "1"
    return SweepProgress(label, total, skipped, steps,
                         step_seconds=model.dt if physical else None, step_time=model.dt,
                         quiet=quiet)


def _open_manifest(outdir: Path, exp: Any, spec: SweepSpec, keys: list[RunKey]) -> dict:
    """Read or start the manifest; refuse a directory that holds another experiment's sweep."""
    from lowprec import __version__
    fingerprint = _base_fingerprint(exp)
    manifest = read_manifest(outdir)
    if manifest is None:
        manifest = {"lowprec_version": __version__, "model": exp.model, "created": _now(),
                    "base_config": fingerprint, "runs": {}}
    elif manifest.get("base_config") != fingerprint:
        diffs = config_differences(manifest.get("base_config", ""), fingerprint)
        run_files = sorted(p.name for p in (outdir / RUNS).glob("*.nc") if RUN_NAME.match(p.name))
        if run_files:
            raise ConfigError(
                f"{outdir} holds a sweep of a different experiment ({'; '.join(diffs)}), with "
                f"{len(run_files)} run file(s) in {outdir / RUNS}; only the [sweep] section may "
                "change between runs of one sweep directory. Use another --output directory, "
                "or, to discard those runs, delete the directory and start again.")
        # No run ever wrote a file here (e.g. every run failed): nothing is lost by starting the
        # manifest again with this experiment.
        print(f"{outdir}: {MANIFEST} was of a different experiment ({'; '.join(diffs)}) with no "
              "run files; starting it again with this experiment", file=sys.stderr, flush=True)
        manifest = {"lowprec_version": __version__, "model": exp.model, "created": _now(),
                    "base_config": fingerprint, "runs": {}}
    manifest["design"] = {**spec.to_dict(), "control_members": spec.control_members,
                          "competitor_members": spec.competitor_members}
    manifest["updated"] = _now()
    for key in keys:
        record = manifest["runs"].setdefault(key.name, {"status": "pending", "attempts": 0})
        record.update(sbits=key.sbits, mode=key.mode, member=key.member, role=key.role,
                      file=f"{RUNS}/{key.filename}")
    from lowprec.harness.store import write_text_atomic
    write_text_atomic(exp.to_toml(), outdir / RESOLVED_CONFIG)
    return manifest


# --------------------------------------------------------------------------------------------
# Reading a sweep back

def open_sweep(path: Path | str, *, skip_unreadable: bool = False) -> "xr.Dataset":  # noqa: F821
    """One Dataset of a whole sweep: dims (sbits, mode, member, time, <model dims>).

    Variables written at a longer interval keep their own time dimension (``time_1d``, with its
    bounds ``time_1d_bounds`` as a coordinate). Runs are aligned along every time dimension by
    output number; the time coordinate is that of the longest
    run (with ``[sweep] restarts`` members start at different dates, and the coordinate is one
    of them). NaN where a (sbits, mode, member) was not run (or failed); runs stored as float32 are
    promoted to float64 (exactly). Lazy: each run file is read by dask when computed.
    Variables ``status`` (str: complete, blown_up, failed, pending, or absent = not in the
    design) and ``blowup_step`` (step of the first non-finite state, -1 if none) have dims
    (sbits, mode, member). Attributes ``lowprec_control_members`` and
    ``lowprec_competitor_members`` give the design; the common ``lowprec_*`` attributes of
    the run files (model, spin-up, ...) are kept.

    ValidationInputError (lowprec.errors) when a run file does not belong with the others: another
    model or ``[params]`` than ``sweep.json`` says, another (sbits, mode, member) than its name,
    or other variables or units than the first file (see :func:`check_run_files`); and when a
    run file cannot be read (truncated, corrupt), naming it, unless ``skip_unreadable``: then
    that run's status is ``unreadable`` (its values NaN) and the attribute
    ``lowprec_unreadable_files`` lists them. A run that blew up before its first row of some
    variable has no such variable (``lowprec_absent_variables``): NaN there.
    """
    import dask.array as da
    import xarray as xr

    from lowprec.harness.store import as_time

    outdir = Path(path)
    if not outdir.is_dir():
        raise FileNotFoundError(f"{outdir}: no such sweep directory")
    manifest = read_manifest(outdir) or {"runs": {}, "design": {}}
    entries: dict[tuple[int, str, int], dict] = {}
    for rec in manifest["runs"].values():
        entries[(int(rec["sbits"]), rec["mode"], int(rec["member"]))] = dict(rec)
    for f in sorted((outdir / RUNS).glob("*.nc")):
        m = RUN_NAME.match(f.name)
        if m:
            k = (int(m["sbits"]), m["mode"], int(m["member"]))
            entries.setdefault(k, {"status": "pending"})["file"] = f"{RUNS}/{f.name}"
    if not entries:
        raise FileNotFoundError(f"{outdir}: no runs (no {MANIFEST} and no {RUNS}/*.nc files); "
                                "run `lowprec sweep CONFIG.toml --output DIR` first")

    opened: dict[tuple[int, str, int], xr.Dataset] = {}
    files: dict[tuple[int, str, int], Path] = {}
    unreadable: list[str] = []
    for k, rec in sorted(entries.items()):
        file = outdir / rec.get("file", f"{RUNS}/none")
        status, step, why = run_file_state(file)
        if status == "unreadable":
            unreadable.append(f"{file} ({why})")
            rec["status"] = "unreadable"
        elif status in FINISHED:
            opened[k], files[k] = as_time(_open_lazily(file)), file
            rec["status"], rec["blowup_step"] = status, step
        elif rec.get("status") in FINISHED:
            rec["status"] = "pending"       # manifest said finished but the file is gone
    if unreadable and not skip_unreadable:
        from lowprec.errors import ValidationInputError
        raise ValidationInputError(
            f"{len(unreadable)} run file(s) of {outdir} unreadable: "
            + "; ".join(unreadable) + ". Delete them and run `lowprec sweep` again to compute "
            "them again, or go on without them (skip_unreadable=True; `lowprec validate "
            "--skip-unreadable`).")
    if not opened:
        raise FileNotFoundError(f"{outdir}: no finished run files yet in {outdir / RUNS}")
    check_run_files(outdir, manifest, opened, files)

    mode_order = list(dict.fromkeys([CONTROL_MODE, *manifest.get("design", {}).get("modes", []),
                                     *sorted({k[1] for k in entries})]))
    sbits = sorted({k[0] for k in entries})
    modes = [m for m in mode_order if any(k[1] == m for k in entries)]
    members = sorted({k[2] for k in entries})

    longest = max(opened.values(), key=lambda d: d.sizes.get("time", 0))
    template = longest.drop_vars([v for v in ("sbits", "mode", "member") if v in longest.variables])
    for name in ("sbits", "mode", "member"):
        if name in template.dims:
            raise ValueError(f"run files have a dimension named {name!r}, which a sweep uses; "
                             "rename the model's dimension")
    time_dims = [d for d in template.dims if str(d).startswith("time")]
    time_coords = {d: template[d] for d in time_dims if d in template.variables}

    def run_array(k: tuple[int, str, int], name: str) -> Any:
        var = template[name]
        ds = opened.get(k)
        if ds is None or name not in ds:    # not run, or blown up before this variable's first row
            return da.full(var.shape, np.nan, dtype=np.float64, chunks=var.shape)
        data = ds[name].transpose(*var.dims).data.astype(np.float64)
        time_dim = next((d for d in var.dims if d in time_dims), None)
        if time_dim is not None and data.shape != var.shape:
            # a shorter (blown-up) run: NaN after its last output. Aligned by output number, not
            # by date: members started from different restarts have different dates.
            axis = var.dims.index(time_dim)
            if data.shape[axis] == 0:
                return da.full(var.shape, np.nan, dtype=np.float64, chunks=var.shape)
            pad = list(var.shape)
            pad[axis] -= data.shape[axis]
            data = da.concatenate([data, da.full(pad, np.nan, dtype=np.float64, chunks=pad)], axis)
        return data

    data_vars = {}
    for name, var in template.data_vars.items():
        if not np.issubdtype(var.dtype, np.number):
            continue
        stacked = da.stack([da.stack([da.stack([run_array((s, mo, me), name) for me in members])
                                      for mo in modes]) for s in sbits])
        data_vars[name] = (("sbits", "mode", "member") + var.dims, stacked, dict(var.attrs))

    status = np.full((len(sbits), len(modes), len(members)), "absent", dtype=object)
    blowup = np.full(status.shape, -1, dtype=np.int64)
    for (s, mo, me), rec in entries.items():
        i, j, k = sbits.index(s), modes.index(mo), members.index(me)
        status[i, j, k] = rec.get("status", "pending")
        if rec.get("blowup_step") is not None:
            blowup[i, j, k] = int(rec["blowup_step"])
    setting = ("sbits", "mode", "member")
    data_vars["status"] = (setting, status.astype(str), {
        "long_name": "status of the run: complete, blown_up, failed, pending, absent"})
    data_vars["blowup_step"] = (setting, blowup, {
        "long_name": "time step at which the state became non-finite (-1: none)"})

    coords = {name: c for name, c in template.coords.items() if name not in setting}
    for c in time_coords.values():      # CF bounds of averaged time axes (cftime: not numbers)
        if c.attrs.get("bounds") in template.data_vars:
            coords[c.attrs["bounds"]] = template[c.attrs["bounds"]]
    coords.update(
        sbits=("sbits", np.array(sbits, dtype=np.int64), {"long_name": "explicit significand bits"}),
        mode=("mode", np.array(modes, dtype=str), {"long_name": "rounding mode"}),
        member=("member", np.array(members, dtype=np.int64), {"long_name": "ensemble member"}))
    out = xr.Dataset(data_vars, coords=coords)
    if time_coords:
        out = out.assign_coords(time_coords)

    per_run = {"lowprec_sbits", "lowprec_ebits", "lowprec_mode", "lowprec_member", "lowprec_seed",
               "lowprec_status", "lowprec_blowup_step", "lowprec_config", "lowprec_subnormals"}
    common = dict(longest.attrs)
    for ds in opened.values():
        for a in list(common):
            if a in per_run or a not in ds.attrs or not _same(ds.attrs[a], common[a]):
                common.pop(a)
    design = manifest.get("design", {})
    controls = design.get("control_members")
    competitors = design.get("competitor_members")
    if controls is None:                    # no manifest: what the files show
        competitors = sorted({k[2] for k in opened if k[:2] != (FLOAT64_SBITS, CONTROL_MODE)})
        controls = [m for m in members if m not in competitors]
    out.attrs.update(common)
    out.attrs["title"] = f"lowprec sweep of {common.get('lowprec_model', 'a model')}: {outdir}"
    out.attrs["lowprec_control_members"] = [int(m) for m in controls]
    out.attrs["lowprec_competitor_members"] = [int(m) for m in competitors]
    out.attrs["lowprec_sweep"] = str(outdir)
    if unreadable:
        out.attrs["lowprec_unreadable_files"] = "; ".join(unreadable)
    return out


def _file_params(ds: Any) -> dict | None:
    import tomllib
    try:
        return tomllib.loads(str(ds.attrs.get("lowprec_config", ""))).get("params", {})
    except tomllib.TOMLDecodeError:
        return None


def _open_lazily(file: Path) -> Any:
    """The run file as a dask-backed Dataset, with a small HDF5 chunk cache per variable.

    A validator reads each chunk once (validation.ensemble: blocks of whole chunks), so the
    library's default cache (64 MiB per variable and open file: gigabytes for a sweep's files,
    growing with the number of runs) would only hold memory. store.COLUMN_BYTES per variable
    still holds a column of a chunk's points over a long run, for blocks smaller than a chunk.
    The setting applies to files opened while it is set: the previous default is restored.

    Dask chunks: the file's chunks in space, the whole run in time (the unlimited dimensions the
    run appended along): a column of a chunk over the run, at most about store.COLUMN_BYTES. A
    dask chunk per file chunk made ~800 000 chunks per variable for a 10-year T31 sweep, whose
    task graph alone held 2.6 GB (BENCHMARKS.md, B8); the validator's blocks are whole space
    chunks with every time anyway.
    """
    import netCDF4
    import xarray as xr

    from lowprec.harness.store import COLUMN_BYTES
    with netCDF4.Dataset(file) as nc:
        whole = {name: -1 for name, dim in nc.dimensions.items() if dim.isunlimited()}
    previous = netCDF4.get_chunk_cache()
    netCDF4.set_chunk_cache(COLUMN_BYTES, previous[1], previous[2])
    try:
        return xr.open_dataset(file, chunks=whole)
    finally:
        netCDF4.set_chunk_cache(*previous)


def check_run_files(outdir: Path, manifest: Mapping, opened: Mapping[tuple[int, str, int], Any],
                    files: Mapping[tuple[int, str, int], Path]) -> None:
    """Refuse run files that do not belong to one sweep (ValidationInputError, naming the file).

    Every file must have the model and ``[params]`` of the sweep (``sweep.json``; without
    one, of the first file), the (sbits, mode, member) its name says, and the first file's
    variables with their units. A run copied in from another experiment is caught here rather
    than as a missing variable later.
    """
    from lowprec.errors import ValidationInputError
    first = max(opened, key=lambda k: len(opened[k].data_vars))
    ref_ds, ref_file = opened[first], files[first]
    model, params, source = manifest.get("model"), None, f"{outdir / MANIFEST}"
    if manifest.get("base_config"):
        import tomllib
        with contextlib.suppress(tomllib.TOMLDecodeError):
            params = tomllib.loads(manifest["base_config"]).get("params", {})
    if model is None:
        model, source = ref_ds.attrs.get("lowprec_model"), f"{ref_file}"
    if params is None:
        params, params_source = _file_params(ref_ds), f"{ref_file}"
    else:
        params_source = source
    units = {name: var.attrs.get("units") for name, var in ref_ds.data_vars.items()}
    advice = (f"It does not belong to the sweep in {outdir}: move it out of {outdir / RUNS} "
              "(or rerun that run with `lowprec sweep`)")
    for k, ds in opened.items():
        file, attrs = files[k], ds.attrs
        problems = []
        if attrs.get("lowprec_model") != model:
            problems.append(f"model {attrs.get('lowprec_model')!r}, not {model!r} ({source})")
        own = _file_params(ds)
        if own != params:
            if own is None or params is None:
                problems.append(f"[params] unreadable (lowprec_config), compared with {params_source}")
            else:
                keys = sorted(p for p in set(own) | set(params) if own.get(p) != params.get(p))
                problems.append("[params] differ from " + params_source + ": " + ", ".join(
                    f"{p} = {own.get(p)!r} here, {params.get(p)!r} there" for p in keys))
        said = {"lowprec_sbits": k[0], "lowprec_mode": k[1], "lowprec_member": k[2]}
        for attr, expected in said.items():
            value = attrs.get(attr)
            if value is not None and str(value) != str(expected):
                problems.append(f"{attr} = {str(value)!r}, but its name says {str(expected)!r}")
        # a run that blew up before a variable's first row has none (store: no empty axes)
        names = set(ds.data_vars) | set(str(attrs.get("lowprec_absent_variables", "")).split())
        if names != set(units):
            extra, absent = sorted(names - set(units)), sorted(set(units) - names)
            problems.append(f"variables differ from {ref_file.name}'s"
                            + (f"; it lacks {absent}" if absent else "")
                            + (f"; it has {extra} besides" if extra else ""))
        else:
            for name in sorted(set(ds.data_vars)):
                if ds[name].attrs.get("units") != units[name]:
                    problems.append(f"{name!r} has units {ds[name].attrs.get('units')!r}, "
                                    f"{ref_file.name} {units[name]!r}")
        if problems:
            raise ValidationInputError(f"{file}: " + "; ".join(problems) + f". {advice}.")


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.all(np.asarray(a) == np.asarray(b)))
    except Exception:
        return False


def plan(config: Any, overrides: dict | None = None) -> list[RunKey]:
    """The runs a sweep of ``config`` would do, without running anything."""
    exp = _load_experiment(config, overrides)
    return parse_sweep(_sweep_section(exp)).runs(exp.model)

