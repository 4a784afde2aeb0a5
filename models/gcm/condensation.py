"""Saturation specific humidity and large-scale condensation with the latent-heat correction.

Thatcher & Jablonowski (2016, GMD 9, 1263–1292; "TJ16"), Sect. 2, after Reed & Jablonowski
(2012, JAMES 4, M04001). Saturation specific humidity over water, Clausius–Clapeyron with a
constant latent heat:

    q_sat(T, p) = ε e0/p · exp(−(L/R_v)(1/T − 1/T0)),      e0 = 610.78 Pa, T0 = 273.16 K

Where a level is supersaturated (q > q_sat) the excess condenses within one physics step Δt, at
the rate

    C = (q − q_sat)/Δt / (1 + (L/c_p) · ε L q_sat/(R_d T²))

and rains out at once (no cloud stage, no re-evaporation):

    T ← T + (L/c_p) C Δt,      q ← q − C Δt,      P = Σ_k C Δt · Δp_k/g   (kg m⁻² per step)

The denominator is the latent-heat correction: ε L q_sat/(R_d T²) = dq_sat/dT at constant p
(with ε = R_d/R_v), so C Δt is one Newton step towards the saturated state of the adjustment
q − δ = q_sat(T + (L/c_p) δ); without it the released latent heat would leave the level far
subsaturated. The one-step residual is second order in δ (bounded in the tests).

Evaluation order (meaning under emulation): C Δt is computed directly as
(q − q_sat)/(1 + ...): the ÷Δt and ·Δt of the formula cancel, and writing them out would add two
roundings. Unsaturated levels are left bit for bit: their condensate is exactly 0.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from models.base import Arithmetic

if TYPE_CHECKING:
    from models.gcm.moist_physics import MoistPhysicsParams


def saturation_vapour_pressure(T: np.ndarray, p: "MoistPhysicsParams") -> np.ndarray:
    """e_s(T) = e0 exp(−(L/R_v)(1/T − 1/T0)), Pa, in float64 (for constants made once)."""
    return p.e0 * np.exp(-(p.L / p.R_v) * (1.0 / np.asarray(T, dtype=np.float64) - 1.0 / p.T0))


class Saturation:
    """q_sat(T, p) = ε e0/p · exp(−(L/R_v)(1/T − 1/T0)), kg/kg, in the arithmetic given.

    Built under the component it will run in (its constants are rounded there).
    """

    def __init__(self, p: "MoistPhysicsParams", emu: Arithmetic):
        self.eps_e0 = emu.const(p.epsilon * p.e0)          # ε e0, Pa
        self.L_over_R_v = emu.const(p.L / p.R_v)            # K
        self.inv_T0 = emu.const(1.0 / p.T0)                 # K⁻¹

    def q_sat(self, T: Any, pressure: Any) -> Any:
        """Saturation specific humidity at temperature T (K) and pressure (Pa)."""
        return self.eps_e0 / pressure * np.exp(-self.L_over_R_v * (1.0 / T - self.inv_T0))


class LargeScaleCondensation:
    """Condense the supersaturation of every level in one step, heat the air, rain it out.

    Built under the component it will run in.
    """

    def __init__(self, p: "MoistPhysicsParams", emu: Arithmetic):
        self.saturation = Saturation(p, emu)
        self.L_over_c_p = emu.const(p.L / p.c_p)            # K (kg/kg)⁻¹
        self.eps_L_over_R_d = emu.const(p.epsilon * p.L / p.R_d)   # K

    def condensate(self, T: Any, q: Any, pressure: Any) -> Any:
        """C Δt = (q − q_sat)/(1 + (L/c_p) ε L q_sat/(R_d T²)) where q > q_sat, else 0; kg/kg."""
        q_sat = self.saturation.q_sat(T, pressure)
        correction = 1.0 + self.L_over_c_p * (self.eps_L_over_R_d * q_sat / (T * T))
        return np.where(q > q_sat, (q - q_sat) / correction, 0.0)

    def condense(self, T: Any, q: Any, pressure: Any, layer_mass: Any) -> tuple[Any, Any, Any]:
        """(T, q, precipitation) after the step's condensation.

        T (K), q (kg/kg), pressure (Pa): shape (levels, lat, lon); layer_mass Δp/g (kg m⁻²) of
        the same shape. Precipitation: the column's condensate Σ C Δt Δp/g, kg m⁻², (lat, lon).
        """
        condensed = self.condensate(T, q, pressure)
        T_new = T + self.L_over_c_p * condensed
        q_new = q - condensed
        precipitation = np.sum(condensed * layer_mass, axis=0)
        return T_new, q_new, precipitation
