"""`lowprec tune` end to end on the toy model whose tolerances are known (tests/toy_tolerance.py).

The toy's components break below known sbits, exactly (bit-identical to double precision at and
above, shifted by at least half the climate's range below), in both rounding modes, so every
answer of the tuner has an oracle: the chosen sbits are the toy's parameters, a failing probe's
p-value is the permutation test's smallest, 1/C(2N, N), a passing probe's runs are the null runs
bit for bit.
"""
from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import lowprec
import toy_tolerance  # noqa: F401 - registers the model "toy_tolerance"
from cfcheck import HIGH, MEDIUM, cf_failures
from lowprec.errors import ConfigError
from lowprec.harness import tune_search
from lowprec.harness.config import load_config, make_emulator
from lowprec.harness.tune import check_design, load_tune, tune

# alpha breaks below 5 sbits, beta below 10; together they also break while alpha < 6 and
# beta < 11 (each passes alone at 5 and 10; the pair does not, until alpha gets a sixth bit).
TOY = {
    "model": "toy_tolerance",
    "params": {"k_alpha": 5, "k_beta": 10, "pair_alpha": 6, "pair_beta": 11, "particles": 50},
    "precision": {"seed": 7},
    "run": {"length": "20 steps", "output_interval": "1 steps"},
    "tune": {"components": ["alpha", "beta"], "sbits": "3:11", "coarse_step": 4,
             "controls": 2, "combined_attempts": 2},
}


