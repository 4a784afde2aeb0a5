"""The spectral GCM: rest, solid-body rotation, a Rossby–Haurwitz wave against its analytic phase
speed, mass conservation, the semi-implicit split checked against the grid-point dynamics, tracers,
exact restarts, both rounding policies, the precision components, CF output."""
from __future__ import annotations

import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lowprec.emulated import Emulator
from lowprec.formats import Format
from models import get_model_class
from models.base import FLOAT64, REGISTRY
from models.gcm import GCM, GCMParams
from models.gcm import forcing as forcing_module
from models.gcm.forcing import NoForcing
from models.gcm.state import PhysicsTendency, SpectralState
from models.gcm.vertical import SigmaLevels, reference_temperature

sys.path.insert(0, str(Path(__file__).parent))
from cfcheck import cf_failures  # noqa: E402

DAY = 86400.0
T10 = GCMParams(truncation=10)
ADIABATIC = dict(physics="none", diffusion_timescale=1e300)     # no forcing, no diffusion


def integrate(model: GCM, state, steps: int):
    for _ in range(steps):
        state = model.step(state)
    return state


def barotropic_state(model: GCM, u: np.ndarray, v: np.ndarray, T0: float, gh: np.ndarray):
    """u, v (nlat, nlon) on every level, isothermal T0, and ln(p_s/p0) = gh/(R T0): in an
    isothermal σ atmosphere R T0 ln p_s plays the part of the shallow-water geopotential g h."""
    p, K = model.params, model.levels.K
    shape = (K,) + u.shape
    return model.state_from_grid(np.broadcast_to(u, shape), np.broadcast_to(v, shape),
                                 np.full(shape, T0), p.p0 * np.exp(gh / (p.R * T0)))


def grid_coords(model: GCM) -> tuple[np.ndarray, np.ndarray]:
    tr = model.transform64
    return np.radians(tr.longitude)[None, :], np.arcsin(tr.mu)[:, None]


# --- the model's interface -------------------------------------------------------------------
def test_registered_with_outputs_on_its_coordinates():
    assert get_model_class("gcm") is GCM and REGISTRY["gcm"]() is GCM
    model = GCM(T10)
    d = model.diagnostics(model.initial_state(1))
    coords = model.coords()
    assert [o.name for o in model.OUTPUTS] == list(d)
    for o in model.OUTPUTS:
        shape = tuple(len(coords[dim][1]) for dim in o.dims[1:])
        assert d[o.name].shape == shape and d[o.name].dtype == np.float64, o.name
    assert coords["lev"][2]["standard_name"] == "atmosphere_sigma_coordinate"
    assert coords["lev"][2]["formula_terms"] == "sigma: lev ps: ps ptop: ptop"
    assert np.all(np.diff(coords["lat"][1]) > 0) and coords["lon"][1][1] == 360 / 32
    assert np.allclose(d["ps"], 1e5) and np.abs(d["u"]).max() == 0.0     # rest, p_s = p0


@pytest.mark.parametrize("T, dt", [(31, 2400.0), (21, 3600.0), (42, 1800.0), (15, 4320.0),
                                   (10, 5400.0), (2, 5400.0)])
def test_default_time_step_is_the_spec_s_and_divides_6_hours(T, dt):
    """40 min at T31, 1 h at T21 (the spec); ∝ 1/T elsewhere, but never 2ΩΔt > 0.8 (leapfrog
    with explicit Coriolis: unstable from 2ΩΔt = 1, i.e. 6857 s; T10 at 2 h blew up in 4 days)."""
    p = GCMParams(truncation=T)
    assert p.time_step == dt and (21600 / dt).is_integer()
    assert 2 * p.Omega * dt <= 0.8
    assert GCMParams(truncation=T, dt=600.0).time_step == 600.0
    assert GCMParams(truncation=T, Omega=0.0).time_step == 21600 / math.ceil(21600 * T / 75600)


@pytest.mark.parametrize("bad, match", [
    (dict(truncation=1), "truncation"), (dict(truncation=21.5), "truncation"),
    (dict(dt=1000.0), "divide 6 hours"), (dict(dt=-60.0), "divide 6 hours"),
    (dict(dt=7200.0), "2·Omega·dt < 1"),
    (dict(physics="wet"), "held_suarez"),
    (dict(initial_relative_humidity=1.5), "initial_relative_humidity"), (dict(levels=0), "at least one"),
    (dict(sigma_half=(0.0, 0.6, 0.5, 1.0)), "half levels"), (dict(kappa=0.0), "positive"),
    (dict(williams_alpha=0.0), "0 < α")])
