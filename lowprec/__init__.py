"""lowprec: emulated low-precision floating point for climate models, and the harness around it.

    import lowprec
    fmt = lowprec.Format(sbits=10)                      # float64 exponent range, as rpe
    y = lowprec.round(x, fmt, mode="stochastic", seed=7)
    emu = lowprec.Emulator(fmt, mode="nearest")
    native = lowprec.NativeArithmetic("float32")        # the same protocol, in numpy's float32
    ds = lowprec.run("experiment.toml")
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public names, imported on first use so that `import lowprec` stays light (no numba compile,
# no xarray) and so that the core never imports the harness at import time.
_PUBLIC = {
    "Format": "lowprec.formats",
    "FLOAT64": "lowprec.formats",
    "FLOAT32": "lowprec.formats",
    "FLOAT16": "lowprec.formats",
    "BFLOAT16": "lowprec.formats",
    "PRESETS": "lowprec.formats",
    "MODES": "lowprec.rounding",
    "round": "lowprec.rounding",
    "Emulator": "lowprec.emulated",
    "EmulatedArray": "lowprec.emulated",
    "NativeArithmetic": "lowprec.native",
    "run": "lowprec.harness.run",
    "sweep": "lowprec.harness.sweep",
    "open_sweep": "lowprec.harness.sweep",
    "tune": "lowprec.harness.tune",
    "open_run": "lowprec.harness.store",
    "LowprecError": "lowprec.errors",
    "FormatError": "lowprec.errors",
    "NotEmulatedError": "lowprec.errors",
    "ConfigError": "lowprec.errors",
    "BlowUpError": "lowprec.errors",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str) -> Any:
    try:
        module = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'lowprec' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
