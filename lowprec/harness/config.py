"""Experiments: load a TOML file (or the same dict) into a validated, frozen :class:`Experiment`.

An experiment names a model and its parameters, a number format and rounding mode, and how long
to run and what to write. Every key is checked here, at the edge: an unknown key, a wrong type or
a value out of range is one :class:`~lowprec.errors.ConfigError` naming the file, the key, the
value and what is allowed.

Keys (absent keys take the default shown; ``—`` means required)::

    key                              type      default     meaning
    model                            str       —           registered model: lorenz63 | heat |
                                                           shallow_water (| any registered name)
    [params]                         table     {}          the model's own parameters (its Params
                                                           dataclass; defaults are the spec's)
    [precision] sbits                int       52          explicit significand bits, 1..52
                                                           (float64 52, float32 23, float16 10,
                                                           bfloat16 7)
    [precision] ebits                int       absent      exponent bits 2..11; absent (or "none")
                                                           = float64's exponent range
    [precision] subnormals           bool      true        gradual underflow (false: flush to zero);
                                                           matters only with ebits
    [precision] mode                 str       "nearest"   nearest | stochastic | toward_zero |
                                                           upward | downward
    [precision] seed                 int       0           experiment seed, 0 <= seed < 2**63:
                                                           initial conditions and stochastic-
                                                           rounding bits derive from (seed, member)
    [precision] policy               str       "fused"     compound operations (sums, matmul,
                                                           FFT): fused | sequential (backend
                                                           emulated); native (backend native,
                                                           its default and only policy)
    [precision] backend              str       "emulated"  emulated (every result rounded by
                                                           lowprec) | native (the format's numpy
                                                           dtype: float32, float16, bfloat16,
                                                           float8; nearest only; lowprec.native)
    [precision.components.NAME]      table     {}          per-component overrides of sbits, ebits,
                                                           subnormals, mode (NAME one of the
                                                           model's COMPONENTS)
    [run] length                     duration  —           output period, after spin-up
    [run] output_interval            duration  —           time between outputs (snapshots)
    [run] spinup                     duration  "0 steps"   model time discarded before output
    [run] member                     int       0           ensemble member, 0 <= member < 2**31
    [run] variables                  [str]     all         subset of the model's OUTPUTS
    [run.intervals] NAME             duration  model's     output interval of variable NAME, a
                                               default     whole multiple of output_interval;
                                               or output_  longer ones are means (see below)
                                               interval
    [run] output                     str       absent      netCDF path to write
    [run] checkpoint_interval        duration  absent      model time between checkpoints (rows
                                                           since the last one appended to the
                                                           output, then the restart); absent:
                                                           every 10 minutes of wall time; also
                                                           whenever the output buffer is full
    [run] restart_from               str       absent      restart file to continue from
    [sweep]                          table     absent      passed through to lowprec.sweep
    [tune]                           table     absent      read by lowprec.tune; ignored here, so
                                                           one file serves spinup, sweep and tune

Paths (``output``, ``restart_from``) are used as written: relative paths are relative to the
current directory, not to the experiment file.

Durations are strings "N unit": ``steps``; ``seconds``/``minutes``/``hours``/``days``/
``months``/``years`` for physical models (1 year = 365 days, 1 month = 365/12 days: the
``365_day`` calendar of the output); ``time units`` for dimensionless models (Lorenz-63).
``N`` may be a decimal ("0.1 time units").

How durations become steps (:func:`lowprec.harness.run.schedule`): ``output_interval`` and
``spinup`` are rounded to the nearest whole number of the model's time steps and refused if that
moves them by more than 1 %; ``length`` must be a whole number of output intervals (the run
writes ``length / output_interval`` outputs). The time coordinate holds the model time actually
reached.

Per-variable intervals (``[run.intervals]``, e.g. ``kinetic_energy = "1 day"``): a variable
with an interval of ``r`` output intervals (``r`` from the durations as written: "1 day" over
"6 hours" is 4, and the mean spans 4 rounded output intervals when 6 hours is not a whole number
of steps) is written every
``r`` outputs as the mean of the ``r`` snapshots at the output interval ending there
(``cell_methods`` "time_1d: mean"), on its own time dimension named after it (``time_1d``,
``time_12h``, ``time_10steps``...) with CF ``bounds``. ``r`` must be whole and ``length`` a whole
number of the interval (ConfigError otherwise). A variable not listed uses the model's default
(``Output.interval``; shallow water: energies and enstrophy daily) when that is a whole multiple
of ``output_interval`` dividing ``length``, else ``output_interval``.

Seeds (:func:`member_seed`, :func:`rounding_seed`): member ``m`` of an experiment with seed ``k``
starts from ``model.initial_state(member_seed)`` with ``member_seed`` a hash of ``(k, m)``, the
same at every sbits and mode, so runs of one member are paired across formats. Its stochastic
rounding draws bits with a different hash of ``(k, m)``.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from lowprec.errors import ConfigError

MODES = ("nearest", "stochastic", "toward_zero", "upward", "downward")
POLICIES = ("fused", "sequential", "native")
BACKENDS = ("emulated", "native")
FLOAT64_SBITS = 52
SEED_LIMIT = 2**63      # precision.seed < 2**63: TOML integers and netCDF int64 attributes
MEMBER_LIMIT = 2**31    # run.member < 2**31: the member coordinate is an int32

TOP_KEYS = ("model", "params", "precision", "run", "sweep", "tune")
PRECISION_KEYS = ("sbits", "ebits", "subnormals", "mode", "seed", "policy", "backend",
                  "components")
COMPONENT_KEYS = ("sbits", "ebits", "subnormals", "mode")
RUN_KEYS = ("length", "output_interval", "spinup", "member", "variables", "intervals", "output",
            "checkpoint_interval", "restart_from", "start", "calendar")
# The dates of a physical model's time axis: [run] start (the date of step 0) and calendar (CF).
DEFAULT_START = "0001-01-01"
DEFAULT_CALENDAR = "365_day"
CALENDARS = ("standard", "proleptic_gregorian", "julian", "noleap", "365_day", "all_leap",
             "366_day", "360_day")
# CF-1.11 §4.4: dates of these calendars say how they count leap seconds (a model has none)
LEAP_SECOND_CALENDARS = ("standard", "proleptic_gregorian", "julian")


def date_attrs(calendar: str) -> dict[str, str]:
    """The attributes a time coordinate of ``calendar`` needs besides units and calendar."""
    return {"units_metadata": "leap_seconds: none"} if calendar in LEAP_SECOND_CALENDARS else {}


_DATE = re.compile(r"^\s*(\d{1,4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*$")

DAY = 86400.0                      # s
YEAR = 365 * DAY                   # s: the 365_day calendar
SECONDS_PER_UNIT = {
    "second": 1.0, "seconds": 1.0, "s": 1.0,
    "minute": 60.0, "minutes": 60.0, "min": 60.0,
    "hour": 3600.0, "hours": 3600.0, "h": 3600.0,
    "day": DAY, "days": DAY, "d": DAY,
    "month": YEAR / 12, "months": YEAR / 12,
    "year": YEAR, "years": YEAR,
}
STEP_UNITS = ("step", "steps")
MODEL_TIME_UNITS = ("time unit", "time units")
DURATION_EXAMPLES = "'60 years', '1 day', '6 hours', '1000 steps', '0.1 time units'"
_DURATION = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z][A-Za-z ]*?)\s*$")


# --------------------------------------------------------------------------------------------
# Durations

@dataclass(frozen=True)
class Duration:
    """A length of model time as written: ``amount`` in ``kind`` ("steps", "s" or "time units")."""

    text: str
    amount: float
    kind: str               # "steps" | "s" (physical time, seconds) | "time units" (dimensionless)

    def in_steps(self, dt: float) -> float:
        """This duration as a (possibly fractional) number of time steps of ``dt``."""
        return self.amount if self.kind == "steps" else self.amount / dt

    def __str__(self) -> str:
        return self.text


def parse_duration(value: Any, key: str, where: str = "", *, allow_zero: bool = False,
                   time_units: str | None = None) -> Duration:
    """Parse "N unit" (see module docstring); ``time_units`` "1" or "s" checks the unit fits."""
    prefix = f"{where}: " if where else ""
    if not isinstance(value, str):
        raise ConfigError(f"{prefix}{key} = {value!r}: a duration is a string with a unit, e.g. "
                          f"{DURATION_EXAMPLES} (a bare number is ambiguous).")
    match = _DURATION.match(value)
    unit = match.group(2).lower() if match else ""
    if match is None or (unit not in SECONDS_PER_UNIT and unit not in STEP_UNITS
                         and unit not in MODEL_TIME_UNITS):
        raise ConfigError(f"{prefix}{key} = {value!r}: not a duration; write 'N unit' with unit "
                          "steps, seconds, minutes, hours, days, months (365/12 days), years "
                          f"(365 days) or time units (dimensionless models), e.g. {DURATION_EXAMPLES}.")
    amount = float(match.group(1))
    if not math.isfinite(amount) or amount < 0 or (amount == 0 and not allow_zero):
        allowed = "zero or positive" if allow_zero else "positive"
        raise ConfigError(f"{prefix}{key} = {value!r}: the duration must be {allowed} "
                          f"(e.g. {DURATION_EXAMPLES}).")
    if unit in STEP_UNITS:
        if amount != int(amount):
            raise ConfigError(f"{prefix}{key} = {value!r}: a number of steps must be whole.")
        return Duration(value, amount, "steps")
    if unit in MODEL_TIME_UNITS:
        if time_units not in (None, "1"):
            raise ConfigError(f"{prefix}{key} = {value!r}: 'time units' are for dimensionless "
                              "models (lorenz63); this model's time is physical: use seconds, "
                              "hours, days, months, years or steps.")
        return Duration(value, amount, "time units")
    if time_units == "1":
        raise ConfigError(f"{prefix}{key} = {value!r}: this model is dimensionless; write its "
                          "time in 'time units' (e.g. '0.1 time units') or in steps.")
    return Duration(value, amount * SECONDS_PER_UNIT[unit], "s")


class PrecisionWarning(UserWarning):
    """A precision setting used by no component: the run is computed at the components' formats."""


