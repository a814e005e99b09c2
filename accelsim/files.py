"""The files accelsim reads: shipped configs and workloads by name, and user YAML files.

Shipped files: where the architecture configs and workloads live, installed or in a checkout.

A wheel carries ``arch_configs/`` and ``workloads/`` inside the package as
``accelsim/_data/`` (see ``pyproject.toml``); a source checkout or editable install finds them
at the top of the repository. Names resolve to files here; paths pass through unchanged.

YAML: :func:`read_yaml` is shared by the config, workload, profile and sweep loaders, so every
one of them reports a missing or malformed file the same way, as one line naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from accelsim.errors import AccelsimError, did_you_mean

_PACKAGE = Path(__file__).resolve().parent


def data_dir(kind: str) -> Path:
    """The directory holding shipped ``arch_configs`` or ``workloads``."""
    for candidate in (_PACKAGE / "_data" / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise AccelsimError(f"accelsim installation is missing its {kind}/ directory")


def shipped(kind: str, suffixes: tuple[str, ...] = (".yaml",)) -> dict[str, Path]:
    """Shipped files of a kind, by name (file stem)."""
    return {p.stem: p for p in sorted(data_dir(kind).iterdir()) if p.suffix in suffixes}


SHIPPED_SUFFIXES = (".yaml", ".onnx")
"""What a shipped name may stand for: a YAML file, or a model (a workload with weights)."""


def resolve(kind: str, name_or_path: str | Path, what: str) -> Path:
    """A shipped name (``vgg16``) or an existing file path; otherwise a one-line error with
    the closest shipped name (``resnet`` -> did you mean ``resnet18``), or all of them."""
    path = Path(name_or_path)
    if path.suffix and path.exists():
        return path
    known = shipped(kind)
    if str(name_or_path) in known:
        return known[str(name_or_path)]
    if path.suffix or "/" in str(name_or_path):
        raise AccelsimError(f"{name_or_path}: {what} file not found")
    name = str(name_or_path)
    hint = did_you_mean(name, list(shipped(kind, SHIPPED_SUFFIXES)), list_all=True)
    raise AccelsimError(f"unknown {what} {name!r}{hint}; give a shipped name (accelsim list) "
                        "or a file path")


def read_yaml(path: Path, error: type[AccelsimError] = AccelsimError) -> Any:
    """Parse a YAML file; a missing file, bytes that are not UTF-8 or a syntax error is one
    ``error`` line naming the file (and the line, and the column or byte offset)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except OSError as err:
        raise error(f"{path}: cannot read ({err.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise error(f"{path}: line {line} (byte {err.start}): not UTF-8 text (byte "
                    f"0x{data[err.start]:02x}); YAML files must be UTF-8") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        raise error(f"{path}:{_yaml_problem(err)}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load``, but a mapping that names a key twice is an error (PyYAML keeps
    the last value silently: a config edited by appending a line would run on it unsaid)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                continue   # an unhashable key: the constructor's own error
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml_value(text: str, where: str, error: type[AccelsimError] = AccelsimError) -> Any:
    """One value written on the command line (``--set k=64``, ``--where k=null``), read as
    YAML; text that is not valid YAML (``}``) is one ``error`` line naming ``where``."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise error(f"{where}: value {text!r} is not valid YAML:{_yaml_problem(err)}") from None


def _yaml_problem(err: yaml.YAMLError) -> str:
    """`` line L, column C: malformed YAML: PROBLEM`` of a parser error (one line)."""
    mark = getattr(err, "problem_mark", None)
    where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
    problem = " ".join(str(getattr(err, "problem", None) or "invalid YAML").split())
    return f"{where} malformed YAML: {problem}"
