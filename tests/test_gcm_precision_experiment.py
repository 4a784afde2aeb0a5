"""The packaged GCM precision experiment (lowprec/experiments/gcm_precision.toml): it loads, every
run of its sweep passes the pre-flight at both sizes, the documented paper-size flags give T31L8,
5 + 5 members and 10-year runs, the small size stays small, and the documented spin-ups write
enough restarts, spaced at least a run length apart.

The flags are read from the file's own comment lines (``small-spinup:``, ``paper-spinup:``,
``paper-sweep:``), so documentation that drifts from the configuration fails here.
"""
from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest

from lowprec.harness.cli_sweep import parse_sets
from lowprec.harness.config import get_model_class, load_config
from lowprec.harness.run import schedule
from lowprec.harness.spinup import restart_steps
from lowprec.harness.sweep import FLOAT64_SBITS, check_axes, parse_sweep, preflight

CONFIG = Path(__file__).resolve().parents[1] / "lowprec" / "experiments" / "gcm_precision.toml"
DAY = 86400.0


def documented_flags(label: str) -> dict[str, object]:
    """The flags of the comment line ``#   <label>: ...``: --set items as overrides, other
    --options by name (``length``, ``restart_every``, ``first_restart``)."""
    lines = [line.split(f"{label}:", 1)[1] for line in CONFIG.read_text().splitlines()
             if line.lstrip("# ").startswith(f"{label}:")]
    assert len(lines) == 1, f"{CONFIG.name} documents {label!r} {len(lines)} times, not once"
    words = shlex.split(lines[0])
    sets, options = [], {}
    for flag, value in zip(words[::2], words[1::2]):
        assert flag.startswith("--"), f"{label}: {flag!r} is not a flag"
        if flag == "--set":
            sets.append(value)
        else:
            options[flag[2:].replace("-", "_")] = value
    assert len(words) % 2 == 0, f"{label}: a flag without a value in {words}"
    return {"overrides": parse_sets(tuple(sets)), **options}


def steps_per_day(exp) -> float:
    cls = get_model_class(exp.model)
    return DAY / cls(cls.Params(**exp.params)).dt


def run_steps(exp) -> int:
    cls = get_model_class(exp.model)
    sched = schedule(exp, cls(cls.Params(**exp.params)).dt, cls.time_units, cls.OUTPUTS)
    return sched.interval_steps * sched.n_outputs


def spinup_restarts(exp, flags: dict) -> list[int]:
    """Steps of the restarts the documented spin-up writes (lowprec.harness.spinup's rule)."""
    cls = get_model_class(exp.model)
    dt = cls(cls.Params(**exp.params)).dt
    total = round(float(str(flags["length"]).split()[0]) * DAY / dt)
    assert str(flags["length"]).endswith("days")
    return restart_steps(exp, dt, cls.time_units, total, restart_every=flags["restart_every"],
                         first_restart=flags["first_restart"])


@pytest.fixture(scope="module")
def small():
    return load_config(CONFIG)


@pytest.fixture(scope="module")
def paper():
    return load_config(CONFIG, documented_flags("paper-sweep")["overrides"])


def test_design_is_the_papers(small):
    spec = parse_sweep(small.sweep, str(CONFIG))
    assert small.model == "gcm" and small.params["physics"] in ("held_suarez", "moist")
    assert set(spec.sbits) == {8, 10, 12, 23} and set(spec.modes) == {"nearest", "stochastic"}
    assert spec.controls == 5 and spec.members == 5 and spec.null
    assert spec.restarts is not None                # members from the spin-up's restarts
    assert small.run.output_interval == "6 hours"
    keys = spec.runs(small.model)
    roles = [k.role for k in keys]
    assert roles.count("control") == 5 and roles.count("null") == 5
    assert roles.count("competitor") == 4 * 2 * 5
    assert all(k.sbits == FLOAT64_SBITS for k in keys if k.role != "competitor")


def test_paper_overrides_give_t31l8_five_members_ten_years(small, paper):
    assert paper.params["truncation"] == 31 and paper.params.get("levels", 8) == 8
    spec = parse_sweep(paper.sweep, str(CONFIG))
    assert spec.controls == 5 and spec.members == 5
    # 10 years of the 365-day calendar at T31's 40-minute step
    assert steps_per_day(paper) == 36
    assert run_steps(paper) == 10 * 365 * 36
    assert {k: v for k, v in paper.params.items() if k != "truncation"} == \
        {k: v for k, v in small.params.items() if k != "truncation"}   # same physics and levels
    assert paper.run.variables == small.run.variables


def test_small_size_stays_small(small):
    """SMALL must finish on a 2-core machine in well under an hour: T21 and at most 60-day
    runs (50 runs x 1440 steps at ~18 ms (T21 moist, 10-sbit stochastic) is ~20 core-minutes;
    the packaged 45 days ~14)."""
    assert small.params["truncation"] <= 21
    assert run_steps(small) <= 60 * 24
    assert len(parse_sweep(small.sweep, str(CONFIG)).runs(small.model)) <= 50


@pytest.mark.parametrize("size", ["small", "paper"])
def test_every_run_passes_the_preflight(size, small, paper):
    exp = small if size == "small" else paper
    spec = parse_sweep(exp.sweep, str(CONFIG))
    check_axes(exp, spec)
    preflight(exp, spec.runs(exp.model))           # raises ConfigError naming the run


@pytest.mark.parametrize("size, label", [("small", "small-spinup"), ("paper", "paper-spinup")])
def test_documented_spinup_gives_each_member_a_restart_a_run_apart(size, label, small):
    flags = documented_flags(label)
    exp = load_config(CONFIG, flags["overrides"]) if flags["overrides"] else small
    sweep_exp = small if size == "small" else load_config(
        CONFIG, documented_flags("paper-sweep")["overrides"])
    assert exp.params == sweep_exp.params          # the restarts fit the sweep's model
    steps = spinup_restarts(exp, flags)
    spec = parse_sweep(sweep_exp.sweep, str(CONFIG))
    assert len(steps) >= spec.controls + spec.members
    gaps = [b - a for a, b in zip(steps, steps[1:])]
    assert min(gaps) >= run_steps(sweep_exp)       # else the null measures the runs' overlap
    assert steps[0] >= 200 * steps_per_day(exp)    # Held–Suarez needs ~200 days to equilibrate
