"""What a design can show (its p-value floor) and the verdict report.md leads with."""
from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import xarray as xr

import lowprec.harness.sweep as sweep_module
import validation
from lowprec.harness.cli_sweep import make_report, run_validation
from validation import significance
from validation.verdict import BLOWN_UP, INDISTINGUISHABLE, NOT_SCORED, SIGNIFICANT, verdict

SBITS = [6, 8, 10, 12, 52]


def ladder(space: dict | None = None, shift: dict | None = None, n_controls: int = 5,
           n_members: int = 5, n_time: int = 60, seed: int = 0, identical_null: bool = False) -> xr.Dataset:
    """A sweep in open_sweep's layout over SBITS × (nearest, stochastic): N(0, 1) samples, plus
    `shift` {(sbits, mode): offset} on those runs. (52, stochastic) is not in the design.
    identical_null: every double-precision run the same series (a deterministic model)."""
    space = space or {}
    rng = np.random.default_rng(seed)
    n = n_controls + n_members
    shape = (len(SBITS), 2, n, n_time, *(len(v) for v in space.values()))
    x = rng.standard_normal(shape)
    if identical_null:
        x[SBITS.index(52), 0] = x[SBITS.index(52), 0, :1]
        x[:SBITS.index(52)] = x[SBITS.index(52), 0, :1] + 0.01 * x[:SBITS.index(52)]
    for (s, m), offset in (shift or {}).items():
        x[SBITS.index(s), ("nearest", "stochastic").index(m)] += offset
    x[SBITS.index(52), 1] = np.nan
    dims = ("sbits", "mode", "member", "time", *space)
    coords = {"sbits": SBITS, "mode": ["nearest", "stochastic"], "member": list(range(n)),
              "time": np.arange(n_time) * 0.5, **space}
    ds = xr.Dataset({"T": (dims, x, {"units": "K", "long_name": "soil temperature, at the nodes"})},
                    coords=coords)
    return ds.assign_attrs(lowprec_control_members=list(range(n_controls)),
                           lowprec_competitor_members=list(range(n_controls, n)))


# --- the p-value floor

def test_permutation_floor_is_one_over_the_number_of_relabellings():
    for n in (3, 4, 5):
        count = sum(1 for _ in itertools.combinations(range(2 * n), n))     # enumerated, not comb
        floor, how = significance.pvalue_floor("permutation", 5, n, n)
        assert floor == 1 / count and f"1/{count}" in how
    # beyond max_relabellings a sampled test: (1 + #{≥}) / (1 + B) is at least 1/(1 + B)
    assert significance.pvalue_floor("permutation", 5, 10, 10, max_relabellings=999)[0] == 1 / 1000


def test_leave_one_out_floor_counts_every_double_vs_double_pair():
    m, n = 4, 3
    pairs = [(c, k) for c in range(m) for k in range(n)] + list(itertools.combinations(range(m), 2))
    assert significance.pvalue_floor("leave_one_out", m, n, n)[0] == 1 / (1 + len(pairs))


def test_floor_warning_only_when_alpha_cannot_be_undercut():
    assert significance.floor_warning(1 / 252, 0.05) is None
    assert significance.floor_warning(1 / 70, 0.05) is None
    text = significance.floor_warning(1 / 20, 0.05)               # 3 + 3 members: floor = alpha
    assert "0.05" in text and "4 competitor members" in text
    assert significance.floor_warning(1 / 20, 0.01) is not None


@pytest.mark.parametrize("members, floor, warns", [(3, 1 / 20, True), (4, 1 / 70, False), (5, 1 / 252, False)])
def test_evaluate_records_the_floor_and_warns_when_it_is_not_below_alpha(members, floor, warns):
    res = validation.evaluate(ladder(n_members=members), windows=[])
    assert res.attrs["lowprec_pvalue_floor"] == pytest.approx(floor, rel=1e-15)
    assert ("lowprec_pvalue_warning" in res.attrs) == warns
    # and the p-values really cannot go below it: a huge shift gets exactly the floor
    res = validation.evaluate(ladder(n_members=members, shift={(6, "nearest"): 50.0}), windows=[])
    assert float(res["pvalue_global_T"].sel(sbits=6, mode="nearest")) == pytest.approx(floor, rel=1e-12)


def test_no_floor_without_pvalues():
    res = validation.evaluate(ladder(), windows=[], pvalues=False)
    assert "lowprec_pvalue_floor" not in res.attrs
    assert validation.design_notes(res.attrs) == []


@pytest.fixture
def opened(monkeypatch):
    """open_sweep returns the Dataset put in `box` (no model runs needed)."""
    box = {}
    monkeypatch.setattr(sweep_module, "open_sweep", lambda path: box["ds"])
    return box


