"""Reading user YAML files and naming mistakes in them, shared by the config and workload
loaders so both report a bad file the same way."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from accelsim.errors import AccelsimError


def read_yaml(path: Path, error: type[AccelsimError] = AccelsimError) -> Any:
    """Parse a YAML file; a missing file or syntax error is one ``error`` line naming the
    file (and the line and column)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except OSError as err:
        raise error(f"{path}: cannot read ({err.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise error(f"{path}:{where} malformed YAML: {problem}") from None


def did_you_mean(word: Any, known: list[str] | tuple[str, ...], list_all: bool = False) -> str:
    """`` (did you mean 'x'?)`` for the closest known name; with ``list_all``, the known
    names when none is close; else an empty string."""
    close = difflib.get_close_matches(str(word), list(known), n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known: {', '.join(known) or 'none'})" if list_all else ""