@pytest.fixture(scope="module")
def toy_tune(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("toy") / "tune"
    return tune(TOY, outdir, scheduler="serial", quiet=True), outdir


def records(outdir: Path) -> dict[str, dict]:
    return json.loads((outdir / "tune.json").read_text())["probes"]


def test_the_tuner_finds_each_known_tolerance_in_both_modes(toy_tune):
    result, _ = toy_tune
    for mode in ("nearest", "stochastic"):
        assert result.chosen(mode) == {"alpha": 5, "beta": 10}
        for c in ("alpha", "beta"):
            assert result.searches[(c, mode)].monotone
            assert result.searches[(c, mode)].strategy == "bisection"


def test_probes_are_those_the_strategy_asks_for_in_order(toy_tune):
    """The sbits probed, in verdict order, are the pure strategy's driven by the toy's truth."""
    result, _ = toy_tune
    r = tune_search.SearchRange(3, 11, 4)
    for (component, mode), search in result.searches.items():
        k = TOY["params"][f"k_{component}"]
        verdicts, expected = {}, []
        while not (step := tune_search.next_step(r, verdicts)).done:
            for s in step.sbits:
                verdicts[s] = s >= k
                expected.append(s)
        assert search.probes == tuple(expected)


def test_verdicts_have_their_oracles(toy_tune):
    """Failing probes give the smallest p-value 1/C(2N, N) (every member farther than every null
    member); passing probes have runs bit-identical to the null runs, so zero excess."""
    result, outdir = toy_tune
    n = result.design.members
    level = result.design.level
    for key, rec in records(outdir).items():
        k = TOY["params"].get(f"k_{rec['component']}")
        if rec["stage"] == "combined":
            continue
        assert (rec["verdict"] == "pass") == (rec["sbits"] >= k), key
        y = rec["variables"]["y"]
        if rec["verdict"] == "fail":
            assert y["pvalue"] == pytest.approx(1 / math.comb(2 * n, n), rel=1e-12) and y["pvalue"] <= level
        else:
            assert y["excess"] == 0.0 and y["pvalue"] > level
    probe = outdir / "probes" / "beta" / "stochastic" / "bisect_sb10" / "runs"
    member = result.design.controls                  # the first competitor member
    with xr.open_dataset(probe / f"toy_tolerance_sb10_stochastic_m{member:03d}.nc") as a, \
            xr.open_dataset(probe / f"toy_tolerance_sb52_nearest_m{member:03d}.nc") as b:
        assert np.array_equal(a["y"].values.view(np.uint64), b["y"].values.view(np.uint64))


def test_combined_failure_adds_a_bit_until_it_passes(toy_tune):
    result, _ = toy_tune
    for mode in ("nearest", "stochastic"):
        comb = result.combined[mode]
        assert [a["verdict"] for a in comb.attempts] == ["fail", "pass"]
        assert [a["components"] for a in comb.attempts] == [{"alpha": 5, "beta": 10},
                                                            {"alpha": 6, "beta": 10}]
        assert comb.passed and comb.components == {"alpha": 6, "beta": 10}


def test_design_check_counts_the_runs_the_tune_made(toy_tune):
    """Expected runs (monotone searches, first combined validation passing) plus the second
    combined attempt each mode needed = the run files written (double runs linked, not rerun)."""
    result, outdir = toy_tune
    check = result.design
    files = {p.stat().st_ino for p in outdir.rglob("runs/*.nc") if not p.name.endswith(".restart.nc")}
    assert len(files) == check.runs_expected + 2 * check.members
    assert check.ok and not check.outside_components
    assert check.n_tests == 4 * 9 + 2 * 2
    assert check.level == pytest.approx(0.05 / check.n_tests)
    assert check.members == tune_search.members_needed(check.level, 200_000) == 6


def test_precision_blocks_are_ready_to_use(toy_tune):
    result, outdir = toy_tune
    for mode in ("nearest", "stochastic"):
        block = (outdir / f"precision_{mode}.toml").read_text()
        config = {k: v for k, v in TOY.items() if k != "tune"}
        config["precision"] = {**config["precision"], **tomllib.loads(block)["precision"]}
        emu = make_emulator(load_config(config))
        assert emu.setting("alpha").fmt.sbits == 6 and emu.setting("alpha").mode == mode
        assert emu.setting("beta").fmt.sbits == 10
        assert emu.setting("window").fmt.sbits == 52             # not tuned: double
        assert "passes" in block.splitlines()[2]


def test_statistics_file_is_cf_clean_and_holds_every_probe(toy_tune):
    result, outdir = toy_tune
    path = outdir / "tune.nc"
    failures = cf_failures(path)
    assert not failures.get(HIGH) and not failures.get(MEDIUM), failures
    recs = sorted(records(outdir).values(), key=lambda r: r["index"])
    with xr.open_dataset(path) as ds:
        assert ds.sizes["probe"] == len(recs)
        assert [str(c) for c in ds["probed_component"].values] == [r["component"] for r in recs]
        assert list(ds["verdict"].values) == [int(r["verdict"] == "fail") for r in recs]
        np.testing.assert_array_equal(ds["pvalue_global_y"].values,
                                      [r["variables"]["y"]["pvalue"] for r in recs])
        chosen = ds["chosen_sbits"].sel(mode="nearest")
        assert int(chosen.sel(component="alpha")) == 5 and int(chosen.sel(component="window")) == 52
        assert int(ds["final_sbits"].sel(mode="stochastic", component="alpha")) == 6


def test_report_and_figures_are_written(toy_tune):
    result, outdir = toy_tune
    for name in ("alpha", "beta", "combined"):
        png = outdir / "report" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    report = (outdir / "report.md").read_text()
    assert "| alpha | nearest | 5 | bisection | yes | 3✗ 7✓ 11✓ 5✓ 4✗ |" in report
    assert "attempt 1: alpha 5, beta 10: **fail**" in report


def test_rerun_of_a_finished_tune_computes_nothing(toy_tune):
    result, outdir = toy_tune
    before = (outdir / "tune.json").read_text()
    again = tune(TOY, outdir, scheduler="serial", quiet=True)
    assert again.computed == 0 and again.reused == len(records(outdir))
    assert again.combined == result.combined and again.searches == result.searches
    assert json.loads(before)["probes"] == records(outdir)


def test_a_tune_directory_of_another_design_is_refused(toy_tune):
    _, outdir = toy_tune
    with pytest.raises(ConfigError, match="tune.alpha"):
        tune(TOY, outdir, scheduler="serial", quiet=True, overrides={"tune.alpha": 0.1})


# --------------------------------------------------------------------------------------------
# Checks before anything runs

def test_too_few_members_are_refused_before_anything_is_written(tmp_path):
    outdir = tmp_path / "never"
    with pytest.raises(ConfigError, match=r"members >= 6"):
        tune(TOY, outdir, scheduler="serial", quiet=True, overrides={"tune.members": 5})
    assert not outdir.exists()


@pytest.mark.parametrize("key, value, message", [
    ("tune.colour", 1, "unknown key"),
    ("tune.components", ["gamma"], "'gamma' is not one of alpha, beta, window"),
    ("tune.sbits", "12:4", "low <= high"),
    ("tune.sbits", "2:52", "52 is double precision"),
    ("tune.modes", ["upwards"], "not one of"),
    ("tune.alpha", 1.5, "0 < alpha < 1"),
    ("tune.members", 1, ">= 2"),
    ("tune.variables", ["z"], "'z' is not one of y"),
])
def test_bad_tune_sections_name_the_key(key, value, message):
    with pytest.raises(ConfigError, match=message):
        load_tune(TOY, {key: value})


def test_design_check_finds_arithmetic_outside_the_components():
    exp, spec = load_tune(TOY, {"params.uncovered": 8})
    assert check_design(exp, spec).outside_components
    exp, spec = load_tune(TOY)
    assert not check_design(exp, spec).outside_components


def test_members_default_to_the_fewest_that_reach_the_level():
    _, spec = load_tune(TOY, {"tune.alpha": 0.5})
    assert spec.members == tune_search.members_needed(spec.level, 200_000) == 5
    assert lowprec.tune is tune


# --------------------------------------------------------------------------------------------
# The sweeps a tune makes: what each run's arithmetic is

def run_arithmetic(config: dict, sbits: int, mode: str):
    """The emulator a sweep's worker builds for the competitor run at (sbits, mode)."""
    from lowprec.harness.sweep import experiment_for, plan
    key = next(k for k in plan(config) if (k.sbits, k.mode, k.role) == (sbits, mode, "competitor"))
    return make_emulator(experiment_for(load_config(config), key))


def test_a_probe_emulates_its_component_alone():
    from lowprec.harness.tune_design import probe_config
    exp, spec = load_tune(TOY, {"precision.ebits": 8})
    emu = run_arithmetic(probe_config(exp, spec, "beta", [6, 9], "stochastic"), 9, "stochastic")
    assert (emu.setting("beta").fmt.sbits, emu.setting("beta").fmt.ebits) == (9, 8)
    assert emu.setting("beta").mode == "stochastic"
    for other in ("alpha", "window"):                # double: 52 sbits, float64's exponent range
        assert emu.setting(other).fmt.sbits == 52 and emu.setting(other).fmt.is_float64


def test_the_combined_configuration_runs_every_component_at_its_own_sbits():
    from lowprec.harness.tune_design import combined_config
    exp, spec = load_tune(TOY)
    config = combined_config(exp, spec, {"alpha": 6, "beta": 10}, "nearest")
    assert config["sweep"]["sbits"] == [10]         # the base: the widest reduced component
    emu = run_arithmetic(config, 10, "nearest")
    assert [emu.setting(c).fmt.sbits for c in ("alpha", "beta", "window")] == [6, 10, 52]
