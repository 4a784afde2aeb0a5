"""`lowprec tune`: the fewest significand bits each precision component needs, found by probes.

For every component a model declares (or those named) and every rounding mode, a search over
sbits (:mod:`lowprec.harness.tune_search`: a coarse ladder, then bisection where the response
is monotone, a fine scan where it is not) with the other components in double precision. Each
*probe* is a small sweep on the existing machinery (:func:`lowprec.sweep`): N members at one
sbits, started like the double-precision control and null runs (the same restarts, the same
seeds), scored by the validator (:func:`validation.evaluate`: global W1 per member) and its
exact permutation test (:func:`validation.permutation_pvalues`) at the level that keeps the
family-wise error rate of the whole tune at α (tune_search's docstring says how). Then, per
mode, the combined mixed-precision configuration is validated the same way; where it fails, a bit
is added to the component with the largest standardised excess, until it passes.

An experiment file with a ``[tune]`` section (every key optional)::

    [tune]
    components = ["tendencies", "prognostic"]   # default: every component the model declares
    modes = ["nearest", "stochastic"]           # default: both
    sbits = "4:23"              # candidates low:high, inclusive (or {start = 4, stop = 23})
    coarse_step = 4             # spacing of the coarse ladder
    controls = 5                # M double-precision controls (default: [sweep] controls, else 5)
    members = 8                 # N members of every probe and of the null (default: [sweep]
                                # members, else the fewest whose smallest p-value reaches the level)
    restarts = "spinup-dir"     # members start from `lowprec spinup` restarts (default: [sweep])
    alpha = 0.05                # family-wise error rate of the whole tune
    variables = ["u", "v"]      # scored outputs (default: every output the runs write)
    spinup = 0                  # leading outputs the validator discards
    combined_attempts = 4       # most validations of the combined configuration, per mode
    output = "tune-dir"         # default output directory of the command line

The config's ``[precision]`` keeps its seed, policy, ebits and subnormals; its sbits, mode and
components are the tuner's to set. Components not tuned stay in double precision throughout.
Code outside every component (none in the bundled models; the design check looks) runs at the
probe's sbits, and in the combined runs at the widest tuned format.

Layout of the output directory::

    tune.json                       state: design, every probe's statistics and verdict
    tune.toml                       the resolved experiment, with its [tune] section
    double/                         the control and null runs: a sweep, made once
    probes/<component>/<mode>/<step>/   one sweep per step of a search (coarse, bisect_sb<s>,
                                    fine), the double runs linked into its runs/
    combined/<mode>/attempt<k>/     one sweep per combined configuration
    tune.nc                         every probe's statistics (CF-1.11)
    precision_<mode>.toml           the ready [precision.components] block of each mode
    report.md, report/*.png         the report and its figures

Resumable as sweeps are: a probe's result is written to tune.json as soon as it is validated, and
a rerun replays the searches from it (each search is a function of its verdicts), so no finished
probe is recomputed and a probe killed half-way resumes its sweep (finished runs are kept).
Distributed as sweeps are: one dask cluster for the whole tune (``scheduler`` as in
:func:`lowprec.sweep`); each step of a search (a coarse ladder or fine scan: all its probes)
is one sweep whose runs spread over the cluster.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from lowprec.errors import ConfigError, LowprecError
from lowprec.harness import tune_search
from lowprec.harness.tune_search import SearchRange

FLOAT64_SBITS = 52
CONTROL_MODE = "nearest"
STATE = "tune.json"
RESOLVED = "tune.toml"
MAX_RELABELLINGS = 200_000       # exact permutation test up to N = 10 members (C(20, 10) = 184756)
SERIAL = ("serial", "synchronous", "sync")
TUNE_KEYS = {
    "components": "list of the model's precision components to tune (default: all it declares)",
    "modes": "list of rounding modes (default [\"nearest\", \"stochastic\"])",
    "sbits": "candidate sbits \"low:high\" (inclusive, 1 <= low <= high <= 51) or "
             "{start = 4, stop = 23}; default \"4:23\"",
    "coarse_step": "spacing of the coarse ladder, an integer >= 1 (default 4)",
    "controls": "double-precision control members M >= 2 (default: [sweep] controls, else 5)",
    "members": "members N of each probe and of the null, >= 2 (default: [sweep] members, else "
               "the fewest that can reach the test level)",
    "restarts": "restart directory or files of `lowprec spinup` (default: [sweep] restarts)",
    "alpha": "family-wise error rate of the whole tune, 0 < alpha < 1 (default 0.05)",
    "variables": "list of outputs to score (default: every output the runs write)",
    "spinup": "leading outputs the validator discards, an integer >= 0 (default 0)",
    "combined_attempts": "validations of the combined configuration per mode, >= 1 (default 4)",
    "output": "default output directory of the command line",
}


class TuneError(LowprecError, RuntimeError):
    """A tune that cannot go on (runs of a probe failed)."""


# --------------------------------------------------------------------------------------------
# The [tune] section

@dataclass(frozen=True)
class TuneSpec:
    """The design of a tune (the ``[tune]`` section, resolved)."""

    components: tuple[str, ...]
    modes: tuple[str, ...]
    range: SearchRange
    controls: int
    members: int
    restarts: str | tuple[str, ...] | None
    alpha: float
    variables: tuple[str, ...]
    spinup: int = 0
    combined_attempts: int = 4
    output: str | None = None

    @property
    def searches(self) -> list[tuple[str, str]]:
        """(component, mode) of every search, in a fixed order."""
        return [(c, m) for m in self.modes for c in self.components]

    @property
    def n_tests(self) -> int:
        """T: the most tests the tune can make (the Bonferroni family)."""
        return tune_search.family_size(len(self.searches), len(self.range.candidates),
                                       len(self.modes), self.combined_attempts)

    @property
    def level(self) -> float:
        """Each variable's p-value in each test is compared with this: α / (T·V)."""
        return tune_search.variable_level(self.alpha, self.n_tests, len(self.variables))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "components": list(self.components), "modes": list(self.modes),
            "sbits": f"{self.range.low}:{self.range.high}", "coarse_step": self.range.coarse_step,
            "controls": self.controls, "members": self.members, "alpha": self.alpha,
            "variables": list(self.variables), "spinup": self.spinup,
            "combined_attempts": self.combined_attempts}
        if self.restarts is not None:
            d["restarts"] = self.restarts if isinstance(self.restarts, str) else list(self.restarts)
        if self.output is not None:
            d["output"] = self.output
        return d


