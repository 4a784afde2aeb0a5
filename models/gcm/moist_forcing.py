"""``physics = "moist"``: the TJ16 moist aquaplanet physics (``moist_physics.py``) as a GCM forcing.

Thatcher & Jablonowski (2016) on the spectral core: specific humidity q is a prognostic tracer,
and every step the column physics (condensation, bulk surface fluxes from the prescribed SST,
boundary-layer diffusion of θ and q, TJ16's modified Held–Suarez relaxation and HS friction)
turns the grid state into tendencies of u, v, T and q.

Time stepping (a time split over the leapfrog's 2Δt). The column physics is a sequence of
adjustments, several implicit and some fast: condensation removes a step's supersaturation at
once, and the surface exchange relaxes the lowest level on z_a/(C_E|v_a|), about 3 h at
10 m s⁻¹ (z_a ≈ 450 m), so k Δt reaches 0.2–0.5 at T31. Evaluated at X^n and applied over 2Δt,
damping at a rate k excites the leapfrog's computational mode, which then grows by about 1 + kΔt
per step, far more than the RAW filter (ν = 0.05) removes. So it is evaluated at the previous
level:

    X_phys = Physics_{2Δt}(X^{n−1}),   F_phys = (X_phys − X^{n−1}) / (2Δt)
    X^{n+1} = X^{n−1} + 2Δt (F_dyn(X^n) + F_phys)

so that, for the physics alone, X^{n+1} = X_phys: a stable two-level step of 2Δt (``lagged``).
The Euler first step (X^{n−1} = X^n = X^0) uses Physics_{Δt}(X^0) over Δt. F_phys is added to the
dynamics' grid tendencies before their transform, so it costs one extra transform to the grid
(of X^{n−1}'s T, q, ln p_s and winds), not one back. p_s = p0 exp(ln(p_s/p0)).

Amounts per model step (mm, for the model's float64 sums): a leapfrog step advances the model by
Δt while its physics step covers 2Δt, and each time level receives the physics of every other
step; the precipitation (and evaporation, fill) of a step is therefore half the 2Δt physics
step's, and the whole of the Euler step's. Their sum over a run is the model's water flux.

Relaxation: TJ16's modified Held–Suarez forcing, T_max = 294 K and ΔT_y = 65 K (GCM parameters
``moist_T_max``, ``moist_dT_y``), with HS's other constants shared with the dry core's parameters
(σ_b, k_f, k_a, k_s, T_min, Δθ_z), applied inside the time-split physics (after the boundary
layer), so also at X^{n−1}. The physical constants g, R_d, c_p = R/κ and p0 are the core's.

The dynamics stay dry: q acts only through the physics (no virtual temperature in the
hydrostatic equation or the pressure gradient; precipitation and evaporation change q, not p_s).

Humidity is spectral, as the core's tracers are: it is advected by the same transforms as T′
(the core has no grid-point advection scheme to give it), conserving the global mean to the
transforms' accuracy. Spectral truncation leaves small negative q (Gibbs ripples at sharp
moisture edges); the physics fills them within each column first, keeping the column's water
(``moist_physics.py``), and reports the negative water it removed (``negative_water``) and any
water it had to create where a whole column was negative (``water_added``): both are summed in
the state beside precipitation and evaporation.

Initial humidity: a fraction ``initial_relative_humidity`` (0.5) of saturation at the reference
temperature T_ref(σ) and pressure σ p0, the same on every column: moist, unsaturated, smooth (no
spectral ripples at the start); a spin-up forgets it within weeks.

Precision: built and run under ``"physics"``; every constant through ``emu.const``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from models.base import FLOAT64, Arithmetic
from models.gcm.condensation import saturation_vapour_pressure
from models.gcm.moist_physics import MoistPhysics, MoistPhysicsParams, RelaxationParams
from models.gcm.state import GridGeometry, PhysicalState, PhysicsTendency
from models.gcm.vertical import reference_temperature

AMOUNTS = ("precipitation", "evaporation", "negative_water", "water_added")   # mm per step


class MoistForcing:
    """TJ16 moist physics on the leapfrog core (module doc). Build under ``"physics"``.

    constants: g, R_d, c_p, p0 of the core; relaxation: TJ16's Held–Suarez constants;
    T_ref: the core's reference temperature (K, per level), for the initial humidity.
    """

    tracers: tuple[str, ...] = ("q",)
    amounts: tuple[str, ...] = AMOUNTS
    lagged = True

    def __init__(self, constants: MoistPhysicsParams, relaxation: RelaxationParams,
                 geometry: GridGeometry, T_ref: np.ndarray, initial_relative_humidity: float,
                 emu: Arithmetic = FLOAT64):
        g = geometry
        latitude = np.arcsin(g.sinlat)

        def physics(dt: float) -> MoistPhysics:
            return MoistPhysics(constants, sigma=g.sigma, sigma_half=g.sigma_half,
                                latitude=latitude, dt=dt, relaxation=relaxation, emu=emu)
        self.euler, self.leapfrog = physics(g.dt), physics(2 * g.dt)    # first step; the others
        self.p0 = emu.const(constants.p0)
        self.half = emu.const(0.5)
        q_sat = constants.epsilon * saturation_vapour_pressure(T_ref, constants) / (g.sigma * g.p0)
        self.q_initial = np.broadcast_to((initial_relative_humidity * q_sat)[:, None, None],
                                         (len(g.sigma), len(g.sinlat), g.nlon)).copy()

    @classmethod
    def from_model(cls, params: Any, geometry: GridGeometry, emu: Arithmetic) -> "MoistForcing":
        """From the GCM's parameters (``GCMParams``): its constants, HS's and TJ16's."""
        constants = MoistPhysicsParams(g=params.gravity, R_d=params.R, c_p=params.R / params.kappa,
                                       p0=params.p0)
        relaxation = RelaxationParams(sigma_b=params.sigma_b, k_f=params.k_f, k_a=params.k_a,
                                      k_s=params.k_s, T_max=params.moist_T_max,
                                      T_min=params.T_min, dT_y=params.moist_dT_y,
                                      dtheta_z=params.dtheta_z)
        T_ref = reference_temperature(geometry.sigma, params.R, params.gravity)
        return cls(constants, relaxation, geometry, T_ref, params.initial_relative_humidity, emu)

    def initial_tracers(self) -> dict[str, np.ndarray]:
        return {"q": self.q_initial.copy()}

    def tendency(self, s: PhysicalState, first: bool = False) -> PhysicsTendency:
        """Tendencies of u, v, T, q from the physics step of X (X^{n−1}; X^0 when ``first``),
        and the step's water amounts (mm per model step)."""
        physics = self.euler if first else self.leapfrog
        q = s.tracers["q"]
        p_s = self.p0 * np.exp(s.lnps[0])
        out = physics.step(s.T, q, s.u, s.v, p_s)
        amounts = {"precipitation": out.precipitation, "evaporation": out.evaporation,
                   "negative_water": out.negative_water, "water_added": out.water_added}
        if not first:                               # half of the 2Δt step's, per Δt (module doc)
            amounts = {n: self.half * a for n, a in amounts.items()}
        return PhysicsTendency(u=physics.tendency(s.u, out.u), v=physics.tendency(s.v, out.v),
                               T=physics.tendency(s.T, out.T),
                               tracers={"q": physics.tendency(q, out.q)}, amounts=amounts)