def test_validate_and_report_print_the_floor_and_the_warning(tmp_path, opened, capsys):
    opened["ds"] = ladder(n_members=3).assign_attrs(lowprec_sample_dims="")
    run_validation(tmp_path, windows=0)
    err = capsys.readouterr().err
    assert "p-value floor 0.05 (1/C(6, 3) = 1/20" in err and "warning: the smallest attainable p-value" in err
    make_report(tmp_path)                       # reusing validation.nc: says it again
    err = capsys.readouterr().err
    assert err.count("p-value floor 0.05") == 1 and err.count("warning:") == 1
    text = (tmp_path / "report" / "report.md").read_text()
    assert "p-value floor (the smallest p-value this design can give) 0.05" in text
    assert "**Warning: the smallest attainable p-value" in text
    opened["ds"] = ladder(n_members=5).assign_attrs(lowprec_sample_dims="")
    make_report(tmp_path, windows=0)            # validated again: printed once, no warning
    err = capsys.readouterr().err
    assert err.count("p-value floor 0.00397") == 1 and "warning" not in err
    assert "Warning" not in (tmp_path / "report" / "report.md").read_text()


def test_report_of_a_file_without_the_floor_attributes_computes_it(tmp_path):
    res = validation.evaluate(ladder(n_members=3), windows=[])
    for key in ("lowprec_pvalue_floor", "lowprec_pvalue_floor_design", "lowprec_pvalue_warning"):
        del res.attrs[key]                      # as validation.nc files written before them
    validation.report(res, tmp_path)
    assert "**Warning: the smallest attainable p-value of this design, 0.05" in (tmp_path / "report.md").read_text()


# --- the verdict rule

@functools.lru_cache(maxsize=1)
def _ladder_results() -> xr.Dataset:
    return validation.evaluate(ladder(), windows=[])


def with_pvalues(pvalues: dict[int, float], mode: str = "nearest", blown: tuple[int, ...] = ()) -> xr.Dataset:
    """evaluate's results for a ladder, with the aggregate p-values of `mode` set by hand."""
    res = _ladder_results().copy(deep=True)
    for s, p in pvalues.items():
        res["pvalue_global_T"].loc[{"sbits": s, "mode": mode}] = p
    for s in blown:
        res["blown_up"].loc[{"sbits": s, "mode": mode, "member": 5}] = True
    return res


def fewest_by_definition(states: dict[int, str]) -> int | None:
    """Oracle: the smallest s such that s is indistinguishable and no setting with more bits is
    significant or blown up (not scored ones are skipped)."""
    candidates = [s for s, state in states.items() if state == INDISTINGUISHABLE
                  and not any(t > s and states[t] in (SIGNIFICANT, BLOWN_UP) for t in states)]
    return min(candidates) if candidates else None


def test_verdict_follows_its_definition_on_many_random_ladders():
    rng = np.random.default_rng(2026)
    for _ in range(40):
        choice = rng.choice(["sig", "ind", "nan", "blown"], size=4, p=[0.35, 0.45, 0.1, 0.1])
        p = {s: {"sig": 0.001, "ind": 0.5, "nan": np.nan, "blown": 0.5}[c] for s, c in zip(SBITS[:4], choice)}
        blown = tuple(s for s, c in zip(SBITS[:4], choice) if c == "blown")
        (v,) = [v for v in verdict(with_pvalues(p, blown=blown), "T") if v.mode == "nearest"]
        expected_states = {s: {"sig": SIGNIFICANT, "ind": INDISTINGUISHABLE, "nan": NOT_SCORED,
                               "blown": BLOWN_UP}[c] for s, c in zip(SBITS[:4], choice)}
        assert {e.sbits: e.state for e in v.settings} == expected_states
        assert v.fewest == fewest_by_definition(expected_states), expected_states
        below = [s for s, st in expected_states.items() if st in (SIGNIFICANT, BLOWN_UP)
                 and (v.fewest is None or s < v.fewest)]
        assert (v.below.sbits if v.below else None) == (max(below) if below else None)


def test_verdict_names_exceptions_below_a_significant_setting():
    (v,) = [v for v in verdict(with_pvalues({6: 0.3, 8: 0.01, 10: 0.4, 12: 0.5}), "T") if v.mode == "nearest"]
    assert v.fewest == 10 and v.exceptions == (6,) and v.below.sbits == 8
    (v,) = [v for v in verdict(with_pvalues({6: 0.001, 8: 0.3, 10: 0.4, 12: 0.01}), "T") if v.mode == "nearest"]
    assert v.fewest is None and v.exceptions == (8, 10) and v.below.sbits == 12


