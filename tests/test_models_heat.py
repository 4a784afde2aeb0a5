"""Soil-column heat diffusion in float64: erfc solution, conservation, steady state, restarts."""
import math

import numpy as np
import pytest
from scipy.special import erfc

from models.base import REGISTRY
from models.heat import HeatColumn, HeatState, Params

DAY = 86400.0


def integrate(model, state, steps):
    for _ in range(steps):
        state = model.step(state)
    return state


def bits(a):
    return np.asarray(a, dtype=np.float64).view(np.uint64)


def test_registered_with_cf_metadata():
    assert REGISTRY["heat"]() is HeatColumn
    m = HeatColumn()
    assert (m.name, m.time_units, m.dt, m.COMPONENTS) == ("heat", "s", 1800.0, ("diffusion",))
    (out,) = m.OUTPUTS
    assert out.dims == ("time", "depth")
    assert out.attrs() == {"units": "K", "long_name": "soil temperature",
                           "standard_name": "soil_temperature",
                           "units_metadata": "temperature: on_scale"}
    dims, z, attrs = m.coords()["depth"]
    assert dims == ("depth",) and z.dtype == np.float64
    np.testing.assert_array_equal(z, np.arange(61.0))
    assert attrs == {"standard_name": "depth", "long_name": "depth below the surface",
                     "units": "m", "positive": "down", "axis": "Z"}
    assert Params().xi == pytest.approx(1.26e-3, rel=1e-12)


def test_unstable_xi_is_refused_with_the_largest_stable_dt():
    with pytest.raises(ValueError, match=r"ξ = .* 0\.504.*dt < 714286 s"):
        Params(dt=720000.0)
    Params(dt=700000.0)                     # ξ = 0.49: accepted


@pytest.mark.parametrize("bad", [dict(dz=0.7), dict(D=-1.0), dict(dt=math.nan),
                                 dict(top="open"), dict(diurnal=True, top="insulated")])
def test_bad_params_are_a_clear_value_error(bad):
    with pytest.raises(ValueError, match="heat"):
        Params(**bad)


def test_initial_state():
    s = HeatColumn().initial_state(0)
    assert s.n == 0 and s.T[0] == 280.0 and np.all(s.T[1:] == 273.15) and s.T.shape == (61,)
    d = HeatColumn(Params(diurnal=True)).initial_state(0)
    assert d.T[0] == 273.15 + 6.85 / 2                          # sin(0) = 0


def erfc_solution(z, t, T0=273.15, T_top=280.0, D=7e-7):
    return T0 + (T_top - T0) * erfc(z / (2 * np.sqrt(D * t)))


def test_early_time_matches_the_erfc_solution_with_second_order_error():
    # After 30 days the diffusion length 2√(Dt) = 2.7 m is far above the 60 m bottom, so the
    # semi-infinite solution T0 + (T_top − T0)·erfc(z/2√(Dt)) applies. The scheme's error is
    # O(Δz²) at fixed ξ (O(Δt) = O(Δz²)): measured 0.04710 K at Δz = 1 m, 0.01268 K at 0.5 m.
    # Both are deterministic (float64, no seed: their only spread is roundoff, < 1e-10 K), so
    # the bands are narrow: ±0.002 K and ±0.001 K, about ±4 % and ±8 %. Two-sided, because a
    # wrong diffusivity can shrink the error as well as grow it: measured 0.0569 K (Δz = 1 m)
    # and 0.0231 K (0.5 m) with D 1 % too large, 0.0410 K and 0.0190 K 1 % too small, 0.0511 K
    # and 0.0440 K at ±0.5 %: all outside. The error ratio on halving Δz (Δt quartered) stays
    # within [3, 5] around 4.
    errors = []
    for refine in (1, 2):
        p = Params(dz=1.0 / refine, dt=1800.0 / refine**2)
        m = HeatColumn(p)
        steps = 30 * 48 * refine**2
        T = m.diagnostics(integrate(m, m.initial_state(0), steps))["T"]
        errors.append(np.max(np.abs(T - erfc_solution(m.depth(), steps * p.dt))))
    assert abs(errors[0] - 0.0471) < 0.002, errors
    assert abs(errors[1] - 0.0127) < 0.001, errors
    assert 3 < errors[0] / errors[1] < 5


