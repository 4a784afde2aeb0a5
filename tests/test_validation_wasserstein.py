"""W1 and W2 by sorting, against scipy.stats.wasserstein_distance and an assignment oracle."""
import numpy as np
import pytest
import scipy.optimize
import scipy.stats
import xarray as xr

import validation
from validation.wasserstein import pair_distances_sorted

RTOL = 1e-12


def scipy_w1(x, y):
    return scipy.stats.wasserstein_distance(x, y)


def assignment_wp(x, y, p):
    """Oracle: W_p by optimal assignment after replicating x m times and y n times (n·m atoms)."""
    n, m = len(x), len(y)
    xs, ys = np.repeat(x, m), np.repeat(y, n)
    cost = np.abs(xs[:, None] - ys[None, :]) ** p
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    return cost[rows, cols].mean() ** (1 / p)


@pytest.mark.parametrize("n,m", [(1, 1), (50, 50), (1000, 1000), (7, 5), (333, 1000), (3, 6), (999, 1001)])
def test_w1_matches_scipy(n, m):
    rng = np.random.default_rng(n * 7919 + m)
    x, y = rng.standard_normal(n) * 3 + 1, rng.gamma(2.0, size=m)
    assert validation.w1(x, y) == pytest.approx(scipy_w1(x, y), rel=RTOL)
    assert validation.w1(y, x) == pytest.approx(scipy_w1(x, y), rel=RTOL)


def test_w1_with_ties_matches_scipy():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 5, 400).astype(float)
    y = rng.integers(1, 4, 300).astype(float)
    assert validation.w1(x, y) == pytest.approx(scipy_w1(x, y), rel=RTOL)
    assert validation.w1(x, x) == 0.0


def test_w1_broadcasts_over_other_axes_and_axis_argument():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 200))
    y = rng.standard_normal((4, 150)) + 0.2
    d = validation.w1(x, y)
    assert d.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            assert d[i, j] == pytest.approx(scipy_w1(x[i, j], y[j]), rel=RTOL)
    d0 = validation.w1(np.moveaxis(x, -1, 0), np.moveaxis(y, -1, 0), axis=0)
    np.testing.assert_array_equal(d0, d)


def test_float32_input_accumulates_in_float64():
    rng = np.random.default_rng(6)
    x = rng.standard_normal(5000).astype(np.float32)
    y = (rng.standard_normal(5000) + 1e-3).astype(np.float32)
    d = validation.w1(x, y)
    assert d.dtype == np.float64
    assert d == pytest.approx(scipy_w1(x.astype(np.float64), y.astype(np.float64)), rel=RTOL)


@pytest.mark.parametrize("n,m", [(6, 6), (6, 4), (5, 3), (1, 4)])
def test_w2_and_w1_match_the_assignment_oracle(n, m):
    rng = np.random.default_rng(10 * n + m)
    x, y = rng.standard_normal(n), rng.standard_normal(m) * 2
    assert validation.w2(x, y) == pytest.approx(assignment_wp(x, y, 2), rel=1e-10)
    assert validation.w1(x, y) == pytest.approx(assignment_wp(x, y, 1), rel=1e-10)


def test_w2_of_a_shift_is_the_shift_and_bounds_w1():
    rng = np.random.default_rng(7)
    x = rng.standard_normal(1000)
    assert validation.w2(x, x + 0.75) == pytest.approx(0.75, rel=1e-12)
    y = rng.exponential(size=700)
    assert validation.w1(x, y) <= validation.w2(x, y)