def _where(source: str | None, key: str) -> str:
    return f"{source + ': ' if source else ''}[tune] {key}"


def _int(value: Any, key: str, source: str | None, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{_where(source, key)} = {value!r}: must be {TUNE_KEYS[key]}")
    return int(value)


def _names(value: Any, key: str, source: str | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{_where(source, key)} = {value!r}: must be {TUNE_KEYS[key]}; "
                          f"allowed: {', '.join(allowed)}")
    for name in value:
        if name not in allowed:
            raise ConfigError(f"{_where(source, key)}: {name!r} is not one of {', '.join(allowed)}")
    return tuple(dict.fromkeys(value))


def _range(value: Any, source: str | None) -> tuple[int, int]:
    where = _where(source, "sbits")
    if isinstance(value, str):
        parts = value.split(":")
        try:
            value = {"start": int(parts[0]), "stop": int(parts[1])} if len(parts) == 2 else None
        except ValueError:
            value = None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        value = {"start": value[0], "stop": value[1]}
    if not isinstance(value, Mapping) or set(value) != {"start", "stop"}:
        raise ConfigError(f"{where} = {value!r}: must be {TUNE_KEYS['sbits']}")
    low, high = value["start"], value["stop"]
    ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (low, high))
    if not ok or not 1 <= low <= high <= 51:
        raise ConfigError(f"{where} = {low!r}:{high!r}: must be {TUNE_KEYS['sbits']} (52 is "
                          "double precision, where every component passes)")
    return int(low), int(high)


def parse_tune(section: Mapping[str, Any] | None, exp: Any, model_cls: type,
               source: str | None = None) -> TuneSpec:
    """Validate a ``[tune]`` table against the experiment ``exp`` and its model class.

    ConfigError names the key, the value and what is allowed. ``members`` absent here and in
    ``[sweep]`` becomes the fewest that can reach the test level.
    """
    section = dict(section or {})
    if not isinstance(section, Mapping):
        raise ConfigError(f"{_where(source, '')}: expected a table, got {section!r}")
    unknown = sorted(set(section) - set(TUNE_KEYS))
    if unknown:
        allowed = "; ".join(f"{k}: {v}" for k, v in TUNE_KEYS.items())
        raise ConfigError(f"{_where(source, unknown[0])}: unknown key (allowed: {allowed})")
    sweep = exp.sweep or {}
    declared = tuple(getattr(model_cls, "COMPONENTS", ()))
    if not declared:
        raise ConfigError(f"{source + ': ' if source else ''}model {exp.model!r} declares no "
                          "precision components (COMPONENTS), so there is nothing to tune")
    components = _names(section.get("components", list(declared)), "components", source, declared)
    from lowprec.harness.config import MODES
    modes = _names(section.get("modes", ["nearest", "stochastic"]), "modes", source, MODES)
    low, high = _range(section.get("sbits", "4:23"), source)
    step = _int(section.get("coarse_step", 4), "coarse_step", source, 1)
    controls = _int(section.get("controls", sweep.get("controls", 5)), "controls", source, 2)
    outputs = [o.name for o in getattr(model_cls, "OUTPUTS", ())]
    written = tuple(exp.run.variables or outputs)
    variables = _names(section.get("variables", list(written)), "variables", source, written)
    alpha = section.get("alpha", 0.05)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ConfigError(f"{_where(source, 'alpha')} = {alpha!r}: must be {TUNE_KEYS['alpha']}")
    spinup = _int(section.get("spinup", 0), "spinup", source, 0)
    attempts = _int(section.get("combined_attempts", 4), "combined_attempts", source, 1)
    restarts = section.get("restarts", sweep.get("restarts"))
    if restarts is not None and not (isinstance(restarts, str) and restarts) and not (
            isinstance(restarts, (list, tuple)) and restarts
            and all(isinstance(r, str) and r for r in restarts)):
        raise ConfigError(f"{_where(source, 'restarts')} = {restarts!r}: must be "
                          f"{TUNE_KEYS['restarts']}")
    output = section.get("output")
    if output is not None and not isinstance(output, str):
        raise ConfigError(f"{_where(source, 'output')} = {output!r}: a directory path string")
    spec = TuneSpec(components, modes, SearchRange(low, high, step), controls, 2,
                    tuple(restarts) if isinstance(restarts, list) else restarts, float(alpha),
                    variables, spinup, attempts, output)
    members = section.get("members", sweep.get("members"))
    if members is None:                 # the fewest that can reject at the level
        members = tune_search.members_needed(spec.level, MAX_RELABELLINGS) or 64
    members = _int(members, "members", source, 2)
    return dataclasses.replace(spec, members=members)


