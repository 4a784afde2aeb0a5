"""The control / competitor / null design on synthetic ensembles whose answer is known."""
import numpy as np
import pytest
import scipy.stats
import xarray as xr

import validation
from lowprec.errors import ValidationInputError

CONTROLS, COMPETITORS = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]
SBITS, MODES = [52, 10], ["nearest", "stochastic"]


def sweep(space: dict, n_time: int = 120, seed: int = 0, shift=None, pool: dict | None = None,
          units: str = "K") -> xr.Dataset:
    """Dataset in open_sweep's layout: i.i.d. N(0, 1) samples in every run and point.

    shift: {(sbits, mode): offset (scalar or array over the space dims)} added to those runs.
    (52, "stochastic") is run for the competitors only, as a sweep would.
    """
    rng = np.random.default_rng(seed)
    pool = pool or {}
    dims = ("sbits", "mode", "member", "time", *pool, *space)
    shape = (len(SBITS), len(MODES), 10, n_time, *(len(v) for v in pool.values()),
             *(len(v) for v in space.values()))
    x = rng.standard_normal(shape)
    for (s, m), offset in (shift or {}).items():
        x[SBITS.index(s), MODES.index(m)] += offset
    x[0, 1, :5] = np.nan
    coords = {"sbits": SBITS, "mode": MODES, "member": list(range(10)), "time": np.arange(n_time) * 0.5}
    coords.update(pool)
    coords.update(space)
    ds = xr.Dataset({"T": (dims, x, {"units": units, "long_name": "temperature"})}, coords=coords)
    ds.attrs.update(lowprec_control_members=CONTROLS, lowprec_competitor_members=COMPETITORS)
    return ds


GRID = {"lat": np.linspace(-75.0, 75.0, 6), "lon": np.arange(8) * 45.0}


def test_distances_are_means_over_pairs_of_scipy_distances():
    ds = sweep(GRID, shift={(10, "nearest"): 0.3})
    res = validation.evaluate(ds, windows=[])
    for s, m, i, j in [(10, "nearest", 2, 5), (52, "nearest", 0, 0), (10, "stochastic", 5, 7)]:
        point = ds["T"].isel(lat=i, lon=j)
        expected = np.mean([scipy.stats.wasserstein_distance(point.sel(sbits=52, mode="nearest", member=c),
                                                             point.sel(sbits=s, mode=m, member=k))
                            for c in CONTROLS for k in COMPETITORS])
        assert float(res["w1_T"].sel(sbits=s, mode=m).isel(lat=i, lon=j)) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(res["w1_null_T"], res["w1_T"].sel(sbits=52, mode="nearest"))
    np.testing.assert_allclose(res["w1_excess_T"], res["w1_T"] - res["w1_null_T"])
    assert res["w1_T"].attrs["units"] == "K" and res["w1_ratio_T"].attrs["units"] == "1"
    assert res.attrs["lowprec_control_members"] == CONTROLS


def test_shift_of_a_few_null_spreads_is_positive_and_rejected_noise_is_not():
    grid = {"lat": np.linspace(-80.0, 80.0, 20), "lon": np.arange(20) * 18.0}     # 400 points
    shifted = np.zeros((20, 20))
    shifted[:, :10] = 0.4                      # W1 of N(0,1) samples of 120: ~0.1 ± 0.03
    ds = sweep(grid, shift={(10, "nearest"): shifted}, seed=1)
    res = validation.evaluate(ds, windows=[])
    excess = res["w1_excess_T"].sel(sbits=10, mode="nearest").values
    reject = res["reject_fdr_T"].sel(sbits=10, mode="nearest").values
    assert (excess[:, :10] > 0).all()
    assert reject[:, :10].mean() >= 0.95
    assert reject[:, 10:].mean() <= 0.05 + 0.05          # BH at 5 % among the unshifted half
    assert float(res["pvalue_global_T"].sel(sbits=10, mode="nearest")) == pytest.approx(1 / 252)
    # (10, stochastic) is the same climate: the permutation test is exact here, so at most
    # ~5 % of the 400 independent points have p ≤ 0.05 (bound: 5 % + 4 standard errors).
    p = res["pvalue_T"].sel(sbits=10, mode="stochastic").values
    assert np.mean(p <= 0.05) <= 0.05 + 4 * np.sqrt(0.05 * 0.95 / p.size)
    assert res["reject_fdr_T"].sel(sbits=10, mode="stochastic").values.mean() <= 0.05
    assert np.isnan(res["pvalue_T"].sel(sbits=52, mode="nearest")).all()


