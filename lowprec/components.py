"""The precision components a model declares, shared by both arithmetics (emulated and native).

A model names the parts of its code that may run at their own precision (rpe's per-module
precision): ``arith.declare_components(("dynamics", "physics"))``, then ``with
arith.component("physics"): ...``. An experiment configures overrides by name; a configured
name that no model declared is most likely a typo, so the harness asks `undeclared_overrides`.
"""
from __future__ import annotations

from typing import Iterable

from lowprec.errors import FormatError


class ComponentNames:
    """The declared and configured component names of an arithmetic object (a mixin).

    The arithmetic sets ``self._configured`` (any container of the configured names) and calls
    ``ComponentNames.__init__``; `require_known` then guards ``component(name)``.
    """

    _configured: Iterable[str]

    def __init__(self) -> None:
        self._declared: list[str] = []

    def declare_components(self, names: Iterable[str]) -> None:
        """Register the component names a model uses; they use the base format unless overridden."""
        if isinstance(names, str):
            names = [names]
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"component names are strings, got {name!r}")
            if name not in self._declared:
                self._declared.append(name)

    @property
    def declared_components(self) -> tuple[str, ...]:
        """The names the model declared, in the order it declared them."""
        return tuple(self._declared)

    def undeclared_overrides(self) -> list[str]:
        """Configured component names that no model declared: probably a typo in a config."""
        return sorted(set(self._configured) - set(self._declared))

    def require_known(self, name: str, how_to_configure: str = "") -> None:
        """Nothing if `name` is declared or configured; else FormatError listing the known names."""
        if name in self._declared or name in self._configured:
            return
        known = sorted(set(self._declared) | set(self._configured))
        raise FormatError(
            f"unknown precision component {name!r}; known: {', '.join(map(repr, known)) or 'none'}"
            f". A model declares its components with arith.declare_components(names)"
            f"{how_to_configure}.")
