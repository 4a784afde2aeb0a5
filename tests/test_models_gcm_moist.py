"""physics = "moist" in the GCM (TJ16 on the spectral core): the water budget over a day, exact
restarts, the time split, precipitation's sign and its 6-hourly sums, the dry physics' zero,
both rounding modes at 10 sbits, the physics component's precision, CF output."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lowprec.emulated import Emulator
from lowprec.formats import Format
from models.gcm import GCM, GCMParams

sys.path.insert(0, str(Path(__file__).parent))
from cfcheck import cf_failures  # noqa: E402

# T21, Δt = 1 h (24 steps a day, 6 a precipitation window); saturated at the start, so that it
# rains within hours (at 0.5, the default, the first rain comes after about two days)
MOIST = GCMParams(truncation=21, physics="moist", initial_relative_humidity=1.0)


def integrate(model: GCM, state, steps: int):
    for _ in range(steps):
        state = model.step(state)
    return state


def global_mean(model: GCM, field: np.ndarray) -> float:
    """Area mean of a (lat, lon) field with the Gaussian weights (Σ w_j = 2)."""
    return float(np.sum(field.mean(axis=-1) * model.transform64.weights) / 2)


def column_water(model: GCM, state) -> float:
    """Global mean of W = Σ_k q_k Δσ_k p_s / g, kg m⁻² (= mm), from the grid fields."""
    f = model.grid_fields(state)
    dsigma = np.diff(model.levels.half)[:, None, None]
    return global_mean(model, np.sum(f["q"] * dsigma, axis=0) * f["ps"] / model.params.gravity)


@pytest.mark.parametrize("rh", [1.0, 0.8])
def test_column_water_changes_by_evaporation_minus_precipitation_over_a_day(rh):
    """Float64, T21, one day from rest: ΔW = ∫(E − P + A) (A: water created by the negative-q
    fill). Not exact: the spectral tracer equation is in advective form (not a flux form of
    p_s q), truncation and the RAW filter mix levels. Measured residuals: 0.016 mm (rh 1.0,
    E 0.52, P 0.74 mm) and 0.032 mm (rh 0.8, E 0.80, P 0 mm), bounded over 3 days (≤ 0.032 mm,
    not growing); the tolerance 0.06 mm is about twice that. Wrong bookkeeping is far outside:
    the whole 2Δt amounts per leapfrog step instead of half double them (±0.5 mm off)."""
    model = GCM(replace(MOIST, initial_relative_humidity=rh))
    start = model.initial_state(3)
    end = integrate(model, start, 24)
    total = {n: global_mean(model, a) for n, a in end.sums.total.items()}
    change = column_water(model, end) - column_water(model, start)
    budget = total["evaporation"] - total["precipitation"] + total["water_added"]
    assert total["evaporation"] > 0.3 and (rh < 1 or total["precipitation"] > 0.3), total
    assert abs(change - budget) < 0.06, (change, budget, total)


def test_the_moist_physics_takes_tj16_s_relaxation_and_the_core_s_constants():
    """T_eq's latitude part is 294 K − 65 K sin²φ (not Held–Suarez's 315, 60), overridable; g,
    R_d, c_p = R/κ and p0 are the core's; the initial q is half of saturation at T_ref."""
    model = GCM(MOIST)
    sinlat = model.transform64.mu[:, None]
    physics = model.forcing.leapfrog
    assert np.allclose(physics.relaxation.T_lat, 294.0 - 65.0 * sinlat ** 2, rtol=0, atol=1e-12)
    p = physics.params
    assert (p.g, p.R_d, p.c_p, p.p0) == (9.81, 287.0, 1004.5, 1e5)
    other = GCM(replace(MOIST, moist_T_max=300.0, moist_dT_y=50.0))
    assert np.allclose(other.forcing.euler.relaxation.T_lat, 300.0 - 50.0 * sinlat ** 2)
    half = GCM(replace(MOIST, initial_relative_humidity=0.5)).forcing.initial_tracers()["q"]
    full = model.forcing.initial_tracers()["q"]
    assert np.allclose(half, 0.5 * full) and 0.009 < full[-1].max() < 0.012   # ~288 K, 950 hPa