def test_p_equal_to_alpha_is_significant():
    (v,) = [v for v in verdict(with_pvalues({6: 0.05, 8: 0.0500001, 10: 0.5, 12: 0.5}), "T") if v.mode == "nearest"]
    assert v.at(6).state == SIGNIFICANT and v.fewest == 8


def test_verdict_on_real_shifts_and_its_evidence():
    grid = {"depth": xr.DataArray(np.arange(4.0), dims="depth", attrs={"units": "m"})}
    ds = ladder(grid, shift={(6, "nearest"): 2.0, (8, "nearest"): 1.0, (6, "stochastic"): 1.0})
    res = validation.evaluate(ds, windows=[])
    by_mode = {v.mode: v for v in verdict(res, "T")}
    # Shifts of 1 and 2 standard deviations against a null W1 of ~0.2: every member farther than
    # every null member, so p is the floor 1/252 and every point is rejected.
    assert by_mode["nearest"].fewest == 10 and by_mode["stochastic"].fewest == 8
    at8 = by_mode["nearest"].at(8)
    assert at8.state == SIGNIFICANT and at8.pvalue == pytest.approx(1 / 252) and at8.points_significant == 1.0
    assert at8.excess == pytest.approx(float(res["w1_global_excess_T"].sel(sbits=8, mode="nearest")))
    # (52, stochastic) was not in the design: not a setting of the verdict
    assert [e.sbits for e in by_mode["stochastic"].settings] == [6, 8, 10, 12]


def test_no_pvalues_no_verdict(tmp_path):
    res = validation.evaluate(ladder(), windows=[], pvalues=False)
    assert verdict(res, "T") is None
    validation.report(res, tmp_path)
    assert "No p-values" in (tmp_path / "report.md").read_text()


def test_design_without_power_is_flagged_in_the_verdict(tmp_path):
    res = validation.evaluate(ladder(n_members=3), windows=[])
    assert all(v.powerless for v in verdict(res, "T"))
    assert not any(v.powerless for v in verdict(validation.evaluate(ladder(), windows=[]), "T"))
    validation.report(res, tmp_path)
    assert "for want of power, not evidence" in (tmp_path / "report.md").read_text()


# --- report.md

def test_report_leads_with_the_verdict_then_figures_then_tables(tmp_path):
    grid = {"depth": xr.DataArray(np.arange(4.0), dims="depth", attrs={"units": "m"})}
    res = validation.evaluate(ladder(grid, shift={(6, "nearest"): 2.0, (8, "nearest"): 1.0}), windows=[])
    validation.report(res, tmp_path)
    text = (tmp_path / "report.md").read_text()
    order = [text.index(h) for h in ("## Verdict", "## Figures", "## soil temperature (T) [K]",
                                     "## Runs that did not complete", "## Details")]
    assert order == sorted(order)
    e10 = next(v for v in verdict(res, "T") if v.mode == "nearest").at(10)
    assert (f"| soil temperature (T) | nearest | **10** | 10: excess {e10.excess:.4g} K, p {e10.pvalue:.3g}, "
            f"{e10.points_significant:.0%} of points | 8: excess ") in text
    # one caption line per figure written, saying what to look for
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    figure_lines = [line for line in text.split("## Figures")[1].split("\n## ")[0].splitlines() if line.startswith("- ")]
    assert sorted(n for line in figure_lines for n in pngs if f"`{n}`" in line) == pngs
    assert all("Look for" in line for line in figure_lines)
    # the null is stated once, not repeated as a row of the table
    assert "| 52 | nearest |" not in text and "Null (double vs double):" in text


def test_a_null_of_zero_is_explained_not_printed_as_nan(tmp_path):
    grid = {"depth": xr.DataArray(np.arange(4.0), dims="depth", attrs={"units": "m"})}
    res = validation.evaluate(ladder(grid, identical_null=True), windows=[])
    assert float(res["w1_global_null_T"]) == 0.0
    validation.report(res, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "NaN" not in text and "| ratio |" not in text
    assert "**0 exactly**" in text and "every distance below is rounding error" in text
    assert "blew up" not in text


def test_blown_up_setting_keeps_its_footnote(tmp_path):
    ds = ladder(shift={(6, "nearest"): 2.0})
    ds["T"].loc[{"sbits": 8, "mode": "stochastic", "member": 6, "time": 3.0}] = np.inf
    res = validation.evaluate(ds, windows=[])
    validation.report(res, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "| 8 | stochastic | 4 of 5: 1 blown up | NaN* |" in text
    assert "NaN*: no distance for this setting: members blew up" in text
    assert "8: blown up" in text                # the verdict's evidence for stochastic