def test_cos_latitude_weights_against_a_hand_computation():
    ds = sweep(GRID, shift={(10, "nearest"): 0.2})
    res = validation.evaluate(ds, windows=[], pvalues=False)
    count = validation.evaluate(ds, windows=[], pvalues=False, normalise="count")
    w1 = res["w1_T"].sel(sbits=10, mode="nearest").transpose("lat", "lon").values
    cos = np.cos(np.deg2rad(GRID["lat"]))[:, None] * np.ones((1, 8))
    assert float(res["w1_global_T"].sel(sbits=10, mode="nearest")) == pytest.approx((cos * w1).sum() / cos.sum(), rel=1e-12)
    assert float(count["w1_global_T"].sel(sbits=10, mode="nearest")) == pytest.approx((cos * w1).sum() / 48, rel=1e-12)
    assert "cos(lat)" in res.attrs["lowprec_weights"]


def test_plain_mean_without_latitude_and_depth_profile():
    ds = sweep({"depth": np.linspace(0.0, 10.0, 7)})
    res = validation.evaluate(ds, windows=[], pvalues=False)
    w1 = res["w1_T"].sel(sbits=10, mode="stochastic")
    assert w1.dims == ("depth",)
    assert float(res["w1_global_T"].sel(sbits=10, mode="stochastic")) == pytest.approx(float(w1.mean()), rel=1e-12)
    assert "plain mean" in res.attrs["lowprec_weights"]


def test_pooled_particles_for_lorenz_like_output():
    ds = sweep({}, n_time=60, pool={"particle": np.arange(3)}, shift={(10, "nearest"): 1.0})
    res = validation.evaluate(ds, pool_dims=("particle",), windows=2)
    r = ds["T"].sel(sbits=10, mode="nearest", member=9).values.ravel()
    member = res["w1_global_member_T"].sel(sbits=10, mode="nearest", member=9)
    pairs = [scipy.stats.wasserstein_distance(ds["T"].sel(sbits=52, mode="nearest", member=k).values.ravel(), r)
             for k in CONTROLS]
    assert float(member) == pytest.approx(np.mean(pairs), rel=1e-12)
    assert res["w1_T"].dims == ("sbits", "mode")
    assert res.attrs["lowprec_pooled_dims"] == "time, particle"
    np.testing.assert_allclose(res["w1_global_t_T"].isel(window=-1), res["w1_global_T"], rtol=1e-12)


def test_mean_bias_is_the_shift_and_bounded_by_w1():
    ds = sweep(GRID, shift={(10, "nearest"): 0.5})
    res = validation.evaluate(ds, windows=[], pvalues=False)
    bias = res["mean_bias_T"]
    assert float(bias.sel(sbits=10, mode="nearest")) == pytest.approx(0.5, abs=0.02)
    finite = np.isfinite(bias)
    assert (np.abs(bias) <= res["w1_global_T"] + 1e-12).where(finite, True).all()


def test_spinup_and_dask_chunking_do_not_change_the_numbers():
    ds = sweep(GRID, shift={(10, "nearest"): 0.3})
    a = validation.evaluate(ds, spinup=20, windows=[60, 100])
    b = validation.evaluate(ds.isel(time=slice(20, None)).chunk({"lat": 2}), windows=[60, 100], chunk_points=5)
    xr.testing.assert_allclose(a.drop_attrs(), b.drop_attrs(), rtol=1e-13)
    assert a.attrs["lowprec_spinup_discarded_outputs"] == 20


