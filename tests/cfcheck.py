"""The CF-1.11 check the tests share: compliance-checker's results, failed checks by priority."""
from __future__ import annotations

from pathlib import Path

HIGH, MEDIUM, LOW = 3, 2, 1     # compliance-checker priorities: errors, warnings, information


def cf_failures(path: Path | str) -> dict[int, list[str]]:
    """Failed cf:1.11 checks of the netCDF file at `path`, by priority, with their messages."""
    from compliance_checker.runner import CheckSuite
    suite = CheckSuite()
    suite.load_all_available_checkers()
    results, errors = suite.run_all(suite.load_dataset(str(path)), ["cf:1.11"], skip_checks=[])["cf:1.11"]
    assert not errors, errors
    failed: dict[int, list[str]] = {}
    for r in results:
        v = r.value
        if not (v if isinstance(v, bool) else v[0] == v[1]):
            failed.setdefault(r.weight, []).extend([f"{r.name}: {m}" for m in r.msgs])
    return failed
