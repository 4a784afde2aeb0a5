"""Primitive equations in σ coordinates, vorticity–divergence form (Hoskins & Simmons 1975).

With U = u cos φ, V = v cos φ, ζ_a = ζ + f (f = 2Ω sin φ), T = T_ref(σ) + T′, and the vertical
terms of Simmons & Burridge (1981) (``vertical.py``: σ̇, ω/p, the column sums S_k):

    F_U = ζ_a V − σ̇ ∂U/∂σ − R T′ (1/a) ∂ln p_s/∂λ              (+ cos φ ∂u/∂t from a forcing)
    F_V = −ζ_a U − σ̇ ∂V/∂σ − R T′ (1/a) cos²φ ∂ln p_s/∂μ        (+ cos φ ∂v/∂t)
    E   = (U² + V²)/(2 cos²φ)                                    kinetic energy
    ∂ζ/∂t  = curl(F_U, F_V)
    ∂D/∂t  = div(F_U, F_V) − ∇²(E + Φ + R T_ref ln p_s)            Φ = G·T′ (+ a uniform part)
    ∂T′/∂t = −div(U T′, V T′) + T′ D − σ̇ ∂T/∂σ + κ T ω/p          (+ ∂T/∂t from a forcing)
    ∂ln p_s/∂t = −S_K = −Σ_k Δσ_k (D_k + v_k·∇ln p_s)
    ∂q/∂t  = −div(U q, V q) + q D − σ̇ ∂q/∂σ                        each tracer q (+ forcing)

(the flux form −∇·(v T′) + T′ D of −v·∇T′; curl and div of cos φ-weighted pairs as in
``spectral.py``; σ̇ ∂T/∂σ differences T′ and T_ref separately, so T never appears whole there).
Products are formed on the grid, derivatives in spectral space. ln p_s is ln(p_s/p0): numbers near
zero, as SPEEDY, so that a narrow significand resolves its variations.

These are the full tendencies at time n. The terms linear in (D, T′, ln p_s) about rest and
T_ref (gravity waves: ∇²(G T′ + R T_ref ln p_s), −H D, −Δσ·D) are handled semi-implicitly in
``semi_implicit.py``.

Precision: everything here runs under the ``"dynamics"`` component (constants entered under it);
the transforms it calls run under ``"transforms"`` (the model switches).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from models.base import FLOAT64, Arithmetic
from models.gcm.spectral import SpectralTransform
from models.gcm.state import GridState, PhysicalState, PhysicsTendency, SpectralState
from models.gcm.vertical import SigmaLevels, VerticalOperators


class GridTendencies:
    """Grid-point parts of the tendencies, before the transform to spectral space."""

    __slots__ = ("F_U", "F_V", "E", "T", "lnps", "UT", "VT", "tracers", "tracer_fluxes")

    def __init__(self, F_U: Any, F_V: Any, E: Any, T: Any, lnps: Any, UT: Any, VT: Any,
                 tracers: dict, tracer_fluxes: dict) -> None:
        self.F_U, self.F_V, self.E, self.T, self.lnps = F_U, F_V, E, T, lnps
        self.UT, self.VT = UT, VT
        self.tracers, self.tracer_fluxes = tracers, tracer_fluxes   # name → ∂q/∂t, (Uq, Vq)


class PrimitiveEquations:
    """Tendencies of the σ-coordinate primitive equations (module docstring).

    Built under the ``"dynamics"`` component: its constants enter rounded to that format.
    """

    def __init__(self, transform: SpectralTransform, levels: SigmaLevels, T_ref: np.ndarray,
                 *, Omega: float, R: float, kappa: float, emu: Arithmetic = FLOAT64):
        self.transform, self.emu = transform, emu
        mu = transform.mu[:, None]                                  # (nlat, 1)
        column = (slice(None), None, None)
        self.vertical = VerticalOperators(levels, T_ref, emu)
        self.f = emu.const(2 * Omega * mu)                          # Coriolis parameter, s⁻¹
        self.inv_cos2 = emu.const(1.0 / (1.0 - mu * mu))            # 1/cos²φ
        self.inv_coslat = emu.const(1.0 / np.sqrt(1.0 - mu * mu))   # 1/cos φ
        self.coslat = emu.const(np.sqrt(1.0 - mu * mu))
        self.half = emu.const(0.5)
        self.R = emu.const(R)
        self.kappa = emu.const(kappa)
        self.T_ref = emu.const(T_ref[column])                       # (K, 1, 1)
        self.R_T_ref = emu.const((R * T_ref)[column])
        self.G = emu.const(levels.hydrostatic_matrix(R))            # Φ − Φ_s = G·T
        self.minus_laplacian = emu.const(-transform.laplacian_eigenvalues())   # l(l+1)/a², [l]

    # --- spectral ↔ grid for the state and the tendencies (run under "transforms") -----------
    def to_grid(self, s: SpectralState) -> GridState:
        """The fields the tendencies need, on the grid: one FFT and two matmuls for all."""
        names = list(s.tracers)
        scalars, ((U, V),), ((dx, dy),) = self.transform.to_grid(
            scalars=[s.vor, s.div, s.temp, s.lnps, *(s.tracers[n] for n in names)],
            vectors=[(s.vor, s.div)], gradients=[s.lnps])
        vor, div, temp, lnps, *tracers = scalars
        return GridState(vor=vor, div=div, temp=temp, lnps=lnps, U=U, V=V, dlnps_dx=dx,
                         dlnps_dy=dy, tracers=dict(zip(names, tracers)))

    def columns_to_grid(self, s: SpectralState) -> GridState:
        """What a column physics needs of a state on the grid (T′, ln p_s, U, V, tracers): the
        previous time level for a lagged forcing. Vorticity, divergence and ∇ln p_s are None."""
        names = list(s.tracers)
        scalars, ((U, V),), _ = self.transform.to_grid(
            scalars=[s.temp, s.lnps, *(s.tracers[n] for n in names)], vectors=[(s.vor, s.div)])
        temp, lnps, *tracers = scalars
        return GridState(vor=None, div=None, temp=temp, lnps=lnps, U=U, V=V, dlnps_dx=None,
                         dlnps_dy=None, tracers=dict(zip(names, tracers)))

    def to_spectral(self, t: GridTendencies) -> tuple[list, tuple, list]:
        """(scalars E, T, ln p_s, tracers; (curl, div) of F; flux divergences of T′, tracers)."""
        names = list(t.tracers)
        scalars, (curl_div,), divs = self.transform.to_spectral(
            scalars=[t.E, t.T, t.lnps, *(t.tracers[n] for n in names)],
            curl_div=[(t.F_U, t.F_V)],
            div=[(t.UT, t.VT), *(t.tracer_fluxes[n] for n in names)])
        return scalars, curl_div, divs

    # --- the grid-point part (under "dynamics") ----------------------------------------------
    def grid_tendencies(self, g: GridState) -> GridTendencies:
        """Products on the grid: F_U, F_V, E, the T′ and ln p_s tendencies and the fluxes."""
        vert, R = self.vertical, self.R
        adv = (g.U * g.dlnps_dx + g.V * g.dlnps_dy) * self.inv_cos2     # v·∇ln p_s
        div_plus_adv = g.div + adv
        S = vert.column_sums(div_plus_adv)
        sigma_dot = vert.sigma_dot(S)
        omega_over_p = vert.omega_over_p(adv, div_plus_adv, S)
        abs_vor = g.vor + self.f
        F_U = abs_vor * g.V - vert.advection(g.U, sigma_dot) - R * g.temp * g.dlnps_dx
        F_V = -(abs_vor * g.U) - vert.advection(g.V, sigma_dot) - R * g.temp * g.dlnps_dy
        E = self.half * (g.U * g.U + g.V * g.V) * self.inv_cos2
        T = (g.temp * g.div - vert.advection(g.temp, sigma_dot, vert.dT_ref)
             + self.kappa * (self.T_ref + g.temp) * omega_over_p)
        tracers, fluxes = {}, {}
        for name, q in g.tracers.items():
            tracers[name] = q * g.div - vert.advection(q, sigma_dot)
            fluxes[name] = (g.U * q, g.V * q)
        return GridTendencies(F_U=F_U, F_V=F_V, E=E, T=T, lnps=-S[-1:], UT=g.U * g.temp,
                              VT=g.V * g.temp, tracers=tracers, tracer_fluxes=fluxes)

    def physical_state(self, g: GridState) -> PhysicalState:
        """u, v, T for a forcing: u = U/cos φ, v = V/cos φ, T = T_ref + T′."""
        return PhysicalState(u=g.U * self.inv_coslat, v=g.V * self.inv_coslat,
                             T=self.T_ref + g.temp, lnps=g.lnps, tracers=dict(g.tracers))

    def add_forcing(self, t: GridTendencies, f: PhysicsTendency) -> GridTendencies:
        """The forcing's grid tendencies added in: cos φ ∂u/∂t to F_U, ∂T/∂t to T, ..."""
        F_U = t.F_U if f.u is None else t.F_U + self.coslat * f.u
        F_V = t.F_V if f.v is None else t.F_V + self.coslat * f.v
        T = t.T if f.T is None else t.T + f.T
        tracers = {n: (q + f.tracers[n] if n in f.tracers else q) for n, q in t.tracers.items()}
        return GridTendencies(F_U=F_U, F_V=F_V, E=t.E, T=T, lnps=t.lnps, UT=t.UT, VT=t.VT,
                              tracers=tracers, tracer_fluxes=t.tracer_fluxes)

    # --- the spectral part (under "dynamics") ------------------------------------------------
    def spectral_tendencies(self, s: SpectralState, scalars: list, curl_div: tuple,
                            divs: list) -> SpectralState:
        """∂/∂t of (ζ, D, T′, ln p_s, tracers) from the transformed grid parts."""
        E, T, lnps, *tracers = scalars
        curl_F, div_F = curl_div
        div_T, *div_tracers = divs
        geopotential = vertical_matvec(self.G, s.temp)               # Φ − Φ_s − G·T_ref
        pressure_term = self.R_T_ref * s.lnps                        # R T_ref ln p_s
        div = div_F + self.minus_laplacian * ((E + geopotential) + pressure_term)
        return SpectralState(vor=curl_F, div=div, temp=T - div_T, lnps=lnps,
                             tracers={n: q - dq for n, q, dq in zip(s.tracers, tracers, div_tracers)})


def vertical_matvec(A: Any, x: Any) -> Any:
    """Σ_j A[i, j] x[j, ...]: a matrix acting on the level axis of spectral fields (K, M, L)."""
    rows = x.reshape(x.shape[0], -1)                       # one matmul for every coefficient
    return (A @ rows).reshape((A.shape[0],) + tuple(x.shape[1:]))