def test_blown_up_member_is_flagged_and_never_averaged():
    ds = sweep(GRID)
    run = {"sbits": 10, "mode": "nearest", "member": 7}
    ds["T"].loc[run] = ds["T"].sel(run).where(ds["time"] < 30)          # NaN after t = 30
    ds["T"].loc[{"sbits": 10, "mode": "stochastic", "member": 6, "time": 40.0}] = np.inf
    res = validation.evaluate(ds, windows=3)
    assert res["blown_up"].sel(sbits=10, mode="nearest").values.tolist() == [False, False, True, False, False]
    assert res["blown_up"].sel(sbits=10, mode="stochastic", member=6)
    assert int(res["blown_up"].sum()) == 2
    for mode in MODES:
        setting = {"sbits": 10, "mode": mode}
        assert np.isnan(res["w1_T"].sel(setting)).all()
        assert np.isnan(res["w1_global_T"].sel(setting))
        assert np.isnan(res["w1_global_t_T"].sel(setting)).all()
        assert np.isnan(res["pvalue_T"].sel(setting)).all()
        assert not res["reject_fdr_T"].sel(setting).any()
    assert np.isfinite(res["w1_global_T"].sel(sbits=52, mode="stochastic"))
    # The surviving members are scored; only the blown-up one is NaN.
    assert np.isfinite(res["w1_global_member_T"].sel(sbits=10, mode="nearest", member=5))
    assert np.isnan(res["w1_global_member_T"].sel(sbits=10, mode="nearest", member=7))


def test_unrun_setting_is_nan_not_an_error():
    ds = sweep(GRID)
    ds["T"].loc[{"sbits": 10, "mode": "stochastic"}] = np.nan
    res = validation.evaluate(ds, windows=[])
    assert int(res["n_members"].sel(sbits=10, mode="stochastic")) == 0
    assert not res["blown_up"].sel(sbits=10, mode="stochastic").any()
    assert np.isnan(res["w1_global_T"].sel(sbits=10, mode="stochastic"))


# ------------------------------------------------------------------------------ refusals

def test_refuses_without_double_precision_control():
    ds = sweep(GRID).sel(sbits=[10])
    with pytest.raises(ValidationInputError, match="no double-precision control"):
        validation.evaluate(ds)


def test_refuses_too_few_controls_and_too_few_members_for_pvalues():
    ds = sweep(GRID)
    ds.attrs["lowprec_control_members"] = [0]
    with pytest.raises(ValidationInputError, match="at least 2"):
        validation.evaluate(ds)
    ds = sweep(GRID)
    ds.attrs["lowprec_competitor_members"] = [5, 6]
    with pytest.raises(ValidationInputError, match="smallest possible p-value"):
        validation.evaluate(ds)
    assert np.isfinite(validation.evaluate(ds, pvalues=False, windows=[])["w1_global_null_T"])


def test_refuses_blown_up_or_missing_controls():
    ds = sweep(GRID)
    ds["T"].loc[{"sbits": 52, "mode": "nearest", "member": 2, "time": 3.0}] = np.nan
    with pytest.raises(ValidationInputError, match=r"control members \[2\] have NaN"):
        validation.evaluate(ds)
    ds = sweep(GRID)
    ds["T"].loc[{"sbits": 52, "mode": "nearest", "member": 8}] = np.nan
    with pytest.raises(ValidationInputError, match=r"null members \[8\] were not run"):
        validation.evaluate(ds)


def test_refuses_missing_variable_and_bad_members():
    ds = sweep(GRID)
    with pytest.raises(ValidationInputError, match="'precip' is not in the Dataset"):
        validation.evaluate(ds, variables=["precip"])
    ds.attrs["lowprec_competitor_members"] = [4, 5, 6]
    with pytest.raises(ValidationInputError, match="both control and competitor"):
        validation.evaluate(ds)
    ds.attrs["lowprec_competitor_members"] = [5, 66]
    with pytest.raises(ValidationInputError, match=r"\[66\]"):
        validation.evaluate(ds)


def test_several_datasets_are_merged_only_when_units_and_grids_agree():
    ds = sweep(GRID, shift={(10, "nearest"): 0.3})
    low, double = ds.sel(sbits=[10]), ds.sel(sbits=[52])
    merged = validation.evaluate([double, low], windows=[], pvalues=False)
    alone = validation.evaluate(ds, windows=[], pvalues=False)
    xr.testing.assert_allclose(merged["w1_T"], alone["w1_T"].sel(sbits=merged["sbits"]))
    bad_units = low.copy()
    bad_units["T"].attrs["units"] = "degC"
    with pytest.raises(ValidationInputError, match="units 'K' in dataset 0 and 'degC'"):
        validation.evaluate([double, bad_units])
    with pytest.raises(ValidationInputError, match="coordinate 'lat' differs"):
        validation.evaluate([double, low.assign_coords(lat=low["lat"] + 1.0)])