# --------------------------------------------------------------------------------------------
# The experiment

@dataclass(frozen=True)
class Precision:
    """Number format, rounding and seed of a run (keys of ``[precision]``)."""

    sbits: int = FLOAT64_SBITS
    ebits: int | None = None
    subnormals: bool = True
    mode: str = "nearest"
    seed: int = 0
    policy: str = "fused"
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    backend: str = "emulated"

    @property
    def is_float64(self) -> bool:
        """True when the base format and every component are float64 (52 sbits, double range)."""
        formats = [{"sbits": self.sbits, "ebits": self.ebits}, *self.components.values()]
        return all(f.get("sbits", self.sbits) == FLOAT64_SBITS
                   and f.get("ebits", self.ebits) in (None, 11) for f in formats)

    @property
    def max_sbits(self) -> int:
        """The widest significand among the base format and the components."""
        return max([self.sbits] + [c.get("sbits", self.sbits) for c in self.components.values()])

    def component(self, name: str) -> dict[str, Any]:
        """Component ``name``'s effective format and mode: its overrides, else the base's."""
        c = self.components.get(name, {})
        return {"sbits": c.get("sbits", self.sbits), "ebits": c.get("ebits", self.ebits),
                "subnormals": c.get("subnormals", self.subnormals), "mode": c.get("mode", self.mode)}

    def unused_base(self, declared: tuple[str, ...] | list[str]) -> list[str]:
        """The base keys (``sbits``, ``mode``) that no component of ``declared`` runs at.

        A model computes inside its components, so a base value no component takes is a label
        the run was not computed at. Empty when the model declares no components.
        """
        if not declared:
            return []
        effective = [self.component(name) for name in declared]
        return [key for key in ("sbits", "mode")
                if all(c[key] != getattr(self, key) for c in effective)]

    def fixed_by_overrides(self, declared: tuple[str, ...] | list[str]) -> list[str]:
        """The base keys (``sbits``, ``mode``) that every component of ``declared`` overrides.

        Changing such a key (as a sweep's axis does) changes nothing the model computes.
        """
        if not declared:
            return []
        return [key for key in ("sbits", "mode")
                if all(key in self.components.get(name, {}) for name in declared)]


