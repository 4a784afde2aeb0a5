"""Permutation p-values and Benjamini–Hochberg, against enumeration by hand and scipy."""
import itertools
import math

import numpy as np
import pytest
import scipy.stats

from lowprec.errors import ValidationInputError
from validation.significance import fdr_reject, min_pvalue, permutation_pvalues


def brute_force_pvalue(setting, null):
    values = list(setting) + list(null)
    observed = np.mean(setting) - np.mean(null)
    count = total = 0
    for chosen in itertools.combinations(range(len(values)), len(setting)):
        rest = [v for k, v in enumerate(values) if k not in chosen]
        excess = np.mean([values[k] for k in chosen]) - np.mean(rest)
        count += excess >= observed - 1e-12
        total += 1
    return count / total


def test_pvalue_equals_enumeration_by_hand():
    rng = np.random.default_rng(3)
    for n_s, n_n in [(5, 5), (3, 4), (4, 6)]:
        s, n = rng.normal(0.3, 1, n_s), rng.normal(0, 1, n_n)
        assert permutation_pvalues(s, n) == pytest.approx(brute_force_pvalue(s, n), rel=1e-12)


def test_extremes_and_ties():
    assert permutation_pvalues(np.full(5, 9.0), np.arange(5.0)) == pytest.approx(1 / math.comb(10, 5))
    assert permutation_pvalues(np.full(5, -9.0), np.arange(5.0)) == 1.0
    assert permutation_pvalues(np.ones(5), np.ones(5)) == 1.0          # all ties count as "at least"
    assert np.isnan(permutation_pvalues(np.r_[1.0, np.nan, 2, 3, 4], np.arange(5.0)))
    assert min_pvalue(5, 5) == 1 / 252 and min_pvalue(2, 2) == 1 / 6


def test_broadcasting_and_sampled_relabellings():
    rng = np.random.default_rng(4)
    s, n = rng.normal(1.0, 1, (7, 5)), rng.normal(0, 1, (7, 5))
    p = permutation_pvalues(s, n)
    assert p.shape == (7,)
    assert p[2] == pytest.approx(brute_force_pvalue(s[2], n[2]))
    sampled = permutation_pvalues(s, n, max_relabellings=200, seed=1)   # 252 > 200: Monte Carlo
    assert np.all(np.abs(sampled - p) < 0.15)
    assert np.all(sampled >= 1 / 201)


def test_p_values_are_valid_under_the_null():
    rng = np.random.default_rng(5)
    p = permutation_pvalues(rng.standard_normal((4000, 5)), rng.standard_normal((4000, 5)))
    se = math.sqrt(0.05 * 0.95 / p.size)
    assert abs(np.mean(p <= 0.05) - 12 / 252) < 4 * se     # exact: P(p ≤ 0.05) = 12/252


def test_fdr_matches_scipy_and_skips_nan():
    rng = np.random.default_rng(6)
    p = np.concatenate([rng.uniform(size=90), rng.uniform(0, 1e-3, 10)])
    expected = scipy.stats.false_discovery_control(p) <= 0.1
    np.testing.assert_array_equal(fdr_reject(p, 0.1), expected)
    with_nan = np.r_[p, np.nan].reshape(101, 1)
    got = fdr_reject(with_nan, 0.1)
    assert got.shape == (101, 1) and not got[-1, 0]
    np.testing.assert_array_equal(got[:-1, 0], expected)
    with pytest.raises(ValidationInputError, match="alpha=1.5"):
        fdr_reject(p, 1.5)


# ------------------------------------------------------------------ leave-one-out p-values

import xarray as xr                                                     # noqa: E402
from click.testing import CliRunner                                     # noqa: E402

import validation                                                       # noqa: E402
from validation.significance import (leave_one_out_min_pvalue, leave_one_out_pvalues,  # noqa: E402
                                     null_pair_count)