def test_insulated_column_conserves_heat_and_mixes():
    # Top insulated too: the interior stencils and the two boundary fluxes telescope, so Σ T_i is
    # conserved exactly in exact arithmetic; in float64 to roundoff (~1e-13 relative). A wrong
    # boundary factor (2ξ, the ghost-node form) breaks this by ~ξ·(T_{M−1} − T_M) per step.
    p = Params(top="insulated", depth=10.0, dt=180000.0)       # ξ = 0.126, 11 nodes
    m = HeatColumn(p)
    rng = np.random.default_rng(5)
    s = m.state_from_arrays({"T": 270 + 10 * rng.random(11), "n": np.array(0.0)})
    total = np.sum(s.T)
    for _ in range(4000):
        s = m.step(s)
        assert abs(np.sum(s.T) - total) < 1e-9
    np.testing.assert_allclose(s.T, total / 11, atol=1e-9)     # uniform at the mean


def test_approach_to_steady_state_at_the_discrete_eigenvalue():
    # Fixed 280 K top, zero-flux face half a node below the last node: the slowest mode is
    # sin(kz), k = π/(2(M + ½)Δz), and forward Euler multiplies it by g = 1 − 4ξ sin²(kΔz/2)
    # each step; the next mode decays ~10× faster per step. So the deficit 280 − T at the bottom
    # shrinks by g per step after transients, monotonically (ξ < ½: a maximum principle).
    p = Params(depth=10.0, dt=360000.0)                        # ξ = 0.252, M = 10
    m = HeatColumn(p)
    k = math.pi / (2 * 10.5)
    g = 1 - 4 * p.xi * math.sin(k / 2) ** 2
    s = m.initial_state(0)
    deficits = []
    for _ in range(3000):
        previous = s.T
        s = m.step(s)
        assert np.all(s.T >= previous) and np.all(s.T <= 280.0)
        deficits.append(280.0 - s.T[-1])
    np.testing.assert_allclose(deficits[1001] / deficits[1000], g, rtol=1e-9)
    np.testing.assert_allclose(s.T, 280.0, atol=1e-5)


def test_anomaly_formulation_gives_the_same_temperatures_in_float64():
    a, b = HeatColumn(), HeatColumn(Params(anomaly=True))
    sa, sb = integrate(a, a.initial_state(0), 500), integrate(b, b.initial_state(0), 500)
    assert sb.T[0] == pytest.approx(6.85, abs=1e-12)               # θ, not T, is integrated
    np.testing.assert_allclose(b.diagnostics(sb)["T"], a.diagnostics(sa)["T"], rtol=0, atol=1e-10)


def test_diurnal_top_follows_the_prescribed_cycle():
    m = HeatColumn(Params(diurnal=True))
    s = m.initial_state(0)
    for n in range(1, 97):
        s = m.step(s)
        t = n * 1800.0
        assert s.T[0] == 273.15 + 6.85 * 0.5 * (1 + math.sin(2 * math.pi * t / DAY))
    assert s.n == 96
    # the cycle's mean, 276.575 K, is what the column below feels: the first node warms
    assert 273.15 < s.T[1] < 276.575


@pytest.mark.parametrize("params", [Params(diurnal=True), Params(anomaly=True)])
def test_restart_is_bit_identical(params):
    m = HeatColumn(params)
    whole = integrate(m, m.initial_state(0), 77)
    saved = {k: v.copy() for k, v in m.state_arrays(integrate(m, m.initial_state(0), 40)).items()}
    fresh = HeatColumn(params)
    resumed = integrate(fresh, fresh.state_from_arrays(saved), 37)
    assert resumed.n == whole.n == 77
    assert np.array_equal(bits(resumed.T), bits(whole.T))