def test_bad_parameters_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        replace(T10, **bad)


def test_float64_arithmetic_keeps_complex_values():
    assert FLOAT64.const(2j) == 2j and FLOAT64.asarray([1j]).dtype == np.complex128
    assert FLOAT64.to_float64(np.array([1 + 1j]))[0] == 1 + 1j


# --- the dynamics --------------------------------------------------------------------------------
def test_grid_point_dynamics_linearise_to_the_semi_implicit_operator():
    """The full tendencies of a small perturbation of rest about T_ref (transforms, grid-point
    products, Simmons–Burridge vertical terms) equal the matrices G, H, Δσ of the semi-implicit
    scheme, built separately from the formulas (vertical.py): the difference is second order.
    (No rotation: the Coriolis terms are linear too, but explicit.)"""
    model = GCM(GCMParams(truncation=10, physics="none", Omega=0.0))
    tr, K = model.transform64, model.levels.K
    rng = np.random.default_rng(1)
    G = model.levels.hydrostatic_matrix(287.0)
    H = model.levels.temperature_matrix(model.T_ref, 2 / 7)
    xi = -tr.laplacian_eigenvalues()

    def random(n, amplitude):
        x = (rng.standard_normal((n,) + tr.spectral_shape)
             + 1j * rng.standard_normal((n,) + tr.spectral_shape)) * tr.triangle
        x[:, 0, :] = x[:, 0, :].real
        return amplitude * x

    errors = []
    for eps in (1e-3, 1e-4):
        D, T, p = random(K, 1e-6 * eps), random(K, eps), random(1, 1e-2 * eps)
        s = SpectralState(vor=np.zeros_like(D), div=D, temp=T, lnps=p)
        dyn = model.dynamics
        tend = dyn.spectral_tendencies(s, *dyn.to_spectral(dyn.grid_tendencies(dyn.to_grid(s))))
        linear = {"div": xi * (np.einsum("ij,jml->iml", G, T) + (287.0 * model.T_ref)[:, None, None] * p),
                  "temp": -np.einsum("ij,jml->iml", H, D),
                  "lnps": -np.einsum("j,jml->ml", model.levels.thickness, D)[None]}
        errors.append([np.abs(getattr(tend, k) - v).max() / np.abs(v).max() for k, v in linear.items()])
    errors = np.array(errors)
    assert np.all(errors[0] < 1e-3) and np.all(errors[1] < 0.15 * errors[0]), errors  # ∝ eps


def test_rest_stays_at_rest():
    """No forcing, no wind, T(σ) and p_s horizontally uniform (not the reference profile): every
    tendency vanishes, so after a day the wind is zero to round-off and nothing else moved."""
    model = GCM(GCMParams(truncation=10, physics="none"))
    K, (nlat, nlon) = model.levels.K, model.transform64.grid_shape
    T = (240.0 + 50.0 * model.levels.full)[:, None, None] * np.ones((K, nlat, nlon))
    state = model.state_from_grid(np.zeros((K, nlat, nlon)), np.zeros((K, nlat, nlon)), T,
                                  np.full((nlat, nlon), 101325.0))
    start = model.grid_fields(state)
    end = model.grid_fields(integrate(model, state, 12))
    assert np.abs(end["u"]).max() < 1e-10 and np.abs(end["v"]).max() < 1e-10
    assert np.abs(end["T"] - start["T"]).max() < 1e-10
    assert np.abs(end["ps"] - 101325.0).max() < 1e-8


