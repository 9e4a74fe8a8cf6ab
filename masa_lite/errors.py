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


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked: another run holds it, it cannot be created or
    written, its checkpoints are all damaged, or it holds a run that a resume would change; the
    message names the folder and the way out (never deleting files by hand)."""


class AdapterError(ValueError):
    """An adapter folder (``masa-lite eval --adapter``) that cannot be loaded: the message names
    the folder, what is wrong with it and which folder to pass instead."""


def shorten(value, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters, so that a 100,000-digit number or a
    10 MB line still makes a one-line message; a cut value says how long it was."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * limit:
        return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 1]}… ({len(text)} characters)"
