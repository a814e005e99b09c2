"""Change detector for speed work: every shipped config's per-layer table on a small network,
bit for bit, against a stored run.

A golden file is only a change detector (never instead of the reference checks in
``tests/test_cores.py``): the stored tables were made by the code *before* the speed work of
issue 22, so an optimisation that changes any output value, count, cycle or column (name,
dtype or value) fails here. Each config's table, plus a SHA-256 of every layer's output
tensor, is stored in ``tests/data/speed_golden/<config>.parquet``.

Regenerate only when a behaviour change is intended (and say so in the commit):

    ACCELSIM_REGENERATE_GOLDEN=1 python -m pytest tests/test_speed_golden.py
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accelsim import simulate
from accelsim.config import load_arch
from accelsim.files import shipped
from accelsim.fixedpoint import Fixed
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors

DATA = Path(__file__).resolve().parent / "data" / "speed_golden"
REGENERATE = os.environ.get("ACCELSIM_REGENERATE_GOLDEN") == "1"
CONFIGS = sorted(shipped("arch_configs"))

NETWORK = network_from_dict({
    "name": "golden", "input": [3, 20, 20],
    "layers": [
        {"name": "c1", "kind": "conv", "out_channels": 16, "kernel": 3, "pad": 1, "relu": True},
        {"name": "p1", "kind": "pool", "op": "max", "kernel": 2, "stride": 2},
        {"name": "c2", "kind": "conv", "out_channels": 16, "kernel": 3, "pad": 1, "relu": True},
        {"name": "c3", "kind": "conv", "out_channels": 16, "kernel": 3, "pad": 1},
        {"name": "res", "kind": "add", "inputs": ["c3", "p1"], "relu": True},
        {"name": "c4", "kind": "conv", "out_channels": 24, "kernel": 3, "stride": 2,
         "relu": True},
        {"name": "c5", "kind": "conv", "out_channels": 24, "kernel": 1, "relu": True},
        {"name": "p2", "kind": "pool", "op": "avg", "kernel": 2, "stride": 2},
        {"name": "fc1", "kind": "fc", "out_channels": 32, "relu": True},
        {"name": "fc2", "kind": "fc", "out_channels": 10},
    ]}, "golden")
PRUNED = {"c2": 0.5, "c3": 0.3, "c4": 0.7, "c5": 0.5, "fc1": 0.8}
"""Fraction of each layer's smallest weights set to zero, so the weight-skipping paths run."""


def golden_tensors():
    tensors = make_tensors(NETWORK, 3)
    for name, fraction in PRUNED.items():
        w = tensors.weights[name]
        w[np.abs(w) < np.quantile(np.abs(w), fraction)] = 0.0
    return tensors


def digest(output) -> str:
    """SHA-256 of an output's codes, dtype, shape (and fractional bits, if fixed point)."""
    array = np.ascontiguousarray(getattr(output, "q", output))
    assert array.dtype != object
    head = f"{array.dtype.str} {array.shape} {getattr(output, 'frac', '')}".encode()
    return hashlib.sha256(head + array.tobytes()).hexdigest()


def table(config: str) -> pd.DataFrame:
    """The config's per-layer table, plus the digest of each layer's output."""
    result = simulate(load_arch(config), NETWORK, tensors=golden_tensors(), keep_outputs=True)
    layers = result.layers.reset_index(drop=True).copy()
    layers["output_sha256"] = [digest(result.outputs[name]) for name in layers["layer"]]
    return layers


@pytest.mark.parametrize("config", CONFIGS)
def test_table_is_unchanged(config):
    path = DATA / f"{config}.parquet"
    now = table(config)
    if REGENERATE:
        DATA.mkdir(parents=True, exist_ok=True)
        now.to_parquet(path, index=False)
    stored = pd.read_parquet(path)
    assert list(now.columns) == list(stored.columns)
    assert list(now.dtypes) == list(stored.dtypes)
    pd.testing.assert_frame_equal(now, stored, check_exact=True)


def test_the_digest_sees_values_and_frac():
    q = np.arange(6, dtype=np.int16).reshape(1, 2, 3)
    assert digest(q) == digest(q.copy())
    changed = q.copy()
    changed[0, 1, 2] += 1
    assert digest(changed) != digest(q)
    assert digest(Fixed(q, 8)) != digest(Fixed(q, 9))


def test_the_detector_can_fail():
    stored = pd.read_parquet(DATA / f"{CONFIGS[0]}.parquet")
    changed = stored.copy()
    changed.loc[0, "cycles"] += 1
    with pytest.raises(AssertionError):
        pd.testing.assert_frame_equal(changed, stored, check_exact=True)