def test_solid_body_rotation_is_steady():
    """u = u0 cos φ on every level, isothermal, p_s in gradient-wind balance,
    R T0 ∂ln p_s/∂φ = −(2Ωa u0 + u0²) sin φ cos φ: an exact steady solution, kept to 1e-9 m s⁻¹
    for 5 days at Δt = 1 h (measured 6e-12; a wrong Coriolis or metric term moves it by m s⁻¹)."""
    p = GCMParams(truncation=15, dt=3600.0, **ADIABATIC)
    model = GCM(p)
    lam, phi = grid_coords(model)
    u0, T0 = 30.0, 280.0
    u = u0 * np.cos(phi) * np.ones_like(lam)
    gh = -(2 * p.Omega * p.radius * u0 + u0 ** 2) * np.sin(phi) ** 2 / 2 * np.ones_like(lam)
    state = barotropic_state(model, u, np.zeros_like(u), T0, gh)
    start = model.grid_fields(state)
    end = model.grid_fields(integrate(model, state, 120))
    assert np.abs(end["u"] - start["u"]).max() < 1e-9
    assert np.abs(end["v"]).max() < 1e-9 and np.abs(end["T"] - T0).max() < 1e-9
    assert np.abs(end["ps"] - start["ps"]).max() < 1e-7


def rossby_haurwitz(model: GCM, omega: float, K: float, T0: float, R: int = 4):
    """Williamson et al. (1992) test 6 winds and balanced geopotential, on every level."""
    p = model.params
    a, Om = p.radius, p.Omega
    lam, phi = grid_coords(model)
    c, s = np.cos(phi), np.sin(phi)
    u = a * omega * c + a * K * c ** (R - 1) * (R * s ** 2 - c ** 2) * np.cos(R * lam)
    v = -a * K * R * c ** (R - 1) * s * np.sin(R * lam)
    A_ = omega / 2 * (2 * Om + omega) * c ** 2 + K ** 2 / 4 * c ** (2 * R) * (
        (R + 1) * c ** 2 + (2 * R * R - R - 2) - 2 * R * R / c ** 2)
    B_ = 2 * (Om + omega) * K / ((R + 1) * (R + 2)) * c ** R * ((R * R + 2 * R + 2) - (R + 1) ** 2 * c ** 2)
    C_ = K ** 2 / 4 * c ** (2 * R) * ((R + 1) * c ** 2 - (R + 2))
    gh = a * a * (A_ + B_ * np.cos(R * lam) + C_ * np.cos(2 * R * lam))
    return barotropic_state(model, u, v, T0, gh)


@pytest.mark.parametrize("Omega, omega, T0", [(7.292e-5, 7.848e-6, 2.8e5), (0.0, 2e-6, 280.0)])
def test_rossby_haurwitz_wave_moves_at_its_analytic_phase_speed(Omega, omega, T0):
    """Wavenumber 4 moves east at ν = (R(3+R)ω − 2Ω)/((1+R)(2+R)) (Haurwitz 1940), exact for
    nondivergent flow. The isothermal σ atmosphere behaves as shallow water of depth R T0/g, whose
    divergence slows the wave by ~ 4Ω²a²/(R T0)/(n(n+1)) relative: 6 % at T0 = 280 K with Earth's
    rotation, below 0.04 % at T0 = 2.8e5 K (a deep atmosphere), and nothing without rotation.
    Measured at T15 over 3 days (Δt = 1 h): within 0.01 %; the tolerance is 0.1 %. The phase is
    that of the m = 4 Fourier component of v, tracked step by step (no 90° ambiguity)."""
    p = GCMParams(truncation=15, dt=3600.0, Omega=Omega, semi_implicit_temperature=max(300.0, T0),
                  **ADIABATIC)
    model = GCM(p)
    state = rossby_haurwitz(model, omega, omega, T0)
    w = model.transform64.weights

    def fourier4(s):
        return np.fft.rfft(model.grid_fields(s)["v"], axis=-1)[..., 4]

    shift, previous = 0.0, fourier4(state)
    for _ in range(72):
        state = model.step(state)
        now = fourier4(state)
        shift -= np.angle(np.sum(now * np.conj(previous) * w)) / 4      # eastward, radians
        previous = now
    R = 4
    nu = (R * (3 + R) * omega - 2 * Omega) / ((1 + R) * (2 + R))
    assert abs(shift / (nu * 72 * 3600.0) - 1) < 1e-3, (shift, nu * 72 * 3600.0)


