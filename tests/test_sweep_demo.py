"""The packaged sweep experiments and the demo's settings load, validate and plan as documented."""
from __future__ import annotations

import numpy as np
import pytest

from lowprec.demo import DEMO_SBITS, EXPERIMENTS, demo_configs, rounding_table
from lowprec.errors import ConfigError
from lowprec.harness import config as config_module
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


def recording_builds(monkeypatch) -> list[tuple[int, str]]:
    """(sbits, mode) of every model the pre-flight builds, in order (the real model is built)."""
    built, real = [], config_module.make_model

    def make_model(checked, emu):
        built.append((checked.precision.sbits, checked.precision.mode))
        return real(checked, emu)

    monkeypatch.setattr(config_module, "make_model", make_model)
    return built


@pytest.mark.parametrize("name", ["lorenz63", "heat", "shallow_water"])
def test_packaged_sweep_experiments_pass_the_sweeps_pre_flight(name, monkeypatch):
    """Every run of a packaged sweep could start: the checks run() makes before its first step,
    made once for each distinct (sbits, mode), the double-precision control included."""
    exp = load_config(EXPERIMENTS / f"{name}_sweep.toml")
    keys = parse_sweep(exp.sweep).runs(exp.model)
    built = recording_builds(monkeypatch)
    preflight(exp, keys)
    settings = {(k.sbits, k.mode) for k in keys}
    assert sorted(built) == sorted(settings) and (52, "nearest") in settings


# One change to each packaged sweep that load_config accepts but no run could start with.
REFUSED = {
    "lorenz63": ("run.length", "200.05 time units", "whole number of output intervals"),
    "heat": ("run.length", "45 days", "whole number of output intervals"),
    "shallow_water": ("run.output_interval", "1 hour", "whole number of steps"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_packaged_sweep_made_unrunnable_is_refused_by_the_pre_flight(name):
    key, value, reason = REFUSED[name]
    exp = load_config(EXPERIMENTS / f"{name}_sweep.toml", overrides={key: value})
    with pytest.raises(ConfigError) as e:
        preflight(exp, parse_sweep(exp.sweep).runs(exp.model))
    text = str(e.value)
    assert key in text and reason in text and "No run was started" in text
    assert f"{name}_sb52_nearest_m000" in text                  # the first run it would start


def test_pre_flight_refuses_a_setting_that_only_one_run_has(monkeypatch):
    """A failure confined to the last setting of the sweep is found before anything runs."""
    exp = load_config(EXPERIMENTS / "heat_sweep.toml")
    keys = parse_sweep(exp.sweep).runs(exp.model)
    real = config_module.make_model

    def make_model(checked, emu):
        if (checked.precision.sbits, checked.precision.mode) == (23, "stochastic"):
            raise ValueError("synthetic: no model at 23 sbits stochastic")
        return real(checked, emu)

    monkeypatch.setattr(config_module, "make_model", make_model)
    with pytest.raises(ConfigError, match=r"heat_sb23_stochastic_m\d{3} .*synthetic"):
        preflight(exp, keys)


def test_demo_configs_pass_the_sweeps_pre_flight(monkeypatch):
    built = recording_builds(monkeypatch)
    for config in demo_configs().values():
        exp = load_config(config)
        keys = parse_sweep(exp.sweep).runs(exp.model)
        del built[:]
        preflight(exp, keys)
        assert sorted(built) == sorted({(k.sbits, k.mode) for k in keys})
        exp = load_config(config, overrides={"run.length": "1.05 " + config["run"]["output_interval"].split(" ", 1)[1]})
        with pytest.raises(ConfigError, match="whole number of output intervals"):
            preflight(exp, keys)
