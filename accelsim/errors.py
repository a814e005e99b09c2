"""Errors a user can cause, each rendered as one line naming the file and key.

The CLI catches :class:`AccelsimError`, prints ``str(err)`` and exits with code 2, so every
message must be complete on its own: where (file, dotted key or layer) and what is wrong.
"""

from __future__ import annotations

import difflib
from typing import Any


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


class InvariantError(Exception):
    """A result broke one of its own invariants (:mod:`accelsim.sim.invariants`): a bug in
    the simulator, not in the user's input, so deliberately *not* an :class:`AccelsimError`
    (the CLI exits 3 for it, not 2). The message is one line naming the arch and core, the
    layer, the invariant and both numbers."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))   # one line, whatever the names hold


def did_you_mean(word: Any, known: list[str] | tuple[str, ...], list_all: bool = False) -> str:
    """`` (did you mean 'x'?)`` for the closest known name; with ``list_all``, the known
    names when none is close; else an empty string.

    Case is ignored (``VGG16`` finds ``vgg16``) and a tie goes to the name listed first, so
    ``resnet`` among sorted names suggests ``resnet18``, not ``resnet50``."""
    target, names = str(word).lower(), {}
    for name in known:
        names.setdefault(str(name).lower(), name)
    close = set(difflib.get_close_matches(target, list(names), n=len(names) or 1))
    if close:
        best = max((name for name in names if name in close),   # max keeps the first of a tie
                   key=lambda name: difflib.SequenceMatcher(None, target, name).ratio())
        return f" (did you mean {names[best]!r}?)"
    return f" (known: {', '.join(known) or 'none'})" if list_all else ""
