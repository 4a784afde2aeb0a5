"""lowprec's own exceptions: catch `LowprecError`, or `TypeError`/`ValueError` as usual."""


class LowprecError(Exception):
    """Base of lowprec's own errors."""


class FormatError(LowprecError, ValueError):
    """A number format or rounding mode that does not exist."""


class NotEmulatedError(LowprecError, TypeError):
    """A numpy operation with no emulation rule: it would silently run in float64."""


class ConfigError(LowprecError, ValueError):
    """An experiment that cannot run as written."""


class BlowUpError(LowprecError, RuntimeError):
    """A model state became non-finite."""


class ValidationInputError(LowprecError, ValueError):
    """Runs that cannot be compared as asked (different models, grids, units, too few members)."""