@dataclass(frozen=True)
class RunSettings:
    """How long to run and what to write (keys of ``[run]``); durations as written."""

    length: str
    output_interval: str
    spinup: str = "0 steps"
    member: int = 0
    variables: tuple[str, ...] | None = None
    intervals: dict[str, str] | None = None     # variable name -> duration ([run.intervals])
    output: str | None = None
    checkpoint_interval: str | None = None
    restart_from: str | None = None
    start: str | None = None        # date of step 0, "YYYY-MM-DD[ hh:mm:ss]" (None: 0001-01-01)
    calendar: str | None = None     # CF calendar of the dates (None: 365_day)

    def time_encoding(self) -> tuple[str, str]:
        """(units, calendar) of a physical model's time axis: days since the start date."""
        start = self.start or DEFAULT_START
        return (f"days since {start if ' ' in start else start + ' 00:00:00'}",
                self.calendar or DEFAULT_CALENDAR)


@dataclass(frozen=True)
class Experiment:
    """A validated experiment. ``raw`` is the dict it was built from (overrides applied)."""

    model: str
    params: dict[str, Any]
    precision: Precision
    run: RunSettings
    sweep: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    source: str | None = field(default=None, compare=False, repr=False)

    def replace(self, **changes: Any) -> "Experiment":
        """A copy with fields changed (``precision=``, ``run=`` ...), not re-validated."""
        return dataclasses.replace(self, **changes)

    with_ = replace

    def to_dict(self) -> dict[str, Any]:
        """The experiment as the plain dict a TOML file holds (absent values left out)."""
        p = self.precision
        precision: dict[str, Any] = {"sbits": p.sbits}
        if p.ebits is not None:
            precision["ebits"] = p.ebits
        precision.update(subnormals=p.subnormals, mode=p.mode, seed=p.seed, policy=p.policy)
        if p.backend != "emulated":     # absent = emulated: resolved configs of earlier runs match
            precision["backend"] = p.backend
        if p.components:
            precision["components"] = {k: dict(v) for k, v in p.components.items()}
        run = {k: v for k, v in dataclasses.asdict(self.run).items() if v is not None}
        if "variables" in run:
            run["variables"] = list(run["variables"])
        out: dict[str, Any] = {"model": self.model, "params": _toml_safe(self.params),
                               "precision": precision, "run": run}
        if self.sweep is not None:
            out["sweep"] = self.sweep
        return out

    def to_toml(self) -> str:
        """The resolved experiment as TOML text (load_config reads it back to an equal one)."""
        import tomli_w
        return tomli_w.dumps(self.to_dict())


