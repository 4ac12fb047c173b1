"""User-facing error types.

Anything a user can cause (bad params, bad data files, unwritable folders) raises a subclass of
:class:`MlsearchError`. The command line prints it as one line and exits 2; in a notebook it is the
last line of the failure. Programming errors stay ordinary exceptions with tracebacks.
"""

from __future__ import annotations


class MlsearchError(Exception):
    """Base class: ``what`` is wrong, ``where`` it is, ``fix`` says what to do."""

    def __init__(self, what: str, where: str | None = None, fix: str | None = None) -> None:
        self.what, self.where, self.fix = what, where, fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        msg = self.what
        if self.where:
            msg += f" ({self.where})"
        if self.fix:
            msg += f" — {self.fix}"
        return msg


class ConfigError(MlsearchError):
    """A parameter file or override is wrong."""


class DataError(MlsearchError):
    """A data file or an in-memory dataset is wrong."""


class CheckpointError(MlsearchError):
    """A checkpoint cannot be used (corrupt, or from another config)."""


class TrainingError(MlsearchError):
    """Training cannot go on (e.g. the loss became NaN)."""
