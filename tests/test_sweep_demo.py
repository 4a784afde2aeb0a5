"""The packaged sweep experiments and the demo's settings load, validate and plan as documented."""
from __future__ import annotations

import numpy as np
import pytest

from lowprec.demo import DEMO_SBITS, EXPERIMENTS, demo_configs, rounding_table
from lowprec.harness.config import load_config
from lowprec.harness.sweep import parse_sweep, preflight


@pytest.mark.parametrize("name", ["lorenz63", "heat"])
def test_packaged_sweep_experiments_load_and_plan(name):
    exp = load_config(EXPERIMENTS / f"{name}_sweep.toml")
    spec = parse_sweep(exp.sweep)
    keys = spec.runs(exp.model)
    assert len(keys) == spec.controls + spec.members * (1 + len(spec.sbits) * len(spec.modes))
    assert spec.modes == ("nearest", "stochastic")
    if name == "heat":
        assert spec.sbits == tuple(range(6, 24))         # "6:23:1", stop included


def test_demo_configs_are_valid_experiments():
    for name, config in demo_configs().items():
        exp = load_config(config)
        assert exp.model == name
        spec = parse_sweep(exp.sweep)
        assert spec.sbits == tuple(DEMO_SBITS) and spec.controls == 5 and spec.members == 5


def test_the_demo_design_can_reach_significance():
    """Its smallest attainable p-value (1/C(2N, N), N competitor members) is below alpha = 0.05:
    3 members would give 1/20 = alpha, and nothing could ever be shown."""
    from validation.significance import pvalue_floor
    for config in demo_configs().values():
        spec = parse_sweep(load_config(config).sweep)
        floor, _ = pvalue_floor("permutation", spec.controls, spec.members, spec.members)
        assert floor == 1 / 252 < 0.05


def test_rounding_table_agrees_with_float32_and_float16_casts():
    x = 280.1
    rows = {int(line.split()[0]): line.split() for line in rounding_table(x).splitlines()[2:-1]}
    assert float(rows[23][2]) == float(np.float32(x))     # float32: 23 sbits, round to nearest
    assert float(rows[10][2]) == float(np.float16(x))     # float16's significand, in range here
    assert float(rows[52][2]) == x
    for s, row in rows.items():                           # nearest is within half a spacing
        assert abs(float(row[2]) - x) <= float(row[1]) / 2


@pytest.mark.parametrize("name", ["lorenz63", "heat", "shallow_water"])
def test_packaged_sweep_experiments_pass_the_sweeps_pre_flight(name):
    """Every run of a packaged sweep could start: the checks run() makes before its first step."""
    exp = load_config(EXPERIMENTS / f"{name}_sweep.toml")
    preflight(exp, parse_sweep(exp.sweep).runs(exp.model))


def test_demo_configs_pass_the_sweeps_pre_flight():
    for config in demo_configs().values():
        exp = load_config(config)
        preflight(exp, parse_sweep(exp.sweep).runs(exp.model))
