"""The semi-implicit treatment of gravity waves: the linear terms centred in time (Hoskins & Simmons 1975).

About rest and the reference profile T_ref(σ), the terms of the tendencies linear in X = (D, T′,
ln p_s) are, per spectral coefficient of degree l (−∇² = ξ_l = l(l+1)/a²),

    L_D = ξ_l (G T′ + R T_ref ln p_s)      L_T = −H D      L_p = −Δσ·D

(G hydrostatic, H the linearised temperature terms, Δσ the layer thicknesses: ``vertical.py``).
A leapfrog step X^{n+1} = X^{n−1} + 2Δt·δ takes them at the mean of the outer time levels instead
of at time n (centred, weight ½ each):

    δ = N^n + L (X^{n−1} + X^{n+1})/2   with N^n the rest of the tendency at n,

i.e., with r = F(X^n) + L (X^{n−1} − X^n) = N^n + L X^{n−1} from the full tendency F at n and c = Δt,

    (I − c L) δ = r:   δD = M_l⁻¹ [r_D + c ξ_l (G r_T + R T_ref r_p)],
                       δT = r_T − c H δD,   δp = r_p − c Δσ·δD,
                       M_l = I + c² ξ_l (G H + R T_ref Δσᵀ)          (one K × K matrix per l).

The first step (semi-implicit Euler, X^1 = X^0 + Δt δ with the linear terms at (X^0 + X^1)/2) is
the same with c = Δt/2 and r = F(X^0). The matrices M_l⁻¹ are inverted once in float64 for both
values of c and enter as tables. Runs under the ``"timestepping"`` component.

The linearisation temperature (``T_ref`` here) is the model's ``semi_implicit_temperature``, an
isothermal 300 K by default, not the profile T′ departs from: the scheme is unstable where the
atmosphere is warmer than the temperature it is linearised about (Simmons, Hoskins & Burridge 1978).
With SPEEDY's profile (211 K above σ = 0.2) a resting isothermal 280 K atmosphere blew up within
days at Δt = 1 h; 300 K is stable for everything the tests and Held–Suarez produce. Any choice
gives the same solution to O(Δt²): the full tendency is computed explicitly, and only the
difference L(X^{n−1} − X^n) of the linear terms moves in time.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from models.base import FLOAT64, Arithmetic
from models.gcm.dynamics import vertical_matvec
from models.gcm.state import SpectralState
from models.gcm.vertical import SigmaLevels


def implicit_matrices(G: np.ndarray, H: np.ndarray, R_T_ref: np.ndarray, thickness: np.ndarray,
                      xi: np.ndarray, c: float) -> np.ndarray:
    """M_l⁻¹ = (I + c² ξ_l (G H + R T_ref Δσᵀ))⁻¹ for each ξ_l: shape (len(ξ), K, K), float64."""
    K = G.shape[0]
    B = G @ H + np.outer(R_T_ref, thickness)
    return np.linalg.inv(np.eye(K)[None] + (c * c) * xi[:, None, None] * B[None])


class SemiImplicit:
    """The linear operator L and the solve (I − cL) δ = r for the leapfrog and the first step."""

    def __init__(self, levels: SigmaLevels, T_ref: np.ndarray, laplacian_eigenvalues: np.ndarray,
                 *, R: float, kappa: float, dt: float, emu: Arithmetic = FLOAT64):
        G = levels.hydrostatic_matrix(R)
        H = levels.temperature_matrix(T_ref, kappa)
        xi = -np.asarray(laplacian_eigenvalues)                     # ξ_l = l(l+1)/a²
        column = (slice(None), None, None)
        self.G, self.H = emu.const(G), emu.const(H)
        self.thickness_row = emu.const(levels.thickness[None, :])   # Δσᵀ as a 1 × K matrix
        self.R_T_ref = emu.const((R * T_ref)[column])
        self.xi = emu.const(xi)
        self.steps = {}
        for first, c in ((False, dt), (True, dt / 2)):
            inverse = implicit_matrices(G, H, R * T_ref, levels.thickness, xi, c)
            self.steps[first] = (emu.const(c), emu.const(c * xi), emu.const(inverse))

    def linear_terms(self, D: Any, T: Any, lnps: Any) -> tuple[Any, Any, Any]:
        """(L_D, L_T, L_p) of spectral (D, T′, ln p_s)."""
        return (self.xi * (vertical_matvec(self.G, T) + self.R_T_ref * lnps),
                -vertical_matvec(self.H, D), -vertical_matvec(self.thickness_row, D))

    def solve(self, tend: SpectralState, before: SpectralState, now: SpectralState,
              first: bool) -> SpectralState:
        """δ from the full tendency at `now`: the linear terms moved to `before`, then solved
        centred (module docstring). `first`: the Euler first step (before is now; c = Δt/2)."""
        r_D, r_T, r_p = tend.div, tend.temp, tend.lnps
        if not first:
            L_D, L_T, L_p = self.linear_terms(before.div - now.div, before.temp - now.temp,
                                              before.lnps - now.lnps)
            r_D, r_T, r_p = r_D + L_D, r_T + L_T, r_p + L_p
        c, c_xi, inverse = self.steps[first]
        rhs = r_D + c_xi * (vertical_matvec(self.G, r_T) + self.R_T_ref * r_p)
        dD = np.moveaxis(inverse @ np.moveaxis(rhs, -1, 0), 0, -1)     # M_l⁻¹ for each degree l
        dT = r_T - c * vertical_matvec(self.H, dD)
        dp = r_p - c * vertical_matvec(self.thickness_row, dD)
        return tend.replace(div=dD, temp=dT, lnps=dp)
