"""Errors a user can fix (bad data, a run folder that cannot be used), as opposed to bugs.

The command line prints these as one line, ``masa-lite: error: <message>``, and exits with code 2
(``--debug`` shows the traceback); every message names the file, line or field and the fix.
:class:`masa_lite.config.ConfigError` is the same kind of error for configuration values.
"""

from __future__ import annotations


class DataError(ValueError):
    """A data file or data set that cannot be used: the message names the file and line (or the
    record) and what to change."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (a full disk, no permission); nothing half-written is
    left behind, and the previous checkpoint stays the one a resume uses."""
