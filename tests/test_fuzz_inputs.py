"""Generated inputs, valid and not: network YAMLs, ``--set`` overrides, SCALE-Sim topology
rows and small ONNX graphs. Every case ends either in a run whose result keeps its
invariants (cycles >= ideal cycles, utilization <= 1) or in an AccelsimError; any other
exception (a traceback) fails, and hypothesis prints the input that caused it.

Cases are tiny (a few layers, feature maps up to 16 x 16) and derandomized, so CI is
reproducible; numba runs on one thread here, since thread start-up dominates such small
kernels."""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path

import numba
import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from onnx import helper, numpy_helper

import accelsim
from accelsim.cli_config import parse_overrides
from accelsim.config import load_arch, with_overrides
from accelsim.errors import AccelsimError, ConfigError
from accelsim.workload import load_tensors
from accelsim.workload.formats.onnx_model import import_onnx
from accelsim.workload.formats.topology_csv import load_topology, load_topology_csv
from accelsim.workload.formats.yaml_network import KIND_KEYS, network_from_dict
from accelsim.workload.layer import ACT_FUNCTIONS, ELTWISE_FUNCTIONS, POOL_OPS
from tests.input_helpers import unchecked_model

SCALE = float(os.environ.get("ACCELSIM_FUZZ_SCALE", "1"))
"""Multiplies every family's case count: ``benchmarks/fuzz_campaign.py`` runs these same
properties on a thousand new cases, outside the suite (random, its seed printed)."""
SETTINGS = dict(deadline=None, derandomize=os.environ.get("ACCELSIM_FUZZ_RANDOM") != "1",
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def examples(count: int) -> int:
    return max(1, round(count * SCALE))
ARCHS = ("diannao", "cnvlutin", "eyeriss", "scnn", "sparten", "phantom2d", "systolic",
         "eyeriss_v2")
TINY = {"name": "tiny", "input": [2, 6, 6], "layers": [
    {"name": "c", "kind": "conv", "out_channels": 4, "kernel": 3, "pad": 1, "relu": True},
    {"name": "p", "kind": "pool", "op": "max", "kernel": 2, "stride": 2},
    {"name": "f", "kind": "fc", "out_channels": 3}]}
_names = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def one_numba_thread():
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(threads)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """One directory for the generated files (module-scoped: hypothesis reruns a test many
    times, so every file gets a new name)."""
    return tmp_path_factory.mktemp("fuzz")


def ends_well(run) -> None:
    """``run()`` returns a Result that keeps its invariants, or raises an AccelsimError
    whose lines are problems (a ConfigError lists several, one a line; others are one)."""
    try:
        result = run()
    except AccelsimError as err:
        text = str(err)
        assert text.strip() and "Traceback" not in text
        assert isinstance(err, ConfigError) or "\n" not in text, text
        event(f"refused: {type(err).__name__}")   # --hypothesis-show-statistics
        return
    event("ran")
    layers = result.layers
    assert (layers["cycles"] >= layers["ideal_cycles"]).all(), layers
    assert (layers["utilization"] <= 1 + 1e-12).all(), layers


# ---- network YAMLs ---------------------------------------------------------------------------

GOOD = {   # values a layer of a fitting kind takes
    "out_channels": st.integers(1, 6), "kernel": st.integers(1, 3), "stride": st.integers(1, 2),
    "pad": st.integers(0, 1), "groups": st.sampled_from([1, "depthwise"]),
    "relu": st.booleans(), "alpha": st.floats(-1, 1), "beta": st.floats(0, 6),
}
BAD = {   # wrong types, ranges and shapes
    "out_channels": st.sampled_from([0, -1, 10 ** 10, "x"]),   # 10**10: refused on any machine
    "kernel": st.one_of(st.integers(0, 40), st.lists(st.integers(0, 5), max_size=3)),
    "stride": st.sampled_from([0, [1, 2], "2"]), "pad": st.sampled_from([-1, [0, 1, 2], 9]),
    "groups": st.integers(0, 4), "relu": st.just("yes"), "op": st.just("bogus"),
    "alpha": st.sampled_from([math.nan, math.inf, "a"]), "beta": st.just(math.inf),
}
OPS = {"pool": POOL_OPS, "act": tuple(ACT_FUNCTIONS), "eltwise": ELTWISE_FUNCTIONS}
KINDS = [*KIND_KEYS, "bogus"]


def _rarely(draw, good, bad):
    """``bad`` one time in eight, else ``good`` (shrinking towards ``good``)."""
    return draw(good) if draw(st.sampled_from([True] * 7 + [False])) else draw(bad)


@st.composite
def network_yaml(draw) -> dict:
    """A network mapping of 1-4 layers, each with its kind's keys (sometimes another's) and
    fitting values (sometimes not), reading earlier layers."""
    shape = _rarely(draw, st.tuples(st.integers(1, 4), st.integers(1, 16),
                                    st.integers(1, 16)).map(list),
                    st.sampled_from([[3, 0, 8], "3,8,8", [2, 8]]))
    layers, names = [], ["input"]
    for index in range(draw(st.integers(1, 4))):
        kind = _rarely(draw, st.sampled_from(list(KIND_KEYS)), st.sampled_from(KINDS))
        layer = {"name": f"l{index}", "kind": kind}
        keys = [k for k in KIND_KEYS.get(kind, ()) if k not in ("op", "out_channels")]
        chosen = draw(st.lists(st.sampled_from(keys or ["relu"]), max_size=3, unique=True))
        if kind in ("conv", "fc"):
            chosen.append("out_channels")
        chosen += _rarely(draw, st.just([]), st.lists(st.sampled_from(sorted(BAD)), max_size=1))
        for key in chosen:
            layer[key] = _rarely(draw, GOOD.get(key, BAD[key]), BAD[key])
        if kind in OPS:
            layer["op"] = _rarely(draw, st.sampled_from(OPS[kind]), BAD["op"])
        count = {"add": 2, "eltwise": 2, "concat": draw(st.integers(2, 3))}.get(kind, 1)
        if count > 1 or _rarely(draw, st.just(False), st.just(True)):
            layer["inputs"] = draw(st.lists(st.sampled_from(names), min_size=count,
                                            max_size=count))
            layer["inputs"] += _rarely(draw, st.just([]), st.just(["nope"]))
        layers.append(layer)
        names.append(layer["name"])
    return {"name": "fuzz", "input": shape, "layers": layers}


@settings(max_examples=examples(120), **SETTINGS)
@given(data=network_yaml(), arch=st.sampled_from(ARCHS))
def test_generated_network_yamls(data, arch):
    ends_well(lambda: accelsim.simulate(arch, network_from_dict(data, "fuzz.yaml")))


# ---- --set overrides -------------------------------------------------------------------------

def _leaves(value, prefix="") -> dict:
    """Dotted key -> value of every leaf of a config mapping."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _leaves(item, f"{prefix}{key}.")
                .items()}
    return {prefix[:-1]: value}


ARCH_VALUES = {name: _leaves(load_arch(name).to_dict()) for name in ARCHS}
BAD_TEXT = st.sampled_from(["-1", "0", "99999999999999", "1.0e+300", ".nan", ".inf", "null",
                            "true", "'x'", "[1, 2]", "{a: 1}", "}", "[", ""])


def _near(value) -> st.SearchStrategy:
    """YAML text of values like ``value`` (same type, nearby size)."""
    if isinstance(value, bool):
        return st.sampled_from(["true", "false"])
    if isinstance(value, int):
        return st.sampled_from(sorted({1, 2, max(value // 2, 1), value, value + 1, 2 * value}))
    if isinstance(value, float):
        return st.sampled_from([value / 2, value, 2 * value, 1.0]).map(repr)
    if value is None:
        return st.sampled_from(["null", "16"])
    return st.sampled_from([str(value), "fp32", "fixed16", "os", "ws", "is"])


@st.composite
def overrides(draw) -> tuple[str, list[str]]:
    arch = draw(st.sampled_from(ARCHS))
    known = ARCH_VALUES[arch]
    pairs = []
    for _ in range(draw(st.integers(1, 3))):
        key = _rarely(draw, st.sampled_from(sorted(known)),
                      st.sampled_from(["dram.nope", "buffers", "core_params.x.y", "name.z"]))
        pairs.append(f"{key}={_rarely(draw, _near(known.get(key)), BAD_TEXT)}")
    return arch, pairs


@settings(max_examples=examples(80), **SETTINGS)
@given(case=overrides())
def test_generated_set_overrides(case):
    arch, pairs = case
    tiny = network_from_dict(TINY, "tiny.yaml")
    ends_well(lambda: accelsim.simulate(
        with_overrides(load_arch(arch), parse_overrides(pairs)), tiny))


# ---- SCALE-Sim topology rows -----------------------------------------------------------------

HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
          "Num Filter, Strides,")


@st.composite
def topology(draw) -> tuple[str, str]:
    """A padding mode and 1-4 rows, each reading the one before (sometimes not), with a
    cell now and then that is no size at all."""
    padding = draw(st.sampled_from(["same", "valid"]))
    channels, size, rows = draw(st.integers(1, 4)), draw(st.integers(1, 16)), []
    for index in range(draw(st.integers(1, 4))):
        kernel = draw(st.integers(1, min(size, 3)))
        stride, filters = draw(st.integers(1, 2)), draw(st.integers(1, 8))
        cells = [str(_rarely(draw, st.just(v), st.sampled_from([0, 17, "x", "-2", "3.5", ""])))
                 for v in (size, size, kernel, kernel, channels, filters, stride)]
        name = draw(st.sampled_from(["Conv", "DP", "conv_dw", "FC"])) + str(index)
        rows.append(", ".join([name, *cells]) + _rarely(draw, st.just(","), st.just("")))
        size = -(-size // stride) if padding == "same" else (size - kernel) // stride + 1
        channels = filters
    return padding, "\n".join([HEADER, *rows]) + "\n"


@settings(max_examples=examples(60), **SETTINGS)
@given(case=topology(), arch=st.sampled_from(["systolic", "diannao", "eyeriss"]))
def test_generated_topology_rows(scratch, case, arch):
    padding, text = case
    path = scratch / f"topology{next(_names)}.csv"
    path.write_text(text)
    # the rows read each other (chain mode); and each row alone, as SCALE-Sim runs a file
    ends_well(lambda: accelsim.simulate(arch, load_topology_csv(path, padding=padding,
                                                                chain=True)))
    ends_well(lambda: [accelsim.simulate(arch, row)   # each run checks its invariants
                       for row in load_topology(path, padding=padding)][-1])


# ---- small ONNX graphs -----------------------------------------------------------------------

CONSTANT = st.sampled_from([0.1, -0.5, 1e-3, 0.0, 1e30, math.nan, math.inf])


@st.composite
def onnx_graph(draw) -> onnx.ModelProto:
    """x -> 1-4 nodes (Conv, Relu, pools, BatchNormalization, Add / Mul of a constant, or
    Flatten + Gemm last), random attributes and constants (some impossible)."""
    channels, size = draw(st.integers(1, 3)), draw(st.integers(3, 12))
    shape, nodes, inits, x = [1, channels, size, size], [], [], "x"

    def const(array) -> str:
        name = f"k{len(inits)}"
        inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def filled(dims) -> np.ndarray:
        rng = np.random.default_rng(draw(st.integers(0, 9)))
        array = rng.normal(0, 0.5, dims)
        if draw(st.integers(0, 7)) == 0:
            array.flat[0] = draw(CONSTANT)
        return array

    for index in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["Conv", "Relu", "MaxPool", "AveragePool",
                                   "BatchNormalization", "Add", "Mul", "Gemm"]))
        attrs, inputs = {}, [x]
        if op == "Conv":
            out, kernel = draw(st.integers(1, 4)), draw(st.integers(1, 3))
            inputs += [const(filled((out, channels, kernel, kernel))), const(filled(out))]
            attrs = draw(st.fixed_dictionaries({}, optional={
                "strides": st.just([2, 2]), "pads": st.sampled_from([[1, 1, 1, 1], [0, 1]]),
                "auto_pad": st.sampled_from(["SAME_UPPER", "VALID", "BAD"]),
                "kernel_shape": st.sampled_from([[kernel, kernel], [5, 5]])}))
            channels, size = out, _out_size(size, kernel, attrs)
        elif op in ("MaxPool", "AveragePool"):
            attrs = {"kernel_shape": [2, 2], "strides": draw(st.sampled_from([[1, 1], [2, 2]]))}
            size = _out_size(size, 2, attrs)
        elif op == "BatchNormalization":
            inputs += [const(filled(channels)) for _ in range(3)]
            inputs.append(const(np.abs(filled(channels)) * draw(st.sampled_from([1, -1]))))
        elif op in ("Add", "Mul"):
            inputs.append(const(filled((channels, 1, 1))))
        elif op == "Gemm":
            nodes.append(helper.make_node("Flatten", [x], [f"flat{index}"], name=f"flat{index}"))
            k = channels * size * size
            inputs = [f"flat{index}", const(filled((k, 5))), const(filled(5))]
        nodes.append(helper.make_node(op, inputs, [f"y{index}"], name=f"n{index}", **attrs))
        x = f"y{index}"
        if op == "Gemm":
            break
    opset = draw(st.sampled_from([13, 13, 13, 11, 99]))
    return unchecked_model(nodes, inits, shape, x, opset)


def _out_size(size: int, kernel: int, attrs: dict) -> int:
    """H (= W) after a window (the model may still be invalid: then it does not matter)."""
    stride = attrs.get("strides", [1])[0]
    if attrs.get("auto_pad", "").startswith("SAME"):
        return -(-size // stride)
    return (size + sum(attrs.get("pads", [0, 0, 0, 0])[::2]) - kernel) // stride + 1


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # folding NaN / inf statistics
@settings(max_examples=examples(60), **SETTINGS)
@given(model=onnx_graph(), arch=st.sampled_from(["diannao", "systolic", "eyeriss"]))
def test_generated_onnx_graphs(scratch, model, arch):
    path = scratch / f"model{next(_names)}.onnx"   # a new name: imports are cached by file
    onnx.save(model, str(path))

    def run():
        network = import_onnx(path).network
        return accelsim.simulate(arch, network, tensors=load_tensors(network))
    ends_well(run)
