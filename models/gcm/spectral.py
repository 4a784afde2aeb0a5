"""Spectral transforms on the sphere: Gaussian grid, orthonormal Legendre functions, FFT in longitude.

A real field X(λ, μ) on the sphere of radius a (λ longitude, μ = sin φ, φ latitude) is, in
triangular truncation T,

    X(λ, μ) = Σ_{m=−T..T} Σ_{l=|m|..T} X_l^m P̄_l^m(μ) e^{imλ},     X_l^{−m} = conj(X_l^m),

with P̄_l^m the associated Legendre functions normalised so that ∫_{−1}^{1} (P̄_l^m)² dμ = 1, without
the Condon–Shortley phase. They come from the standard recurrence (ε_l^m = √((l² − m²)/(4l² − 1))):

    P̄_0^0 = 1/√2,   P̄_m^m = √((2m + 1)/(2m)) · √(1 − μ²) · P̄_{m−1}^{m−1},   P̄_{m+1}^m = √(2m + 3) μ P̄_m^m,
    ε_l^m P̄_l^m = μ P̄_{l−1}^m − ε_{l−1}^m P̄_{l−2}^m,
    H_l^m ≡ (1 − μ²) dP̄_l^m/dμ = −l ε_{l+1}^m P̄_{l+1}^m + (l + 1) ε_l^m P̄_{l−1}^m.

Grid: nlon equally spaced longitudes λ_i = 2πi/nlon and nlat Gauss–Legendre latitudes μ_j with
weights w_j (numpy's ``leggauss``: Σ w_j = 2), south to north. The default grid for truncation T
is the smallest nlon ≥ 3T + 1 whose prime factors are 2, 3 and 5, and nlat = nlon/2: products of
two fields are then transformed without aliasing (96 × 48 at T31, 64 × 32 at T21, 32 × 16 at T10).

Transforms (m ≥ 0 only; numpy's rfft/irfft with norm="forward" supply the Fourier sums):

    X_m(μ_j) = Σ_l X_l^m P̄_l^m(μ_j)            x(λ_i, μ_j) = irfft(X_m)              (to the grid)
    X_m(μ_j) = rfft(x(·, μ_j))/nlon            X_l^m = Σ_j w_j X_m(μ_j) P̄_l^m(μ_j)    (to spectral)

Vector fields are carried as their cos φ-weighted components U = u cos φ, V = v cos φ (Robert's
variables, smooth at the poles). With streamfunction ψ = ∇⁻²ζ and velocity potential χ = ∇⁻²D
(∇²Y_l^m = −l(l+1)/a² Y_l^m):

    U = (1/a)(∂χ/∂λ − (1 − μ²) ∂ψ/∂μ):   U_m = (1/a) Σ_l (im χ_l^m P̄_l^m − ψ_l^m H_l^m)
    V = (1/a)(∂ψ/∂λ + (1 − μ²) ∂χ/∂μ):   V_m = (1/a) Σ_l (im ψ_l^m P̄_l^m + χ_l^m H_l^m)

and the divergence and curl of a pair (A, B) of cos φ-weighted components, integrated by parts in μ
(B vanishes at the poles):

    div(A, B) = (1/(a(1 − μ²))) ∂A/∂λ + (1/a) ∂B/∂μ:   Σ_j w_j (im A_m P̄_l^m − B_m H_l^m)/(a(1 − μ_j²))
    curl(A, B) = (1/(a(1 − μ²))) ∂B/∂λ − (1/a) ∂A/∂μ:  Σ_j w_j (im B_m P̄_l^m + A_m H_l^m)/(a(1 − μ_j²))

so ζ = curl(U, V), D = div(U, V), and cos φ ∇X = ((1/a) ∂X/∂λ, (1/a)(1 − μ²) ∂X/∂μ) has the
Fourier sums of im X_l^m/a with P̄ and of X_l^m/a with H.

Layout: grid fields (..., nlat, nlon); spectral fields complex (..., T+1, T+1) indexed [m, l], the
entries l < m zero (a rectangle holding the triangle). Every transform takes a stack of fields
(any leading dimensions) and does one FFT and one matrix product per table, batched over all of
them (the Legendre sums as a real matmul with m as the batch dimension, real and imaginary parts
as rows).

Precision: the tables (P̄, H, w_j P̄ and w_j H/(a(1 − μ²)) with their factors folded in) and the
spectral multipliers enter through the arithmetic object once, at construction; build a transform
under the component it will run in (``"transforms"``). Under emulation every FFT and matmul is a
compound operation rounded by the emulator's policy (fused: once; sequential: every multiply and
add), every multiplication by im or by a table factor is one rounded operation.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from models.base import FLOAT64, Arithmetic


def fft_friendly(n: int) -> int:
    """The smallest even integer ≥ n whose only prime factors are 2, 3 and 5."""
    k = max(2, n + (n % 2))
    while True:
        rest = k
        for p in (2, 3, 5):
            while rest % p == 0:
                rest //= p
        if rest == 1:
            return k
        k += 2


def default_grid(truncation: int) -> tuple[int, int]:
    """(nlat, nlon) of the alias-free Gaussian grid for triangular truncation T: nlon ≥ 3T + 1."""
    nlon = fft_friendly(3 * truncation + 1)
    return nlon // 2, nlon


def gaussian_latitudes(nlat: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes μ_j = sin φ_j (ascending: south to north) and weights w_j (Σ = 2)."""
    return np.polynomial.legendre.leggauss(nlat)