def test_the_physics_sees_the_previous_level_over_two_steps_and_the_first_step_over_one():
    """The time split (moist_forcing.py): X^{n−1} and 2Δt in leapfrog steps, X^0 and Δt first."""
    model = GCM(MOIST)
    assert (model.forcing.euler.dt, model.forcing.leapfrog.dt) == (model.dt, 2 * model.dt)
    seen = []
    tendency = model.forcing.tendency

    def spy(physical, first):
        seen.append((np.array(physical.T), first))
        return tendency(physical, first)
    model.forcing.tendency = spy
    start = model.initial_state(3)
    state = integrate(model, start, 3)
    model.step(state)
    assert [first for _, first in seen] == [True, False, False, False]
    T_seen = seen[-1][0]
    T_before = model.grid_fields(replace(state, now=state.before))["T"]
    T_now = model.grid_fields(state)["T"]
    assert np.abs(T_seen - T_before).max() < 1e-9 < np.abs(T_seen - T_now).max()
    assert np.abs(seen[0][0] - model.grid_fields(start)["T"]).max() < 1e-9


def test_precipitation_is_non_negative_sums_to_the_total_and_is_zero_when_dry():
    """A day in 6-hour windows: every window's precipitation ≥ 0, some > 0, and the four windows
    add up to the day's float64 total; Held–Suarez (dry) reports zero precipitation and q."""
    model = GCM(MOIST)
    state = model.initial_state(3)
    windows = []
    for _ in range(4):
        state = integrate(model, state, 6)
        assert state.sums.steps == 0                      # a window just completed
        windows.append(model.diagnostics(state)["precip"])
    windows = np.array(windows)
    assert windows.min() >= 0 and windows.max() > 0.1     # mm in 6 h
    assert np.allclose(windows.sum(axis=0), state.sums.total["precipitation"], rtol=1e-12,
                       atol=1e-12)
    assert not np.array_equal(windows[2], windows[3])
    dry = GCM(replace(MOIST, physics="held_suarez"))
    d = dry.diagnostics(integrate(dry, dry.initial_state(3), 6))
    assert not d["precip"].any() and not d["q"].any()
    assert "window_precipitation" not in dry.state_arrays(dry.initial_state(3))


def test_a_restarted_stochastic_moist_run_is_bit_identical():
    """10-sbit stochastic, through a precipitation window boundary (6 steps): the state, the
    float64 sums and the window position restart exactly."""
    def build():
        emu = Emulator(Format(sbits=10), mode="stochastic", seed=7)
        return emu, GCM(MOIST, emu)
    emu, model = build()
    state = integrate(model, model.initial_state(2), 4)
    arrays, counter = model.state_arrays(state), emu.get_state()
    assert {"now_tracer_q", "window_precipitation", "last_precipitation",
            "total_evaporation", "window_steps"} <= set(arrays)
    whole = model.state_arrays(integrate(model, state, 4))
    emu2, model2 = build()
    restarted = model2.state_from_arrays(arrays)
    emu2.set_state(counter)
    rest = model2.state_arrays(integrate(model2, restarted, 4))
    assert whole.keys() == rest.keys()
    for k in whole:
        assert np.array_equal(whole[k].view(np.uint64), rest[k].view(np.uint64)), k
    assert whole["last_precipitation"].any()


def test_a_dry_restart_is_refused_by_the_moist_model():
    dry = GCM(replace(MOIST, physics="held_suarez"))
    arrays = dry.state_arrays(dry.initial_state(1))
    with pytest.raises(ValueError, match="now_tracer_q"):
        GCM(MOIST).state_from_arrays(arrays)
    arrays.update(GCM(MOIST).state_arrays(GCM(MOIST).initial_state(1)))
    del arrays["total_evaporation"]
    with pytest.raises(ValueError, match="total_evaporation"):
        GCM(MOIST).state_from_arrays(arrays)