def _toml_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _toml_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, (tuple, list)):
        return [_toml_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def member_seed(exp: Experiment) -> int:
    """Seed of member ``run.member``'s initial state: a hash of (precision.seed, member).

    The same at every sbits and mode, so member m starts from the same state in every format.
    """
    return _hash_seed(exp.precision.seed, exp.run.member, 0)


def rounding_seed(exp: Experiment) -> int:
    """Seed of the stochastic-rounding bits of member ``run.member``: another hash of the pair."""
    return _hash_seed(exp.precision.seed, exp.run.member, 1)


def _hash_seed(seed: int, member: int, stream: int) -> int:
    state = np.random.SeedSequence([seed, member, stream]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))           # 63 bits: a non-negative int64


# --------------------------------------------------------------------------------------------
# Models

def get_model_class(name: str, where: str = "") -> type:
    """The model class registered as ``name`` (its module imported on first use)."""
    import models
    from models.base import REGISTRY
    if name in REGISTRY:
        return REGISTRY[name]()
    known = sorted(set(getattr(models, "MODEL_MODULES", {})) | set(REGISTRY))
    prefix = f"{where}: " if where else ""
    try:
        return models.get_model_class(name)
    except KeyError:
        raise ConfigError(f"{prefix}model = {name!r}: unknown model; known models: "
                          f"{', '.join(known)}.") from None
    except ImportError as e:
        raise ConfigError(f"{prefix}model = {name!r}: its module could not be imported ({e}).") from e


def make_model(exp: Experiment, emu: Any = None) -> Any:
    """The experiment's model, built from its parameters and the arithmetic ``emu``."""
    from models.base import FLOAT64
    cls = get_model_class(exp.model, exp.source or "")
    return cls(cls.Params(**exp.params), emu=FLOAT64 if emu is None else emu)


def make_arithmetic(exp: Experiment) -> Any:
    """The arithmetic a run is handed: plain numpy for float64 with fused compound operations,
    else :func:`make_emulator`'s."""
    p = exp.precision
    if p.backend == "emulated" and p.is_float64 and p.policy == "fused":
        from models.base import FLOAT64
        return FLOAT64
    return make_emulator(exp)


