"""Workloads: layer shapes, networks, their loaders and their real tensors."""

from __future__ import annotations

from pathlib import Path

from accelsim.resources import resolve
from accelsim.workload.layer import Layer
from accelsim.workload.network import INPUT, Network
from accelsim.workload.yaml_format import load_yaml_network

__all__ = ["INPUT", "Layer", "Network", "load_network"]


def load_network(name_or_path: str | Path) -> Network:
    """A shipped network by name (``vgg16``) or a network YAML file."""
    if isinstance(name_or_path, Network):
        return name_or_path
    return load_yaml_network(resolve("workloads", name_or_path, "workload"))