def tiny_ensemble(seed: int = 11) -> xr.Dataset:
    """3 controls (members 0-2), 3 competitors (3-5); sbits 52 and 8; 3 × 2 points.

    sbits 8 is shifted by 1 at the near-polar latitude only, so cos-weighted and plain global
    means of the distances differ a lot.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 1, 6, 7, 3, 2))                 # sbits, mode, member, time, lat, lon
    x[1, ..., 0, :] += 1.0
    x[1, :, :3] = np.nan                                        # low precision runs no controls
    ds = xr.Dataset({"T": (("sbits", "mode", "member", "time", "lat", "lon"), x, {"units": "K"})},
                    coords={"sbits": [52, 8], "mode": ["nearest"], "member": list(range(6)),
                            "time": np.arange(7.0), "lat": [-85.0, 0.0, 30.0], "lon": [0.0, 180.0]})
    return ds.assign_attrs(lowprec_control_members=[0, 1, 2], lowprec_competitor_members=[3, 4, 5])


def python_w1(a, b) -> float:
    """W1 of two equal-length samples in pure Python: mean |a_(i) − b_(i)| of the order statistics."""
    return sum(abs(u - v) for u, v in zip(sorted(a), sorted(b))) / len(a)


def python_loo_p(statistic: float, null: list[float]) -> float:
    return (1 + sum(d >= statistic for d in null)) / (1 + len(null))


def test_leave_one_out_equals_a_pure_python_computation():
    ds = tiny_ensemble()
    res = validation.evaluate(ds, windows=[], pvalue_method="leave_one_out", alpha=0.1)
    controls, members = [0, 1, 2], [3, 4, 5]
    series = lambda s, k, i, j: [float(v) for v in ds["T"].values[[52, 8].index(s), 0, k, :, i, j]]
    cos = [math.cos(math.radians(lat)) for lat in (-85.0, 0.0, 30.0)]
    null_global, stat_global = {}, 0.0
    for i in range(3):
        for j in range(2):
            null = [python_w1(series(52, c, i, j), series(52, k, i, j)) for c in controls for k in members]
            null += [python_w1(series(52, c, i, j), series(52, d, i, j))
                     for a, c in enumerate(controls) for d in controls[a + 1:]]
            stat = sum(python_w1(series(52, c, i, j), series(8, k, i, j))
                       for c in controls for k in members) / 9
            assert len(null) == 12 == null_pair_count(3, 3)
            assert float(res["pvalue_T"].sel(sbits=8, mode="nearest").isel(lat=i, lon=j)) == \
                pytest.approx(python_loo_p(stat, null), rel=1e-12)
            for n, d in enumerate(null):        # the global null: weighted mean of each pair over points
                null_global[n] = null_global.get(n, 0.0) + cos[i] * d
            stat_global += cos[i] * stat
    total = 2 * sum(cos)
    p_global = python_loo_p(stat_global / total, [v / total for v in null_global.values()])
    assert float(res["pvalue_global_T"].sel(sbits=8, mode="nearest")) == pytest.approx(p_global, rel=1e-12)
    assert np.isnan(res["pvalue_T"].sel(sbits=52, mode="nearest")).all()
    assert res.attrs["lowprec_pvalue_method"] == "leave_one_out"
    assert res["pvalue_T"].attrs["lowprec_null_pairs"] == 12


def test_leave_one_out_function_extremes_and_nan():
    null = np.arange(1.0, 36.0)                                   # 35 distances
    assert leave_one_out_pvalues(99.0, null) == 1 / 36
    assert leave_one_out_pvalues(0.0, null) == 1.0
    assert leave_one_out_pvalues(35.0, null) == 2 / 36            # a tie counts as "at least"
    assert np.isnan(leave_one_out_pvalues(np.nan, null))
    assert np.isnan(leave_one_out_pvalues(1.0, np.r_[null[:-1], np.nan]))
    assert leave_one_out_min_pvalue(5, 5) == 1 / 36 and null_pair_count(5, 5) == 35


def shifted_sweep(shift: dict, seed: int = 1):
    from test_validation_ensemble import sweep
    grid = {"lat": np.linspace(-80.0, 80.0, 20), "lon": np.arange(20) * 18.0}     # 400 points
    return sweep(grid, shift=shift, seed=seed)


def test_leave_one_out_rejects_a_strong_shift_and_keeps_its_level_without_one():
    # W1 between N(0, 1) samples of 120 is ~0.1 ± 0.03: a shift of 1 is far outside every
    # double-vs-double distance; (10, stochastic) is the same climate as double precision.
    res = validation.evaluate(shifted_sweep({(10, "nearest"): 1.0}), windows=[],
                              pvalue_method="leave_one_out")
    p = res["pvalue_T"].sel(sbits=10, mode="nearest").values
    assert np.mean(p == 1 / 36) >= 0.99
    assert res["reject_fdr_T"].sel(sbits=10, mode="nearest").values.mean() >= 0.99
    assert float(res["pvalue_global_T"].sel(sbits=10, mode="nearest")) == 1 / 36
    p0 = res["pvalue_T"].sel(sbits=10, mode="stochastic").values
    assert p0.size == 400 and np.isfinite(p0).all()
    # 400 independent points: at most 5 % (+ 4 standard errors) with p ≤ 0.05 if the test is valid.
    assert np.mean(p0 <= 0.05) <= 0.05 + 4 * np.sqrt(0.05 * 0.95 / p0.size)
    assert res["reject_fdr_T"].sel(sbits=10, mode="stochastic").values.mean() <= 0.05
    assert float(res["pvalue_global_T"].sel(sbits=10, mode="stochastic")) > 0.05


def test_leave_one_out_changes_only_the_p_values():
    ds = shifted_sweep({(10, "nearest"): 0.2}, seed=2)
    default = validation.evaluate(ds, windows=[2, 4])
    perm = validation.evaluate(ds, windows=[2, 4], pvalue_method="permutation")
    loo = validation.evaluate(ds, windows=[2, 4], pvalue_method="leave_one_out")
    # (the history attribute carries the time of the call, to the second)
    del default.attrs["history"], perm.attrs["history"]
    assert default.identical(perm) and default.attrs["lowprec_pvalue_method"] == "permutation"
    for name in default.data_vars:
        if not name.startswith(("pvalue", "reject_fdr")):
            xr.testing.assert_identical(default[name], loo[name])
    assert not np.array_equal(default["pvalue_T"], loo["pvalue_T"], equal_nan=True)


def test_leave_one_out_refuses_too_few_pairs_and_unknown_methods():
    ds = tiny_ensemble()                          # M = N = 3: 12 null distances, smallest p 1/13
    with pytest.raises(ValidationInputError, match=r"n_null = 3·3 \+ 3·2/2 = 12.*1/13 = 0.0769 > 0.05"):
        validation.evaluate(ds, windows=[], pvalue_method="leave_one_out")
    assert "pvalue_T" not in validation.evaluate(ds, windows=[], pvalues=False,
                                                 pvalue_method="leave_one_out")
    with pytest.raises(ValidationInputError, match="pvalue_method='bootstrap'"):
        validation.evaluate(ds, windows=[], pvalue_method="bootstrap")


def test_cli_pvalues_option_writes_the_method(tmp_path, monkeypatch):
    import lowprec.harness.sweep as sweep_module
    from lowprec.harness.cli_sweep import validate
    from test_validation_ensemble import GRID, sweep

    ds = sweep(GRID, n_time=30, shift={(10, "nearest"): 1.0}).assign_attrs(lowprec_sample_dims="")
    monkeypatch.setattr(sweep_module, "open_sweep", lambda path: ds)
    expected = validation.evaluate(ds, windows=[], pvalue_method="leave_one_out")
    for args, method in [([], "permutation"), (["--pvalues", "leave_one_out"], "leave_one_out")]:
        result = CliRunner().invoke(validate, [str(tmp_path), "--windows", "0", *args])
        assert result.exit_code == 0, result.output
        with xr.open_dataset(tmp_path / "validation.nc") as v:
            assert v.attrs["lowprec_pvalue_method"] == method
            if method == "leave_one_out":
                np.testing.assert_array_equal(v["pvalue_T"].values, expected["pvalue_T"].values)
    result = CliRunner().invoke(validate, [str(tmp_path), "--pvalues", "bootstrap"])
    assert result.exit_code != 0 and "bootstrap" in result.output


from validation.significance import leave_one_out_null  # noqa: E402


def test_leave_one_out_null_order_and_leading_axes():
    """The null sample: control × null distances (null member j, then control i), then the
    control pairs i < k; leading axes broadcast like the loop over them."""
    rng = np.random.default_rng(21)
    M, N = 4, 3
    control_null = rng.random((N, M))
    control_control = rng.random((M, M))
    control_control += control_control.T
    expected = ([control_null[j, i] for j in range(N) for i in range(M)]
                + [control_control[i, k] for i in range(M) for k in range(i + 1, M)])
    np.testing.assert_array_equal(leave_one_out_null(control_null, control_control), expected)
    many_null, many_control = rng.random((2, 5, N, M)), rng.random((5, M, M))
    got = leave_one_out_null(many_null, many_control)
    assert got.shape == (2, 5, null_pair_count(M, N))
    for a in range(2):
        for b in range(5):
            np.testing.assert_array_equal(got[a, b], leave_one_out_null(many_null[a, b],
                                                                        many_control[b]))


def test_leave_one_out_null_refuses_shapes_that_do_not_fit():
    rng = np.random.default_rng(22)
    with pytest.raises(ValueError, match="expected"):          # control × control not square
        leave_one_out_null(rng.random((3, 4)), rng.random((4, 5)))
    with pytest.raises(ValueError, match="expected"):
        leave_one_out_null(rng.random((3, 5)), rng.random((2, 4, 5)))
    with pytest.raises(ValueError, match="expected"):          # another number of controls
        leave_one_out_null(rng.random((3, 5)), rng.random((4, 4)))


def test_fdr_default_level_is_five_percent():
    # Benjamini–Hochberg by hand, 4 tests: p(i) <= i/4 · alpha for i = 1, 2 at 0.05 (0.001 <=
    # 0.0125, 0.02 <= 0.025, but 0.04 > 0.0375); at 0.1 the third passes too (0.04 <= 0.075).
    p = np.array([0.04, 0.001, 0.3, 0.02])
    np.testing.assert_array_equal(fdr_reject(p), [False, True, False, True])
    np.testing.assert_array_equal(fdr_reject(p, 0.1), [True, True, False, True])
    assert fdr_reject(np.array([0.05])).all()          # p(i) <= i/m · alpha: equality rejects


from validation.significance import relabellings  # noqa: E402


def test_relabellings_exact_and_sampled():
    """Exact: all C(2N, N) labellings, each once, the observed one first. Sampled: the observed one
    and B random labellings of N runs each, flagged as not exact."""
    matrix, exact = relabellings(3, 3)
    assert exact and matrix.shape == (6, 20)
    columns = {tuple(np.flatnonzero(c)) for c in matrix.T}
    assert columns == set(itertools.combinations(range(6), 3))
    assert tuple(np.flatnonzero(matrix[:, 0])) == (0, 1, 2)
    matrix, exact = relabellings(10, 10, max_relabellings=100, seed=3)
    assert not exact and matrix.shape == (20, 101)
    assert np.all(matrix.sum(axis=0) == 10) and tuple(np.flatnonzero(matrix[:, 0])) == tuple(range(10))


def test_sampled_permutation_p_value_floor_is_one_over_b_plus_one():
    """Beyond max_relabellings the smallest p is 1/(1 + B), the observed labelling counted: what
    min_pvalue says, and what a setting far above its null gets (N = 9: C(18, 9) = 48620 >
    20000, so the default B = 20000 samples)."""
    rng = np.random.default_rng(23)
    setting, null = 10 + rng.random(9), rng.random(9)
    assert min_pvalue(9, 9) == 1 / 20_001
    assert permutation_pvalues(setting, null) == min_pvalue(9, 9)
    assert min_pvalue(10, 10, max_relabellings=100) == 1 / 101
    assert permutation_pvalues(setting, null, max_relabellings=100) == 1 / 101