def _component_specs(p: Precision) -> dict[str, dict[str, Any]]:
    """Each component override as a whole format (unset fields from the base), with its mode
    when it sets one."""
    components = {}
    for name, c in p.components.items():
        spec = {"sbits": c.get("sbits", p.sbits), "ebits": c.get("ebits", p.ebits),
                "subnormals": c.get("subnormals", p.subnormals)}
        if "mode" in c:
            spec["mode"] = c["mode"]
        components[name] = spec
    return components


def make_emulator(exp: Experiment) -> Any:
    """The experiment's arithmetic: a :class:`lowprec.Emulator` for its precision and member, or
    for ``backend = "native"`` a :class:`lowprec.native.NativeArithmetic` in the format's dtype."""
    from lowprec.emulated import Emulator
    from lowprec.formats import Format
    p = exp.precision
    components = _component_specs(p)
    if p.backend == "native":
        from lowprec.native import NativeArithmetic
        return NativeArithmetic(Format(p.sbits, p.ebits, p.subnormals), mode=p.mode,
                                components=components or None)
    seed = rounding_seed(exp)
    return Emulator(Format(p.sbits, p.ebits, p.subnormals), mode=p.mode, seed=seed,
                    components=components or None, policy=p.policy)


# --------------------------------------------------------------------------------------------
# Loading and validation

def load_config(source: Path | str | Mapping[str, Any] | Experiment,
                overrides: Mapping[str, Any] | None = None) -> Experiment:
    """Load and validate an experiment.

    source: a TOML file path, TOML text, a dict of the same structure, or an Experiment; or the
    name of a packaged experiment ("heat": lowprec/experiments/heat.toml) when no file of that
    name exists.
    overrides: dotted keys to set before validation, e.g. ``{"precision.sbits": 10,
    "params.nz": 31, "run.length": "2 days"}``.
    """
    where = ""
    if isinstance(source, str):
        source = _packaged_name(source) or source
    if isinstance(source, Experiment):
        where, data = source.source or "", source.to_dict()
    elif isinstance(source, Mapping):
        data = _deep_copy(source)
    elif isinstance(source, Path) or (isinstance(source, str) and _looks_like_path(source)):
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such experiment file (give a TOML file path, TOML "
                              "text, or a dict).")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}.") from None
    elif isinstance(source, str):
        try:
            data = tomllib.loads(source)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"experiment text is not valid TOML ({e}), and it is not the path "
                              "of an existing .toml file.") from None
    else:
        raise ConfigError(f"experiment source {source!r}: give a TOML path, TOML text or a dict.")
    for key, value in (overrides or {}).items():
        _set_dotted(data, key, value, where)
    return _validate(data, where)


def _packaged_name(text: str) -> Path | None:
    """The packaged experiment a string names, when it is a bare name and no such file exists."""
    from lowprec import experiments
    stem = text[:-5] if text.endswith(".toml") else text
    if "\n" in text or Path(text).exists() or stem not in experiments.names():
        return None
    return experiments.path(stem)


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and "=" not in text and (text.endswith(".toml") or Path(text).is_file())


def _deep_copy(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else (list(v) if isinstance(v, (list, tuple))
            else v) for k, v in d.items()}


def _set_dotted(data: dict, key: str, value: Any, where: str) -> None:
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{where + ': ' if where else ''}override {key} = {value!r}: "
                              f"{'.'.join(parts[:i + 1])} is not a table.")
        node = child
    node[parts[-1]] = value


def _err(where: str, key: str, value: Any, message: str) -> ConfigError:
    return ConfigError(f"{where + ': ' if where else ''}{key} = {value!r}: {message}")


