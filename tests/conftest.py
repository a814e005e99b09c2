"""Shared fixtures; puts the repository on sys.path when accelsim is not importable."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

if importlib.util.find_spec("accelsim") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture
def write_yaml(tmp_path):
    """A function (name, mapping or raw text) -> Path writing a YAML file under tmp_path."""

    def write(name: str, content: dict | str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text)
        return path

    return write