@pytest.mark.parametrize("mode", ["nearest", "stochastic"])
def test_both_rounding_modes_run_at_10_sbits_and_stay_near_float64(mode):
    """4 steps while it rains: finite, q held at 10 sbits, global-mean precipitation within 50 %
    of float64. Not closer: a step condenses about 3e-5 kg/kg, while the 10-sbit spacing of T
    (0.25 K at 280 K) moves q_sat by about 1.5 % (1.5e-4 kg/kg), so single steps' condensation
    differs at O(1) per column; measured 34 % (nearest) and 29 % (stochastic) above float64."""
    ref = GCM(MOIST)
    start = ref.state_arrays(integrate(ref, ref.initial_state(3), 8))
    expected = integrate(ref, ref.state_from_arrays(start), 4)
    model = GCM(MOIST, Emulator(Format(sbits=10), mode=mode, seed=1))
    state = integrate(model, model.state_from_arrays(start), 4)
    arrays = model.state_arrays(state)
    assert all(np.isfinite(a).all() for a in arrays.values())
    q = arrays["now_tracer_q"]
    m, _ = np.frexp(q[q != 0])
    assert np.array_equal(m * 2 ** 11, np.round(m * 2 ** 11))
    before = global_mean(ref, start["total_precipitation"])
    P = global_mean(model, state.sums.total["precipitation"]) - before
    P_ref = global_mean(ref, expected.sums.total["precipitation"]) - before
    assert P_ref > 0.05 and abs(P - P_ref) < 0.5 * P_ref, (P, P_ref)


def test_the_physics_component_s_precision_reaches_the_moist_physics():
    """Only "physics" at 6 sbits: q, T and precipitation change, T by less than twice the 6-sbit
    spacing at 300 K (2 · 300 · 2⁻⁶ ≈ 9.4 K: the physics rounds T itself)."""
    ref = GCM(MOIST)
    start = ref.state_arrays(integrate(ref, ref.initial_state(3), 8))
    b = integrate(ref, ref.state_from_arrays(start), 2)
    model = GCM(MOIST, Emulator(Format(52), components={"physics": 6}))
    a = integrate(model, model.state_from_arrays(start), 2)
    A, B = model.state_arrays(a), ref.state_arrays(b)
    for key in ("now_tracer_q", "now_temp", "total_precipitation"):
        assert not np.array_equal(A[key], B[key]), key
    T, T_ref = model.grid_fields(a)["T"], ref.grid_fields(b)["T"]
    assert 0 < np.abs(T - T_ref).max() < 2 * 300 * 2.0 ** -6


def test_moist_output_file_is_cf_compliant_and_sums_precipitation(tmp_path):
    """Through the harness: precip, T_lowest, q beside the dry variables; CF-clean; the 6-hourly
    precip rows are the model's window sums (they add up to a direct integration's total)."""
    from lowprec.harness.run import run
    path = tmp_path / "moist.nc"
    ds = run({"model": "gcm", "params": {"truncation": 21, "physics": "moist",
                                         "initial_relative_humidity": 1.0},
              "precision": {"seed": 3},
              "run": {"length": "1 day", "output_interval": "6 hours",
                      "variables": ["precip", "T_lowest", "q", "ps", "T"]}}, path)
    assert ds["precip"].dims == ("time", "lat", "lon") and ds.sizes["time"] == 4
    assert ds["precip"].attrs["standard_name"] == "lwe_thickness_of_precipitation_amount"
    assert ds["precip"].attrs["cell_methods"] == "time: sum"
    assert ds["precip"].attrs["units"] == "mm"
    assert ds["q"].attrs["standard_name"] == "specific_humidity"
    assert np.array_equal(ds["T_lowest"].values, ds["T"].values[:, -1])
    from lowprec.harness.config import load_config, member_seed
    model = GCM(MOIST)
    seed = member_seed(load_config({"model": "gcm", "precision": {"seed": 3},
                                   "run": {"length": "1 day", "output_interval": "1 day"}}))
    direct = integrate(model, model.initial_state(seed), 24)
    assert np.allclose(ds["precip"].values.sum(axis=0), direct.sums.total["precipitation"],
                       rtol=1e-6, atol=1e-6)
    assert cf_failures(path) == {}


@pytest.mark.parametrize("physics, water", [("held_suarez", False), ("moist", True)])
def test_runs_without_a_variables_list_write_water_only_when_moist(tmp_path, physics, water):
    # A dry run would otherwise carry a (time, lev, lat, lon) field of zeros as q.
    from lowprec.harness.run import run
    ds = run({"model": "gcm", "params": {"truncation": 21, "physics": physics},
              "run": {"length": "6 hours", "output_interval": "6 hours"}}, tmp_path / "r.nc")
    assert {"u", "v", "T", "ps", "T_lowest"} <= set(ds.data_vars)
    assert ("precip" in ds.data_vars, "q" in ds.data_vars) == (water, water)
