"""Moist Held–Suarez aquaplanet physics (Thatcher & Jablonowski 2016) on grid-point columns.

Thatcher, D. R. and Jablonowski, C. (2016): A moist aquaplanet variant of the Held–Suarez test
for atmospheric model dynamical cores, Geosci. Model Dev. 9, 1263–1292 ("TJ16"); the moist
processes follow Reed & Jablonowski (2012, JAMES 4, M04001). Spec: models.md §4, tier 1.
Equation numbers quoted here are TJ16's as used by independent implementations (Eq. 6 SST,
Eqs. 7–8 surface fluxes, Eq. 12 z_a, Eq. 17 K_E); the other processes are cited by name.

One call of :meth:`MoistPhysics.step` advances every column by the physics step Δt, the
processes applied one after the other (time split, in the order of the reference CAM code,
where condensation runs before the surface coupling and the rest after it):

 0. negative humidity left by transport is filled within its column (below)
 1. large-scale condensation with the latent-heat correction, rained out   (condensation.py)
 2. implicit bulk fluxes of sensible heat and moisture from the prescribed SST
    into the lowest level                                                   (surface_fluxes.py)
 3. implicit boundary-layer diffusion of θ and q                            (boundary_layer.py)
 4. the modified Held–Suarez forcing: Newtonian relaxation of T towards
    T_eq = max{200 K, [T_max − ΔT_y sin²φ − Δθ_z ln(p/p0) cos²φ](p/p0)^κ} with T_max = 294 K,
    ΔT_y = 65 K (HS: 315 K, 60 K), and HS Rayleigh friction of u, v (explicit Euler, as CAM)

Momentum is not diffused: HS Rayleigh friction stands for the surface drag (TJ16). There is no
re-evaporation of rain and no convection scheme. Surface pressure is not changed by the physics.

Grid and shapes. Fields are grid-point arrays on the Gaussian grid, shaped (levels, lat, lon),
levels from the top (σ increasing); σ on full levels (K,) and half levels (K+1, from 0 to 1);
surface pressure p_s (lat, lon) in Pa; T in K, q in kg/kg, u, v in m s⁻¹; latitudes (lat,) in
radians. Pressure on full levels is p_k = σ_k p_s, at interfaces p_{k+½} = σ_{k+½} p_s, and a
layer holds the mass Δp_k/g = Δσ_k p_s/g per square metre.

Water. Σ_k q_k Δp_k/g is the column water W (kg m⁻²); one step changes it by exactly
E − P + A (kg m⁻² each, per step): evaporation E from the surface flux, precipitation P from
condensation, and A ≥ 0 from the negative-humidity fill (zero unless a whole column's water is
negative). Boundary-layer diffusion and the fill redistribute water within a column without
changing W. In float64 this closes per column to round-off (tested); 1 kg m⁻² of water is
1 mm of liquid water (ρ_w = 1000 kg m⁻³), the unit of the returned amounts.

Negative humidity. Spectral transport leaves small negative q (Gibbs ripples near sharp moisture
gradients). Before anything else each column with a negative value is filled: the negatives are
set to zero and the column's positive values scaled by (W⁺ + W⁻)/W⁺ (W⁺, W⁻: the mass-weighted
sums of the positive and negative parts), which keeps W unchanged. A column whose total is
negative is set to zero and the water this creates, A = −(W⁺ + W⁻), is reported. The amount of
negative water removed, −W⁻, is reported too (how much was clipped). Columns without negative
values are passed through bit for bit.

Precision. Written against the arithmetic object it is given: every constant enters through
``emu.const`` in a constructor (build :class:`MoistPhysics` inside the component it will run in,
``with emu.component("physics")``), arrays arrive already emulated, nothing is rounded here; the
caller runs :meth:`MoistPhysics.step` inside ``with emu.component("physics")``. The tridiagonal
solve is the Thomas algorithm in elementwise operations. Every numpy function used is in the
emulator's tables (sum, where, maximum, minimum, exp, log, sqrt, square, power, stack, concatenate,
zeros_like).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from models.base import FLOAT64, Arithmetic
from models.gcm.boundary_layer import BoundaryLayerDiffusion
from models.gcm.condensation import LargeScaleCondensation
from models.gcm.surface_fluxes import SurfaceFluxes

DAY = 86400.0           # s
COMPONENT = "physics"   # the precision component the caller runs the physics in


@dataclass(frozen=True)
class MoistPhysicsParams:
    """TJ16 parameters and the physical constants they use; SI units.

    The constants default to the values of the TJ16/DCMIP idealised tests (g = 9.80616,
    R_d = 287, c_p = 1004.5, so κ = R_d/c_p = 2/7). A model should pass the g, R_d, c_p and p0 of
    its dynamics, so that physics and dynamics share them.
    """

    C_E: float = 0.0044             # bulk exchange coefficient, heat and moisture, 1
    T_s_min: float = 271.0          # SST at the poles (the profile's floor), K
    dT_s: float = 29.0              # equator-minus-pole SST difference, K
    phi_w: float = 26.0             # latitudinal width φ_w of the SST profile, degrees
    e0: float = 610.78              # saturation vapour pressure at T0, Pa
    T0: float = 273.16              # reference temperature of q_sat, K
    p_pbl: float = 85000.0          # top of the constant-diffusivity boundary layer, Pa
    p_strato: float = 10000.0       # width of the Gaussian decay of K_E above p_pbl, Pa
    g: float = 9.80616              # gravity, m s⁻²
    R_d: float = 287.0              # gas constant of dry air, J kg⁻¹ K⁻¹
    c_p: float = 1004.5             # specific heat of dry air at constant pressure, J kg⁻¹ K⁻¹
    R_v: float = 461.5              # gas constant of water vapour, J kg⁻¹ K⁻¹
    L: float = 2.5e6                # latent heat of vaporisation, J kg⁻¹
    epsilon: float = 0.622          # ε = R_d/R_v as TJ16 round it, 1
    rho_water: float = 1000.0       # density of liquid water, kg m⁻³ (mm of precipitation)
    p0: float = 1.0e5               # reference pressure of θ and T_eq, Pa

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"moist physics {f.name} = {value!r}: must be a positive finite "
                                 f"number (TJ16 default {f.default!r}).")

    @property
    def kappa(self) -> float:
        """κ = R_d/c_p, 1."""
        return self.R_d / self.c_p

    @property
    def zvir(self) -> float:
        """R_v/R_d − 1: T_v = T (1 + zvir·q), 1."""
        return self.R_v / self.R_d - 1.0


@dataclass(frozen=True)
class RelaxationParams:
    """Held & Suarez (1994) forcing as modified by TJ16 (T_max, ΔT_y); rates in day⁻¹.

    The field names are those of the dry core's Held–Suarez parameters (STYLE §3), so that one
    relaxation can serve both tiers.
    """

    sigma_b: float = 0.7            # top of the frictional boundary layer, σ
    k_f: float = 1.0                # Rayleigh friction rate at the surface, day⁻¹
    k_a: float = 1.0 / 40.0         # free-atmosphere relaxation rate, day⁻¹
    k_s: float = 1.0 / 4.0          # surface relaxation rate at the equator, day⁻¹
    T_max: float = 294.0            # K (HS: 315)
    T_min: float = 200.0            # floor of T_eq, K
    dT_y: float = 65.0              # equator-to-pole difference of T_eq, K (HS: 60)
    dtheta_z: float = 10.0          # static stability parameter Δθ_z, K

    def __post_init__(self) -> None:
        if not 0.0 < self.sigma_b < 1.0:
            raise ValueError(f"relaxation sigma_b = {self.sigma_b!r}: must lie in (0, 1) "
                             f"(Held–Suarez: 0.7).")
        for name in ("k_f", "k_a", "k_s", "T_max", "T_min", "dT_y", "dtheta_z"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"relaxation {name} = {value!r}: must be a finite number ≥ 0.")


TJ16_RELAXATION = RelaxationParams()


class HeldSuarezRelaxation:
    """Rayleigh friction and Newtonian cooling of Held & Suarez (1994), TJ16's T_eq; explicit.

        u ← u − Δt k_v u,   v ← v − Δt k_v v,   T ← T + Δt k_T (T_eq − T)
        k_v = k_f max(0, (σ − σ_b)/(1 − σ_b))
        k_T = k_a + (k_s − k_a) max(0, (σ − σ_b)/(1 − σ_b)) cos⁴φ
        T_eq = max{T_min, [T_max − ΔT_y sin²φ − Δθ_z ln(p/p0) cos²φ] (p/p0)^κ}

    sigma (K,), latitude (lat,) radians, dt (s). Built under the component it will run in.
    """

    def __init__(self, r: RelaxationParams, sigma: np.ndarray, latitude: np.ndarray,
                 dt: float, emu: Arithmetic):
        ramp = np.maximum(0.0, (sigma - r.sigma_b) / (1.0 - r.sigma_b))[:, None, None]
        cos2 = np.cos(latitude)[:, None] ** 2                       # (lat, 1)
        sin2 = np.sin(latitude)[:, None] ** 2
        k_T = (r.k_a + (r.k_s - r.k_a) * ramp * cos2 ** 2) / DAY    # s⁻¹, (K, lat, 1)
        self.k_v_dt = emu.const(dt * r.k_f / DAY * ramp)            # Δt k_v, (K, 1, 1)
        self.k_T_dt = emu.const(dt * k_T)                           # Δt k_T
        self.T_lat = emu.const(r.T_max - r.dT_y * sin2)              # T_max − ΔT_y sin²φ
        self.dtheta = emu.const(r.dtheta_z * cos2)                   # Δθ_z cos²φ
        self.T_min = emu.const(r.T_min)

    def equilibrium_temperature(self, p_over_p0: Any, exner: Any) -> Any:
        """T_eq, K, from p/p0 and (p/p0)^κ, each (K, lat, lon)."""
        return np.maximum(self.T_min, (self.T_lat - self.dtheta * np.log(p_over_p0)) * exner)

    def relax(self, T: Any, u: Any, v: Any, p_over_p0: Any, exner: Any) -> tuple[Any, Any, Any]:
        """(T, u, v) after one explicit step of relaxation and friction."""
        T_eq = self.equilibrium_temperature(p_over_p0, exner)
        return (T + self.k_T_dt * (T_eq - T),
                u - self.k_v_dt * u,
                v - self.k_v_dt * v)


@dataclass(frozen=True)
class MoistPhysicsStep:
    """What one physics step returns: the adjusted fields and the step's water amounts.

    Fields (levels, lat, lon) after the physics step; amounts (lat, lon) during the step, in mm
    of liquid water (= kg m⁻²). Column water changes by exactly
    evaporation − precipitation + water_added (module doc).
    """

    T: Any                  # temperature, K
    q: Any                  # specific humidity, kg/kg
    u: Any                  # zonal wind, m s⁻¹
    v: Any                  # meridional wind, m s⁻¹
    precipitation: Any      # large-scale precipitation reaching the surface, mm (≥ 0)
    evaporation: Any        # net water from the sea surface into the column, mm (< 0: dew)
    negative_water: Any     # negative humidity removed by the fill, mm (≥ 0; redistributed)
    water_added: Any        # water created by zeroing wholly negative columns, mm (≥ 0)


class MoistPhysics:
    """The TJ16 moist physics package for grid-point columns (module doc).

    params: :class:`MoistPhysicsParams`. sigma: full levels (K,), sigma_half: half levels (K+1,)
    from 0 to 1, both increasing downwards. latitude: (lat,) radians. dt: the physics step Δt, s:
    the time over which each call's adjustments happen (a leapfrog core applying the physics as a
    tendency over 2Δt builds one with 2Δt, and one with Δt for its Euler start).
    relaxation: the Held–Suarez forcing to apply as the last process (TJ16's by default), or None
    when the caller's own forcing applies it. emu: the arithmetic; build inside
    ``with emu.component("physics")``.
    """

    def __init__(self, params: MoistPhysicsParams | None = None, *, sigma: np.ndarray,
                 sigma_half: np.ndarray, latitude: np.ndarray, dt: float,
                 relaxation: RelaxationParams | None = TJ16_RELAXATION,
                 emu: Arithmetic = FLOAT64) -> None:
        self.params = p = params if params is not None else MoistPhysicsParams()
        sigma, sigma_half, latitude = _check_grid(sigma, sigma_half, latitude)
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ValueError(f"moist physics dt = {dt!r} s: the physics step must be a positive "
                             f"number of seconds (e.g. the core's 2400 s at T31).")
        self.emu, self.dt = emu, float(dt)
        self.levels, self.lats = len(sigma), len(latitude)
        column = (slice(None), None, None)
        self.sigma = emu.const(sigma[column])                        # σ_k, (K, 1, 1)
        self.dsigma_over_g = emu.const((np.diff(sigma_half) / p.g)[column])   # Δσ_k/g
        self.p0 = emu.const(p.p0)
        self.kappa = emu.const(p.kappa)
        self.zvir = emu.const(p.zvir)
        self.mm_per_kg_m2 = emu.const(1000.0 / p.rho_water)          # 1 kg m⁻² of water, in mm
        self.condensation = LargeScaleCondensation(p, emu)
        self.surface = SurfaceFluxes(p, latitude, float(sigma_half[-2]), dt, emu)
        self.boundary_layer = BoundaryLayerDiffusion(p, sigma, sigma_half, dt, emu)
        self.relaxation = (None if relaxation is None else
                           HeldSuarezRelaxation(relaxation, sigma, latitude, dt, emu))
        self.inv_dt = emu.const(1.0 / dt)

    # --- the step ----------------------------------------------------------------------------
    def step(self, T: Any, q: Any, u: Any, v: Any, p_s: Any) -> MoistPhysicsStep:
        """Advance every column by Δt of moist physics (run inside the "physics" component).

        T (K), q (kg/kg), u, v (m s⁻¹): (levels, lat, lon); p_s (Pa): (lat, lon).
        """
        self._check_shapes(T, q, u, v, p_s)
        p = self.sigma * p_s                                         # full-level pressure, Pa
        layer_mass = self.dsigma_over_g * p_s                        # Δp/g, kg m⁻²
        q, negative_water, water_added = self.fill_negative_humidity(q, layer_mass)
        T, q, precipitation = self.condensation.condense(T, q, p, layer_mass)
        T, q, evaporation, wind, z_a = self.surface_exchange(T, q, u, v, p_s, layer_mass)
        p_over_p0 = p / self.p0
        exner = p_over_p0 ** self.kappa                              # (p/p0)^κ = T/θ
        theta, q = self.boundary_layer.diffuse(T / exner, q, self.virtual_temperature(T, q),
                                               wind, z_a, p_s)
        T = theta * exner
        if self.relaxation is not None:
            T, u, v = self.relaxation.relax(T, u, v, p_over_p0, exner)
        mm = self.mm_per_kg_m2
        return MoistPhysicsStep(T=T, q=q, u=u, v=v, precipitation=precipitation * mm,
                                evaporation=evaporation * mm, negative_water=negative_water * mm,
                                water_added=water_added * mm)

    def tendency(self, before: Any, after: Any) -> Any:
        """(after − before)/Δt: a field's physics tendency, per second."""
        return (after - before) * self.inv_dt

    # --- the parts of the step -----------------------------------------------------------------
    def virtual_temperature(self, T: Any, q: Any) -> Any:
        """T_v = T (1 + (R_v/R_d − 1) q), K."""
        return T * (1.0 + self.zvir * q)

    def fill_negative_humidity(self, q: Any, layer_mass: Any) -> tuple[Any, Any, Any]:
        """(q, W⁻ removed, water added), column water kept (module doc); amounts in kg m⁻²."""
        positive = np.maximum(q, 0.0)
        W_pos = np.sum(positive * layer_mass, axis=0)                # W⁺ ≥ 0
        W_neg = np.sum(np.minimum(q, 0.0) * layer_mass, axis=0)      # W⁻ ≤ 0
        total = W_pos + W_neg
        # W⁺ = 0 implies total ≤ 0, so the scale is 0 there; 1.0 only keeps the division finite
        scale = np.maximum(total, 0.0) / np.where(W_pos > 0.0, W_pos, 1.0)
        q_filled = np.where(W_neg < 0.0, positive * scale, q)        # untouched without negatives
        return q_filled, 0.0 - W_neg, np.maximum(-total, 0.0)      # (0 − W⁻: +0, not −0)

    def surface_exchange(self, T: Any, q: Any, u: Any, v: Any, p_s: Any,
                         layer_mass: Any) -> tuple[Any, Any, Any, Any, Any]:
        """(T, q, evaporation E in kg m⁻², wind |v_a|, z_a) after the lowest level's exchange.

        |v_a| and z_a are those before the exchange (they also set the boundary layer's K_E).
        """
        a = slice(-1, None)                                           # the lowest level, kept 3-D
        T_a, q_a = T[a], q[a]
        wind = np.sqrt(u[a] * u[a] + v[a] * v[a])
        z_a = self.surface.lowest_level_height(self.virtual_temperature(T_a, q_a))
        T_a_new, q_a_new = self.surface.exchange(T_a, q_a, wind, z_a, p_s)
        evaporation = ((q_a_new - q_a) * layer_mass[a])[0]
        above = slice(None, -1)
        return (np.concatenate((T[above], T_a_new)), np.concatenate((q[above], q_a_new)),
                evaporation, wind[0], z_a[0])

    def _check_shapes(self, T: Any, q: Any, u: Any, v: Any, p_s: Any) -> None:
        expected = (self.levels, self.lats, *np.shape(p_s)[1:])
        if np.ndim(p_s) != 2 or np.shape(p_s)[0] != self.lats:
            raise ValueError(f"moist physics: p_s has shape {np.shape(p_s)}; expected (lat, lon) "
                             f"with {self.lats} latitudes.")
        for name, a in (("T", T), ("q", q), ("u", u), ("v", v)):
            if np.shape(a) != expected:
                raise ValueError(f"moist physics: {name} has shape {np.shape(a)}; expected "
                                 f"(levels, lat, lon) = {expected}, levels from the top.")


def _check_grid(sigma: Any, sigma_half: Any, latitude: Any) -> tuple[np.ndarray, ...]:
    """The σ levels and latitudes as float64 arrays, or a ValueError saying what is wrong."""
    sigma = np.asarray(sigma, dtype=np.float64)
    sigma_half = np.asarray(sigma_half, dtype=np.float64)
    latitude = np.asarray(latitude, dtype=np.float64)
    K = sigma.size
    if sigma.ndim != 1 or sigma_half.shape != (K + 1,) or K < 2:
        raise ValueError(f"moist physics: {K} full σ levels need {K + 1} half levels (and at "
                         f"least 2 levels); got shapes {sigma.shape} and {sigma_half.shape}.")
    if sigma_half[0] != 0.0 or sigma_half[-1] != 1.0 or not np.all(np.diff(sigma_half) > 0):
        raise ValueError(f"moist physics: half levels {sigma_half.tolist()} must increase from "
                         f"0 (model top) to 1 (surface), levels ordered from the top.")
    if not np.all((sigma_half[:-1] < sigma) & (sigma < sigma_half[1:])):
        raise ValueError(f"moist physics: full levels {sigma.tolist()} must each lie strictly "
                         f"between their half levels {sigma_half.tolist()}.")
    if latitude.ndim != 1 or not np.all(np.abs(latitude) <= math.pi / 2):
        raise ValueError(f"moist physics: latitudes must be a 1-D array in radians, within "
                         f"±π/2; got largest |φ| = {np.max(np.abs(latitude)):.4g}. Degrees? "
                         f"Use np.radians.")
    return sigma, sigma_half, latitude
