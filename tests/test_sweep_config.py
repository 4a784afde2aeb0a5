"""The [sweep] section: parsing, ranges, member numbering, and errors that name key and value."""
from __future__ import annotations

import pytest

from lowprec.errors import ConfigError
from lowprec.harness.sweep import FLOAT64_SBITS, RunKey, parse_sweep

BASE = {"sbits": [10, 23], "modes": ["nearest", "stochastic"], "members": 3, "controls": 2}


def test_sbits_forms_give_the_same_list():
    expected = tuple(range(6, 24))
    for form in ("6:23", {"start": 6, "stop": 23}, {"start": 6, "stop": 23, "step": 1}, list(range(6, 24))):
        assert parse_sweep({**BASE, "sbits": form}).sbits == expected
    assert parse_sweep({**BASE, "sbits": "6:23:4"}).sbits == (6, 10, 14, 18, 22)
    assert parse_sweep({**BASE, "sbits": [23, 10, 10]}).sbits == (10, 23)      # sorted, once
    assert parse_sweep({**BASE, "sbits": 52}).sbits == (52,)


def test_member_numbering_controls_then_competitors():
    spec = parse_sweep(BASE)
    assert spec.control_members == [0, 1]
    assert spec.competitor_members == [2, 3, 4]
    keys = spec.runs("lorenz63")
    control = [k for k in keys if k.role == "control"]
    null = [k for k in keys if k.role == "null"]
    comp = [k for k in keys if k.role == "competitor"]
    assert [(k.sbits, k.mode, k.member) for k in control] == [(52, "nearest", 0), (52, "nearest", 1)]
    assert [(k.sbits, k.mode, k.member) for k in null] == [(52, "nearest", m) for m in (2, 3, 4)]
    assert len(comp) == 2 * 2 * 3
    assert {k.member for k in comp} == {2, 3, 4}
    assert len({k.name for k in keys}) == len(keys) == 2 + 3 + 12
    assert RunKey("heat", 10, "stochastic", 7).filename == "heat_sb10_stochastic_m007.nc"


def test_float64_setting_in_the_list_is_not_run_twice():
    keys = parse_sweep({**BASE, "sbits": [10, FLOAT64_SBITS], "modes": ["nearest"]}).runs("heat")
    names = [k.name for k in keys]
    assert len(names) == len(set(names)) == 2 + 3 + 3      # (52, nearest) competitors = the null
    assert sum(k.sbits == FLOAT64_SBITS for k in keys) == 5


def test_without_null_the_competitors_have_no_double_precision_runs():
    keys = parse_sweep({**BASE, "null": False}).runs("heat")
    assert [k.member for k in keys if k.sbits == FLOAT64_SBITS] == [0, 1]


@pytest.mark.parametrize("section, words", [
    ({**BASE, "sbits": [0, 10]}, ["sbits", "0", "1..52"]),
    ({**BASE, "sbits": [10, 53]}, ["sbits", "53", "1..52"]),
    ({**BASE, "sbits": "6-23"}, ["sbits", "'6-23'", "start:stop"]),
    ({**BASE, "sbits": {"start": 6}}, ["sbits", "stop"]),
    ({**BASE, "sbits": {"start": 12, "stop": 8}}, ["stop 8", "start 12"]),
    ({**BASE, "sbits": []}, ["sbits", "[]"]),
    ({**BASE, "sbits": [10.5]}, ["sbits", "10.5"]),
    ({**BASE, "modes": ["nearest", "round_half_up"]}, ["modes", "round_half_up", "stochastic"]),
    ({**BASE, "members": 0}, ["members", "0", ">= 1"]),
    ({**BASE, "members": True}, ["members", "True"]),
    ({**BASE, "controls": -1}, ["controls", "-1", ">= 0"]),
    ({**BASE, "null": "yes"}, ["null", "'yes'", "true or false"]),
    ({**BASE, "member": 3}, ["member", "unknown key", "members"]),
    ({k: v for k, v in BASE.items() if k != "modes"}, ["modes", "missing"]),
    (None, ["no [sweep] section"]),
])
def test_bad_sections_name_key_value_and_allowed(section, words):
    with pytest.raises(ConfigError) as info:
        parse_sweep(section, "exp.toml")
    message = str(info.value)
    assert message.startswith("exp.toml")
    for word in words:
        assert word in message, (word, message)