def _unknown(where: str, table: str, key: str, value: Any, allowed: tuple[str, ...] | list[str]) -> ConfigError:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    name = f"{table}.{key}" if table else key
    return _err(where, name, value, f"unknown key; allowed in {table or 'the top level'}: "
                f"{', '.join(allowed)}.{hint}")


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _table(data: dict, key: str, where: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise _err(where, key, value, "must be a table ([" + key + "] section).")
    return dict(value)


def _validate(data: dict, where: str) -> Experiment:
    for key in data:
        if key not in TOP_KEYS:
            raise _unknown(where, "", key, data[key], TOP_KEYS)
    if "model" not in data:
        raise ConfigError(f"{where + ': ' if where else ''}model: missing; say which model to "
                          "run, e.g. model = \"heat\" (lorenz63 | heat | shallow_water).")
    name = data["model"]
    if not isinstance(name, str):
        raise _err(where, "model", name, "must be a string naming a model, e.g. \"heat\".")
    cls = get_model_class(name, where)
    params = _validate_params(cls, _table(data, "params", where), where)
    precision = _validate_precision(_table(data, "precision", where), cls, where)
    run = _validate_run(_table(data, "run", where), cls, where)
    sweep = data.get("sweep")
    if sweep is not None and not isinstance(sweep, Mapping):
        raise _err(where, "sweep", sweep, "must be a table ([sweep] section).")
    return Experiment(model=name, params=params, precision=precision, run=run,
                      sweep=None if sweep is None else dict(sweep), raw=data, source=where or None)


def _validate_params(cls: type, given: dict, where: str) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(cls.Params)}
    for key, value in given.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise _err(where, f"params.{key}", value, f"model {cls.name!r} has no such parameter; "
                       f"its parameters are: {', '.join(fields)}.{hint}")
        default = fields[key].default
        if isinstance(default, bool) and not isinstance(value, bool):
            raise _err(where, f"params.{key}", value, "must be true or false.")
        if isinstance(default, float) and _is_int(value):
            given[key] = float(value)
        elif (isinstance(default, (int, float)) and not isinstance(default, bool)
              and not (isinstance(value, (int, float)) and not isinstance(value, bool))):
            raise _err(where, f"params.{key}", value,
                       f"must be a number (default {default!r}).")
        elif isinstance(default, str) and not isinstance(value, str):
            raise _err(where, f"params.{key}", value, f"must be a string (default {default!r}).")
    try:
        built = cls.Params(**given)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where + ': ' if where else ''}[params] of model {cls.name!r}: {e}") from None
    resolved = {f: getattr(built, f) for f in fields if getattr(built, f) is not None}
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in resolved.items()}


def _check_sbits(value: Any, key: str, where: str) -> int:
    if not _is_int(value) or not 1 <= value <= FLOAT64_SBITS:
        raise _err(where, key, value, "sbits counts stored significand bits, an integer 1..52 "
                   "(float64 52, float32 23, float16 10, bfloat16 7).")
    return int(value)


def _check_ebits(value: Any, key: str, where: str) -> int | None:
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        return None
    if not _is_int(value) or not 2 <= value <= 11:
        raise _err(where, key, value, "ebits is an integer 2..11 (float16 5, bfloat16 and float32 "
                   "8, float64 11), or absent (\"none\") for float64's exponent range.")
    return int(value)


def _check_mode(value: Any, key: str, where: str) -> str:
    if value not in MODES:
        raise _err(where, key, value, f"rounding mode must be one of {', '.join(MODES)}.")
    return value