def _read_raw(config: Any) -> tuple[dict, str | None]:
    """The experiment as a plain dict (a TOML path, TOML text or a dict) and its source name."""
    import tomllib
    if isinstance(config, Mapping):
        return copy.deepcopy(dict(config)), None
    if isinstance(config, Path) or (isinstance(config, str) and "\n" not in config
                                     and "=" not in config
                                     and (config.endswith(".toml") or Path(config).is_file())):
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"{path}: no such experiment file")
        try:
            return tomllib.loads(path.read_text()), str(path)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
    if isinstance(config, str):
        try:
            return tomllib.loads(config), None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"tune config text is not valid TOML ({e}), and not a .toml file") from None
    raise ConfigError(f"tune config {config!r}: give a TOML path, TOML text or a dict")


def load_tune(config: Any, overrides: Mapping[str, Any] | None = None) -> tuple[Any, TuneSpec]:
    """(experiment without [sweep], tune design) of a tune config; ``overrides`` are dotted keys
    (``{"tune.members": 6, "params.nx": 20}``)."""
    from lowprec.harness.config import get_model_class, load_config
    raw, source = _read_raw(config)
    for key, value in (overrides or {}).items():
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key} = {value!r}: {part} is not a table")
        node[parts[-1]] = value
    section = raw.pop("tune", None)
    if section is not None and not isinstance(section, Mapping):
        raise ConfigError(f"{_where(source, '')} = {section!r}: must be a table ([tune] section)")
    exp = load_config(raw)
    exp = dataclasses.replace(exp, source=source)
    spec = parse_tune(section, exp, get_model_class(exp.model, source or ""), source)
    return exp, spec


# --------------------------------------------------------------------------------------------
# The experiments of the sweeps

def _pinned(exp: Any) -> dict[str, Any]:
    """A component in double precision: 52 sbits, and float64's exponent range."""
    return {"sbits": FLOAT64_SBITS} if exp.precision.ebits is None else {
        "sbits": FLOAT64_SBITS, "ebits": 11, "subnormals": True}


def sweep_config(exp: Any, spec: TuneSpec, components: Mapping[str, Any], sbits: list[int],
                 modes: list[str]) -> dict[str, Any]:
    """The experiment dict of one sweep: ``components`` set as given, every other declared
    component in double precision, the [sweep] design of the tune."""
    from lowprec.harness.config import get_model_class
    declared = get_model_class(exp.model).COMPONENTS
    d = dataclasses.replace(exp, sweep=None).to_dict()
    d["precision"].update(sbits=FLOAT64_SBITS, mode=CONTROL_MODE)
    d["precision"].pop("components", None)
    comps = {c: dict(components[c]) if c in components else _pinned(exp) for c in declared}
    if comps:
        d["precision"]["components"] = comps
    d["sweep"] = {"sbits": sorted(sbits), "modes": list(modes), "controls": spec.controls,
                  "members": spec.members, "null": True}
    if spec.restarts is not None:
        d["sweep"]["restarts"] = spec.restarts if isinstance(spec.restarts, str) else list(spec.restarts)
    return d


def probe_config(exp: Any, spec: TuneSpec, component: str, sbits: list[int], mode: str) -> dict:
    """One search's sweep: ``component`` at the sweep's sbits and mode, the others in double."""
    return sweep_config(exp, spec, {component: {}}, sbits, [mode])


def combined_base(components: Mapping[str, int]) -> int | None:
    """The base sbits of a combined run: the widest reduced component (None: all double)."""
    reduced = [s for s in components.values() if s < FLOAT64_SBITS]
    return max(reduced) if reduced else None


def combined_config(exp: Any, spec: TuneSpec, components: Mapping[str, int], mode: str) -> dict:
    """The combined configuration's sweep: every tuned component at its sbits, in ``mode``."""
    base = combined_base(components)
    table = {c: ({"sbits": s} if s < FLOAT64_SBITS else _pinned(exp)) for c, s in components.items()}
    return sweep_config(exp, spec, table, [base], [mode])


def double_config(exp: Any, spec: TuneSpec) -> dict:
    """The double-precision controls and null: a sweep of sbits 52, mode nearest only."""
    return sweep_config(exp, spec, {}, [FLOAT64_SBITS], [CONTROL_MODE])


def _probe_experiment(exp: Any, spec: TuneSpec, components: Mapping[str, Any], sbits: int,
                      mode: str) -> Any:
    """One run's experiment as a sweep would make it (base format ``sbits``, ``mode``)."""
    from lowprec.harness.config import load_config
    d = sweep_config(exp, spec, components, [sbits], [mode])
    d.pop("sweep")
    d["precision"].update(sbits=sbits, mode=mode)
    return load_config(d)


# --------------------------------------------------------------------------------------------
# The design check

TIMING_SECONDS = 0.3        # least wall time of a step-rate measurement
TIMING_STEPS = 200          # most steps of one