def test_restart_of_the_other_formulation_is_refused():
    arrays = HeatColumn().state_arrays(HeatColumn().initial_state(0))
    assert set(arrays) == {"T", "n"}
    with pytest.raises(KeyError, match="T_anomaly"):
        HeatColumn(Params(anomaly=True)).state_from_arrays(arrays)
    with pytest.raises(ValueError, match="61 nodes"):
        HeatColumn().state_from_arrays({"T": np.zeros(5), "n": np.array(0.0)})


def test_step_returns_a_new_state():
    m = HeatColumn()
    s = m.initial_state(0)
    before = s.T.copy()
    t = m.step(s)
    assert isinstance(t, HeatState) and t.n == 1
    assert np.array_equal(s.T, before) and t.T[1] > s.T[1]


# --- under the emulator ---------------------------------------------------------------------

import lowprec  # noqa: E402  (light: names load on first use)

MONTH = 30 * 48                         # 30 days of 1800 s steps


def month_of(params, emu):
    m = HeatColumn(params, emu)
    return m.diagnostics(integrate(m, m.initial_state(0), MONTH))["T"]


@pytest.fixture(scope="module")
def double_month():
    return month_of(Params(), lowprec.Emulator(52))


def test_round_to_nearest_stagnates_in_kelvin(double_month):
    # 10 sbits: 273.15 K enters as 273.25 (spacing 0.25 K in [256, 512) K). The largest increment,
    # at 1 m, is ξ·(280 − 273.25) = 0.0085 K < 0.125 K: rounded away at every step, every node.
    # Float64 warms the 1 m node by 4.1 K in the same month.
    T = month_of(Params(), lowprec.Emulator(10, mode="nearest"))
    assert T[0] == 280.0 and np.all(T[1:] == 273.25)
    assert double_month[1] - 273.15 > 4.0


def test_stochastic_rounding_does_not_stagnate(double_month):
    # Unbiased rounding keeps the increments in expectation. Measured over 12 emulator seeds: the
    # per-node error against float64 after a month has std ≤ 0.35 K (the 0.25 K spacing, and
    # 273.15 K entering as 273.0 or 273.25). Bound: 1.5 K at every node, ≥ 4 std.
    T = month_of(Params(), lowprec.Emulator(10, mode="stochastic", seed=2026))
    assert T[1] - 273.15 > 3.0
    assert np.max(np.abs(T - double_month)) < 1.5


def test_anomaly_formulation_mitigates_stagnation(double_month):
    # θ = T − 273.15 K starts at 0, where 10 sbits resolve the increments: measured max error
    # 0.09 K after a month (the top enters as 6.8515625 K); bound 0.25 K, against 4 K in Kelvin.
    T = month_of(Params(anomaly=True), lowprec.Emulator(10, mode="nearest"))
    assert np.max(np.abs(T - double_month)) < 0.25


def test_the_whole_update_is_the_diffusion_component():
    # A 10-bit "diffusion" component in a float64 emulator stagnates exactly as a 10-bit run.
    T = month_of(Params(), lowprec.Emulator(52, components={"diffusion": 10}))
    np.testing.assert_array_equal(T, month_of(Params(), lowprec.Emulator(10)))


@pytest.mark.parametrize("params", [Params(diurnal=True), Params(anomaly=True)])
def test_emulated_stochastic_restart_is_bit_identical(params):
    def setup():
        emu = lowprec.Emulator(10, mode="stochastic", seed=17)
        return emu, HeatColumn(params, emu)

    emu, m = setup()
    whole = m.state_arrays(integrate(m, m.initial_state(0), 90))
    emu, m = setup()
    half = integrate(m, m.initial_state(0), 50)
    saved, counter = m.state_arrays(half), emu.get_state()
    emu, fresh = setup()
    state = fresh.state_from_arrays(saved)
    emu.set_state(counter)              # last: entering constants and state advances the counter
    resumed = fresh.state_arrays(integrate(fresh, state, 40))
    assert resumed["n"] == whole["n"] == 90
    for key in whole:
        assert np.array_equal(bits(resumed[key]), bits(whole[key]))
