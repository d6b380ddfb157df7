"""Error and warning classes raised by :mod:`siting`.

Every error a user can cause derives from :class:`SitingError`. Errors that
correspond to a builtin also inherit it, so ``except ValueError`` keeps working
for callers that do not know about :mod:`siting`.
"""

from __future__ import annotations

__all__ = [
    "CRSError",
    "DataError",
    "EngineError",
    "InfeasibleError",
    "InputError",
    "MissingDataError",
    "OutputError",
    "SitingError",
    "SitingWarning",
    "SolverError",
]


class SitingError(Exception):
    """Root of every error raised on purpose by :mod:`siting`."""


class InputError(SitingError, ValueError):
    """An input file, table or parameter is missing or malformed."""


class CRSError(InputError):
    """A coordinate reference system is missing, geographic where metres are needed, or unknown."""


class DataError(SitingError):
    """The data contradict themselves (for example a demand point outside its own community)."""


class MissingDataError(DataError, FileNotFoundError):
    """A data set the run needs is not there (for example the sample was never built)."""


class InfeasibleError(SitingError, ValueError):
    """A model has no feasible solution; the message says which constraint cannot be met."""


class SolverError(SitingError, RuntimeError):
    """The solver failed or returned no usable solution."""


class EngineError(SitingError, RuntimeError):
    """A part of a stage failed on the engine (a worker died, or the part raised); the run stops whole."""


class OutputError(SitingError, OSError):
    """An output could not be written (read-only folder, full disk); nothing half-written is left."""


class SitingWarning(UserWarning):
    """Something was repaired or assumed; the message says what and where."""
