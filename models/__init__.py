"""The integrators: pure numerical code, handed their arithmetic by the caller.

Importing a model module registers it in :data:`models.base.REGISTRY` by name.
"""
from __future__ import annotations

import importlib

from models.base import FLOAT64, REGISTRY, Arithmetic, Float64, Output, register

MODEL_MODULES = {
    "lorenz63": "models.lorenz63",
    "heat": "models.heat",
    "shallow_water": "models.shallow_water",
    "gcm": "models.gcm",
}


def get_model_class(name: str) -> type:
    """The model class registered as `name` (imported on first use)."""
    if name not in MODEL_MODULES:
        known = ", ".join(sorted(MODEL_MODULES))
        raise KeyError(f"unknown model {name!r}; known models: {known}")
    if name not in REGISTRY:
        importlib.import_module(MODEL_MODULES[name])
    return REGISTRY[name]()


__all__ = ["Arithmetic", "FLOAT64", "Float64", "Output", "REGISTRY", "get_model_class", "register"]