@dataclass
class DesignCheck:
    """What a tune's design can show and what it costs, found before any run starts."""

    n_tests: int                    # T, the Bonferroni family
    n_variables: int                # V
    alpha: float
    level: float                    # α / (T·V)
    members: int                    # N
    controls: int                   # M
    smallest_p: float               # of the permutation test with N members
    members_needed: int | None      # the fewest N with smallest_p <= level
    steps_per_run: int
    seconds_per_step: dict[str, float]      # "double", and "<component>/<mode>" for each search
    runs_expected: int              # if every search is monotone and the first combined passes
    runs_at_most: int
    core_seconds_expected: float
    core_seconds_at_most: float
    workers: int | None             # for the wall-time estimate (None: unknown)
    outside_components: bool        # arithmetic outside the declared components changes results

    @property
    def ok(self) -> bool:
        return self.smallest_p <= self.level

    def problem(self) -> str:
        need = (f"members >= {self.members_needed}" if self.members_needed
                else "more members than 64, or a larger alpha")
        return (f"[tune] members = {self.members}: the permutation test's smallest p-value is "
                f"{self.smallest_p:.3g}, above the level {self.level:.3g} = alpha {self.alpha} / "
                f"(T = {self.n_tests} tests x V = {self.n_variables} variables), so no probe could "
                f"ever fail and the tune would choose the fewest bits whatever the model does. "
                f"Use {need} (--set tune.members=N), or fewer tests: a narrower [tune] sbits range, "
                "fewer components, modes or variables, or fewer combined_attempts.")

    def summary(self) -> str:
        wall = ""
        if self.workers:
            wall = (f"; about {_hms(self.core_seconds_expected / self.workers)} of wall time on "
                    f"{self.workers} worker(s) (at most {_hms(self.core_seconds_at_most / self.workers)})")
        rates = ", ".join(f"{k} {v * 1e3:.3g} ms" for k, v in self.seconds_per_step.items())
        lines = [
            f"design check: {self.n_tests} tests x {self.n_variables} variable(s) at family-wise "
            f"error rate {self.alpha}: each p-value is compared with {self.level:.3g}; "
            f"N = {self.members} members reach p >= {self.smallest_p:.3g}: "
            + ("OK" if self.ok else "NOT ENOUGH"),
            f"design check: cost: {self.steps_per_run} steps per run; per step {rates}; "
            f"{self.runs_expected} runs expected (at most {self.runs_at_most}), "
            f"{_hms(self.core_seconds_expected)} core time (at most "
            f"{_hms(self.core_seconds_at_most)}){wall}",
        ]
        if self.outside_components:
            lines.append("design check: WARNING: the model computes outside its declared "
                         "components (a run with the base format at 2 sbits and every component "
                         "in double differs from one at 51 sbits): that code runs at each probe's "
                         "sbits, so a probe does not test its component alone")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _seconds_per_step(exp: Any) -> float:
    """Wall seconds per model step under ``exp``'s arithmetic (after one warm-up step)."""
    from lowprec.harness.config import make_emulator, make_model, member_seed
    p = exp.precision
    model = make_model(exp, None if p.is_float64 and p.policy == "fused" else make_emulator(exp))
    state = model.step(model.initial_state(member_seed(exp)))      # compiles, fills caches
    n, start = 0, time.perf_counter()
    while n < 2 or (time.perf_counter() - start < TIMING_SECONDS and n < TIMING_STEPS):
        state = model.step(state)
        n += 1
    return (time.perf_counter() - start) / n


def _computes_outside_components(exp: Any, spec: TuneSpec) -> bool:
    """True when a few steps differ between base formats of 2 and 51 sbits, every declared
    component in double precision: then some arithmetic is outside every component."""
    from lowprec.harness.config import make_emulator, make_model, member_seed
    states = []
    for sbits in (2, 51):
        e = _probe_experiment(exp, spec, {}, sbits, CONTROL_MODE)
        model = make_model(e, make_emulator(e))
        state = model.initial_state(member_seed(e))
        for _ in range(3):
            state = model.step(state)
        states.append(model.state_arrays(state))
    a, b = states
    return any(not np.array_equal(np.asarray(a[k]).view(np.uint64), np.asarray(b[k]).view(np.uint64))
               for k in a)


