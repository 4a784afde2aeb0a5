"""Experiment files shipped with lowprec (TOML), found by name from anywhere.

``lowprec run heat`` runs ``heat.toml`` of this package when no file ``heat`` (or ``heat.toml``)
exists where you are; ``lowprec experiments`` lists them, ``lowprec experiments heat -o
my_heat.toml`` writes one out to edit. `lowprec.demo` reads them too.
"""
from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from lowprec.errors import ConfigError

SUFFIX = ".toml"
WIDTH = 120                     # characters of a description


def _directory() -> Path:
    return Path(str(files(__name__)))


def names() -> list[str]:
    """The packaged experiments' names (file names without .toml), sorted."""
    return sorted(p.stem for p in _directory().glob(f"*{SUFFIX}"))


def path(name: str) -> Path:
    """The packaged file of experiment ``name`` ("heat" or "heat.toml"); ConfigError if none."""
    stem = name[:-len(SUFFIX)] if name.endswith(SUFFIX) else name
    if "/" in stem or stem not in names():
        raise ConfigError(f"experiment {name!r}: no such file, and no packaged experiment of "
                          f"that name; packaged: {', '.join(names())} (`lowprec experiments` "
                          "lists them).")
    return _directory() / f"{stem}{SUFFIX}"


def resolve(config: str | Path) -> Path:
    """A config argument as a file: the path if it exists, else the packaged experiment named."""
    given = Path(config)
    if given.is_file():
        return given
    if given.exists():
        raise ConfigError(f"experiment {str(config)!r}: is a directory, not a TOML file.")
    if given.parent != Path(".") or (given.suffix and given.suffix != SUFFIX):
        raise ConfigError(f"experiment {str(config)!r}: no such file.")
    return path(given.name)


def description(name: str) -> str:
    """The first sentence of the experiment file's leading comment (one line)."""
    lines = []
    for line in path(name).read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(lines)
    end = re.search(r"[.?!](\s|$)", text)        # the first sentence
    first = text[:end.start() + 1] if end else text
    return first if len(first) <= WIDTH else first[:WIDTH - 1].rstrip() + "…"