def test_global_mass_is_conserved():
    """Σ_j w_j mean_λ p_s: ∂p_s/∂t = −∇·(p_s Σ Δσ v) has zero global integral, but mass is a
    nonlinear function of the prognostic ln p_s, so the time scheme conserves it only to its
    truncation error: relative drift < 1e-6 over 3 days of a Rossby–Haurwitz wave with ~15 m s⁻¹
    winds at Δt = 1 h (measured 1.8e-7, the same at T15, T21 and T31; 4e-8 at Δt = 30 min);
    flipping the sign of v·∇ln p_s in ∂ln p_s/∂t gives 2.7e-5."""
    model = GCM(GCMParams(truncation=15, dt=3600.0, physics="none"))
    state = rossby_haurwitz(model, 2e-6, 2e-6, 280.0)
    w = model.transform64.weights

    def mass(s):
        return np.sum(model.grid_fields(s)["ps"].mean(axis=-1) * w) / 2

    m0 = mass(state)
    state = integrate(model, state, 72)
    assert np.abs(model.grid_fields(state)["v"]).max() > 10.0
    assert abs(mass(state) / m0 - 1) < 1e-6


class _PassiveTracer(NoForcing):
    """A forcing with one prognostic tracer and no tendencies: q = 1 everywhere at the start."""

    tracers = ("q",)

    def __init__(self, params, geometry, emu):
        self.shape = (len(geometry.sigma), len(geometry.sinlat), geometry.nlon)

    def initial_tracers(self):
        return {"q": np.ones(self.shape)}

    def tendency(self, s, first=False):
        assert set(s.tracers) == {"q"}
        return PhysicsTendency()


def test_a_forcing_s_tracer_is_carried_and_a_uniform_one_stays_uniform(monkeypatch):
    """The core advects, diffuses and steps the tracers a forcing declares (as a moist physics
    will declare humidity). −∇·(vq) + qD − σ̇∂q/∂σ vanishes for uniform q: q stays 1 to round-off
    in a Held–Suarez flow, while T′ (not uniform) is advected."""
    monkeypatch.setitem(forcing_module.FORCINGS, "tracer_test", _PassiveTracer)
    model = GCM(GCMParams(truncation=10, physics="tracer_test"))
    assert model.tracers == ("q",)
    state = integrate(model, rossby_haurwitz(model, 7.848e-6, 7.848e-6, 280.0), 12)
    q = model.transform64.grid(model.emu.to_float64(state.now.tracers["q"]))
    assert np.abs(q - 1).max() < 1e-12
    assert set(model.state_arrays(state)) >= {"now_tracer_q", "before_tracer_q"}
    again = model.state_from_arrays(model.state_arrays(state))
    assert np.array_equal(again.now.tracers["q"], state.now.tracers["q"])


# --- precision -----------------------------------------------------------------------------------
def _emulator(sbits=10, **kwargs):
    return Emulator(Format(sbits=sbits), **kwargs)


def test_emulated_stochastic_run_restarts_bit_identically():
    p = replace(T10, dt=3600.0)
    emu = _emulator(mode="stochastic", seed=7)
    model = GCM(p, emu)
    state = integrate(model, model.initial_state(2), 3)
    arrays, counter = model.state_arrays(state), emu.get_state()
    whole = model.state_arrays(integrate(model, state, 3))
    emu2 = _emulator(mode="stochastic", seed=7)
    model2 = GCM(p, emu2)
    restarted = model2.state_from_arrays(arrays)
    emu2.set_state(counter)                 # after entering the state (it draws counter values)
    rest = model2.state_arrays(integrate(model2, restarted, 3))
    assert whole.keys() == rest.keys()
    for k in whole:
        assert np.array_equal(whole[k].view(np.uint64), rest[k].view(np.uint64)), k