def check_design(config: Any, spec: TuneSpec | None = None, *, workers: int | None = None,
                 overrides: Mapping[str, Any] | None = None) -> DesignCheck:
    """The design check: can the test reach its level, and what will the tune cost?

    ``config`` is a tune config (or an experiment with ``spec``). Measures the step rate of the
    model in double precision and in every search's probe configuration (a few steps each), and
    checks whether the model computes outside its declared components. Runs nothing else.
    """
    from lowprec.harness.config import get_model_class
    from lowprec.harness.run import schedule
    exp = config
    if spec is None:
        exp, spec = load_tune(config, overrides)
    cls = get_model_class(exp.model)
    sched = schedule(exp, cls(cls.Params(**exp.params)).dt, cls.time_units,
                     getattr(cls, "OUTPUTS", None))
    steps = sched.total_steps - (sched.spinup_steps if spec.restarts is not None else 0)
    rates = {"double": _seconds_per_step(_probe_experiment(exp, spec, {}, FLOAT64_SBITS,
                                                           CONTROL_MODE))}
    middle = (spec.range.low + spec.range.high) // 2
    for c, m in spec.searches:
        rates[f"{c}/{m}"] = _seconds_per_step(_probe_experiment(exp, spec, {c: {}}, middle, m))
    expected_probes, most_probes = tune_search.probes_left(spec.range, {})
    n, s_run = spec.members, steps
    double = (spec.controls + spec.members) * s_run * rates["double"]
    search_cost = sum(rates[f"{c}/{m}"] for c, m in spec.searches) * n * s_run
    combined_cost = sum(max(rates[f"{c}/{m}"] for c in spec.components) for m in spec.modes) * n * s_run
    smallest = tune_search.smallest_pvalue(spec.members, MAX_RELABELLINGS)
    return DesignCheck(
        n_tests=spec.n_tests, n_variables=len(spec.variables), alpha=spec.alpha, level=spec.level,
        members=spec.members, controls=spec.controls, smallest_p=smallest,
        members_needed=tune_search.members_needed(spec.level, MAX_RELABELLINGS),
        steps_per_run=steps, seconds_per_step=rates,
        runs_expected=spec.controls + n + n * (expected_probes * len(spec.searches) + len(spec.modes)),
        runs_at_most=spec.controls + n + n * (most_probes * len(spec.searches)
                                               + len(spec.modes) * spec.combined_attempts),
        core_seconds_expected=double + search_cost * expected_probes + combined_cost,
        core_seconds_at_most=double + search_cost * most_probes + combined_cost * spec.combined_attempts,
        workers=workers, outside_components=_computes_outside_components(exp, spec))


# --------------------------------------------------------------------------------------------
# One probe's statistics and verdict

def _num(x: Any) -> float | None:
    """A float for JSON: None for NaN."""
    x = float(x)
    return x if math.isfinite(x) else None


def probe_statistics(directory: Path, sbits: int, mode: str, spec: TuneSpec) -> dict[str, Any]:
    """Validate the setting (sbits, mode) of the sweep in ``directory`` against its null.

    The validator (:func:`validation.evaluate`) gives each member's global W1 from the controls,
    per variable; the p-value is its exact permutation test of the setting's members against the
    null members (:func:`validation.permutation_pvalues`, as ``pvalue_global``). The probe fails
    when a run blew up or when some variable's p-value is at most ``spec.level``.
    """
    import validation
    from lowprec.harness.sweep import open_sweep
    ds = open_sweep(directory)
    ds = ds.sel(sbits=sorted({sbits, FLOAT64_SBITS}), mode=list(dict.fromkeys([CONTROL_MODE, mode])))
    res = validation.evaluate(ds, list(spec.variables), spinup=spec.spinup, pvalues=False, windows=0)
    where = {"sbits": sbits, "mode": mode}
    double = {"sbits": FLOAT64_SBITS, "mode": CONTROL_MODE}
    blown = int(res["blown_up"].sel(where).sum())
    present = int(res["run_present"].sel(where).sum())
    variables: dict[str, dict[str, Any]] = {}
    for v in spec.variables:
        per_member = res[f"w1_global_member_{v}"]
        setting = per_member.sel(where).values
        null = per_member.sel(double).values
        usable = np.isfinite(setting)
        p = (float(validation.permutation_pvalues(setting[usable], null, MAX_RELABELLINGS))
             if blown == 0 and usable.sum() >= 2 else math.nan)
        # s.e. of a difference of two ensemble means, from the null members' spread
        se = float(np.std(null, ddof=1) * math.sqrt(1 / len(null) + 1 / max(usable.sum(), 1)))
        w1, w1_null = float(res[f"w1_global_{v}"].sel(where)), float(res[f"w1_global_null_{v}"])
        variables[v] = {
            "w1_global": _num(w1), "w1_global_null": _num(w1_null), "excess": _num(w1 - w1_null),
            "ratio": _num(w1 / w1_null) if w1_null > 0 else None, "se": _num(se),
            "mean_bias": _num(res[f"mean_bias_{v}"].sel(where)),
            "mean_bias_null": _num(res[f"mean_bias_null_{v}"]), "pvalue": _num(p),
            "members": [_num(x) for x in setting], "null_members": [_num(x) for x in null],
            "units": str(res[f"w1_global_{v}"].attrs.get("units", "1"))}
    pvalues = {v: s["pvalue"] for v, s in variables.items() if s["pvalue"] is not None}
    min_p = min(pvalues.values()) if pvalues else None
    if blown:
        verdict, reason = "fail", f"{blown} of {present} runs blew up"
    elif len(pvalues) < len(variables):
        raise TuneError(f"{directory}: sbits {sbits} {mode}: fewer than 2 usable runs; the sweep "
                        "is incomplete (see its sweep.json)")
    else:
        worst = min(pvalues, key=pvalues.get)
        verdict = "fail" if min_p <= spec.level else "pass"
        reason = f"{worst}: p = {min_p:.3g} {'<=' if verdict == 'fail' else '>'} {spec.level:.3g}"
    return {"sbits": sbits, "mode": mode, "verdict": verdict, "reason": reason, "min_pvalue": min_p,
            "blown_up": blown, "runs": present, "level": spec.level, "variables": variables}


def standardised_excess(record: Mapping[str, Any]) -> float:
    """The largest excess over its standard error among a probe's variables (−inf if none)."""
    z = [s["excess"] / s["se"] for s in record["variables"].values()
         if s["excess"] is not None and s["se"]]
    return max(z) if z else -math.inf


