"""Shared fixtures; puts the repository on sys.path when accelsim is not importable; before
a large run, compiles the kernels in a child process (:mod:`tests.warm_kernels`)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("accelsim") is None:
    sys.path.insert(0, str(ROOT))

WARM_UP_FROM = 300
"""Selected tests from which the kernels are compiled first in a child process: the suite's
peak memory (issue 27), not worth the child's few seconds for a handful of tests."""


def pytest_collection_finish(session) -> None:
    if len(session.items) < WARM_UP_FROM or os.environ.get("ACCELSIM_NO_WARM_UP"):
        return
    # the child imports what this process imports (the same accelsim, so the same cache)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*filter(None, sys.path), str(ROOT)]))
    subprocess.run([sys.executable, "-m", "tests.warm_kernels"], env=env, check=False,
                   stdout=subprocess.DEVNULL)


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
