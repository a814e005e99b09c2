"""Workloads the sparse-accelerator tests share: one-conv networks and the pruned zoo networks
of the Phantom comparison (VGG-16 to Han et al.'s per-layer densities, MobileNet v1 to 40 %
per layer), whose tensors are made once per test session."""

from __future__ import annotations

import functools

from accelsim.workload import load_network
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors
from accelsim.workload.transforms import apply_transforms

PRUNE = {"vgg16": [{"kind": "prune", "profile": "vgg16_han2015"}],
         "mobilenet_v1": [{"kind": "prune", "density": 0.4, "scope": "layer"}]}


def one_conv(kernel=3, channels=8, filters=12, size=10, stride=1, pad=None):
    """A network of one conv layer (``pad`` default: same padding)."""
    return network_from_dict({
        "name": "one", "input": [channels, size, size],
        "layers": [{"name": "conv", "kind": "conv", "out_channels": filters,
                    "kernel": kernel, "pad": kernel // 2 if pad is None else pad,
                    "stride": stride}]}, "one")


@functools.lru_cache(maxsize=1)
def pruned_network(name: str):
    """``(network, tensors)``: zoo network ``name`` with seed-0 tensors pruned as PRUNE says.
    Shared, so treat the tensors as read-only. Only the last one is kept: pruned VGG-16's
    tensors are 0.55 GB, and a module's tests take the networks one after the other, so a
    session cache of both would sit under every later test (the suite's peak memory)."""
    network = load_network(name)
    return network, apply_transforms(network, make_tensors(network, 0), PRUNE[name])