def epsilon(l: np.ndarray, m: np.ndarray) -> np.ndarray:
    """ε_l^m = √((l² − m²)/(4l² − 1)), zero where l ≤ m (where the recurrence does not reach)."""
    l, m = np.asarray(l, dtype=np.float64), np.asarray(m, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.sqrt((l * l - m * m) / (4 * l * l - 1))
    return np.where(l > m, e, 0.0)


def legendre_functions(lmax: int, mu: np.ndarray) -> np.ndarray:
    """P̄_l^m(μ) for 0 ≤ m ≤ l ≤ lmax, float64, shape (lmax+1, lmax+1, len(mu)) indexed [m, l, j]
    (zero for l < m); orthonormal on [−1, 1], no Condon–Shortley phase (module docstring)."""
    mu = np.asarray(mu, dtype=np.float64)
    coslat = np.sqrt(1.0 - mu * mu)
    P = np.zeros((lmax + 1, lmax + 1, mu.size))
    diagonal = np.full(mu.size, 1.0 / math.sqrt(2.0))              # P̄_0^0
    for m in range(lmax + 1):
        if m > 0:
            diagonal = math.sqrt((2 * m + 1) / (2 * m)) * coslat * diagonal
        P[m, m] = diagonal
        if m + 1 <= lmax:
            P[m, m + 1] = math.sqrt(2 * m + 3) * mu * diagonal
        for l in range(m + 2, lmax + 1):
            P[m, l] = (mu * P[m, l - 1] - epsilon(l - 1, m) * P[m, l - 2]) / epsilon(l, m)
    return P


def legendre_derivatives(truncation: int, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P̄, H) for l, m ≤ T, each (T+1, T+1, nlat) indexed [m, l, j]; H = (1 − μ²) dP̄/dμ by the
    recurrence in the module docstring (which needs P̄_{T+1}^m, computed and dropped)."""
    P = legendre_functions(truncation + 1, mu)
    T1 = truncation + 1
    l = np.arange(T1)[None, :, None]
    m = np.arange(T1)[:, None, None]
    below = np.concatenate([np.zeros_like(P[:T1, :1]), P[:T1, :T1 - 1]], axis=1)   # P̄_{l−1}^m
    above = P[:T1, 1:T1 + 1]                                                         # P̄_{l+1}^m
    H = -l * epsilon(l + 1, m) * above + (l + 1) * epsilon(l, m) * below
    H = np.where(l >= m, H, 0.0)
    return P[:T1, :T1], H


class SpectralTransform:
    """Transforms between the Gaussian grid and triangular spherical harmonics (module docstring).

    truncation: T. radius: a, m. nlat, nlon: the grid (default :func:`default_grid`).
    emu: the arithmetic; tables and multipliers are entered under the component active when the
    transform is built.
    """

    def __init__(self, truncation: int, radius: float, emu: Arithmetic = FLOAT64,
                 nlat: int | None = None, nlon: int | None = None):
        if nlat is None or nlon is None:
            nlat, nlon = default_grid(truncation)
        T = truncation
        if nlon < 2 * T + 1 or nlat < T + 1:
            raise ValueError(f"spectral transform: a {nlon} x {nlat} grid cannot hold truncation "
                             f"T{T} (need nlon >= 2T+1 = {2 * T + 1}, nlat >= T+1 = {T + 1})")
        self.truncation, self.radius, self.emu = T, radius, emu
        self.nlat, self.nlon = nlat, nlon
        self.mu, self.weights = gaussian_latitudes(nlat)
        self.coslat = np.sqrt(1.0 - self.mu ** 2)                  # float64 grid geometry
        self.latitude = np.degrees(np.arcsin(self.mu))
        self.longitude = 360.0 * np.arange(nlon) / nlon
        self.m = np.arange(T + 1)
        self.l = np.arange(T + 1)
        self.triangle = self.l[None, :] >= self.m[:, None]         # [m, l]: inside the truncation

        P, H = legendre_derivatives(T, self.mu)                    # [m, l, j]
        w = self.weights[None, :, None]                            # [., j, .]
        cos2a = (radius * (1.0 - self.mu ** 2))[None, :, None]
        # the tables, entered once: inverse [m, l, j]; forward [m, j, l], weights and factors folded in
        self.P = emu.const(P)
        self.H = emu.const(H)
        self.P_weighted = emu.const(np.transpose(P, (0, 2, 1)) * w)
        self.P_vector = emu.const(np.transpose(P, (0, 2, 1)) * w / cos2a)
        self.H_vector = emu.const(np.transpose(H, (0, 2, 1)) * w / cos2a)
        ll1 = self.l * (self.l + 1.0)
        with np.errstate(divide="ignore"):
            minus_a_over_ll1 = np.where(self.l > 0, -radius / ll1, 0.0)
        self.im = emu.const((1j * self.m)[:, None])                # i m, [m, 1]
        self.im_over_a = emu.const((1j * self.m / radius)[:, None])
        self.inv_radius = emu.const(1.0 / radius)
        self.minus_a_over_ll1 = emu.const(minus_a_over_ll1)        # ψ/a = −(a/(l(l+1))) ζ, [l]
        self.n_fourier = nlon // 2 + 1

    # --- grid geometry (float64, for constants and output) ---------------------------------
    @property
    def grid_shape(self) -> tuple[int, int]:
        return self.nlat, self.nlon

    @property
    def spectral_shape(self) -> tuple[int, int]:
        return self.truncation + 1, self.truncation + 1

    def laplacian_eigenvalues(self) -> np.ndarray:
        """−l(l+1)/a² for l = 0..T, float64, m⁻²."""
        return -self.l * (self.l + 1.0) / self.radius ** 2

    # --- the two halves of each transform ----------------------------------------------------
    def _legendre(self, spec: Any, table: Any) -> Any:
        """Σ over the spectral index of spec[f, m, l]·table[m, l, j]: (F, M, L) × (M, L, J) →
        (F, J, M) complex Fourier coefficients (or the forward direction with (F, J, M) in and
        table [m, j, l]: out (F, M, L)). One real matmul batched over m, re and im as rows."""
        F = spec.shape[0]
        x = np.moveaxis(spec, -2, 0)                                # (M, F, K) view
        M, K = x.shape[0], x.shape[-1]
        pairs = np.stack([x.real, x.imag], axis=1).reshape(M, 2 * F, K)   # contiguous copy
        y = (pairs @ table).reshape(M, 2, F, table.shape[-1])
        return y[:, 0] + 1j * y[:, 1]                               # (M, F, out)

    def _to_fourier(self, spec: Any, table: Any) -> Any:
        """Spectral (F, M, L) → Fourier (F, J, M) with table P̄ or H."""
        return np.moveaxis(self._legendre(spec, table), 0, -1)

    def _from_fourier(self, fourier: Any, table: Any) -> Any:
        """Fourier (F, J, M) → spectral (F, M, L) with a forward table [m, j, l]."""
        return np.moveaxis(self._legendre(np.moveaxis(fourier, -1, -2), table), 0, 1)

    def fourier_to_grid(self, fourier: Any) -> Any:
        """(F, J, T+1) Fourier coefficients → (F, J, nlon) grid values (zero above m = T)."""
        padded = np.pad(fourier, ((0, 0), (0, 0), (0, self.n_fourier - fourier.shape[-1])))
        return np.fft.irfft(padded, axis=-1, norm="forward")

    def grid_to_fourier(self, grid: Any) -> Any:
        """(F, J, nlon) grid values → (F, J, T+1) Fourier coefficients (1/nlon Σ x e^{−imλ})."""
        return np.fft.rfft(grid, axis=-1, norm="forward")[..., :self.truncation + 1]

    # --- whole transforms, batched -----------------------------------------------------------
    def to_grid(self, scalars: Sequence[Any] = (), vectors: Sequence[tuple[Any, Any]] = (),
                gradients: Sequence[Any] = ()) -> tuple[list, list, list]:
        """Spectral fields to the grid, all in one FFT and (at most) two matmuls.

        scalars: spectral fields (n, T+1, T+1) → grid (n, nlat, nlon).
        vectors: (ζ, D) pairs → (U, V) = cos φ·(u, v): the wind with streamfunction ∇⁻²ζ and
            velocity potential ∇⁻²D, m s⁻¹.
        gradients: X → cos φ ∇X = ((1/a) ∂X/∂λ, (1/a)(1 − μ²) ∂X/∂μ), a pair.
        Returns three lists in the order given (vectors and gradients as pairs of grids).
        """
        nv, ng = len(vectors), len(gradients)
        P_in, H_in = list(scalars), []
        for vor, div in vectors:
            psi_a, chi_a = self.minus_a_over_ll1 * vor, self.minus_a_over_ll1 * div
            P_in += [self.im * chi_a, self.im * psi_a]           # the ∂/∂λ parts of U, V
            H_in += [-psi_a, chi_a]                               # the ∂/∂μ parts of U, V
        P_in += [self.im_over_a * x for x in gradients]
        H_in += [self.inv_radius * x for x in gradients]
        fP = _split(self._to_fourier(_stack(P_in), self.P), _sizes(P_in))
        fH = _split(self._to_fourier(_stack(H_in), self.H), _sizes(H_in)) if H_in else []
        ns = len(scalars)
        fourier = fP[:ns] + [p + h for p, h in zip(fP[ns:ns + 2 * nv], fH[:2 * nv])]
        fourier += fP[ns + 2 * nv:] + fH[2 * nv:]                # ∂X/∂λ parts, then ∂X/∂μ parts
        grid = _split(self.fourier_to_grid(_stack(fourier)), _sizes(fourier))
        winds = grid[ns:ns + 2 * nv]
        d_lambda, d_mu = grid[ns + 2 * nv:ns + 2 * nv + ng], grid[ns + 2 * nv + ng:]
        return (grid[:ns], [(winds[2 * i], winds[2 * i + 1]) for i in range(nv)],
                list(zip(d_lambda, d_mu)))

    def to_spectral(self, scalars: Sequence[Any] = (), curl_div: Sequence[tuple[Any, Any]] = (),
                    div: Sequence[tuple[Any, Any]] = ()) -> tuple[list, list, list]:
        """Grid fields to spectral, all in one FFT and up to three matmuls.

        scalars: grid (n, nlat, nlon) → spectral (n, T+1, T+1).
        curl_div: cos φ-weighted pairs (A, B) → (curl(A, B), div(A, B)).
        div: pairs (A, B) → div(A, B) only (a flux divergence).
        """
        grids = list(scalars) + [a for a, _ in curl_div] + [b for _, b in curl_div] + \
            [a for a, _ in div] + [b for _, b in div]
        sizes = [g.shape[0] for g in grids]
        fourier = _split(self.grid_to_fourier(_stack(grids)), sizes)
        ns, nc, nd = len(scalars), len(curl_div), len(div)
        A_cd, B_cd = fourier[ns:ns + nc], fourier[ns + nc:ns + 2 * nc]
        A_d, B_d = fourier[ns + 2 * nc:ns + 2 * nc + nd], fourier[ns + 2 * nc + nd:]
        spec_scalars = (_split(self._from_fourier(_stack(fourier[:ns]), self.P_weighted),
                               sizes[:ns]) if ns else [])
        if not (nc or nd):
            return spec_scalars, [], []
        P_parts = A_cd + B_cd + A_d                     # im·P-sums: of A (div), of B (curl)
        H_parts = A_cd + B_cd + B_d                     # H-sums: of A (curl), of B (div)
        Psum = _split(self._from_fourier(_stack(P_parts), self.P_vector), _sizes(P_parts))
        Hsum = _split(self._from_fourier(_stack(H_parts), self.H_vector), _sizes(H_parts))
        im = self.im
        pairs = []
        for i in range(nc):
            PA, PB, HA, HB = Psum[i], Psum[nc + i], Hsum[i], Hsum[nc + i]
            pairs.append((im * PB + HA, im * PA - HB))
        divs = [im * Psum[2 * nc + i] - Hsum[2 * nc + i] for i in range(nd)]
        return spec_scalars, pairs, divs

    # --- conveniences (single fields; used for initial states and diagnostics) -----------------
    def grid(self, spec: Any) -> Any:
        """One spectral field (or a stack (n, T+1, T+1)) on the grid."""
        single = spec.ndim == 2
        (g,), _, _ = self.to_grid(scalars=[spec[None] if single else spec])
        return g[0] if single else g

    def spectral(self, grid: Any) -> Any:
        """One grid field (or a stack (n, nlat, nlon)) in spectral space."""
        single = grid.ndim == 2
        (s,), _, _ = self.to_spectral(scalars=[grid[None] if single else grid])
        return s[0] if single else s

    def wind(self, vor: Any, div: Any) -> tuple[Any, Any]:
        """(U, V) = cos φ (u, v) on the grid from spectral (ζ, D), stacks (n, T+1, T+1)."""
        _, ((U, V),), _ = self.to_grid(vectors=[(vor, div)])
        return U, V

    def vorticity_divergence(self, U: Any, V: Any) -> tuple[Any, Any]:
        """Spectral (ζ, D) = (curl, div) of the cos φ-weighted grid wind (U, V), stacks."""
        _, ((vor, div),), _ = self.to_spectral(curl_div=[(U, V)])
        return vor, div


def _sizes(parts: Sequence[Any]) -> list[int]:
    return [p.shape[0] for p in parts]


def _stack(parts: Sequence[Any]) -> Any:
    """Concatenate along the first (field) axis; one part is returned as it is."""
    return parts[0] if len(parts) == 1 else np.concatenate(list(parts), axis=0)


def _split(x: Any, sizes: Sequence[int]) -> list:
    """Views of consecutive blocks of the first axis with the given sizes."""
    out, start = [], 0
    for n in sizes:
        out.append(x[start:start + n])
        start += n
    return out
