"""Boundary-layer diffusion of potential temperature and humidity, implicit in time.

Thatcher & Jablonowski (2016, "TJ16"), Sect. 2, after Reed & Jablonowski (2012). Vertical
turbulent diffusion of φ ∈ {θ, q} in pressure coordinates,

    ∂φ/∂t = ∂/∂p (g² ρ² K_E ∂φ/∂p),        θ = T (p0/p)^κ,

with an eddy diffusivity tied to the surface exchange, constant in the boundary layer and
decaying above it as a Gaussian in pressure (TJ16 Eq. 17):

    K_E(p) = C_E |v_a| z_a                                      p ≥ p_pbl = 850 hPa
    K_E(p) = C_E |v_a| z_a · exp(−((p_pbl − p)/p_strato)²)      p < p_pbl, p_strato = 100 hPa

Discretisation (flux form on the σ levels, as the reference CAM code): K_E and the density
ρ_{k+½} = p_{k+½}/(R_d · ½(T_v,k + T_v,k+1)) at the interfaces between full levels k and k+1
(levels counted from the top), backward Euler in time:

    (φ'_k − φ_k)/Δt = (F_{k+½} − F_{k−½}) / Δp_k,
    F_{k+½} = g² ρ_{k+½}² K_{k+½} (φ'_{k+1} − φ'_k) / (p_{k+1} − p_k)

with no flux through the model top and the surface (the surface flux is applied before, by
`surface_fluxes`). With D_{k+½} = Δt g² ρ² K/(p_{k+1} − p_k), CA_k = D_{k+½}/Δp_k and
CC_{k+1} = D_{k+½}/Δp_{k+1}, each column is the tridiagonal system

    −CC_k φ'_{k−1} + (1 + CA_k + CC_k) φ'_k − CA_k φ'_{k+1} = φ_k

solved by the Thomas algorithm (`tridiagonal.py`). Multiplying row k by Δp_k and summing,
the D terms cancel in pairs: Σ_k φ'_k Δp_k = Σ_k φ_k Δp_k, so the scheme moves θ and q within
the column and never changes their mass-weighted column integrals (exactly in exact arithmetic).
The matrix is an M-matrix, so new values stay within the range of the old ones.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from models.base import Arithmetic
from models.gcm.tridiagonal import tridiagonal_solve

if TYPE_CHECKING:
    from models.gcm.moist_physics import MoistPhysicsParams


class BoundaryLayerDiffusion:
    """Implicit vertical diffusion of θ and q with the TJ16 diffusivity (module doc).

    sigma: full levels (K,), sigma_half: half levels (K+1,), both from the top, σ increasing;
    dt: the physics step Δt, s. Built under the component it will run in.
    """

    def __init__(self, p: "MoistPhysicsParams", sigma: np.ndarray, sigma_half: np.ndarray,
                 dt: float, emu: Arithmetic):
        column = (slice(None), None, None)                  # (levels,) -> (levels, 1, 1)
        self.sigma_interface = emu.const(sigma_half[1:-1][column])   # σ_{k+½}, interior (K−1)
        self.dsigma_full = emu.const(np.diff(sigma)[column])         # σ_{k+1} − σ_k      (K−1)
        self.dsigma = emu.const(np.diff(sigma_half)[column])         # Δσ_k               (K)
        self.C_E = emu.const(p.C_E)
        self.p_pbl = emu.const(p.p_pbl)
        self.p_strato = emu.const(p.p_strato)
        self.R_d = emu.const(p.R_d)
        self.half = emu.const(0.5)
        self.dt_g2 = emu.const(dt * p.g ** 2)                        # Δt g², folded

    def diffusivity(self, wind: Any, z_a: Any, p_interface: Any) -> Any:
        """K_E at the interior interfaces (TJ16 Eq. 17), m² s⁻¹, shape (K−1, lat, lon).

        wind |v_a| (m s⁻¹) and z_a (m): (lat, lon); p_interface p_{k+½} (Pa): (K−1, lat, lon).
        Below p_pbl the Gaussian's argument is exactly 0, so K_E = C_E |v_a| z_a there.
        """
        K_surface = self.C_E * wind * z_a
        above_pbl = np.maximum(self.p_pbl - p_interface, 0.0)        # p_pbl − p where p < p_pbl
        return K_surface * np.exp(-np.square(above_pbl / self.p_strato))

    def coefficients(self, T_v: Any, p_s: Any, K_E: Any) -> tuple[Any, Any, Any]:
        """(lower, diagonal, upper) of the implicit system: (K−1, ...), (K, ...), (K−1, ...).

        T_v: virtual temperature (K), (K, lat, lon); p_s (Pa): (lat, lon); K_E from
        :meth:`diffusivity`.
        """
        p_interface = self.sigma_interface * p_s
        rho = p_interface / (self.R_d * (self.half * (T_v[:-1] + T_v[1:])))    # kg m⁻³
        D = self.dt_g2 * K_E * (rho * rho) / (self.dsigma_full * p_s)          # Pa
        dp = self.dsigma * p_s                                                 # Δp_k, Pa
        CA = D / dp[:-1]              # coupling of level k to k+1 below, k = 0..K−2
        CC = D / dp[1:]               # coupling of level k+1 to k above
        zero = np.zeros_like(CA[:1])
        diagonal = (1.0 + np.concatenate((CA, zero))) + np.concatenate((zero, CC))
        return -CC, diagonal, -CA

    def diffuse(self, theta: Any, q: Any, T_v: Any, wind: Any, z_a: Any,
                p_s: Any) -> tuple[Any, Any]:
        """(θ, q) after one implicit diffusion step; θ (K), q (kg/kg), T_v (K): (K, lat, lon)."""
        K_E = self.diffusivity(wind, z_a, self.sigma_interface * p_s)
        lower, diagonal, upper = self.coefficients(T_v, p_s, K_E)
        return tridiagonal_solve(lower, diagonal, upper, theta, q)
