"""Held–Suarez (and moist aquaplanet) climate statistics from time-mean zonal means (float64
numpy, for reports).

The spec's expected climate (specs/models.md §4, after Held & Suarez 1994): westerly jets of
roughly 28–32 m s⁻¹ near 40–45° latitude around σ ≈ 0.25, surface westerlies in mid-latitudes,
weak tropical surface easterlies, zonal-mean temperature from ~300 K at the equatorial surface to
the 200 K floor aloft. :func:`held_suarez_summary` measures those quantities; :data:`EXPECTED`
states the ranges a long T31 climatology is checked against (the notebook's full mode and
benchmarks/bench_gcm.py).
"""
from __future__ import annotations

import numpy as np

# name -> (low, high): the spec's numbers, with the spread of published dynamical cores around
# them (Held & Suarez 1994, Fig. 2: jets ~30 m s⁻¹ at ~45°, σ ~ 0.25; surface westerlies
# ~8-10 m s⁻¹, easterlies a few m s⁻¹; T from ~300 K to < 200 K at the polar top)
EXPECTED = {
    "jet_speed": (26.0, 36.0),              # m s⁻¹, each hemisphere
    "jet_latitude": (35.0, 50.0),           # |degrees|
    "jet_sigma": (0.15, 0.35),
    "surface_westerly": (4.0, 14.0),        # m s⁻¹, lowest level, mid-latitudes
    "surface_easterly": (-10.0, -1.0),      # m s⁻¹, lowest level, |φ| < 30°
    "T_equator_surface": (290.0, 310.0),    # K, lowest level near the equator
    "T_min": (180.0, 205.0),                # K, anywhere
}


def held_suarez_summary(u: np.ndarray, T: np.ndarray, lat: np.ndarray,
                        sigma: np.ndarray) -> dict[str, float]:
    """Jet maxima (per hemisphere, with latitude and σ), surface winds and temperatures.

    u, T: time-mean zonal means (lev, lat) in m s⁻¹ and K; lat in degrees; sigma (lev,) with the
    lowest level last. Keys end in ``_S``/``_N`` per hemisphere.
    """
    u, T, lat, sigma = (np.asarray(x, dtype=np.float64) for x in (u, T, lat, sigma))
    out: dict[str, float] = {}
    surface = int(np.argmax(sigma))
    for name, side in (("S", lat < 0), ("N", lat > 0)):
        x = np.where(side[None, :], u, -np.inf)
        k, j = np.unravel_index(np.argmax(x), x.shape)
        out[f"jet_speed_{name}"] = float(u[k, j])
        out[f"jet_latitude_{name}"] = float(lat[j])
        out[f"jet_sigma_{name}"] = float(sigma[k])
        mid = side & (np.abs(lat) >= 30) & (np.abs(lat) <= 70)
        j = int(np.flatnonzero(mid)[np.argmax(u[surface, mid])])
        out[f"surface_westerly_{name}"] = float(u[surface, j])
        out[f"surface_westerly_latitude_{name}"] = float(lat[j])
        tropics = side & (np.abs(lat) < 30)
        j = int(np.flatnonzero(tropics)[np.argmin(u[surface, tropics])])
        out[f"surface_easterly_{name}"] = float(u[surface, j])
        out[f"surface_easterly_latitude_{name}"] = float(lat[j])
    near_equator = np.abs(lat) <= np.sort(np.abs(lat))[1]      # the two rows nearest the equator
    out["T_equator_surface"] = float(T[surface, near_equator].mean())
    out["T_min"] = float(T.min())
    out["T_max"] = float(T.max())
    return out


def moist_summary(precip: np.ndarray, lat: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """Zonal-mean precipitation's features (TJ16's aquaplanet): the global mean, the equatorial
    value, the subtropical minima (5–40°) and mid-latitude maxima (30–65°) per hemisphere, with
    their latitudes.

    precip: time-mean zonal-mean precipitation (lat,) in mm day⁻¹; lat in degrees; weights: the
    Gaussian weights w_j (Σ = 2, area weights of the rows). Keys end in ``_S``/``_N``.
    """
    precip, lat, weights = (np.asarray(x, dtype=np.float64) for x in (precip, lat, weights))
    out = {"global_mean": float(np.sum(precip * weights) / np.sum(weights)),
           "equator": float(precip[np.abs(lat) <= np.sort(np.abs(lat))[1]].mean())}
    for name, side in (("S", lat < 0), ("N", lat > 0)):
        for key, low, high, pick in (("subtropical_min", 5, 40, np.argmin),
                                     ("midlatitude_max", 30, 65, np.argmax)):
            rows = np.flatnonzero(side & (np.abs(lat) >= low) & (np.abs(lat) <= high))
            j = int(rows[pick(precip[rows])])
            out[f"{key}_{name}"] = float(precip[j])
            out[f"{key}_latitude_{name}"] = float(lat[j])
    return out


def check_against_expected(summary: dict[str, float],
                           expected: dict[str, tuple[float, float]] = EXPECTED) -> list[str]:
    """The quantities outside their expected range, as readable lines (empty: all inside)."""
    problems = []
    for key, (low, high) in expected.items():
        names = [k for k in summary if k == key or k in (f"{key}_S", f"{key}_N")]
        for name in names:
            value = abs(summary[name]) if key == "jet_latitude" else summary[name]
            if not low <= value <= high:
                problems.append(f"{name} = {summary[name]:.3g}, expected {low:g} .. {high:g}")
    return problems