# --------------------------------------------------------------------------------------------
# State (tune.json), results, progress

@dataclass(frozen=True)
class SearchResult:
    """One search's outcome: ``chosen`` sbits (None: more than the range's high), how found."""

    component: str
    mode: str
    chosen: int | None
    monotone: bool | None
    strategy: str                   # "coarse ladder" | "bisection" | "fine scan"
    probes: tuple[int, ...]         # sbits probed, in the order their verdicts came


@dataclass(frozen=True)
class CombinedResult:
    """The combined configuration of one mode: the attempts and the final components."""

    mode: str
    passed: bool
    components: dict[str, int]      # final sbits per tuned component (52: double)
    attempts: tuple[dict, ...]      # the probe records of each attempt


@dataclass
class TuneResult:
    """What a tune found, and where it wrote it."""

    outdir: Path
    design: DesignCheck
    searches: dict[tuple[str, str], SearchResult]
    combined: dict[str, CombinedResult]
    files: dict[str, Path] = field(default_factory=dict)
    computed: int = 0               # probes computed by this call
    reused: int = 0                 # probes found finished in tune.json

    def chosen(self, mode: str) -> dict[str, int | None]:
        """Each tuned component's sbits from its own search (None: more than the range)."""
        return {c: r.chosen for (c, m), r in self.searches.items() if m == mode}

    def summary(self) -> str:
        lines = [f"tune {self.outdir}: {self.computed} probes computed, {self.reused} already done"]
        for mode, comb in self.combined.items():
            alone = ", ".join(f"{c} {s if s is not None else '>' + str(s)}"
                              for c, s in self.chosen(mode).items())
            final = ", ".join(f"{c} {s}" for c, s in comb.components.items())
            verdict = "passes" if comb.passed else "NOT CONFIRMED"
            lines.append(f"  {mode}: alone {alone}; combined [{final}] {verdict} "
                         f"after {len(comb.attempts)} attempt(s)")
        for name, path in self.files.items():
            lines.append(f"  {name}: {path}")
        return "\n".join(lines)


def _fingerprint(exp: Any, spec: TuneSpec) -> str:
    """The resolved experiment and tune design as TOML: a tune directory holds one of these."""
    import tomli_w
    d = dataclasses.replace(exp, sweep=None).to_dict()
    d["tune"] = {k: v for k, v in spec.to_dict().items() if k != "output"}
    return tomli_w.dumps(d)


class _State:
    """tune.json: the design, and each probe's record, written atomically after each change."""

    def __init__(self, outdir: Path, fingerprint: str) -> None:
        from lowprec import __version__
        self.path = outdir / STATE
        data = json.loads(self.path.read_text()) if self.path.exists() else None
        if data is not None and data.get("fingerprint") != fingerprint:
            from lowprec.harness.sweep import config_differences
            diffs = config_differences(data.get("fingerprint", ""), fingerprint)
            raise ConfigError(f"{outdir} holds a tune of another experiment or design "
                              f"({'; '.join(diffs)}); its probes would not answer this one. Use "
                              "another output directory, or delete this one to start again.")
        self.data = data or {"lowprec_version": __version__, "created": _now(),
                             "fingerprint": fingerprint, "probes": {}}

    def get(self, key: str) -> dict | None:
        return self.data["probes"].get(key)

    def probes(self) -> dict[str, dict]:
        return dict(self.data["probes"])

    def put(self, key: str, record: dict) -> int:
        """Record a probe; returns its index (the order of verdicts)."""
        record["index"] = len(self.data["probes"])
        self.data["probes"][key] = record
        self._write()
        return record["index"]

    def set(self, name: str, value: Any) -> None:
        self.data[name] = value
        self._write()

    def _write(self) -> None:
        from lowprec.harness.sweep import write_json_atomic
        self.data["updated"] = _now()
        write_json_atomic(self.data, self.path)


def _now() -> str:
    import datetime
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def probe_key(component: str, mode: str, sbits: int) -> str:
    return f"{component}/{mode}/{sbits}"


def combined_key(mode: str, attempt: int) -> str:
    return f"combined/{mode}/{attempt}"


class _Progress:
    """stderr lines: one per finished run, one per validated probe with probes left and ETA."""

    def __init__(self, label: str, quiet: bool, stream: Any = None) -> None:
        self.label, self.quiet = label, quiet
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.computed = 0

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"tune {self.label}: {text}", file=self.stream, flush=True)

    def run(self, what: str) -> Any:
        def done(key: Any, outcome: Mapping[str, Any]) -> None:
            seconds = outcome.get("seconds")
            self.say(f"{what}: run {key.name} {outcome.get('status')}"
                     + (f" in {seconds:.1f} s" if seconds is not None else ""))
        return done

    def probe(self, what: str, record: Mapping[str, Any], done: int, left: tuple[int, int]) -> None:
        self.computed += 1
        elapsed = time.monotonic() - self.start
        eta = _hms(elapsed / self.computed * left[0])
        self.say(f"{what}: {record['verdict'].upper()} ({record['reason']}) | {done} probes done, "
                 f"about {left[0]} left (at most {left[1]}) | elapsed {_hms(elapsed)}, ETA {eta}")


# --------------------------------------------------------------------------------------------
# Running the probes

