"""TJ16 moist physics on columns: formulas against independent constants, condensation against
its analytic bound and a Newton solve, implicit surface fluxes against the exact ODE solution,
the Thomas solver against scipy, boundary-layer diffusion against a dense backward-Euler matrix,
the column water budget, and runs under the emulator.

Which planted bug each test catches (each was planted once and seen to fail):
- SST width taken as 26 radians, not degrees: test_sea_surface_temperature_is_the_tj16_profile
  (and the q_sat, surface-exchange and budget tests, which use the SST).
- latent heating with the wrong sign (T − (L/c_p)CΔt): test_condensation_saturates_within_the_
  linearisation_bound, test_condensation_turns_latent_into_sensible_heat_per_column.
- latent-heat correction dropped (C Δt = q − q_sat): test_condensation_saturates_within_...,
  test_latent_heat_correction_is_one_newton_step_of_the_saturation_adjustment.
- precipitation without the Δp/g weights: test_condensation_turns_latent_into_sensible_heat_...,
  test_column_water_budget_closes_in_float64, test_runs_under_the_emulator_at_10_sbits.
- evaporation without the Δp/g weight: test_column_water_budget_closes_in_float64,
  test_runs_under_the_emulator_at_10_sbits.
- surface flux explicit (T + λ(T_s − T)) instead of implicit: test_surface_exchange_is_backward_
  euler_of_the_relaxation_ode.
- Thomas back substitution with c'_{k−1} for c'_k: test_tridiagonal_solve_matches_scipy_solve_
  banded (n ≥ 3), and the boundary-layer, budget and emulator tests.
- CC using Δp_k instead of Δp_{k+1}: test_boundary_layer_diffusion_conserves_column_integrals,
  test_boundary_layer_matches_a_dense_backward_euler_solve, test_column_water_budget_closes_...
- K_E without its Gaussian decay above p_pbl: test_diffusivity_is_constant_below_p_pbl_and_
  gaussian_above, and both boundary-layer tests.
- the negative-humidity fill not rescaling the positives: test_negative_humidity_fill_...,
  test_column_water_budget_closes_in_float64.
- ΔT_y of Held–Suarez (60 K), or friction above σ_b: test_held_suarez_relaxation_has_tj16_...
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import solve_banded

import lowprec
from models.base import FLOAT64
from models.gcm.boundary_layer import BoundaryLayerDiffusion
from models.gcm.condensation import LargeScaleCondensation, Saturation
from models.gcm.moist_physics import (HeldSuarezRelaxation, MoistPhysics, MoistPhysicsParams,
                                      RelaxationParams)
from models.gcm.surface_fluxes import SurfaceFluxes, sea_surface_temperature
from models.gcm.tridiagonal import tridiagonal_solve

# Independent constants (TJ16 / DCMIP values typed here, not read from the module)
G, R_D, C_P, R_V, L_V, EPS = 9.80616, 287.0, 1004.5, 461.5, 2.5e6, 0.622
E0, T0, C_E, P_PBL, P_STRATO, P0 = 610.78, 273.16, 0.0044, 85000.0, 10000.0, 1.0e5
KAPPA = R_D / C_P

SIGMA_HALF = np.array([0.0, 0.05, 0.14, 0.26, 0.42, 0.60, 0.77, 0.90, 1.0])   # SPEEDY's 8 levels
SIGMA = 0.5 * (SIGMA_HALF[1:] + SIGMA_HALF[:-1])
LAT = np.radians(np.array([-75.0, -40.0, -10.0, 5.0, 30.0, 60.0]))
DT = 2400.0
PARAMS = MoistPhysicsParams()


def q_sat_oracle(T, p):
    return EPS * E0 / p * np.exp(-(L_V / R_V) * (1.0 / T - 1.0 / T0))


def dq_sat_dT(T, p):                  # exact derivative of the formula (ε = R_d/R_v not assumed)
    return L_V / (R_V * T**2) * q_sat_oracle(T, p)


def d2q_sat_dT2(T, p):
    b = L_V / R_V
    return q_sat_oracle(T, p) * ((b / T**2) ** 2 - 2 * b / T**3)


def column_water(q, p_s):
    """W = Σ_k q_k Δσ_k p_s / g, kg m⁻², per column (independent of the module's weights)."""
    return np.einsum("k,kji->ji", np.diff(SIGMA_HALF), q) * p_s / G


def atmosphere(seed=0, lon=5, rh=0.8, spread=0.15):
    """A plausible state (T, q, u, v, p_s): T from 200 K aloft to ~290 K, q at RH ≈ rh ± spread."""
    rng = np.random.default_rng(seed)
    shape = (len(SIGMA), len(LAT), lon)
    p_s = 1.0e5 + 1500.0 * rng.standard_normal(shape[1:])
    T = (200.0 + 95.0 * SIGMA[:, None, None] - 15.0 * np.sin(LAT)[:, None] ** 2
         + 2.0 * rng.standard_normal(shape))
    q = (rh + spread * rng.standard_normal(shape)) * q_sat_oracle(T, SIGMA[:, None, None] * p_s)
    u = 8.0 + 12.0 * rng.standard_normal(shape)
    v = 6.0 * rng.standard_normal(shape)
    return T, np.maximum(q, 0.0), u, v, p_s


def physics(emu=FLOAT64, **kwargs):
    return MoistPhysics(PARAMS, sigma=SIGMA, sigma_half=SIGMA_HALF, latitude=LAT, dt=DT,
                        emu=emu, **kwargs)


# --- formulas ------------------------------------------------------------------------------------
def test_sea_surface_temperature_is_the_tj16_profile():
    phi = np.radians([0.0, 26.0, -26.0, 52.0, 90.0])
    T_s = sea_surface_temperature(phi, PARAMS)
    expected = 271.0 + 29.0 * np.exp(-phi**2 / (2 * np.radians(26.0) ** 2))
    np.testing.assert_allclose(T_s, expected, rtol=1e-15)
    assert T_s[0] == 300.0                                          # 271 + 29 at the equator
    assert T_s[1] == pytest.approx(271.0 + 29.0 * math.exp(-0.5), rel=1e-15)   # at φ = φ_w
    assert T_s[4] == pytest.approx(271.0 + 29.0 * math.exp(-(90 / 26) ** 2 / 2), rel=1e-15)
    surface = SurfaceFluxes(PARAMS, LAT, SIGMA_HALF[-2], DT, FLOAT64)
    np.testing.assert_allclose(surface.T_s[:, 0],
                               271 + 29 * np.exp(-LAT**2 / (2 * (26 * np.pi / 180) ** 2)), rtol=1e-15)


def test_saturation_specific_humidity_is_the_tj16_formula():
    T = np.array([200.0, 250.0, 273.16, 290.0, 305.0])
    p = np.array([2.0e4, 5.0e4, 8.0e4, 1.0e5, 1.02e5])
    np.testing.assert_allclose(Saturation(PARAMS, FLOAT64).q_sat(T, p), q_sat_oracle(T, p),
                               rtol=1e-14)
    assert Saturation(PARAMS, FLOAT64).q_sat(T0, 1.0e5) == pytest.approx(EPS * E0 / 1.0e5,
                                                                         rel=1e-15)
    # at the surface, q_sat,s = q_sat(T_s, p_s)
    surface = SurfaceFluxes(PARAMS, LAT, SIGMA_HALF[-2], DT, FLOAT64)
    p_s = np.full((len(LAT), 3), 101325.0)
    T_s = 271 + 29 * np.exp(-LAT**2 / (2 * np.radians(26.0) ** 2))
    np.testing.assert_allclose(surface.eps_e_s / p_s, q_sat_oracle(T_s[:, None], p_s), rtol=1e-14)


# --- large-scale condensation --------------------------------------------------------------------
def supersaturated(n=400, seed=1, max_excess=0.3):
    """Levels at p ∈ [2e4, 1.03e5] Pa, T within −30..+15 K of 288 K (p/p0)^0.19 (a standard
    troposphere: 180–305 K), and q = (1 + s) q_sat with s ∈ (0, max_excess]."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(2.0e4, 1.03e5, n)
    T = 288.0 * (p / P0) ** 0.19 + rng.uniform(-30.0, 15.0, n)
    s = rng.uniform(1e-4, max_excess, n)
    return T, p, (1.0 + s) * q_sat_oracle(T, p)


def test_condensation_saturates_within_the_linearisation_bound():
    # One Newton step on F(δ) = q − δ − q_sat(T + aδ), a = L/c_p, with the slope TJ16 write,
    # ε L q_sat/(R_d T²) = (1 + η) dq_sat/dT, η = ε R_v/R_d − 1 (2e-4: ε is 0.622, not R_d/R_v).
    # Taylor with remainder: r = q' − q_sat(T') = aδη q_sat'(T) − ½ q_sat''(ξ)(aδ)², ξ ∈ [T, T'],
    # and q_sat'' > 0 grows with T here (checked below), so
    #     −½ q_sat''(T') (aδ)² ≤ r − aδη q_sat'(T) ≤ 0.
    T, p, q = supersaturated()
    T_new, q_new, _ = LargeScaleCondensation(PARAMS, FLOAT64).condense(T, q, p, np.ones_like(T))
    a, eta = L_V / C_P, EPS * R_V / R_D - 1.0
    delta = q - q_new
    r = q_new - q_sat_oracle(T_new, p)
    first_order = a * delta * eta * dq_sat_dT(T, p)
    second_order = 0.5 * d2q_sat_dT2(T_new, p) * (a * delta) ** 2
    grid = np.linspace(220.0, 340.0, 1000)
    assert np.all(np.diff(d2q_sat_dT2(grid, 5.0e4)) > 0)            # q_sat'' increasing in T
    slack = 1e-12 * q                                               # float64 round-off
    assert np.all(r - first_order <= slack)
    assert np.all(r - first_order >= -second_order - slack)
    np.testing.assert_allclose(T_new - T, a * delta, rtol=0, atol=1e-12 * T.max())   # (L/c_p)CΔt
    assert np.all(np.abs(r) < 0.1 * (q - q_sat_oracle(T, p)))       # measured ≤ 7.6% of before
    # an unsaturated level is left bit for bit
    T_dry, q_dry, P = LargeScaleCondensation(PARAMS, FLOAT64).condense(
        T, 0.9 * q_sat_oracle(T, p), p, np.ones_like(T))
    assert np.array_equal(T_dry, T) and np.array_equal(q_dry, 0.9 * q_sat_oracle(T, p)) and P == 0


def test_latent_heat_correction_is_one_newton_step_of_the_saturation_adjustment():
    # Oracle: the saturated state q − δ* = q_sat(T + aδ*), solved by Newton to convergence in
    # float64 with the exact derivative. The scheme's δ is its first Newton step from δ = 0,
    # so |δ − δ*| ≤ |F(δ)| (F' ≤ −1) = the residual bounded above: second order in δ. Checked
    # as a bound, and as the error ratio ≈ 4 when the supersaturation is halved.
    a = L_V / C_P

    def newton(T, p, q):
        d = np.zeros_like(T)
        for _ in range(50):
            F = q - d - q_sat_oracle(T + a * d, p)
            d = d + F / (1.0 + a * dq_sat_dT(T + a * d, p))
        assert np.all(np.abs(q - d - q_sat_oracle(T + a * d, p)) < 1e-15)
        return d

    condensation = LargeScaleCondensation(PARAMS, FLOAT64)
    T, p, _ = supersaturated(n=200, seed=2)
    errors = []
    for s in (0.2, 0.1, 0.05):
        q = (1.0 + s) * q_sat_oracle(T, p)
        delta = condensation.condensate(T, q, p)
        exact = newton(T, p, q)
        error = np.abs(delta - exact)
        eta = EPS * R_V / R_D - 1.0
        bound = (0.5 * d2q_sat_dT2(T + a * delta, p) * (a * delta) ** 2
                 + a * delta * eta * dq_sat_dT(T, p))
        assert np.all(error <= bound * (1 + 1e-9) + 1e-18)
        no_correction = q - q_sat_oracle(T, p)         # C Δt with the denominator dropped
        assert np.all(error < 0.1 * np.abs(no_correction - exact))   # measured: 46–180× closer
        errors.append(np.median(error / exact))
    assert 1.7 < errors[0] / errors[1] < 2.3 and 1.7 < errors[1] / errors[2] < 2.3   # rel.: O(s)


def test_condensation_turns_latent_into_sensible_heat_per_column():
    T, q, u, v, p_s = atmosphere(seed=3, rh=1.05, spread=0.1)     # about half the levels condense
    p = SIGMA[:, None, None] * p_s
    mass = np.diff(SIGMA_HALF)[:, None, None] * p_s / G
    T_new, q_new, P = LargeScaleCondensation(PARAMS, FLOAT64).condense(T, q, p, mass)
    assert np.mean(q_new < q) > 0.3
    heat = C_P * np.sum((T_new - T) * mass, axis=0)                 # J m⁻²
    latent = L_V * np.sum((q - q_new) * mass, axis=0)
    np.testing.assert_allclose(heat, latent, rtol=1e-12)
    np.testing.assert_allclose(P, column_water(q, p_s) - column_water(q_new, p_s), rtol=1e-12)
    assert np.all(P >= 0)


# --- surface fluxes ------------------------------------------------------------------------------
def test_surface_exchange_is_backward_euler_of_the_relaxation_ode():
    # dT_a/dt = (T_s − T_a)/τ, τ = z_a/(C_E|v_a|): exactly T_s + (T_a − T_s)e^{−x} after Δt,
    # x = Δt/τ. Backward Euler gives T_s + (T_a − T_s)/(1 + x), whose error
    # 0 ≤ 1/(1 + x) − e^{−x} ≤ x²/2 (checked on a grid below) is second order per step, and
    # never overshoots T_s for any x (explicit Euler does when x > 1).
    x = np.linspace(0.0, 60.0, 20001)
    assert np.all(1 / (1 + x) - np.exp(-x) <= x**2 / 2) and np.all(1 / (1 + x) >= np.exp(-x))
    rng = np.random.default_rng(4)
    J, I = len(LAT), 7
    p_s = 1.0e5 + 1000 * rng.standard_normal((J, I))
    T_a = 285.0 + 8 * rng.standard_normal((J, I))
    q_a = 0.01 * rng.uniform(0.2, 1.5, (J, I))
    wind = rng.uniform(0.5, 25.0, (J, I))
    T_s = (271 + 29 * np.exp(-LAT**2 / (2 * np.radians(26.0) ** 2)))[:, None]
    q_s = q_sat_oracle(T_s, p_s)
    T_v = T_a * (1 + (R_V / R_D - 1) * q_a)
    z_a = R_D * T_v / G * 0.5 * np.log(1 / 0.9)                     # ~450 m at σ_{K−½} = 0.9
    for dt in (2400.0, 1200.0, 600.0, 36000.0):
        surface = SurfaceFluxes(PARAMS, LAT, SIGMA_HALF[-2], dt, FLOAT64)
        np.testing.assert_allclose(surface.lowest_level_height(T_v), z_a, rtol=1e-14)
        T_new, q_new = surface.exchange(T_a, q_a, wind, z_a, p_s)
        x = C_E * wind * dt / z_a
        for new, old, target in ((T_new, T_a, T_s), (q_new, q_a, q_s)):
            np.testing.assert_allclose(new, target + (old - target) / (1 + x), rtol=1e-13)
            exact = target + (old - target) * np.exp(-x)
            assert np.all(np.abs(new - exact) <= np.abs(old - target) * x**2 / 2 * (1 + 1e-9))
            lo, hi = np.minimum(old, target), np.maximum(old, target)
            assert np.all((new >= lo) & (new <= hi))                # no overshoot, any Δt
    # first-order convergence to the ODE: halving Δt quarters the one-step error
    def error(dt):
        T_new, _ = SurfaceFluxes(PARAMS, LAT, SIGMA_HALF[-2], dt, FLOAT64).exchange(
            T_a, q_a, wind, z_a, p_s)
        return np.abs(T_new - (T_s + (T_a - T_s) * np.exp(-C_E * wind * dt / z_a)))
    ratio = np.median(error(600.0) / error(300.0))
    assert 3.6 < ratio < 4.1


# --- the tridiagonal solver and boundary-layer diffusion ------------------------------------------
def banded(lower, diagonal, upper):
    n = len(diagonal)
    ab = np.zeros((3, n))
    ab[0, 1:], ab[1], ab[2, :-1] = upper, diagonal, lower
    return ab


@pytest.mark.parametrize("n", [2, 3, 8, 17])
def test_tridiagonal_solve_matches_scipy_solve_banded(n):
    rng = np.random.default_rng(n)
    shape = (4, 3)
    lower = rng.uniform(-1, 1, (n - 1, *shape))
    upper = rng.uniform(-1, 1, (n - 1, *shape))
    diagonal = 2.5 + rng.uniform(0, 1, (n, *shape))                # diagonally dominant
    d1, d2 = rng.standard_normal((n, *shape)), rng.standard_normal((n, *shape))
    x1, x2 = tridiagonal_solve(lower, diagonal, upper, d1, d2)
    for j in range(shape[0]):
        for i in range(shape[1]):
            ab = banded(lower[:, j, i], diagonal[:, j, i], upper[:, j, i])
            np.testing.assert_allclose(x1[:, j, i], solve_banded((1, 1), ab, d1[:, j, i]),
                                       rtol=1e-13, atol=1e-14)
            np.testing.assert_allclose(x2[:, j, i], solve_banded((1, 1), ab, d2[:, j, i]),
                                       rtol=1e-13, atol=1e-14)
    with pytest.raises(ValueError, match="need 7 lower and upper"):
        tridiagonal_solve(lower[:7 - n], np.ones(8), upper, d1)


def boundary_layer_state(seed=5):
    T, q, u, v, p_s = atmosphere(seed=seed)
    wind = np.sqrt(u[-1] ** 2 + v[-1] ** 2)
    T_v = T * (1 + (R_V / R_D - 1) * q)
    z_a = R_D * T_v[-1] / G * 0.5 * np.log(1 / SIGMA_HALF[-2])
    theta = T * (P0 / (SIGMA[:, None, None] * p_s)) ** KAPPA
    return theta, q, T_v, wind, z_a, p_s


def test_boundary_layer_diffusion_conserves_column_integrals():
    # Zero flux through the top and the surface: Σ_k φ_k Δp_k is unchanged for θ and q, to
    # round-off, with a Δt long enough (a day) to mix the lowest levels thoroughly. Backward
    # Euler with an M-matrix keeps new values within the old range (maximum principle).
    theta, q, T_v, wind, z_a, p_s = boundary_layer_state()
    bl = BoundaryLayerDiffusion(PARAMS, SIGMA, SIGMA_HALF, 86400.0, FLOAT64)
    theta_new, q_new = bl.diffuse(theta, q, T_v, wind, z_a, p_s)
    dsigma = np.diff(SIGMA_HALF)[:, None, None]
    for old, new in ((theta, theta_new), (q, q_new)):
        np.testing.assert_allclose(np.sum(new * dsigma, axis=0), np.sum(old * dsigma, axis=0),
                                   rtol=1e-14)
        assert np.all(new.min(axis=0) >= old.min(axis=0) - 1e-12 * np.abs(old).max())
        assert np.all(new.max(axis=0) <= old.max(axis=0) + 1e-12 * np.abs(old).max())
    for old, new in ((theta, theta_new), (q, q_new)):             # the boundary layer mixes
        assert np.all(np.var(new[-3:], axis=0) < 0.8 * np.var(old[-3:], axis=0))
    # above p_pbl the Gaussian shuts diffusion off: the upper levels keep their values
    # (K_E/K_surface = exp(−((p_pbl − p)/p_strato)²) < 1e-15 at the interfaces above σ = 0.26)
    np.testing.assert_allclose(q_new[:3], q[:3], rtol=1e-14)
    np.testing.assert_allclose(theta_new[:3], theta[:3], rtol=1e-14)


def test_boundary_layer_matches_a_dense_backward_euler_solve():
    # The oracle assembles, per column, the flux-form operator from the equations in the
    # module doc with independently computed ρ_{k+½}, K_{k+½} (TJ16 Eq. 17) and solves
    # (I − Δt A) φ' = φ with numpy's dense solver (float64, in the test only).
    theta, q, T_v, wind, z_a, p_s = boundary_layer_state(seed=6)
    dt = 3 * 3600.0
    theta_new, q_new = BoundaryLayerDiffusion(PARAMS, SIGMA, SIGMA_HALF, dt, FLOAT64).diffuse(
        theta, q, T_v, wind, z_a, p_s)
    K = len(SIGMA)
    for j in range(len(LAT)):
        for i in range(p_s.shape[1]):
            ps = p_s[j, i]
            p, p_half, dp = SIGMA * ps, SIGMA_HALF * ps, np.diff(SIGMA_HALF) * ps
            A = np.zeros((K, K))
            for k in range(K - 1):                                   # interface k+½
                ph = p_half[k + 1]
                K_E = C_E * wind[j, i] * z_a[j, i] * (
                    1.0 if ph >= P_PBL else math.exp(-((P_PBL - ph) / P_STRATO) ** 2))
                rho = ph / (R_D * (T_v[k, j, i] + T_v[k + 1, j, i]) / 2)
                flux = G**2 * rho**2 * K_E / (p[k + 1] - p[k])      # F = flux · (φ_{k+1} − φ_k)
                A[k, k] -= flux / dp[k]
                A[k, k + 1] += flux / dp[k]
                A[k + 1, k + 1] -= flux / dp[k + 1]
                A[k + 1, k] += flux / dp[k + 1]
            M = np.eye(K) - dt * A
            np.testing.assert_allclose(theta_new[:, j, i], np.linalg.solve(M, theta[:, j, i]),
                                       rtol=1e-13)
            np.testing.assert_allclose(q_new[:, j, i], np.linalg.solve(M, q[:, j, i]),
                                       rtol=1e-12, atol=1e-17)


def test_diffusivity_is_constant_below_p_pbl_and_gaussian_above():
    bl = BoundaryLayerDiffusion(PARAMS, SIGMA, SIGMA_HALF, DT, FLOAT64)
    p_interface = np.array([95000.0, 85000.0, 80000.0, 75000.0, 60000.0])[:, None, None]
    K_E = bl.diffusivity(np.full((1, 1), 10.0), np.full((1, 1), 400.0), p_interface)[:, 0, 0]
    K0 = 0.0044 * 10.0 * 400.0
    np.testing.assert_allclose(K_E, [K0, K0, K0 * math.exp(-0.25), K0 * math.exp(-1.0),
                                     K0 * math.exp(-6.25)], rtol=1e-15)


# --- the whole package: water budget, negative humidity, relaxation -------------------------------
def test_column_water_budget_closes_in_float64():
    # Σ_k q_k Δp_k/g changes by exactly E − P + A (kg m⁻² = mm) per column, to round-off.
    T, q, u, v, p_s = atmosphere(seed=7, rh=1.0, spread=0.15)       # condensation and dew both
    q[2:5, 1, 2] -= 2.0 * q[2:5, 1, 2].max()                        # transport undershoots ...
    q[6, 3, 0] = -1e-4
    q[:, 4, 4] = -1e-6                                              # ... a wholly negative column
    step = physics().step(T, q, u, v, p_s)
    W_before, W_after = column_water(q, p_s), column_water(step.q, p_s)
    budget = step.evaporation - step.precipitation + step.water_added
    np.testing.assert_allclose(W_after - W_before, budget, rtol=0, atol=1e-12 * W_before.max())
    assert np.all(step.precipitation >= 0) and np.any(step.precipitation > 0)
    assert np.any(step.evaporation > 0) and np.any(step.evaporation < 0)
    assert np.all(step.q >= 0)
    negative = -np.einsum("k,kji->ji", np.diff(SIGMA_HALF), np.minimum(q, 0)) * p_s / G
    np.testing.assert_allclose(step.negative_water, negative, rtol=1e-13)
    added = np.zeros_like(p_s)
    added[4, 4] = -column_water(q, p_s)[4, 4]
    np.testing.assert_allclose(step.water_added, added, rtol=1e-13, atol=0)
    for name in ("T", "q", "u", "v", "precipitation", "evaporation"):
        assert np.all(np.isfinite(getattr(step, name))), name


def test_negative_humidity_fill_keeps_column_water_and_leaves_clean_columns_alone():
    T, q, u, v, p_s = atmosphere(seed=8)
    q[3, 2, 1] = -0.3 * q[:, 2, 1].sum()
    m = physics()
    mass = np.diff(SIGMA_HALF)[:, None, None] * p_s / G
    q_filled, removed, added = m.fill_negative_humidity(q, mass)
    assert np.all(q_filled >= 0) and np.all(added == 0)
    np.testing.assert_allclose(column_water(q_filled, p_s), column_water(q, p_s), rtol=1e-14)
    clean = np.ones(p_s.shape, bool)
    clean[2, 1] = False
    assert np.array_equal(q_filled[:, clean], q[:, clean])          # bit for bit
    assert removed[2, 1] == pytest.approx(-q[3, 2, 1] * mass[3, 2, 1], rel=1e-14)
    assert np.all(removed[clean] == 0)
    fixed = q_filled[:, 2, 1] / np.where(q[:, 2, 1] > 0, q[:, 2, 1], np.nan)
    np.testing.assert_allclose(fixed[q[:, 2, 1] > 0], fixed[0], rtol=1e-14)   # one scale factor


def test_held_suarez_relaxation_has_tj16_equilibrium_and_hs_friction():
    r = RelaxationParams()
    lat = np.radians(np.array([0.0, 90.0, 45.0]))
    hs = HeldSuarezRelaxation(r, SIGMA, lat, DT, FLOAT64)
    shape = (len(SIGMA), 3, 1)
    ones = np.ones(shape)
    T_eq = hs.equilibrium_temperature(ones, ones)[-1, :, 0]         # p = p0
    np.testing.assert_allclose(T_eq, [294.0, 229.0, 294.0 - 32.5], rtol=1e-14)
    pp0 = np.full(shape, 0.3)
    T_eq_aloft = hs.equilibrium_temperature(pp0, pp0**KAPPA)[0, :, 0]
    expected = np.maximum(200.0, (294.0 - 65.0 * np.sin(lat) ** 2
                                  - 10.0 * math.log(0.3) * np.cos(lat) ** 2) * 0.3**KAPPA)
    np.testing.assert_allclose(T_eq_aloft, expected, rtol=1e-14)
    T = np.full(shape, 280.0)
    u, v = np.full(shape, 10.0), np.full(shape, -4.0)
    T_new, u_new, v_new = hs.relax(T, u, v, ones, ones)
    ramp = np.maximum(0.0, (SIGMA - 0.7) / 0.3)                     # σ = 0.835, 0.95 below σ_b
    k_v = ramp / 86400.0
    np.testing.assert_allclose(u_new[:, 0, 0], 10.0 * (1 - DT * k_v), rtol=1e-14)
    np.testing.assert_allclose(v_new[:, 1, 0], -4.0 * (1 - DT * k_v), rtol=1e-14)
    assert np.all(u_new[:6] == 10.0)                                # no friction above σ_b
    k_T = (1 / 40 + (1 / 4 - 1 / 40) * ramp[:, None] * np.cos(lat) ** 4) / 86400.0
    T_eq_all = np.array([294.0, 229.0, 261.5])
    np.testing.assert_allclose(T_new[:, :, 0], 280.0 + DT * k_T * (T_eq_all - 280.0), rtol=1e-14)


# --- under the emulator --------------------------------------------------------------------------
def emulated_step(emu, state):
    emu.declare_components(["physics"])
    with emu.component("physics"):
        m = physics(emu)
        step = m.step(*(emu.asarray(x) for x in state))
    return step


@pytest.mark.parametrize("mode, policy", [("nearest", "fused"), ("stochastic", "fused"),
                                          ("nearest", "sequential")])
def test_runs_under_the_emulator_at_10_sbits(mode, policy):
    # Every result is an emulated array whose values the 10-sbit format holds (nothing computed
    # in float64 behind the emulator's back), and it stays near the float64 result:
    # - T within a few spacings of the 10-sbit grid (0.25 K at 256–512 K; ~20 rounded operations
    #   per value); measured 0.71 K (nearest), 0.79 K (stochastic).
    # - precipitation: the error of q_sat dominates. Its exponent −(L/R_v)(1/T − 1/T0) cancels:
    #   1/T carries a relative error u = 2⁻¹¹, so q_sat is off by about (L/R_v)·u/T ≤ 1.2% at
    #   T ≥ 230 K, and more with the other roundings. Bound: 3% of the water of the condensing
    #   levels, Σ q Δp/g where q > q_sat (measured 0.8% nearest, 1.6% stochastic).
    # - the water budget closes to 8u·W (each level's q passes through about 8 roundings:
    #   fill, condensation, surface exchange, the Thomas sweeps; measured 1.5u·W).
    state = atmosphere(seed=9, rh=1.0, spread=0.15)
    reference = physics().step(*state)
    emu = lowprec.Emulator(10, mode=mode, seed=11, policy=policy)
    step = emulated_step(emu, state)
    assert emu.counter > 100
    for name in ("T", "q", "u", "v", "precipitation", "evaporation", "negative_water",
                 "water_added"):
        value = getattr(step, name)
        assert isinstance(value, lowprec.EmulatedArray), name
        x = emu.to_float64(value)
        assert np.all(np.isfinite(x)), name
        np.testing.assert_array_equal(lowprec.round(x, lowprec.Format(10), "nearest"), x)
    assert np.max(np.abs(emu.to_float64(step.T) - reference.T)) < 2.0
    T, q, u, v, p_s = state
    mass = np.diff(SIGMA_HALF)[:, None, None] * p_s / G
    condensing = q > q_sat_oracle(T, SIGMA[:, None, None] * p_s)
    W_condensing = np.sum(np.where(condensing, q, 0.0) * mass, axis=0)
    P = emu.to_float64(step.precipitation)
    assert np.all(np.abs(P - reference.precipitation) <= 0.03 * W_condensing)
    W = column_water(q, p_s)
    budget = (emu.to_float64(step.evaporation) - P + emu.to_float64(step.water_added))
    change = column_water(emu.to_float64(step.q), p_s) - W
    assert np.all(np.abs(change - budget) < 8 * 2.0**-11 * W)


def test_stochastic_rounding_is_reproducible_and_differs_from_nearest():
    state = atmosphere(seed=10)
    runs = [emulated_step(lowprec.Emulator(10, mode=mode, seed=5), state)
            for mode in ("stochastic", "stochastic", "nearest")]
    T = [run.T._data for run in runs]
    assert np.array_equal(T[0].view(np.uint64), T[1].view(np.uint64))
    assert not np.array_equal(T[0], T[2])


# --- interface and errors ------------------------------------------------------------------------
def test_physics_tendency_and_relaxation_off():
    state = atmosphere(seed=12)
    with_hs, without = physics().step(*state), physics(relaxation=None).step(*state)
    assert np.array_equal(without.u, state[2]) and not np.array_equal(with_hs.u, state[2])
    m = physics()
    np.testing.assert_allclose(m.tendency(state[0], with_hs.T) * DT, with_hs.T - state[0],
                               rtol=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    (dict(sigma_half=SIGMA_HALF[::-1]), "must increase from 0"),
    (dict(sigma_half=SIGMA_HALF[:-1]), "need 9 half levels"),
    (dict(sigma=SIGMA + 0.3), "strictly between"),
    (dict(latitude=np.degrees(LAT)), "Degrees\\? Use np.radians"),
    (dict(dt=0.0), "dt = 0.0 s"),
])
def test_bad_grids_are_clear_value_errors(kwargs, message):
    args = dict(sigma=SIGMA, sigma_half=SIGMA_HALF, latitude=LAT, dt=DT) | kwargs
    with pytest.raises(ValueError, match=message):
        MoistPhysics(PARAMS, **args)


def test_bad_shapes_and_params_are_clear_value_errors():
    T, q, u, v, p_s = atmosphere(seed=13)
    with pytest.raises(ValueError, match=r"q has shape \(6, 8, 5\)"):
        physics().step(T, np.swapaxes(q, 0, 1), u, v, p_s)
    with pytest.raises(ValueError, match="C_E = -1.0.*0.0044"):
        MoistPhysicsParams(C_E=-1.0)
    with pytest.raises(ValueError, match="sigma_b"):
        RelaxationParams(sigma_b=1.5)
