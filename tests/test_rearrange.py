"""Data-layout kinds (slice, shuffle, upsample): values moved exactly, no unit's time."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim import simulate
from accelsim.config import load_arch
from accelsim.errors import WorkloadError
from accelsim.files import shipped
from accelsim.workload.forward import forward
from accelsim.workload.layer import Layer
from accelsim.workload.network import Network
from accelsim.workload.tensors import make_tensors
from tests import reference


def _network() -> Network:
    """conv -> channel slice -> shuffle -> nearest upsample -> conv -> zero-insert -> conv
    (a transposed convolution as a core runs it) -> concat with the slice's other half."""
    layers = [
        Layer("c1", "conv", 6, 5, 4, 8, 3, 3, pad=(1, 1, 1, 1), relu=True, inputs=("input",)),
        Layer("lo", "slice", 8, 5, 4, 4, offset=0, inputs=("c1",)),
        Layer("hi", "slice", 8, 5, 4, 4, offset=4, inputs=("c1",)),
        Layer("mix", "shuffle", 4, 5, 4, 4, groups=2, inputs=("hi",)),
        Layer("up", "upsample", 4, 5, 4, 4, function="nearest", scale=(2, 3),
              inputs=("mix",)),
        Layer("c2", "conv", 4, 10, 12, 4, 3, 3, stride=(2, 3), pad=(1, 1, 1, 1),
              inputs=("up",)),
        Layer("gaps", "upsample", 4, 5, 4, 4, function="zeros", scale=(2, 2),
              inputs=("lo",)),
        Layer("c3", "conv", 4, 9, 7, 4, 4, 3, pad=(1, 1, 2, 1), inputs=("gaps",)),
        Layer("pool", "pool", 4, 9, 7, 4, 2, 2, stride=(2, 2), pool_op="max",
              pad=(0, 0, 1, 1), inputs=("c3",)),
        Layer("cat", "concat", 8, 5, 4, 8, inputs=("pool", "c2")),
    ]
    return Network("rearrange", (6, 5, 4), tuple(layers))


NETWORK = _network()


@pytest.mark.parametrize("config", sorted(shipped("arch_configs")))
def test_layout_layers_move_values_exactly_on_every_config(config):
    tensors = make_tensors(NETWORK, 4)
    result = simulate(load_arch(config), NETWORK, tensors=tensors, keep_outputs=True)
    reference.check_outputs(NETWORK, result, tensors, config)

    rows = result.layers.set_index("layer")
    moved = ["lo", "hi", "mix", "up", "gaps", "cat"]
    assert (rows.loc[moved, "ran_on"] == "layout").all()
    assert (rows.loc[moved, ["cycles", "dram_bytes", "energy_pj", "ops"]] == 0).all().all()


def test_the_reference_shapes_and_the_float_pass_agree():
    tensors = make_tensors(NETWORK, 1)
    outputs = dict((layer.name, out) for layer, out in forward(NETWORK, tensors))
    assert outputs["up"].shape == (4, 10, 12) and outputs["gaps"].shape == (4, 9, 7)
    np.testing.assert_array_equal(outputs["gaps"][:, ::2, ::2], outputs["lo"])
    assert not outputs["gaps"][:, 1::2].any() and not outputs["gaps"][:, :, 1::2].any()
    hi = outputs["hi"]   # shuffle in 2 groups of 2: channels 0, 2, 1, 3
    np.testing.assert_array_equal(outputs["mix"], hi[[0, 2, 1, 3]])


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(kind="slice", out_channels=4, offset=6), "channels 6..9 are not all"),
    (dict(kind="slice", out_channels=2, offset=1, relu=True), "fuses no ReLU"),
    (dict(kind="shuffle", out_channels=8, groups=3), "must be >= 2 and divide 8"),
    (dict(kind="upsample", out_channels=8, function="bilinear"), "function must be one of"),
    (dict(kind="upsample", out_channels=8, function="zeros", scale=(0, 2)), "scale must be"),
    (dict(kind="conv", out_channels=8, offset=2), "takes no offset or scale"),
])
def test_bad_layout_layers_are_refused(kwargs, message):
    with pytest.raises(WorkloadError, match=message):
        Layer("x", in_channels=8, in_h=4, in_w=4, inputs=("input",), **kwargs)
