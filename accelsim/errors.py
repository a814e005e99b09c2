"""Errors a user can cause, each rendered as one line naming the file and key.

The CLI catches :class:`AccelsimError`, prints ``str(err)`` and exits with code 2, so every
message must be complete on its own: where (file, dotted key or layer) and what is wrong.
"""

from __future__ import annotations


class AccelsimError(Exception):
    """Base class of every error caused by the user's input (not by a bug)."""


class ConfigError(AccelsimError):
    """An architecture config is malformed; the message lists every problem found."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class WorkloadError(AccelsimError):
    """A workload file or name is malformed or unknown, or its shapes do not chain."""


class MappingError(AccelsimError):
    """A layer cannot be mapped onto the hardware (e.g. a buffer too small for any tile)."""