def _check_bool(value: Any, key: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise _err(where, key, value, "must be true or false.")
    return value


def _validate_precision(t: dict, cls: type, where: str) -> Precision:
    for key in t:
        if key not in PRECISION_KEYS:
            raise _unknown(where, "precision", key, t[key], PRECISION_KEYS)
    sbits = _check_sbits(t.get("sbits", FLOAT64_SBITS), "precision.sbits", where)
    ebits = _check_ebits(t.get("ebits"), "precision.ebits", where)
    subnormals = _check_bool(t.get("subnormals", True), "precision.subnormals", where)
    mode = _check_mode(t.get("mode", "nearest"), "precision.mode", where)
    seed = t.get("seed", 0)
    if not _is_int(seed) or not 0 <= seed < SEED_LIMIT:
        raise _err(where, "precision.seed", seed, "must be a non-negative integer below 2**63 "
                   f"(0 <= seed <= {SEED_LIMIT - 1}): TOML integers and the run file's "
                   "lowprec_seed attribute are signed 64-bit.")
    backend = t.get("backend", "emulated")
    if backend not in BACKENDS:
        raise _err(where, "precision.backend", backend, f"must be one of {', '.join(BACKENDS)} "
                   "(native: the format's numpy dtype, nearest rounding only).")
    policy = t.get("policy", "native" if backend == "native" else "fused")
    if policy not in POLICIES:
        raise _err(where, "precision.policy", policy, f"must be one of {', '.join(POLICIES)}.")
    if (policy == "native") != (backend == "native"):
        raise _err(where, "precision.policy", policy,
                   "with backend = 'native', compound operations run as numpy runs them in the "
                   "dtype (policy 'native'): leave policy out, or use backend = 'emulated' for "
                   "fused | sequential." if backend == "native" else
                   "policy 'native' (numpy's own compound operations) needs backend = 'native'; "
                   "the emulator's policies are fused | sequential.")
    raw_components = t.get("components", {})
    if not isinstance(raw_components, Mapping):
        raise _err(where, "precision.components", raw_components,
                   "must be a table of [precision.components.NAME] tables.")
    known = tuple(getattr(cls, "COMPONENTS", ()))
    components: dict[str, dict[str, Any]] = {}
    for name, c in raw_components.items():
        key = f"precision.components.{name}"
        if name not in known:
            raise _err(where, key, c, f"model {cls.name!r} has no component {name!r}; its "
                       f"components are: {', '.join(known) or '(none)'}.")
        if not isinstance(c, Mapping):
            raise _err(where, key, c, "must be a table with sbits, ebits, subnormals, mode.")
        comp: dict[str, Any] = {}
        for k, v in c.items():
            if k not in COMPONENT_KEYS:
                raise _unknown(where, key, k, v, COMPONENT_KEYS)
            if k == "sbits":
                comp[k] = _check_sbits(v, f"{key}.sbits", where)
            elif k == "ebits":
                e = _check_ebits(v, f"{key}.ebits", where)
                if e is not None:
                    comp[k] = e
            elif k == "mode":
                comp[k] = _check_mode(v, f"{key}.mode", where)
            else:
                comp[k] = _check_bool(v, f"{key}.subnormals", where)
        components[name] = comp
    precision = Precision(sbits=sbits, ebits=ebits, subnormals=subnormals, mode=mode,
                          seed=int(seed), policy=policy, components=components, backend=backend)
    if backend == "native":
        _check_native(precision, where)
    return precision


def _check_native(p: Precision, where: str) -> None:
    """Backend native: the format (and every component's) must be one numpy dtype, nearest."""
    from lowprec.errors import FormatError
    from lowprec.formats import Format
    from lowprec.native import NativeArithmetic
    try:
        NativeArithmetic(Format(p.sbits, p.ebits, p.subnormals), mode=p.mode,
                         components=_component_specs(p))
    except FormatError as e:
        raise ConfigError(f"{where + ': ' if where else ''}precision.backend = 'native': "
                          f"{e}") from None


def _validate_run(t: dict, cls: type, where: str) -> RunSettings:
    for key in t:
        if key not in RUN_KEYS:
            raise _unknown(where, "run", key, t[key], RUN_KEYS)
    tu = getattr(cls, "time_units", None)
    for key in ("length", "output_interval"):
        if key not in t:
            raise ConfigError(f"{where + ': ' if where else ''}run.{key}: missing; give a duration, "
                              f"e.g. {DURATION_EXAMPLES}.")
    parse_duration(t["length"], "run.length", where, time_units=tu)
    parse_duration(t["output_interval"], "run.output_interval", where, time_units=tu)
    spinup = t.get("spinup", "0 steps")
    parse_duration(spinup, "run.spinup", where, allow_zero=True, time_units=tu)
    checkpoint = t.get("checkpoint_interval")
    if checkpoint is not None:
        parse_duration(checkpoint, "run.checkpoint_interval", where, time_units=tu)
    member = t.get("member", 0)
    if not _is_int(member) or not 0 <= member < MEMBER_LIMIT:
        raise _err(where, "run.member", member, "must be a non-negative integer below 2**31 "
                   f"(0 <= member <= {MEMBER_LIMIT - 1}): the run file's member coordinate is "
                   "a 32-bit integer.")
    variables = t.get("variables")
    if variables is not None:
        names = [o.name for o in cls.OUTPUTS]
        if isinstance(variables, str) or not isinstance(variables, (list, tuple)) or not variables:
            raise _err(where, "run.variables", variables, f"must be a non-empty list of names "
                       f"from {', '.join(names)}.")
        for v in variables:
            if v not in names:
                raise _err(where, "run.variables", v, f"model {cls.name!r} has no output {v!r}; "
                           f"its outputs are: {', '.join(names)}.")
        variables = tuple(dict.fromkeys(variables))
    intervals = _validate_intervals(t.get("intervals"), t["output_interval"], cls, where)
    start, calendar = _validate_dates(t.get("start"), t.get("calendar"), tu, where)
    for key in ("output", "restart_from"):
        if t.get(key) is not None and not isinstance(t[key], (str, Path)):
            raise _err(where, f"run.{key}", t[key], "must be a file path (a string).")
    return RunSettings(length=t["length"], output_interval=t["output_interval"], spinup=spinup,
                       member=int(member), variables=variables, intervals=intervals,
                       output=None if t.get("output") is None else str(t["output"]),
                       checkpoint_interval=checkpoint,
                       restart_from=None if t.get("restart_from") is None else str(t["restart_from"]),
                       start=start, calendar=calendar)


def _validate_dates(start: Any, calendar: Any, time_units: str | None,
                    where: str) -> tuple[str | None, str | None]:
    """[run] start and calendar, normalised ("2000-01-01", "2000-01-01 06:00:00"), or None."""
    if start is None and calendar is None:
        return None, None
    if time_units == "1":
        key, value = ("run.start", start) if start is not None else ("run.calendar", calendar)
        raise _err(where, key, value, "this model's time is dimensionless (no dates); remove it.")
    if calendar is not None and calendar not in CALENDARS:
        raise _err(where, "run.calendar", calendar, f"not a CF calendar lowprec supports; use one "
                   f"of {', '.join(CALENDARS)} (default {DEFAULT_CALENDAR}).")
    if start is None:
        return None, calendar
    import datetime

    import cftime
    if isinstance(start, datetime.datetime):
        start = start.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(start, datetime.date):      # a TOML date: start = 2000-01-01
        start = start.isoformat()
    m = _DATE.match(start) if isinstance(start, str) else None
    if m is None:
        raise _err(where, "run.start", start, "must be a date \"YYYY-MM-DD\" or \"YYYY-MM-DD "
                   "hh:mm:ss\" (the date of the initial state), e.g. \"2000-01-01\".")
    y, mo, d, h, mi, sec = (int(g) if g is not None else 0 for g in m.groups())
    try:
        cftime.datetime(y, mo, d, h, mi, sec, calendar=calendar or DEFAULT_CALENDAR)
    except ValueError:
        raise _err(where, "run.start", start, f"not a date of the {calendar or DEFAULT_CALENDAR} "
                   "calendar (run.calendar); give one that exists in it.") from None
    text = f"{y:04d}-{mo:02d}-{d:02d}"
    return (text if (h, mi, sec) == (0, 0, 0) else f"{text} {h:02d}:{mi:02d}:{sec:02d}"), calendar


def interval_ratio(interval: Duration, base: Duration, dt: float | None = None) -> float | None:
    """How many ``base`` durations make ``interval``, from the durations as written.

    Same kinds compare directly ("1 day" / "6 hours" = 4); steps against physical time need the
    time step ``dt`` (None when it is not known yet).
    """
    if interval.kind == base.kind:
        return interval.amount / base.amount
    if dt is None:
        return None
    return interval.in_steps(dt) / base.in_steps(dt)


def whole_ratio(ratio: float) -> int | None:
    """``ratio`` as a whole number >= 1, or None when it is not one (to 1e-6)."""
    n = round(ratio)
    return n if n >= 1 and abs(ratio - n) <= 1e-6 * n else None


def _validate_intervals(value: Any, base_text: str, cls: type, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    names = [o.name for o in cls.OUTPUTS]
    if not isinstance(value, Mapping):
        raise _err(where, "run.intervals", value, "must be a table [run.intervals] of output name "
                   f"= duration, e.g. {names[-1]} = \"1 day\"; outputs: {', '.join(names)}.")
    tu = getattr(cls, "time_units", None)
    base = parse_duration(base_text, "run.output_interval", where, time_units=tu)
    out: dict[str, str] = {}
    for name, text in value.items():
        key = f"run.intervals.{name}"
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise _err(where, key, text, f"model {cls.name!r} has no output {name!r}; its outputs "
                       f"are: {', '.join(names)}.{hint}")
        d = parse_duration(text, key, where, time_units=tu)
        ratio = interval_ratio(d, base)
        if ratio is not None and whole_ratio(ratio) is None:
            raise _err(where, key, text, f"must be a whole multiple of run.output_interval = "
                       f"{base_text!r} (it is {ratio:.6g} of them); e.g. "
                       f"{max(1, round(ratio))} x {base_text}.")
        out[str(name)] = text
    return out
