"""Experiment loading: every key validated, one clear ConfigError per mistake."""
from __future__ import annotations

from pathlib import Path

import pytest

from lowprec.errors import ConfigError
from lowprec.harness.config import (MODES, Experiment, load_config, member_seed, parse_duration,
                                    rounding_seed)
from lowprec.harness.run import schedule

EXPERIMENTS = Path(__file__).resolve().parents[1] / "lowprec" / "experiments"


def heat(**sections) -> dict:
    d = {"model": "heat", "run": {"length": "10 days", "output_interval": "1 day"}}
    for k, v in sections.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k] = {**d[k], **v}
        else:
            d[k] = v
    return d


def test_defaults_and_resolved_params():
    exp = load_config(heat())
    assert exp.model == "heat"
    assert exp.precision.sbits == 52 and exp.precision.ebits is None
    assert exp.precision.mode == "nearest" and exp.precision.policy == "fused"
    assert exp.run.member == 0 and exp.run.spinup == "0 steps"
    assert exp.params["D"] == 7e-7 and exp.params["dt"] == 1800.0   # the spec's defaults, resolved


def test_toml_round_trip_and_file_source(tmp_path):
    exp = load_config(heat(precision={"sbits": 10, "ebits": 5, "mode": "stochastic", "seed": 3,
                                      "components": {"diffusion": {"sbits": 23}}},
                           params={"anomaly": True}, run={"variables": ["T"], "member": 4}))
    path = tmp_path / "exp.toml"
    path.write_text(exp.to_toml())
    again = load_config(path)
    assert again == exp
    assert again.source == str(path)
    assert load_config(exp.to_toml()) == exp          # TOML text works too


def test_overrides_are_dotted_keys():
    exp = load_config(heat(), {"precision.sbits": 7, "params.dz": 2.0, "run.length": "4 days"})
    assert exp.precision.sbits == 7 and exp.params["dz"] == 2.0 and exp.run.length == "4 days"


def test_modes_match_the_rounding_core():
    from lowprec.rounding import MODES as CORE_MODES
    assert tuple(MODES) == tuple(CORE_MODES)


@pytest.mark.parametrize("data, key, allowed", [
    ({"model": "gcm2", "run": {"length": "1 day", "output_interval": "1 day"}}, "gcm2", "lorenz63"),
    (heat(colour="red"), "colour", "precision"),
    (heat(precision={"bits": 10}), "precision.bits", "sbits"),
    (heat(run={"lenght": "1 day"}), "run.lenght", "length"),
    (heat(params={"nz": 31}), "params.nz", "depth"),
    (heat(params={"D": "fast"}), "params.D", "number"),
    (heat(params={"anomaly": 1}), "params.anomaly", "true or false"),
    (heat(precision={"sbits": 53}), "precision.sbits", "1..52"),
    (heat(precision={"sbits": "10"}), "precision.sbits", "1..52"),
    (heat(precision={"ebits": 12}), "precision.ebits", "2..11"),
    (heat(precision={"mode": "round"}), "precision.mode", "stochastic"),
    (heat(precision={"policy": "lazy"}), "precision.policy", "sequential"),
    (heat(precision={"seed": -1}), "precision.seed", "non-negative"),
    (heat(precision={"components": {"physics": {"sbits": 23}}}), "physics", "diffusion"),
    (heat(precision={"components": {"diffusion": {"bits": 23}}}), "bits", "sbits"),
    (heat(run={"length": "-5 days"}), "run.length", "positive"),
    (heat(run={"length": 10}), "run.length", "unit"),
    (heat(run={"length": "10 fortnights"}), "run.length", "steps"),
    (heat(run={"length": "10 time units"}), "run.length", "dimensionless"),
    (heat(run={"member": -1}), "run.member", "non-negative"),
    (heat(run={"variables": ["T", "q"]}), "run.variables", "T"),
    ({"model": "heat", "run": {"output_interval": "1 day"}}, "run.length", "missing"),
    ({"run": {"length": "1 day"}}, "model", "missing"),
])
def test_bad_configs_name_key_value_and_allowed(data, key, allowed):
    with pytest.raises(ConfigError) as e:
        load_config(data)
    message = str(e.value)
    assert key in message and allowed in message, message


def test_lorenz_wants_time_units():
    with pytest.raises(ConfigError, match="dimensionless"):
        load_config({"model": "lorenz63", "run": {"length": "10 days", "output_interval": "1 day"}})


def test_error_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('model = "heat"\n[run]\nlength = "10 days"\noutput_interval = "1 day"\n'
                    '[precision]\nmode = "sideways"\n')
    with pytest.raises(ConfigError, match=r"broken\.toml: precision\.mode = 'sideways'"):
        load_config(path)
    path.write_text("model = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_schedule_rounds_to_steps_and_refuses_what_does_not_fit():
    exp = load_config(heat(run={"length": "2 years", "output_interval": "1 month",
                                "spinup": "3 hours"}))
    s = schedule(exp, dt=1800.0, time_units="s")
    assert (s.spinup_steps, s.interval_steps, s.n_outputs) == (6, 1460, 24)   # 365/12 days = 1460 steps
    with pytest.raises(ConfigError, match="whole number of output intervals"):
        schedule(load_config(heat(run={"length": "10 days", "output_interval": "3 days"})),
                 1800.0, "s")
    with pytest.raises(ConfigError, match="1 % of a whole number of steps"):
        schedule(load_config(heat(run={"output_interval": "45 minutes", "length": "45 minutes"})),
                 1800.0, "s")
    with pytest.raises(ConfigError, match="shorter than one time step"):
        schedule(load_config(heat(run={"output_interval": "10 minutes", "length": "10 minutes"})),
                 1800.0, "s")
    lorenz = load_config({"model": "lorenz63", "run": {"length": "1 time units",
                                                       "output_interval": "0.1 time units"}})
    assert schedule(lorenz, 0.01, "1").interval_steps == 10


def test_parse_duration_units():
    assert parse_duration("1 year", "k").amount == 365 * 86400
    assert parse_duration("100 steps", "k").kind == "steps"
    assert parse_duration("0 days", "k", allow_zero=True).amount == 0
    with pytest.raises(ConfigError, match="whole"):
        parse_duration("1.5 steps", "k")


def test_member_seed_pairs_members_across_formats():
    a = load_config(heat(precision={"seed": 1}, run={"member": 2}))
    b = load_config(heat(precision={"seed": 1, "sbits": 10, "mode": "stochastic"}, run={"member": 2}))
    c = load_config(heat(precision={"seed": 1}, run={"member": 3}))
    assert member_seed(a) == member_seed(b) != member_seed(c)
    assert rounding_seed(a) != member_seed(a)
    assert 0 <= member_seed(a) < 2**63


@pytest.mark.parametrize("name", ["heat", "lorenz63", "shallow_water"])
def test_example_experiments_load_and_schedule(name):
    from lowprec.harness.config import make_model
    exp = load_config(EXPERIMENTS / f"{name}.toml")
    assert isinstance(exp, Experiment) and exp.model == name
    model = make_model(exp)
    assert schedule(exp, model.dt, model.time_units).n_outputs >= 1
