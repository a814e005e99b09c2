"""ONNX handlers for ``LSTM`` and ``GRU``: the node unrolled over its time steps
(:mod:`accelsim.workload.recurrent`), its ``W``, ``R``, ``B`` shared by every step.

A mixin of :class:`~accelsim.workload.formats.onnx_graph.GraphImporter`. Supported: batch 1;
``X`` ``[T, 1, I]`` (``layout`` 1: ``[1, T, I]``) whose every step is one run of a vector's
channels, in order (a ``[1, T*I]`` tensor reshaped, or another LSTM's ``Y``); directions
forward, reverse and bidirectional; ``B`` and constant ``initial_h`` / ``initial_c`` (or
none); a GRU's ``linear_before_reset``; the default activations. Refused, naming the node:
``sequence_lens``, peepholes (``P``), ``clip``, ``input_forget``, other activations, and
initial states that are not constants. ``Y`` (every step's hidden state, ``[T, D, 1, H]``),
``Y_h`` and ``Y_c`` are made when something reads them, as views of the unrolled layers'
vectors.
"""

from __future__ import annotations

import numpy as np

from accelsim.errors import WorkloadError
from accelsim.workload import recurrent
from accelsim.workload.formats.onnx_views import layout

DEFAULT_ACTIVATIONS = {"lstm": ["Sigmoid", "Tanh", "Tanh"], "gru": ["Sigmoid", "Tanh"]}
"""ONNX's default activations per direction: the only ones the unrolled cell computes."""
OUTPUTS = ("Y", "Y_h", "Y_c")


class RecurrentHandlers:
    """Handlers named in ``onnx_graph.HANDLERS``; see the module docstring."""

    def _lstm(self, node):
        self._recurrent(node, "lstm")

    def _gru(self, node):
        self._recurrent(node, "gru")

    def _recurrent(self, node, cell: str) -> None:
        a = self._attrs(node)
        self._refuse_unsupported(node, cell, a)
        x = self._value(node)
        batch_first = bool(a.get("layout", 0))
        steps, size = self._sequence(node, x, batch_first)
        direction = _text(a.get("direction", "forward"))
        if "hidden_size" not in a:
            self._fail("the hidden_size attribute is required")
        hidden, gates = int(a["hidden_size"]), recurrent.GATES[cell]
        dirs = 2 if direction == "bidirectional" else 1
        w, r = (np.asarray(self._const(node, i, n), np.float64) for i, n in ((1, "W"), (2, "R")))
        b = self._const(node, 3, "B", required=False)
        b = np.zeros((dirs, 2 * gates * hidden)) if b is None else np.asarray(b, np.float64)
        states = [self._state(node, i, what) for i, what in ((5, "initial_h"), (6, "initial_c"))]
        for what, array, shape in (("W", w, (dirs, gates * hidden, size)),
                                   ("R", r, (dirs, gates * hidden, hidden)),
                                   ("B", b, (dirs, 2 * gates * hidden)),
                                   *((n, s, (dirs, 1, hidden)) for n, s in
                                     zip(("initial_h", "initial_c"), states, strict=True)
                                     if s is not None)):
            if array.shape != shape:
                self._fail(f"{what} has shape {list(array.shape)}, expected {list(shape)} "
                           f"({dirs} direction(s), hidden_size {hidden}, input size {size})")
        h0, c0 = (None if s is None else s[:, 0] for s in states)
        wanted = [key for key, tensor in zip(OUTPUTS, node.output, strict=False)
                  if tensor and self.uses[tensor] > 0]
        try:
            rec = recurrent.Recurrent(
                name=self._layer_name(node), cell=cell, source=x.layer, input_size=size,
                hidden=hidden, steps=steps, direction=direction,
                linear_before_reset=bool(a.get("linear_before_reset", 0)),
                initial_h=h0 is not None, initial_c=c0 is not None)
        except WorkloadError as err:
            self._fail(str(err).split(": ", 1)[-1])
        unrolled = recurrent.unroll(rec, tuple(wanted))
        weights, biases = unrolled.weights(recurrent.CellWeights(w, r, b, h0, c0))
        for layer in unrolled.layers:
            if layer.name in self.layers:
                self._fail(f"its layer {layer.name!r} would repeat an earlier layer's name")
            self.layers[layer.name] = layer
            self.frames[layer.name] = 0
            if layer.name in weights:
                self.weights[layer.name] = weights[layer.name]
                self.biases[layer.name] = biases[layer.name]
        for key in wanted:
            self._recurrent_output(node, x, OUTPUTS.index(key), unrolled.outputs[key],
                                   steps, dirs, hidden, batch_first)

    def _refuse_unsupported(self, node, cell: str, a: dict) -> None:
        if len(node.input) > 4 and node.input[4]:
            self._fail("sequence_lens is not supported (every sequence runs all its steps)")
        if cell == "lstm" and len(node.input) > 7 and node.input[7]:
            self._fail("peepholes (input P) are not supported")
        if "clip" in a:
            self._fail("the clip attribute (cell clipping) is not supported")
        if a.get("input_forget", 0):
            self._fail("input_forget=1 (coupled input and forget gates) is not supported")
        if "activation_alpha" in a or "activation_beta" in a:
            self._fail("activation_alpha / activation_beta are not supported")
        given = [_text(f) for f in a.get("activations", [])]
        default = DEFAULT_ACTIVATIONS[cell]
        if given and given not in (default, default * 2):
            self._fail(f"activations {given} are not supported (only the default "
                       f"{default} per direction)")

    def _sequence(self, node, x, batch_first: bool) -> tuple[int, int]:
        """``X``'s steps and input size, checked: each step one run of a vector's channels."""
        index = self._index(x)
        if index.ndim != 3 or index.shape[1 - batch_first] != 1:
            self._fail(f"X of shape {list(index.shape)}: expected "
                       f"{'[1, T, I]' if batch_first else '[T, 1, I]'} (batch 1)")
        steps = index[0] if batch_first else index[:, 0]
        if x.shape != (steps.size, 1, 1) or not np.array_equal(steps.ravel(),
                                                               np.arange(steps.size)):
            self._fail(f"X must hold its {steps.shape[0]} steps one after another in the "
                       f"channels of a vector (a [1, T*I] tensor reshaped); it is a view of "
                       f"a {'x'.join(map(str, x.shape))} feature map in another order")
        return steps.shape

    def _state(self, node, index: int, what: str) -> np.ndarray | None:
        """A constant initial state, or None when absent or all zeros."""
        name = node.input[index] if index < len(node.input) else ""
        if name and name not in self.consts:
            self._fail(f"{what} ({name!r}) must be a constant initializer (a state computed "
                       "by the graph is not supported)")
        state = self._const(node, index, what, required=False)
        return None if state is None or not np.any(state) else np.asarray(state, np.float64)

    def _recurrent_output(self, node, x, output: int, layer: str, steps: int, dirs: int,
                          hidden: int, batch_first: bool) -> None:
        """``Y`` (output 0), ``Y_h`` or ``Y_c``: the layer's vector in ONNX's shape."""
        leading = [steps, dirs] if output == 0 else [dirs]   # the batch of 1 first or third
        shape = [1, *leading, hidden] if batch_first else [*leading, 1, hidden]
        channels = int(np.prod(shape))
        index = np.arange(channels).reshape(shape)   # time-major, then direction: as ours
        value = type(x)(layer, (channels, 1, 1), path=(node.output[output],),
                        **layout(index, (channels, 1, 1)))
        self._produce(node.output[output], value)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
