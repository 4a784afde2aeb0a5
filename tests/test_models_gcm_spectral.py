"""GCM spectral transforms and vertical differences against independent constructions:
scipy's Legendre functions, analytic winds and vorticities, Gaussian quadrature, the isothermal
atmosphere, the Lamb wave."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import lpmv

from models.gcm.spectral import (SpectralTransform, default_grid, fft_friendly,
                                 legendre_derivatives, legendre_functions)
from models.gcm.vertical import SPEEDY_HALF_LEVELS, SigmaLevels, half_levels

A = 6.371e6


def scipy_legendre(m: int, l: int, mu: np.ndarray) -> np.ndarray:
    """Oracle: P̄_l^m from scipy's lpmv (which has the Condon–Shortley phase (−1)^m), normalised
    so that ∫_{−1}^{1} P̄² dμ = 1."""
    norm = math.sqrt((2 * l + 1) / 2 * math.factorial(l - m) / math.factorial(l + m))
    return (-1) ** m * norm * lpmv(m, l, mu)


def random_spectral(tr: SpectralTransform, n: int, seed: int) -> np.ndarray:
    """Random coefficients of n real fields: inside the triangle, m = 0 real."""
    rng = np.random.default_rng(seed)
    shape = (n,) + tr.spectral_shape
    s = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * tr.triangle
    s[:, 0, :] = s[:, 0, :].real
    return s


@pytest.fixture(scope="module")
def t21() -> SpectralTransform:
    return SpectralTransform(21, A)


def grid_coords(tr: SpectralTransform) -> tuple[np.ndarray, np.ndarray]:
    lam = np.radians(tr.longitude)[None, :]
    phi = np.arcsin(tr.mu)[:, None]
    return lam, phi


@pytest.mark.parametrize("T, nlat, nlon", [(31, 48, 96), (21, 32, 64), (10, 16, 32), (42, 64, 128),
                                           (63, 96, 192)])
def test_default_grids_are_the_usual_alias_free_ones(T, nlat, nlon):
    assert default_grid(T) == (nlat, nlon)
    assert nlon >= 3 * T + 1 and 2 * nlat == nlon


def test_fft_friendly_sizes():
    assert [fft_friendly(n) for n in (1, 94, 97, 127, 190, 1001)] == [2, 96, 100, 128, 192, 1024]
    assert fft_friendly(7 * 11) == 80


def test_legendre_functions_match_scipy_and_are_orthonormal(t21):
    mu = np.linspace(-0.999, 0.999, 41)
    P = legendre_functions(21, mu)
    for m in range(22):
        for l in range(22):
            expected = scipy_legendre(m, l, mu) if l >= m else np.zeros_like(mu)
            assert np.allclose(P[m, l], expected, rtol=1e-12, atol=1e-12), (m, l)
    # Gaussian quadrature on the model's grid integrates the products exactly
    Pg = legendre_functions(21, t21.mu)
    gram = np.einsum("mlj,mkj,j->mlk", Pg, Pg, t21.weights)
    expected = np.eye(22)[None] * t21.triangle[:, :, None]
    assert np.abs(gram - expected).max() < 1e-13


def test_derivative_table_matches_the_unnormalised_identity():
    """H = (1 − μ²) dP̄/dμ against (1 − x²) P_l^m′ = (l + 1) x P_l^m − (l − m + 1) P_{l+1}^m for
    scipy's unnormalised functions (an identity the model's recurrence does not use)."""
    mu = np.linspace(-0.99, 0.99, 23)
    _, H = legendre_derivatives(15, mu)
    for m in range(16):
        for l in range(m, 16):
            norm = math.sqrt((2 * l + 1) / 2 * math.factorial(l - m) / math.factorial(l + m))
            dP = (l + 1) * mu * lpmv(m, l, mu) - (l - m + 1) * lpmv(m, l + 1, mu)
            assert np.allclose(H[m, l], (-1) ** m * norm * dP, rtol=1e-11, atol=1e-11), (m, l)


def test_round_trip_to_1e_12(t21):
    s = random_spectral(t21, 5, seed=1)
    back = t21.spectral(t21.grid(s))
    assert np.abs(back - s).max() < 1e-12 * np.abs(s).max()
    # and the grid values are the synthesis Σ X_l^m P̄_l^m e^{imλ} (oracle: scipy, written out)
    lam, _ = grid_coords(t21)
    x = np.zeros(t21.grid_shape)
    for m in range(22):
        weight = 1.0 if m == 0 else 2.0
        for l in range(m, 22):
            Y = scipy_legendre(m, l, t21.mu)[:, None] * np.exp(1j * m * lam)
            x += weight * (s[0, m, l] * Y).real
    assert np.abs(t21.grid(s[0]) - x).max() < 1e-12 * np.abs(x).max()


def test_laplacian_eigenvalues_through_gradient_and_divergence(t21):
    """div(cos φ ∇Y_l^m) (grid gradient, spectral divergence) = −l(l+1)/a² Y_l^m for every
    degree and order in the truncation."""
    unit = np.zeros((1,) + t21.spectral_shape, dtype=complex)
    for m, l in [(0, 1), (0, 7), (3, 3), (5, 12), (17, 21), (21, 21), (1, 20)]:
        for value in (1.0, 1j) if m > 0 else (1.0,):
            x = unit.copy()
            x[0, m, l] = value
            _, _, ((gx, gy),) = t21.to_grid(gradients=[x])
            _, _, (d,) = t21.to_spectral(div=[(gx, gy)])
            expected = -l * (l + 1) / A ** 2 * x
            assert np.abs(d - expected).max() < 1e-12 * abs(expected[0, m, l]), (m, l)


def test_winds_and_vorticity_of_a_rossby_haurwitz_flow(t21):
    """Williamson et al. (1992) test 6: u, v and ζ = ∇²ψ in closed form (R = 4)."""
    lam, phi = grid_coords(t21)
    R, w, K = 4, 7.848e-6, 7.848e-6
    c, s = np.cos(phi), np.sin(phi)
    u = A * w * c + A * K * c ** (R - 1) * (R * s ** 2 - c ** 2) * np.cos(R * lam)
    v = -A * K * R * c ** (R - 1) * s * np.sin(R * lam)
    zeta = 2 * w * s - K * s * c ** R * (R * R + 3 * R + 2) * np.cos(R * lam)
    vor, div = t21.vorticity_divergence((u * c)[None], (v * c)[None])
    assert np.abs(t21.grid(vor)[0] - zeta).max() < 1e-12 * np.abs(zeta).max()
    assert np.abs(div).max() < 1e-12 * np.abs(vor).max()
    U, V = t21.wind(vor, div)
    assert np.abs(U[0] - u * c).max() < 1e-12 * np.abs(u).max()
    assert np.abs(V[0] - v * c).max() < 1e-12 * np.abs(u).max()


def test_winds_and_divergence_of_a_velocity_potential(t21):
    """χ = cos^R φ cos Rλ: u = (1/(a cos φ)) ∂χ/∂λ, v = (1/a) ∂χ/∂φ, D = −R(R+1)/a² χ, ζ = 0."""
    lam, phi = grid_coords(t21)
    R = 5
    c, s = np.cos(phi), np.sin(phi)
    chi = c ** R * np.cos(R * lam)
    u = -(R / A) * c ** (R - 1) * np.sin(R * lam)
    v = -(R / A) * c ** (R - 1) * s * np.cos(R * lam)
    vor, div = t21.vorticity_divergence((u * c)[None], (v * c)[None])
    D = -R * (R + 1) / A ** 2 * chi
    assert np.abs(t21.grid(div)[0] - D).max() < 1e-12 * np.abs(D).max()
    assert np.abs(vor).max() < 1e-12 * np.abs(div).max()
    U, V = t21.wind(vor, div)
    assert np.abs(U[0] - u * c).max() < 1e-12 * np.abs(u).max()
    assert np.abs(V[0] - v * c).max() < 1e-12 * np.abs(u).max()


def test_batched_transforms_equal_one_field_at_a_time(t21):
    s = random_spectral(t21, 4, seed=3)
    scalars, vectors, gradients = t21.to_grid(scalars=[s[:2], s[2:3]], vectors=[(s[:2], s[2:])],
                                              gradients=[s[3:]])
    assert np.array_equal(scalars[0][1], t21.grid(s[1]))
    U, V = t21.wind(s[1:2], s[3:4])
    assert np.allclose(vectors[0][0][1], U[0], rtol=0, atol=1e-12 * np.abs(U).max())
    assert np.allclose(vectors[0][1][1], V[0], rtol=0, atol=1e-12 * np.abs(V).max())
    _, _, ((gx, gy),) = t21.to_grid(gradients=[s[3:]])
    assert np.array_equal(gradients[0][0], gx) and np.array_equal(gradients[0][1], gy)


# --- vertical differences ------------------------------------------------------------------------
def test_levels():
    assert list(half_levels(8)) == list(SPEEDY_HALF_LEVELS)
    assert np.allclose(half_levels(4), [0, 0.25, 0.5, 0.75, 1])
    L = SigmaLevels(8)
    assert np.allclose(L.full, [0.025, 0.095, 0.2, 0.34, 0.51, 0.685, 0.835, 0.95])
    assert math.isclose(L.thickness.sum(), 1.0) and L.alpha[0] == math.log(2)
    for bad in ([0.1, 1.0], [0.0, 0.5, 0.4, 1.0], [0.0, 0.5]):
        with pytest.raises(ValueError, match="half levels"):
            half_levels(bad)


def test_hydrostatic_geopotential_of_an_isothermal_atmosphere_is_exact_at_half_levels():
    """Φ(σ) = −R T0 ln σ exactly for T = T0; SB81's Φ_k = Φ_{k+1/2} + α_k R T0 lies between the
    exact values at its half levels."""
    L, R, T0 = SigmaLevels(8), 287.0, 250.0
    phi = L.hydrostatic_matrix(R) @ np.full(8, T0)
    below = -R * T0 * np.log(L.half[1:])
    assert np.allclose(phi - L.alpha * R * T0, below, rtol=1e-14, atol=1e-9)
    assert np.all(phi > below) and np.all(phi[1:] < -R * T0 * np.log(L.half[1:-1]))


def test_fastest_gravity_wave_is_the_lamb_wave():
    """About isothermal T0 at rest the vertical modes of B = G H + R T0 Δσᵀ have c² = eigenvalues;
    the fastest is the Lamb wave, c = √(R T0/(1 − κ)) (347 m s⁻¹ at 300 K): 8 SPEEDY levels give
    it within 2 % (340 m s⁻¹), 40 equal layers within 1.5 %."""
    R, kappa, T0 = 287.0, 2 / 7, 300.0
    lamb = math.sqrt(R * T0 / (1 - kappa))
    for levels, tolerance in ((8, 0.02), (40, 0.015)):
        L = SigmaLevels(levels)
        T = np.full(L.K, T0)
        B = L.hydrostatic_matrix(R) @ L.temperature_matrix(T, kappa) + np.outer(R * T, L.thickness)
        c2 = np.linalg.eigvals(B)
        assert np.abs(c2.imag).max() < 1e-6 * np.abs(c2.real).max()
        c = math.sqrt(c2.real.max())
        assert abs(c / lamb - 1) < tolerance, (levels, c, lamb)
        assert np.all(c2.real > 0)                       # every mode a wave, none growing