@contextlib.contextmanager
def _cluster(scheduler: Any, workers: int | None) -> Iterator[tuple[Any, int | None]]:
    """(scheduler for lowprec.sweep, worker count): one cluster for the whole tune."""
    if isinstance(scheduler, str) and scheduler in SERIAL:
        yield "serial", 1
        return
    from distributed import Client, LocalCluster
    if isinstance(scheduler, Client):
        yield scheduler, sum(scheduler.nthreads().values())
        return
    if scheduler is None or scheduler == "local":
        n = workers or os.cpu_count() or 1
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            yield client, n
        return
    if not isinstance(scheduler, str):
        raise ConfigError(f"scheduler = {scheduler!r}: use None (a LocalCluster), 'serial', an "
                          "address such as 'tcp://host:8786', or a distributed.Client")
    with Client(scheduler) as client:
        yield client, sum(client.nthreads().values())


@contextlib.contextmanager
def _tune_lock(outdir: Path) -> Iterator[None]:
    """One tune at a time per directory; the OS drops the lock if the process dies."""
    try:
        import fcntl
    except ImportError:                     # not POSIX: no lock
        yield
        return
    with open(outdir / ".tune.lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(f"{outdir} is in use by another running tune; wait for it to "
                              "finish or use another output directory") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class _Tuner:
    """The probes of one tune: the double runs, the searches, the combined configurations."""

    def __init__(self, exp: Any, spec: TuneSpec, outdir: Path, scheduler: Any, state: _State,
                 progress: _Progress, retry_failed: bool) -> None:
        self.exp, self.spec, self.outdir, self.scheduler = exp, spec, outdir, scheduler
        self.state, self.progress, self.retry_failed = state, progress, retry_failed
        self.double_files: list[Path] = []

    # --- sweeps
    def _sweep(self, config: dict, directory: Path, what: str) -> None:
        from lowprec.harness.sweep import sweep
        result = sweep(config, directory, scheduler=self.scheduler, quiet=True,
                       retry_failed=self.retry_failed, on_run_done=self.progress.run(what))
        if result.failed or result.pending:
            names = ", ".join(r["name"] for r in result.failed) or f"{result.pending} not run"
            raise TuneError(f"{what}: runs failed in {directory} ({names}; errors in "
                            f"{directory / 'sweep.json'}). Fix the cause and run the tune again "
                            "(failed runs are retried with --retry-failed); finished probes are kept.")

    def double_runs(self) -> None:
        """The M controls and the N null members, once, in double/."""
        from lowprec.harness.sweep import plan
        config = double_config(self.exp, self.spec)
        self._sweep(config, self.outdir / "double", "double precision")
        runs = self.outdir / "double" / "runs"
        self.double_files = [runs / key.filename for key in plan(config)]

    def _link_double_runs(self, directory: Path) -> None:
        """The double runs into a probe's sweep directory (its runs/), so none is recomputed."""
        runs = directory / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        for source in self.double_files:
            target = runs / source.name
            if target.exists():
                continue
            try:
                os.link(source, target)
            except OSError:                 # another file system: a copy, renamed into place
                partial = target.with_name(target.name + ".partial")
                shutil.copy2(source, partial)
                os.replace(partial, target)

    def _validated(self, key: str, directory: Path, sbits: int, mode: str, extra: dict,
                   what: str) -> dict:
        record = probe_statistics(directory, sbits, mode, self.spec)
        record.update(extra)
        self.state.put(key, record)
        self.progress.probe(what, record, len(self.state.probes()), self.left())
        return record

    # --- searches
    def verdicts(self, component: str, mode: str) -> dict[int, bool]:
        prefix = f"{component}/{mode}/"
        return {r["sbits"]: r["verdict"] == "pass" for k, r in self.state.probes().items()
                if k.startswith(prefix)}

    def search(self, component: str, mode: str) -> SearchResult:
        """Probe until the search of (component, mode) is done (tune_search.next_step).

        Each step's probes are one sweep (a coarse ladder or a fine scan: every sbits at once;
        a bisection: one), in a directory named after the step, so a step resumed with some of
        its probes already validated reuses its runs.
        """
        r = self.spec.range
        while not (step := tune_search.next_step(r, self.verdicts(component, mode))).done:
            name = step.stage if len(step.sbits) > 1 or step.stage != tune_search.BISECT \
                else f"{step.stage}_sb{step.sbits[0]}"
            directory = self.outdir / "probes" / component / mode / name
            self._link_double_runs(directory)
            what = f"{component}/{mode} {step.stage}"
            self._sweep(probe_config(self.exp, self.spec, component, list(step.sbits), mode),
                        directory, f"{what} {list(step.sbits)}")
            for s in step.sbits:
                self._validated(probe_key(component, mode, s), directory, s, mode,
                                {"component": component, "stage": step.stage,
                                 "components": {component: s}}, f"{what}: sbits {s}")
        prefix = f"{component}/{mode}/"
        order = sorted((rec["index"], rec["sbits"], rec["stage"])
                       for k, rec in self.state.probes().items() if k.startswith(prefix))
        stages = {stage for _, _, stage in order}
        strategy = ("fine scan" if tune_search.FINE in stages else
                    "bisection" if tune_search.BISECT in stages else "coarse ladder")
        return SearchResult(component, mode, step.chosen, step.monotone, strategy,
                            tuple(s for _, s, _ in order))

    def left(self) -> tuple[int, int]:
        """(expected, at most) probes still to make, over every search and combined stage."""
        expected = at_most = 0
        for c, m in self.spec.searches:
            e, a = tune_search.probes_left(self.spec.range, self.verdicts(c, m))
            expected, at_most = expected + e, at_most + a
        probes = self.state.probes()
        for m in self.spec.modes:
            done = [r for k, r in probes.items() if k.startswith(f"combined/{m}/")]
            if not any(r["verdict"] == "pass" for r in done):
                expected += 1
                at_most += self.spec.combined_attempts - len(done)
        return expected, at_most

    # --- the combined configuration
    def combined(self, mode: str, searches: Mapping[tuple[str, str], SearchResult]) -> CombinedResult:
        """Validate the components together at their chosen sbits; add bits until it passes."""
        high = self.spec.range.high
        current = {c: (searches[(c, mode)].chosen or FLOAT64_SBITS) for c in self.spec.components}
        attempts: list[dict] = []
        for attempt in range(1, self.spec.combined_attempts + 1):
            base = combined_base(current)
            if base is None:                # every component in double: nothing to confirm
                return CombinedResult(mode, True, current, tuple(attempts))
            key = combined_key(mode, attempt)
            record = self.state.get(key)
            if record is None:
                directory = self.outdir / "combined" / mode / f"attempt{attempt}"
                self._link_double_runs(directory)
                what = f"combined/{mode} attempt {attempt} {current}"
                self._sweep(combined_config(self.exp, self.spec, current, mode), directory, what)
                record = self._validated(key, directory, base, mode,
                                         {"component": "combined", "stage": "combined",
                                          "attempt": attempt, "components": dict(current)}, what)
            elif record["components"] != current:
                raise TuneError(f"{self.state.path}: {key} was made with {record['components']}, "
                                f"but replaying the tune gives {current}; the directory is "
                                "inconsistent: use another output directory")
            attempts.append(record)
            if record["verdict"] == "pass":
                return CombinedResult(mode, True, current, tuple(attempts))
            excess: dict[str, dict[int, float]] = {}
            for r in self.state.probes().values():
                if r["component"] in current and r["mode"] == mode:
                    excess.setdefault(r["component"], {})[r["sbits"]] = standardised_excess(r)
            widened = tune_search.widen(current, excess, high)
            if widened is None:
                break
            current = {**current, widened[0]: widened[1]}
        return CombinedResult(mode, False, current, tuple(attempts))

    # --- all of it
    def run_all(self) -> tuple[dict, dict]:
        """Every search, then every mode's combined configuration.

        One sweep at a time (its runs spread over the cluster): the sweeps' bookkeeping reads
        netCDF files, and the netCDF library must not be entered from two threads at once.
        """
        searches = {s: self.search(*s) for s in self.spec.searches}
        return searches, {m: self.combined(m, searches) for m in self.spec.modes}


