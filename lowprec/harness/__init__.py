"""The harness: experiments (config), one run (run), run files (store), progress, and the CLI.

    import lowprec
    from lowprec.harness import load_config
    exp = load_config("lowprec/experiments/heat.toml", {"precision.sbits": 10})
    ds = lowprec.run(exp, "runs/heat_sb10.nc")        # lowprec.run is lowprec.harness.run.run

Submodules are imported on first use, so `import lowprec.harness` stays light. (``run`` is not
re-exported here: the name belongs to the submodule lowprec.harness.run.)
"""
from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "Experiment": "lowprec.harness.config",
    "Precision": "lowprec.harness.config",
    "RunSettings": "lowprec.harness.config",
    "load_config": "lowprec.harness.config",
    "make_emulator": "lowprec.harness.config",
    "make_model": "lowprec.harness.config",
    "member_seed": "lowprec.harness.config",
    "run_member": "lowprec.harness.run",
    "schedule": "lowprec.harness.run",
    "find_restarts": "lowprec.harness.spinup",
    "open_run": "lowprec.harness.store",
    "write_atomic": "lowprec.harness.store",
    "cf_encoding": "lowprec.harness.store",
    "read_restart": "lowprec.harness.store",
    "write_restart": "lowprec.harness.store",
    "StorageError": "lowprec.harness.store",
    "Interrupted": "lowprec.harness.interrupts",
    "Terminated": "lowprec.harness.interrupts",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    try:
        module = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'lowprec.harness' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
