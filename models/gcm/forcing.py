"""Forcings (physics) of the GCM: swappable objects that turn grid fields into grid tendencies.

A forcing knows nothing of the dynamical core, and the core nothing of it. The model builds one by
name (``physics = "held_suarez" | "moist" | "none"``; :data:`FORCINGS`), from the model's
parameters, the grid geometry and the arithmetic, and each step asks it for
``tendency(state, first) -> PhysicsTendency`` on the grid (u, v, T and any tracers; run under the
``"physics"`` component; ``first``: the Euler first step of Δt, else a leapfrog step over 2Δt). A
forcing that needs prognostic tracers (a moist one: specific humidity) names them in ``tracers``
and gives their initial values: the core then carries, advects, diffuses and steps them. A
forcing with ``lagged = True`` is given the state at the previous time level X^{n−1} (a
time-split physics over 2Δt, stable for fast damping: ``moist_forcing.py``), else the state at
X^n. ``amounts`` names per-step amounts it returns (precipitation ...), which the model sums in
float64 (``state.Accumulations``). The protocol:

    class Forcing(Protocol):
        tracers: tuple[str, ...]                          # prognostic tracers it needs
        amounts: tuple[str, ...]                          # per-step amounts it reports
        lagged: bool                                      # evaluated at X^{n−1} (else X^n)
        def initial_tracers(self) -> dict[str, ndarray]   # name -> float64 grid (K, nlat, nlon)
        def tendency(self, s: PhysicalState, first: bool) -> PhysicsTendency

Held & Suarez (1994, BAMS 75, 1825–1830), with σ = p/p_s and p0 = 1000 hPa:

    ∂v/∂t = … − k_v(σ) v,            k_v = k_f max(0, (σ − σ_b)/(1 − σ_b))
    ∂T/∂t = … − k_T(φ, σ)(T − T_eq),   k_T = k_a + (k_s − k_a) max(0, (σ − σ_b)/(1 − σ_b)) cos⁴φ
    T_eq = max{T_min, [T_max − ΔT_y sin²φ − Δθ_z ln(p/p0) cos²φ] (p/p0)^κ}

k_f = 1 day⁻¹, k_a = 1/40 day⁻¹, k_s = 1/4 day⁻¹, σ_b = 0.7, T_max = 315 K, T_min = 200 K,
ΔT_y = 60 K, Δθ_z = 10 K, κ = 2/7. (p/p0)^κ is computed as exp(κ ln(p/p0)) with
ln(p/p0) = ln σ + ln(p_s/p0): one logarithm per level, entered as a constant.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Protocol

import numpy as np

from models.base import FLOAT64, Arithmetic
from models.gcm.moist_forcing import MoistForcing
from models.gcm.state import GridGeometry, PhysicalState, PhysicsTendency

DAY = 86400.0


class Forcing(Protocol):
    tracers: tuple[str, ...]
    amounts: tuple[str, ...]
    lagged: bool

    def initial_tracers(self) -> dict[str, np.ndarray]: ...

    def tendency(self, s: PhysicalState, first: bool = False) -> PhysicsTendency: ...


class NoForcing:
    """No physics: the adiabatic, inviscid core (diffusion aside)."""

    tracers: tuple[str, ...] = ()
    amounts: tuple[str, ...] = ()
    lagged = False

    def __init__(self, params: Any = None, geometry: GridGeometry | None = None,
                 emu: Arithmetic = FLOAT64):
        pass

    def initial_tracers(self) -> dict[str, np.ndarray]:
        return {}

    def tendency(self, s: PhysicalState, first: bool = False) -> PhysicsTendency:
        return PhysicsTendency()


@dataclass(frozen=True)
class HeldSuarezParams:
    """Held & Suarez (1994) constants (taken from the model's parameters of the same names)."""

    sigma_b: float = 0.7        # top of the frictional boundary layer, σ
    k_f: float = 1.0            # surface friction, day⁻¹
    k_a: float = 1.0 / 40.0     # Newtonian cooling in the free atmosphere, day⁻¹
    k_s: float = 1.0 / 4.0      # ... at the surface on the equator, day⁻¹
    T_max: float = 315.0        # K
    T_min: float = 200.0        # K (the stratospheric floor of T_eq)
    dT_y: float = 60.0          # equator-to-pole difference of T_eq, K
    dtheta_z: float = 10.0      # static stability of T_eq, K

    @classmethod
    def from_params(cls, params: Any) -> "HeldSuarezParams":
        return cls(**{f.name: getattr(params, f.name) for f in fields(cls)})


class HeldSuarez:
    """Held–Suarez relaxation and friction (module docstring). Build under ``"physics"``.

    Evaluated at X^n, as the dry core always was (its rates are slow: k Δt ≤ 0.04 at T21)."""

    tracers: tuple[str, ...] = ()
    amounts: tuple[str, ...] = ()
    lagged = False

    def __init__(self, p: HeldSuarezParams, geometry: GridGeometry, emu: Arithmetic = FLOAT64):
        g = geometry
        column = (slice(None), None, None)
        ramp = np.maximum(0.0, (g.sigma - p.sigma_b) / (1 - p.sigma_b))[column]   # (K, 1, 1)
        cos2, sin2 = (g.coslat ** 2)[:, None], (g.sinlat ** 2)[:, None]             # (nlat, 1)
        self.k_v = emu.const(ramp * p.k_f / DAY)                                     # s⁻¹
        self.k_T = emu.const((p.k_a + (p.k_s - p.k_a) * ramp * cos2 ** 2) / DAY)      # s⁻¹
        self.T_lat = emu.const(p.T_max - p.dT_y * sin2)          # latitude-only part of T_eq, K
        self.dtheta = emu.const(p.dtheta_z * cos2)               # Δθ_z cos²φ, K
        self.T_min = emu.const(p.T_min)
        self.kappa = emu.const(g.kappa)
        self.log_sigma = emu.const(np.log(g.sigma)[column])      # ln σ_k

    def initial_tracers(self) -> dict[str, np.ndarray]:
        return {}

    def equilibrium_temperature(self, lnps: Any) -> Any:
        """T_eq on the grid, K, from ln(p_s/p0)."""
        log_p = self.log_sigma + lnps                            # ln(p/p0)
        return np.maximum(self.T_min, (self.T_lat - self.dtheta * log_p) * np.exp(self.kappa * log_p))

    def tendency(self, s: PhysicalState, first: bool = False) -> PhysicsTendency:
        T_eq = self.equilibrium_temperature(s.lnps)
        return PhysicsTendency(u=-(self.k_v * s.u), v=-(self.k_v * s.v),
                               T=-(self.k_T * (s.T - T_eq)))


def _held_suarez(params: Any, geometry: GridGeometry, emu: Arithmetic) -> HeldSuarez:
    return HeldSuarez(HeldSuarezParams.from_params(params), geometry, emu)


# physics name -> factory(model params, geometry, arithmetic)
FORCINGS: dict[str, Callable[[Any, GridGeometry, Arithmetic], Forcing]] = {
    "held_suarez": _held_suarez,
    "moist": MoistForcing.from_model,
    "none": NoForcing,
}