def test_pair_distances_sorted_matches_scipy_for_every_pair():
    rng = np.random.default_rng(8)
    controls = np.sort(rng.standard_normal((3, 4, 257)), axis=-1)    # 3 points, 4 controls
    runs = np.sort(rng.standard_normal((3, 5, 257)) + 0.1, axis=-1)  # 5 runs
    d = pair_distances_sorted(controls, runs)
    assert d.shape == (3, 5, 4)
    for p in range(3):
        for r in range(5):
            for c in range(4):
                assert d[p, r, c] == pytest.approx(scipy_w1(controls[p, c], runs[p, r]), rel=RTOL)
    d2 = pair_distances_sorted(controls, runs, "w2")
    assert d2[1, 2, 3] == pytest.approx(validation.w2(controls[1, 3], runs[1, 2]), rel=RTOL)
    unequal = pair_distances_sorted(controls, runs[..., :200])
    assert unequal[2, 4, 0] == pytest.approx(scipy_w1(controls[2, 0], runs[2, 4, :200]), rel=RTOL)


def test_non_finite_samples_give_non_finite_distances():
    x = np.arange(10.0)
    assert np.isnan(validation.w1(x, np.r_[x[:-1], np.nan]))
    assert not np.isfinite(validation.w1(x, np.r_[x[:-1], np.inf]))
    d = pair_distances_sorted(np.sort(x)[None, None], np.r_[x[:-1], np.nan][None, None])
    assert np.isnan(d).all()


def test_empty_sample_is_refused():
    with pytest.raises(ValueError, match="empty"):
        validation.w1(np.array([]), np.arange(3.0))


def test_xarray_version_on_dask_with_unequal_lengths():
    rng = np.random.default_rng(9)
    a = xr.DataArray(rng.standard_normal((120, 6)), dims=("time", "x"), attrs={"units": "K"})
    b = xr.DataArray(rng.standard_normal((90, 6)) + 0.5, dims=("time", "x"))
    d = validation.w1_xr(a.chunk({"x": 2}), b.chunk({"x": 3}), dim="time")
    assert d.chunks is not None
    d = d.compute(scheduler="threads")
    assert d.attrs["units"] == "K"
    for j in range(6):
        assert float(d[j]) == pytest.approx(scipy_w1(a[:, j], b[:, j]), rel=RTOL)
    d2 = validation.w2_xr(a, b, dim="time")
    assert float(d2[0]) == pytest.approx(float(validation.w2(a[:, 0].values, b[:, 0].values)), rel=RTOL)


def test_equal_lengths_broadcast_over_other_axes_on_the_default_axis():
    """Equal lengths take the order-statistics path: W1 = mean|x₍ᵢ₎ − y₍ᵢ₎|, W2² = mean(x₍ᵢ₎ − y₍ᵢ₎)²
    (oracle written here), on 3-D input with the default (last) axis, against scipy per point."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 4, 60))
    y = rng.standard_normal((4, 60)) * 1.5 + 0.3
    d1, d2 = validation.w1(x, y), validation.w2(x, y)
    assert d1.shape == d2.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            difference = np.sort(x[i, j]) - np.sort(y[j])
            assert d1[i, j] == pytest.approx(scipy_w1(x[i, j], y[j]), rel=RTOL)
            assert d2[i, j] == pytest.approx(np.sqrt(np.mean(difference ** 2)), rel=RTOL)


def test_pair_distances_with_leading_axes_and_unequal_lengths():
    """controls (P, M, n) and runs (P, R, k), k ≠ n, with M = k (so that no axis can stand in for
    the sample length by coincidence): every pair against scipy."""
    rng = np.random.default_rng(12)
    controls = np.sort(rng.standard_normal((2, 3, 7)), axis=-1)
    runs = np.sort(rng.standard_normal((2, 4, 3)) + 0.4, axis=-1)
    d = pair_distances_sorted(controls, runs)
    assert d.shape == (2, 4, 3)
    for p in range(2):
        for r in range(4):
            for c in range(3):
                assert d[p, r, c] == pytest.approx(scipy_w1(controls[p, c], runs[p, r]), rel=RTOL)


def test_pair_distances_of_empty_samples_are_refused():
    with pytest.raises(ValueError, match="empty"):
        pair_distances_sorted(np.empty((2, 3, 0)), np.empty((2, 4, 0)))
