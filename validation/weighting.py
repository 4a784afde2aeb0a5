"""Area weights and global means: cos(latitude) where a latitude coordinate exists, else plain.

    global = Σ wᵢ xᵢ / Σ wᵢ         normalise="weights" (default: a proper area mean)
    global = Σ wᵢ xᵢ / N            normalise="count"   (as the follow-up paper's code: N points)

with wᵢ = cos(latᵢ). Without a latitude coordinate every wᵢ = 1 and both are the plain mean.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from lowprec.errors import ValidationInputError

__all__ = ["NORMALISATIONS", "LATITUDE_NAMES", "area_weights", "global_mean", "describe_weights"]

NORMALISATIONS = ("weights", "count")
LATITUDE_NAMES = ("lat", "latitude")


def _latitude(da: xr.DataArray) -> xr.DataArray | None:
    for name in LATITUDE_NAMES:
        if name in da.coords:
            return da.coords[name]
    return None


def area_weights(da: xr.DataArray, dims: Sequence[str]) -> xr.DataArray:
    """Weights over `dims`: cos(lat) (lat in degrees unless its units say radians), else ones."""
    lat = _latitude(da)
    if lat is None or not set(lat.dims) <= set(dims):
        shape = {d: da.sizes[d] for d in dims}
        return xr.DataArray(np.ones(tuple(shape.values())), dims=tuple(shape), name="weights")
    radians = str(lat.attrs.get("units", "degrees")).startswith("rad")
    w = np.cos(lat.astype(np.float64) if radians else np.deg2rad(lat.astype(np.float64)))
    # cos(±90°) is 6e-17, not 0: clip so a pole row weighs nothing rather than something tiny.
    w = w.clip(min=0.0).drop_vars([c for c in w.coords if c not in w.dims])
    w.attrs = {}    # the latitude's attributes (standard_name...) must not reach the results
    template = xr.ones_like(da.isel({d: 0 for d in da.dims if d not in dims}, drop=True), dtype=np.float64)
    return (w * template).rename("weights")


def global_mean(da: xr.DataArray, dims: Sequence[str], normalise: str = "weights") -> xr.DataArray:
    """Weighted mean of `da` over `dims` (see the module docstring); NaN anywhere gives NaN."""
    if normalise not in NORMALISATIONS:
        raise ValidationInputError(f"normalise={normalise!r}: allowed are {NORMALISATIONS} "
                                   "('count' divides by the number of points, as Kimpson et al.'s code)")
    dims = [d for d in dims if d in da.dims]
    if not dims:
        return da
    w = area_weights(da, dims)
    total = (da * w).sum(dims, skipna=False)
    denom = w.sum(dims) if normalise == "weights" else float(np.prod([da.sizes[d] for d in dims]))
    return total / denom


def describe_weights(da: xr.DataArray, dims: Sequence[str], normalise: str) -> str:
    """One line for the output's attributes: which weights, which normalisation."""
    if not dims:
        return "none (no spatial dimensions)"
    lat = _latitude(da)
    if lat is None or not set(lat.dims) <= set(dims):
        return f"uniform over {tuple(dims)}: plain mean"
    by = "the sum of the weights" if normalise == "weights" else "the number of points"
    return f"cos({lat.name}) over {tuple(dims)}, normalised by {by}"