def tune(config: Any, outdir: Path | str, *, scheduler: Any = None, workers: int | None = None,
         quiet: bool = False, retry_failed: bool = False,
         overrides: Mapping[str, Any] | None = None) -> TuneResult:
    """Find the fewest sbits of every precision component, per mode, and confirm them together.

    config: a TOML path, TOML text or dict: an experiment with a ``[tune]`` section (module
        docstring; every key has a default).
    outdir: the tune directory (made if absent; a rerun resumes it).
    scheduler, workers: as :func:`lowprec.sweep`: None (a LocalCluster of ``workers`` processes),
        "serial", a scheduler address, or a ``distributed.Client``; one for the whole tune.
    retry_failed: rerun runs recorded as failed in a probe's sweep.
    overrides: dotted keys set before validation (``{"tune.members": 6}``).

    The design check runs first (:func:`check_design`); ConfigError if the test cannot reach
    its level with the members given. Raises TuneError when runs of a probe fail (finished probes
    are kept). Writes tune.json, tune.nc, precision_<mode>.toml, report.md and report/*.png.
    """
    from lowprec.harness import tune_report
    exp, spec = load_tune(config, overrides)
    shown, outdir = Path(outdir), Path(os.path.abspath(outdir))
    local = scheduler is None or scheduler == "local"
    serial = isinstance(scheduler, str) and scheduler in SERIAL
    known_workers = 1 if serial else (workers or os.cpu_count()) if local else None
    check = check_design(exp, spec, workers=known_workers)
    progress = _Progress(f"{exp.model} ({shown})", quiet)
    for line in check.summary().splitlines():
        progress.say(line)
    if not check.ok:
        raise ConfigError(check.problem())
    outdir.mkdir(parents=True, exist_ok=True)
    with _tune_lock(outdir):
        state = _State(outdir, _fingerprint(exp, spec))
        reused = len(state.probes())
        from lowprec.harness.store import write_text_atomic
        write_text_atomic(_fingerprint(exp, spec), outdir / RESOLVED)
        state.set("design_check", check.to_dict())
        with _cluster(scheduler, workers) as (sched, _):
            tuner = _Tuner(exp, spec, outdir, sched, state, progress, retry_failed)
            tuner.double_runs()
            searches, combined = tuner.run_all()
        result = TuneResult(shown, check, searches, combined, computed=progress.computed,
                            reused=reused)
        result.files = tune_report.write_outputs(outdir, exp, spec, state.data, result)
    if not quiet:
        print(result.summary(), file=sys.stderr, flush=True)
    return result