@pytest.mark.parametrize("policy", ["fused", "sequential"])
@pytest.mark.parametrize("mode", ["nearest", "stochastic"])
def test_both_policies_run_the_whole_model_and_stay_near_float64(policy, mode):
    """4 steps of Held–Suarez from a Rossby–Haurwitz state (winds to 90 m s⁻¹, T = 280 K) at 10
    sbits: the state is held at 10 sbits (every real and imaginary part), within 0.5 m s⁻¹ and
    0.5 K of float64 (the spacing of 10-sbit numbers is 0.25 K at 280 K, 0.06 m s⁻¹ at 50 m s⁻¹),
    and the policy matters."""
    p = replace(T10, dt=3600.0)
    ref = GCM(p)
    start = rossby_haurwitz(ref, 7.848e-6, 7.848e-6, 280.0)
    arrays = ref.state_arrays(start)
    expected = ref.grid_fields(integrate(ref, start, 4))
    results = {}
    for pol in ("fused", policy):
        emu = _emulator(mode=mode, seed=1, policy=pol)
        model = GCM(p, emu)
        s = integrate(model, model.state_from_arrays(arrays), 4)
        results[pol] = model.state_arrays(s)
        g = model.grid_fields(s)
        for name, tolerance in (("u", 0.5), ("v", 0.5), ("T", 0.5)):      # m s⁻¹, K
            assert np.abs(g[name] - expected[name]).max() < tolerance, (name, pol)
    for k, a in results[policy].items():
        x = a[a != 0]
        m, _ = np.frexp(x)
        assert np.array_equal(m * 2 ** 11, np.round(m * 2 ** 11)), k          # 10 sbits
    if policy == "sequential":
        assert not np.array_equal(results["fused"]["now_vor"], results["sequential"]["now_vor"])


@pytest.mark.parametrize("component", GCM.COMPONENTS)
def test_every_precision_component_rounds_part_of_the_step(component):
    """Float64 everywhere but one component at 6 sbits: the step changes (so the component holds
    real work), and the change is small (it holds no more than its part)."""
    p = replace(T10, dt=3600.0)
    ref = GCM(p)
    start = ref.state_arrays(integrate(ref, rossby_haurwitz(ref, 7.848e-6, 7.848e-6, 280.0), 2))
    b = ref.state_arrays(integrate(ref, ref.state_from_arrays(start), 2))
    emu = Emulator(Format(52), components={component: 6})
    model = GCM(p, emu)
    a = model.state_arrays(integrate(model, model.state_from_arrays(start), 2))
    diff = {k: np.abs(a[k] - b[k]).max() / max(np.abs(b[k]).max(), 1e-300) for k in b if k != "started"}
    assert max(diff.values()) > 1e-6, diff
    assert diff["now_vor"] < 0.1, diff


# --- output --------------------------------------------------------------------------------------
def test_output_file_is_cf_compliant_with_a_sigma_coordinate(tmp_path):
    from lowprec.harness.run import run
    path = tmp_path / "gcm.nc"
    ds = run({"model": "gcm", "params": {"truncation": 10},
              "precision": {"sbits": 10, "mode": "stochastic", "seed": 1},
              "run": {"length": "1 day", "output_interval": "6 hours"}}, path)
    assert set(ds.data_vars) >= {"u", "v", "T", "ps", "u_zonal_mean", "T_zonal_mean"}
    assert ds["u"].dims == ("time", "lev", "lat", "lon") and ds.sizes["time"] == 4
    assert ds["u_zonal_mean"].dims == ("time_1d", "lev", "lat") and ds.sizes["time_1d"] == 1
    # daily means of the 6-hourly zonal means
    zonal = ds["u"].mean("lon").values.reshape(1, 4, 8, 16).mean(axis=1)
    assert np.allclose(ds["u_zonal_mean"].values, zonal, rtol=1e-6, atol=1e-6)
    assert ds["lev"].attrs["formula_terms"] == "sigma: lev ps: ps ptop: ptop"
    assert float(ds["ptop"]) == 0.0 and ds["ps"].attrs["standard_name"] == "surface_air_pressure"
    assert cf_failures(path) == {}


def test_reference_profile_and_levels_are_speedy_s():
    L = SigmaLevels(8)
    T_ref = reference_temperature(L.full, 287.0, 9.81)
    assert math.isclose(T_ref[0], 288 * 0.2 ** (287 * 6.5e-3 / 9.81)) and 285 < T_ref[-1] < 288
    assert np.all(np.diff(T_ref) >= 0)


def test_a_restart_of_another_shape_is_refused():
    model = GCM(T10)
    arrays = model.state_arrays(model.initial_state(0))
    other = GCM(replace(T10, truncation=12))
    with pytest.raises(ValueError, match="T12, 8 levels"):
        other.state_from_arrays(arrays)
    with pytest.raises(ValueError, match="no array 'now_div'"):
        model.state_from_arrays({k: v for k, v in arrays.items() if k != "now_div"})
    again = model.state_from_arrays(arrays)
    assert not again.started and np.array_equal(again.now.temp, model.initial_state(0).now.temp)