def test_w2_statistic_and_netcdf_round_trip(tmp_path):
    ds = sweep(GRID, shift={(10, "nearest"): 0.3})
    res = validation.evaluate(ds, statistic="w2", windows=2)
    point = ds["T"].isel(lat=1, lon=3)
    expected = np.mean([validation.w2(point.sel(sbits=52, mode="nearest", member=c).values,
                                      point.sel(sbits=10, mode="nearest", member=k).values)
                        for c in CONTROLS for k in COMPETITORS])
    assert float(res["w1_T"].sel(sbits=10, mode="nearest").isel(lat=1, lon=3)) == pytest.approx(expected, rel=1e-12)
    assert "2-Wasserstein" in res["w1_T"].attrs["long_name"] and res.attrs["lowprec_statistic"] == "w2"
    res.to_netcdf(tmp_path / "validation.nc")
    back = xr.open_dataset(tmp_path / "validation.nc")
    xr.testing.assert_allclose(back["w1_global_T"], res["w1_global_T"])
    assert back["reject_fdr_T"].dtype == bool
    assert list(back.attrs["lowprec_control_members"]) == CONTROLS


def test_a_run_that_is_inf_from_the_start_is_blown_up_not_missing():
    ds = sweep(GRID)
    ds["T"].loc[{"sbits": 10, "mode": "stochastic", "member": 9}] = np.inf
    res = validation.evaluate(ds, windows=[], pvalues=False)
    assert res["blown_up"].sel(sbits=10, mode="stochastic", member=9)
    assert int(res["n_members"].sel(sbits=10, mode="stochastic")) == 5
    assert np.isnan(res["w1_global_T"].sel(sbits=10, mode="stochastic"))


def test_a_blow_up_during_spinup_still_counts():
    ds = sweep(GRID)
    ds["T"].loc[{"sbits": 10, "mode": "nearest", "member": 5, "time": 1.0}] = np.nan
    res = validation.evaluate(ds, spinup=10, windows=[], pvalues=False)
    assert res["blown_up"].sel(sbits=10, mode="nearest", member=5)
    assert int(res["blown_up"].sum()) == 1


# ------------------------------------------------------------------------ sweep conventions

def test_refuses_a_sweep_without_controls_before_computing_any_distance(monkeypatch):
    import validation.ensemble as ensemble

    def no_scan(*args, **kwargs):
        raise AssertionError("distances computed before the design was checked")

    monkeypatch.setattr(ensemble, "_scan", no_scan)
    ds = sweep(GRID)
    ds.attrs["lowprec_control_members"] = []
    with pytest.raises(ValidationInputError, match=r"0 double-precision control members.*set \[sweep\] controls >= 2"):
        validation.evaluate(ds)
    ds.attrs.update(lowprec_control_members=CONTROLS, lowprec_competitor_members=[5])
    with pytest.raises(ValidationInputError, match=r"1 double-precision null members.*set \[sweep\] members >= 2"):
        validation.evaluate(ds)


def with_status(ds: xr.Dataset) -> xr.Dataset:
    """open_sweep's status variable: complete where a run has data, absent elsewhere."""
    has_data = ds["T"].notnull().any([d for d in ds["T"].dims if d not in ("sbits", "mode", "member")])
    return ds.assign(status=xr.where(has_data, "complete", "absent").astype(str))


def test_status_says_which_empty_runs_blew_up_and_which_are_missing():
    ds = with_status(sweep(GRID))
    early = {"sbits": 10, "mode": "nearest", "member": 7}
    ds["T"].loc[early] = np.nan                      # blew up before its first output
    ds["status"].loc[early] = "blown_up"
    for member, status in ((6, "failed"), (8, "pending")):
        run = {"sbits": 10, "mode": "stochastic", "member": member}
        ds["T"].loc[run] = np.nan
        ds["status"].loc[run] = status
    res = validation.evaluate(ds, windows=[], pvalues=False)
    assert bool(res["blown_up"].sel(early)) and bool(res["run_present"].sel(early))
    assert int(res["n_members"].sel(sbits=10, mode="nearest")) == 5
    assert np.isnan(res["w1_global_T"].sel(sbits=10, mode="nearest"))
    stochastic = {"sbits": 10, "mode": "stochastic"}
    assert not res["blown_up"].sel(stochastic).any()
    assert int(res["n_members"].sel(stochastic)) == 3
    assert np.isfinite(res["w1_global_T"].sel(stochastic))
    # Without status the all-NaN run reads as not run (the data-based fallback).
    res = validation.evaluate(ds.drop_vars("status"), windows=[], pvalues=False)
    assert not bool(res["blown_up"].sel(early)) and not bool(res["run_present"].sel(early))


