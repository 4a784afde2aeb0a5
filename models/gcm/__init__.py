"""A simplified GCM: spectral primitive equations on the sphere, σ levels, Held–Suarez forcing.

In the spirit of SPEEDY (Molteni 2003), in which Paxton et al. (2022) rounded every operation:

- ``spectral.py``      Gaussian grid, orthonormal Legendre functions, FFT; scalar and vector
                       transforms batched over levels and fields (T31 on 96 x 48 by default).
- ``vertical.py``      σ levels (SPEEDY's 8 by default) and the Simmons–Burridge (1981) vertical
                       differences: hydrostatic Φ, σ̇ and ω/p from the continuity equation.
- ``dynamics.py``      the vorticity–divergence primitive equations (Hoskins & Simmons 1975):
                       prognostic ζ, D, T′ = T − T_ref(σ), ln(p_s/p0) (and tracers).
- ``semi_implicit.py`` gravity-wave terms centred in time about rest and an isothermal 300 K.
- ``diffusion.py``     implicit ∇⁸ hyperdiffusion, 2.4 h at the truncation wavenumber.
- ``timestepping.py``  leapfrog with the Robert–Asselin–Williams filter (0.05, 0.53); Euler first.
- ``forcing.py``       the physics as a swappable object: Held & Suarez (1994), moist, or none.
- ``moist_forcing.py`` ``physics = "moist"``: Thatcher & Jablonowski (2016) on the leapfrog, with
                       specific humidity q as a spectral tracer; the column physics in
                       ``moist_physics.py`` (``condensation.py``, ``surface_fluxes.py``,
                       ``boundary_layer.py``, ``tridiagonal.py``).
- ``state.py``         the data passed between them (and the float64 sums of precipitation);
                       ``model.py`` wires them and steps.

One step (``GCM.step``), each part under its precision component (the paper's per-module
precisions of SPEEDY): ``transforms`` (to the grid: FFT and Legendre sums), ``dynamics`` (grid-point
products and the vertical terms), ``physics`` (the forcing), ``transforms`` (back), ``dynamics``
(spectral terms: ∇² of energy, geopotential and pressure), ``timestepping`` (the semi-implicit
solve), ``diffusion``, ``timestepping`` (leapfrog and filter). Every constant and table (Legendre
functions, Gaussian weights, implicit matrices) and the initial state enter through the arithmetic
object the model is given; nothing computes in float64 behind its back (output diagnostics are
computed in float64 from copies, as every model's).
"""
from models.gcm.model import GCM, GCMParams, OUTPUTS

__all__ = ["GCM", "GCMParams", "OUTPUTS"]
