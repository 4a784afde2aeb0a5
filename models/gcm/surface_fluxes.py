"""Prescribed sea surface temperature and implicit bulk fluxes of heat and moisture from it.

Thatcher & Jablonowski (2016, "TJ16"), Sect. 2. The aquaplanet's SST depends on latitude only
(TJ16 Eq. 6):

    T_s(φ) = T_s,min + ΔT_s · exp(−φ²/(2φ_w²)),     T_s,min = 271 K, ΔT_s = 29 K, φ_w = 26°

Bulk aerodynamic fluxes of sensible heat and moisture enter the lowest model level a (TJ16
Eqs. 7–8), with one exchange coefficient C_E = 0.0044 for both and the lowest-level wind speed:

    ∂T_a/∂t = C_E |v_a| (T_s − T_a)/z_a,      ∂q_a/∂t = C_E |v_a| (q_sat,s − q_a)/z_a

where q_sat,s = q_sat(T_s, p_s) is the saturation specific humidity at the sea surface and z_a is
the height of the lowest full level, from the hypsometric equation over the lower half (in
ln p) of the lowest layer (TJ16 Eq. 12, as in the reference CAM code):

    z_a = (R_d T_v,a / g) · ½ ln(p_s/p_{K−½}) = (R_d T_v,a / g) · ½ ln(1/σ_{K−½})

with T_v = T (1 + (R_v/R_d − 1) q). Both are relaxations towards the surface value on the time
scale z_a/(C_E|v_a|), taken backward-Euler (implicit, unconditionally stable, no overshoot):

    T_a ← (T_a + λ T_s)/(1 + λ),     q_a ← (q_a + λ q_sat,s)/(1 + λ),     λ = C_E |v_a| Δt / z_a

The water the step adds to the column, the evaporation, is E = (q_a,new − q_a) Δp_K/g
(kg m⁻² per step): what the lowest layer, of mass Δp_K/g, actually gains, so that the column
budget closes exactly. It is negative (dew) where q_a > q_sat,s. (It is not the bulk formula
ρ_a C_E |v_a| (q_sat,s − q_a) Δt: the tendency above spreads that over the height z_a, about half
the layer's depth, so the layer gains Δp_K/(g ρ_a z_a) ≈ 2 times as much. This is TJ16's, and the
CAM code's, discretisation; E here is the number that conserves water.)
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from models.base import Arithmetic
from models.gcm.condensation import saturation_vapour_pressure

if TYPE_CHECKING:
    from models.gcm.moist_physics import MoistPhysicsParams


def sea_surface_temperature(latitude: np.ndarray, p: "MoistPhysicsParams") -> np.ndarray:
    """T_s(φ) = T_s,min + ΔT_s exp(−φ²/(2φ_w²)) (TJ16 Eq. 6), K; latitude φ in radians."""
    phi_w = math.radians(p.phi_w)
    return p.T_s_min + p.dT_s * np.exp(-np.asarray(latitude, dtype=np.float64) ** 2
                                       / (2.0 * phi_w ** 2))


class SurfaceFluxes:
    """Implicit bulk exchange of T and q between the sea surface and the lowest level.

    latitude: (lat,) radians; sigma_half_above: σ_{K−½}, the top of the lowest layer; dt: the
    physics step Δt, s. Built under the component it will run in.
    """

    def __init__(self, p: "MoistPhysicsParams", latitude: np.ndarray, sigma_half_above: float,
                 dt: float, emu: Arithmetic):
        T_s = sea_surface_temperature(latitude, p)[:, None]          # (lat, 1): broadcasts on lon
        self.T_s = emu.const(T_s)
        # ε e_s(T_s): q_sat,s = ε e_s(T_s)/p_s, its numerator fixed by the prescribed SST
        self.eps_e_s = emu.const(p.epsilon * saturation_vapour_pressure(T_s, p))
        self.C_E = emu.const(p.C_E)
        self.C_E_dt = emu.const(p.C_E * dt)                          # Δt folded into C_E
        self.z_a_per_T_v = emu.const(p.R_d / p.g * 0.5 * math.log(1.0 / sigma_half_above))

    def lowest_level_height(self, T_v_a: Any) -> Any:
        """z_a = (R_d T_v,a/g) · ½ ln(1/σ_{K−½}) (TJ16 Eq. 12), m; T_v,a in K."""
        return self.z_a_per_T_v * T_v_a

    def exchange(self, T_a: Any, q_a: Any, wind: Any, z_a: Any, p_s: Any) -> tuple[Any, Any]:
        """(T_a, q_a) after the implicit surface exchange of one step (TJ16 Eqs. 7–8).

        T_a (K), q_a (kg/kg), wind |v_a| (m s⁻¹), z_a (m): lowest level, any shape broadcasting
        with p_s (Pa, (lat, lon)).
        """
        lam = self.C_E_dt * wind / z_a                               # λ = C_E |v_a| Δt / z_a
        one_plus_lam = 1.0 + lam
        q_sat_s = self.eps_e_s / p_s
        T_new = (T_a + lam * self.T_s) / one_plus_lam
        q_new = (q_a + lam * q_sat_s) / one_plus_lam
        return T_new, q_new
