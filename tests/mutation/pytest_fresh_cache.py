"""pytest with the copy under test first on the path and, optionally, an empty numba cache.

Run from the root of the copy that cosmic-ray mutates (tests/mutation/run_mutation.py does):

    python tests/mutation/pytest_fresh_cache.py [--fresh-numba-cache] PYTEST-ARGS...

numba's on-disk cache is keyed by the source file's path and time stamp, and a kernel that inlines
a function of another file (kernels.py calls randombits.fmix64) is not recompiled when only that
other file changes: a mutant could run the machine code of the original and survive unseen. With
--fresh-numba-cache every run compiles into a new, empty cache directory, removed afterwards.
"""
from __future__ import annotations

import os
import sys
import tempfile


def main(argv: list[str]) -> int:
    fresh = "--fresh-numba-cache" in argv
    args = [a for a in argv if a != "--fresh-numba-cache"]
    root = os.getcwd()
    sys.path.insert(0, root)                      # the mutated copy, not the editable install
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    import pytest                                 # numba is imported later, by the tests
    if not fresh:
        return int(pytest.main(args))
    with tempfile.TemporaryDirectory(prefix="lowprec-numba-cache-") as cache:
        os.environ["NUMBA_CACHE_DIR"] = cache
        return int(pytest.main(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
