"""Invariants every shipped core must keep, run over every shipped architecture config.

Adding ``arch_configs/<name>.yaml`` puts a new core under these checks with no edit here.
"""

from __future__ import annotations

import pandas as pd
import pytest

from accelsim import simulate
from accelsim.arch import available_cores
from accelsim.config import load_arch
from accelsim.files import shipped
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors
from tests import reference

TINY = network_from_dict({
    "name": "tiny", "input": [5, 12, 11],
    "layers": [
        {"name": "c1", "kind": "conv", "out_channels": 18, "kernel": 3, "pad": 1, "relu": True},
        {"name": "dw", "kind": "conv", "groups": "depthwise", "kernel": 3, "stride": 2,
         "pad": 1, "relu": True},
        {"name": "pw", "kind": "conv", "out_channels": 18, "kernel": 1},
        {"name": "sum", "kind": "add", "inputs": ["pw", "dw"], "relu": True},
        {"name": "mp", "kind": "pool", "op": "max", "kernel": 2, "stride": 2},
        {"name": "fc", "kind": "fc", "out_channels": 10},
    ]}, "tiny")

CONFIGS = sorted(shipped("arch_configs"))


def test_every_config_names_an_existing_core():
    for name in CONFIGS:
        assert load_arch(name).core in available_cores()


@pytest.mark.parametrize("config", CONFIGS)
def test_core_invariants(config):
    arch = load_arch(config)
    tensors = make_tensors(TINY, 1)
    result = simulate(arch, TINY, tensors=tensors, keep_outputs=True)
    reference.check_outputs(TINY, result, tensors, config)

    layers = result.layers
    mac_columns = [c for c in layers.columns if c.endswith("_mac")]
    assert mac_columns, "a core must count its MACs"
    assert (layers[mac_columns].sum(axis=1) <= layers["macs"]).all()
    assert (layers["cycles"] >= layers["ideal_cycles"]).all()
    assert (layers["utilization"] <= 1).all()
    assert (layers["energy_pj"] > 0).all()
    again = simulate(arch, TINY, tensors=tensors)
    pd.testing.assert_frame_equal(result.layers, again.layers)