def test_status_of_a_double_precision_control_is_checked():
    ds = with_status(sweep(GRID))
    ds["status"].loc[{"sbits": 52, "mode": "nearest", "member": 1}] = "blown_up"
    with pytest.raises(ValidationInputError, match=r"control members \[1\]"):
        validation.evaluate(ds)
    ds = with_status(sweep(GRID))
    ds["status"].loc[{"sbits": 52, "mode": "nearest", "member": 9}] = "failed"
    with pytest.raises(ValidationInputError, match=r"null members \[9\] were not run"):
        validation.evaluate(ds)


def test_pooled_dims_default_to_the_runs_sample_dims_attribute():
    ds = sweep({}, n_time=30, pool={"particle": np.arange(3)})
    ds.attrs["lowprec_sample_dims"] = "particle"
    res = validation.evaluate(ds, windows=[], pvalues=False)
    assert res.attrs["lowprec_pooled_dims"] == "time, particle"
    assert res["w1_T"].dims == ("sbits", "mode")
    unpooled = validation.evaluate(ds, pool_dims=(), windows=[], pvalues=False)
    assert unpooled.attrs["lowprec_pooled_dims"] == "time"
    assert unpooled["w1_T"].dims == ("sbits", "mode", "particle")
    for value in ("", None):
        if value is None:
            del ds.attrs["lowprec_sample_dims"]
        else:
            ds.attrs["lowprec_sample_dims"] = value
        assert validation.evaluate(ds, windows=[], pvalues=False).attrs["lowprec_pooled_dims"] == "time"
    ds.attrs["lowprec_sample_dims"] = "particle trajectory"
    with pytest.raises(ValidationInputError, match=r"lowprec_sample_dims.*\['trajectory'\]"):
        validation.evaluate(ds)


def test_global_mean_series_per_setting_and_per_control():
    ds = sweep(GRID, n_time=50, shift={(10, "nearest"): 0.5})
    ds["T"].loc[{"sbits": 10, "mode": "nearest", "member": 7, "time": 20.0}] = np.inf   # a blow-up
    res = validation.evaluate(ds, spinup=4, windows=[], pvalues=False, chunk_points=5)
    after = ds["T"].isel(time=slice(4, None))
    cos = np.cos(np.deg2rad(after["lat"]))
    by_run = (after * cos).sum(["lat", "lon"]) / (cos.sum() * after.sizes["lon"])
    surviving = by_run.sel(sbits=10, mode="nearest", member=[5, 6, 8, 9]).mean("member")
    np.testing.assert_allclose(res["global_mean_t_T"].sel(sbits=10, mode="nearest"), surviving, rtol=1e-12)
    np.testing.assert_allclose(res["global_mean_t_T"].sel(sbits=52, mode="nearest"),
                               by_run.sel(sbits=52, mode="nearest", member=COMPETITORS).mean("member"), rtol=1e-12)
    control = res["global_mean_t_control_T"]
    assert control.dims == ("control_member", "time") and list(control["control_member"]) == CONTROLS
    np.testing.assert_allclose(control.sel(control_member=3), by_run.sel(sbits=52, mode="nearest", member=3),
                               rtol=1e-12)
    np.testing.assert_array_equal(res["time"], ds["time"][4:])
    count = validation.evaluate(ds, spinup=4, windows=[], pvalues=False, normalise="count")
    np.testing.assert_allclose(count["global_mean_t_control_T"].sel(control_member=3),
                               (after * cos).sum(["lat", "lon"]).sel(sbits=52, mode="nearest", member=3) / 48,
                               rtol=1e-12)
    pooled = validation.evaluate(sweep({}, n_time=20, pool={"particle": np.arange(3)}),
                                 pool_dims=("particle",), windows=[], pvalues=False)
    raw = sweep({}, n_time=20, pool={"particle": np.arange(3)})["T"]
    np.testing.assert_allclose(pooled["global_mean_t_T"].sel(sbits=10, mode="stochastic"),
                               raw.sel(sbits=10, mode="stochastic", member=COMPETITORS).mean(["member", "particle"]),
                               rtol=1e-12)
