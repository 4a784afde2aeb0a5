"""The design of a tune: its ``[tune]`` section, the sweeps of its probes, and the design check.

``load_tune`` reads an experiment with a ``[tune]`` section (keys: lowprec.harness.tune) into the
experiment and a :class:`TuneSpec`; ``sweep_config`` and its siblings make the experiment dict of
each sweep a tune runs (a probe: one component at the sweep's sbits, the others in double
precision; the combined configuration; the double-precision controls and null);
``check_design`` says, before anything runs, whether the probes' test can reach its level with
the members given and what the tune will cost (from measured step rates), and whether the model
computes outside its declared components.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from lowprec.errors import ConfigError
from lowprec.harness import tune_search
from lowprec.harness.tune_search import SearchRange

FLOAT64_SBITS = 52
CONTROL_MODE = "nearest"
MAX_RELABELLINGS = 200_000       # exact permutation test up to N = 10 members (C(20, 10) = 184756)
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
    "test": "the probes' test: \"permutation\" (the validator's two-sample test, default) or "
            "\"paired\" (sign-flip test of the paired member differences; see tune_search)",
    "combined_attempts": "validations of the combined configuration per mode, >= 1 (default 4)",
    "output": "default output directory of the command line",
}


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
    test: str = "permutation"

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
            "combined_attempts": self.combined_attempts, "test": self.test}
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
    unknown = sorted(set(section) - set(TUNE_KEYS))
    if unknown:
        allowed = "; ".join(f"{k}: {v}" for k, v in TUNE_KEYS.items())
        raise ConfigError(f"{_where(source, unknown[0])}: unknown key (allowed: {allowed})")
    sweep = exp.sweep or {}
    declared = tuple(getattr(model_cls, "COMPONENTS", ()))
    if not declared:
        raise ConfigError(f"{source + ': ' if source else ''}model {exp.model!r} declares no "
                          "precision components (COMPONENTS), so there is nothing to tune")
    if exp.precision.backend == "native":
        raise ConfigError(
            f"{source + ': ' if source else ''}precision.backend = 'native': a tune runs one "
            "component at a time at reduced sbits with the others in double precision, a "
            "per-component mixture that native arithmetic cannot run (see lowprec.native), and "
            "probes sbits that have no hardware dtype. Tune with backend 'emulated' (at nearest "
            "rounding its elementwise results equal the hardware's bit for bit), then run the "
            "format it chooses with backend 'native'.")
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
    test = section.get("test", "permutation")
    if test not in tune_search.TESTS:
        raise ConfigError(f"{_where(source, 'test')} = {test!r}: must be {TUNE_KEYS['test']}")
    spec = TuneSpec(components, modes, SearchRange(low, high, step), controls, 2,
                    tuple(restarts) if isinstance(restarts, list) else restarts, float(alpha),
                    variables, spinup, attempts, output, test)
    members = section.get("members", sweep.get("members"))
    if members is None:                 # the fewest that can reject at the level
        members = tune_search.members_needed(spec.level, MAX_RELABELLINGS, test) or 64
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
    test: str                       # the probes' test (tune_search.TESTS)
    smallest_p: float               # of that test with N members
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
        return (f"[tune] members = {self.members}: the {self.test} test's smallest p-value is "
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
            f"the {self.test} test with N = {self.members} members reaches p >= "
            f"{self.smallest_p:.3g}: "
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
    smallest = tune_search.smallest_pvalue(spec.members, MAX_RELABELLINGS, spec.test)
    return DesignCheck(
        n_tests=spec.n_tests, n_variables=len(spec.variables), alpha=spec.alpha, level=spec.level,
        members=spec.members, controls=spec.controls, test=spec.test, smallest_p=smallest,
        members_needed=tune_search.members_needed(spec.level, MAX_RELABELLINGS, spec.test),
        steps_per_run=steps, seconds_per_step=rates,
        runs_expected=spec.controls + n + n * (expected_probes * len(spec.searches) + len(spec.modes)),
        runs_at_most=spec.controls + n + n * (most_probes * len(spec.searches)
                                               + len(spec.modes) * spec.combined_attempts),
        core_seconds_expected=double + search_cost * expected_probes + combined_cost,
        core_seconds_at_most=double + search_cost * most_probes + combined_cost * spec.combined_attempts,
        workers=workers, outside_components=_computes_outside_components(exp, spec))
