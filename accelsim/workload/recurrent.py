"""Recurrent layers (LSTM, GRU) unrolled over their time steps into the kinds cores run.

An LSTM or GRU is no layer kind of its own: :func:`unroll` writes it as the layers of every
step, named ``<name>.t<step>.<part>`` (``lstm1.t3.gates``; ``<name>.fwd`` / ``<name>.bwd``
before the step when bidirectional), so the layer table shows each step's work. The
sequence is a vector ``T*I x 1 x 1`` whose channels are the steps' inputs one after the
other (ONNX's ``X [T, 1, I]`` flattened); step ``t``'s input is a ``slice`` of it.

Per step, the gates are ONE fc on ``[x_t; h_{t-1}]`` (a ``concat``, a layout step), weights
``[W | R]`` and bias ``Wb + Rb``: EIE's formulation of NeuralTalk's LSTM (Han et al., ISCA
2016, Table III: NT-LSTM, 1201 x 2400), one matrix-vector product per step instead of two
plus an add, the same MACs. The first step, whose ``h_0`` is zero or a constant, reads
``x_1`` only (``R h_0`` joins the bias). The gate functions are ``act`` layers (sigmoid on
i, o, f together, tanh on the candidate), on the core's activation unit or the host as every
act layer; the cell and hidden updates are ``eltwise`` mul / sub and ``add`` layers; a
product with a constant (``f * c_0``) is a depthwise 1x1 conv. Gate order is ONNX's: i, o,
f, c for the LSTM, z, r, h for the GRU (opset 14 semantics, no peepholes, no clip)::

    LSTM: [i; o; f] = sigmoid(..), g = tanh(..), c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t)
    GRU:  [z; r] = sigmoid(W_zr x_t + R_zr h_{t-1} + b), h_t = n + z * (h_{t-1} - n),
          n = tanh(W_n x_t + R_n (r * h_{t-1}) + b_n)          (linear_before_reset 0:
                                                                 one fc on [x_t; r * h_{t-1}])
          n = tanh(W_n x_t + Wb_n + r * (R_n h_{t-1} + Rb_n))  (linear_before_reset 1: two fcs)

The output is the hidden state of every step, ``T*D*H x 1 x 1`` time-major (ONNX's ``Y``: a
concat named ``<name>``); the last step's hidden and cell states are ``Y_h`` and ``Y_c``.

Values. :meth:`Unrolled.weights` derives each step's matrices from ONNX's ``W``, ``R``,
``B``, so an imported model's steps share them, as in the cell. A network YAML has no
weights: its seeded or calibrated values are drawn per layer name
(:mod:`accelsim.workload.tensors`), so each step's fc gets a draw of its own; such a run has
the cell's shapes, MACs and dataflow, not one cell's values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from accelsim.errors import WorkloadError
from accelsim.workload.layer import Layer

GATES = {"lstm": 4, "gru": 3}
"""Gates per cell: the rows of ONNX's W and R are gates x hidden."""
DIRECTIONS = ("forward", "reverse", "bidirectional")
MAX_STEPS = 4096
"""Most time steps unrolled: each is 10 to 20 layers, and a network of more than about 60,000
layers is no longer a simulation one waits for."""
YAML_KEYS = ("name", "kind", "inputs", "hidden", "steps", "direction", "linear_before_reset")
"""The keys of an ``lstm`` / ``gru`` layer in a network YAML."""


@dataclass(frozen=True)
class Recurrent:
    """One LSTM or GRU layer before unrolling; ``initial_h`` / ``initial_c``: a non-zero
    constant initial state is given (else zero)."""

    name: str
    cell: str
    source: str
    input_size: int
    hidden: int
    steps: int
    direction: str = "forward"
    linear_before_reset: bool = False
    initial_h: bool = False
    initial_c: bool = False

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise WorkloadError(f"layer {self.name!r}: {problem}")

    def _problem(self) -> str | None:
        if self.cell not in GATES:
            return f"cell {self.cell!r} is not one of {', '.join(GATES)}"
        for key in ("input_size", "hidden", "steps"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                return f"{key} must be an integer >= 1, got {value!r}"
        if self.steps > MAX_STEPS:
            return f"{self.steps} time steps: at most {MAX_STEPS} are unrolled"
        if self.direction not in DIRECTIONS:
            return f"direction must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}"
        if self.linear_before_reset and self.cell != "gru":
            return "linear_before_reset is a GRU's"
        if self.initial_c and self.cell != "lstm":
            return "an initial cell state is an LSTM's"
        return None

    @property
    def directions(self) -> int:
        return 2 if self.direction == "bidirectional" else 1


@dataclass(frozen=True)
class CellWeights:
    """ONNX's parameters of an LSTM / GRU: ``w`` ``[D, G*H, I]``, ``r`` ``[D, G*H, H]``, ``b``
    ``[D, 2*G*H]`` (input biases, then recurrence biases), ``h0`` / ``c0`` ``[D, H]`` or None."""

    w: np.ndarray
    r: np.ndarray
    b: np.ndarray
    h0: np.ndarray | None = None
    c0: np.ndarray | None = None


Maker = Callable[[CellWeights], tuple[np.ndarray, np.ndarray]]


@dataclass
class Unrolled:
    """The layers of every step, the names of the ONNX outputs they make (``Y``, ``Y_h``,
    ``Y_c``) and, per weighted layer, how its weights come from the cell's."""

    layers: list[Layer] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    makers: dict[str, Maker] = field(default_factory=dict)

    def weights(self, cell: CellWeights) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Each weighted layer's float32 weights (``M x C x 1 x 1``) and biases."""
        made = {name: make(cell) for name, make in self.makers.items()}
        return ({n: np.ascontiguousarray(w, np.float32) for n, (w, _) in made.items()},
                {n: np.ascontiguousarray(b, np.float32) for n, (_, b) in made.items()})


class _Builder:
    """Appends the layers of one recurrent layer, tracking each one's channels."""

    def __init__(self, rec: Recurrent) -> None:
        self.rec, self.out = rec, Unrolled()
        self.channels = {rec.source: rec.steps * rec.input_size}

    def _add(self, name: str, kind: str, inputs: tuple[str, ...], out: int,
             maker: Maker | None = None, **fields) -> str:
        channels = [self.channels[i] for i in inputs]
        cin = sum(channels) if kind == "concat" else channels[0]
        self.out.layers.append(Layer(name=name, kind=kind, in_channels=cin, in_h=1, in_w=1,
                                     out_channels=out, inputs=inputs, **fields))
        self.channels[name] = out
        if maker is not None:
            self.out.makers[name] = maker
        return name

    def fc(self, name: str, source: str, out: int, maker: Maker) -> str:
        return self._add(name, "fc", (source,), out, maker)

    def scale(self, name: str, source: str, maker: Maker) -> str:
        """``source * weights + bias`` per channel (a constant operand): depthwise 1x1 conv."""
        c = self.channels[source]
        return self._add(name, "conv", (source,), c, maker, groups=c)

    def slice(self, name: str, source: str, offset: int, count: int) -> str:
        return self._add(name, "slice", (source,), count, offset=offset)

    def concat(self, name: str, sources: list[str]) -> str:
        return self._add(name, "concat", tuple(sources), sum(self.channels[s] for s in sources))

    def act(self, name: str, source: str, function: str) -> str:
        return self._add(name, "act", (source,), self.channels[source], function=function)

    def eltwise(self, name: str, a: str, b: str, function: str) -> str:
        return self._add(name, "eltwise", (a, b), self.channels[a], function=function)

    def add(self, name: str, a: str, b: str) -> str:
        return self._add(name, "add", (a, b), self.channels[a])


def _matrix(d: int, rows: slice, x: bool, h: bool, biases: str = "wr",
            state: bool = False) -> Maker:
    """An fc's weights: the gate ``rows`` of ``W`` (reading x) then ``R`` (reading h), and
    bias ``Wb`` / ``Rb`` of those rows as ``biases`` says, plus ``R h_0`` when ``state``."""
    def make(cell: CellWeights) -> tuple[np.ndarray, np.ndarray]:
        gh = cell.w.shape[1]
        parts = [m[d, rows] for m, used in ((cell.w, x), (cell.r, h)) if used]
        bias = sum((cell.b[d, offset:offset + gh][rows] for key, offset in
                    (("w", 0), ("r", gh)) if key in biases), np.zeros(rows.stop - rows.start))
        if state and cell.h0 is not None:
            bias = bias + cell.r[d, rows] @ cell.h0[d]
        matrix = np.concatenate(parts, axis=1).astype(np.float64)
        return matrix[:, :, None, None], bias
    return make


def _scaled(values: Callable[[CellWeights], np.ndarray],
            offsets: Callable[[CellWeights], np.ndarray] | None = None) -> Maker:
    """A depthwise 1x1 conv's weights ``values`` (one per channel) and bias ``offsets``."""
    def make(cell: CellWeights) -> tuple[np.ndarray, np.ndarray]:
        gain = np.asarray(values(cell), dtype=np.float64)
        bias = np.zeros(gain.size) if offsets is None else offsets(cell)
        return gain.reshape(-1, 1, 1, 1), bias
    return make


def _lstm_step(b: _Builder, d: int, s: str, x: str, h: str | None, c: str | None):
    rec, n = b.rec, b.rec.hidden
    every = slice(0, 4 * n)
    if h is None:   # h_0 zero or constant: R h_0 joins the bias
        gates = b.fc(f"{s}.gates", x, 4 * n, _matrix(d, every, True, False, state=True))
    else:
        gates = b.fc(f"{s}.gates", b.concat(f"{s}.xh", [x, h]), 4 * n,
                     _matrix(d, every, True, True))
    sig = b.act(f"{s}.iof.sigmoid", b.slice(f"{s}.iof", gates, 0, 3 * n), "sigmoid")
    g = b.act(f"{s}.g.tanh", b.slice(f"{s}.g", gates, 3 * n, n), "tanh")
    i, o = b.slice(f"{s}.i", sig, 0, n), b.slice(f"{s}.o", sig, n, n)
    if c is None and not rec.initial_c:   # c_0 = 0: c_1 = i * g
        c = b.eltwise(f"{s}.c", i, g, "mul")
    else:
        f = b.slice(f"{s}.f", sig, 2 * n, n)
        kept = (b.scale(f"{s}.f_c", f, _scaled(lambda cell: cell.c0[d])) if c is None
                else b.eltwise(f"{s}.f_c", f, c, "mul"))
        c = b.add(f"{s}.c", kept, b.eltwise(f"{s}.i_g", i, g, "mul"))
    h = b.eltwise(f"{s}.h", o, b.act(f"{s}.c.tanh", c, "tanh"), "mul")
    return h, c


def _gru_candidate(b: _Builder, d: int, s: str, x: str, h: str | None, r: str) -> str:
    """The candidate's pre-activation ``n`` (see the module docstring)."""
    rec, n = b.rec, b.rec.hidden
    rows = slice(2 * n, 3 * n)
    h0 = rec.initial_h
    if not rec.linear_before_reset:
        if h is None and not h0:   # R_n (r * 0) = 0
            return b.fc(f"{s}.n", x, n, _matrix(d, rows, True, False))
        r_h = (b.scale(f"{s}.r_h", r, _scaled(lambda cell: cell.h0[d])) if h is None
               else b.eltwise(f"{s}.r_h", r, h, "mul"))
        return b.fc(f"{s}.n", b.concat(f"{s}.xrh", [x, r_h]), n, _matrix(d, rows, True, True))
    n_x = b.fc(f"{s}.n_x", x, n, _matrix(d, rows, True, False, biases="w"))
    if h is None:   # r * (R_n h_0 + Rb_n), a constant operand
        def recurrence(cell: CellWeights) -> np.ndarray:
            state = np.zeros(n) if cell.h0 is None else cell.r[d, rows] @ cell.h0[d]
            return state + cell.b[d, 3 * n + rows.start:3 * n + rows.stop]
        r_nh = b.scale(f"{s}.r_nh", r, _scaled(recurrence))
    else:
        n_h = b.fc(f"{s}.n_h", h, n, _matrix(d, rows, False, True, biases="r"))
        r_nh = b.eltwise(f"{s}.r_nh", r, n_h, "mul")
    return b.add(f"{s}.n", n_x, r_nh)


def _gru_step(b: _Builder, d: int, s: str, x: str, h: str | None, c: None):
    rec, n = b.rec, b.rec.hidden
    rows = slice(0, 2 * n)
    zr = (b.fc(f"{s}.zr", x, 2 * n, _matrix(d, rows, True, False, state=True)) if h is None
          else b.fc(f"{s}.zr", b.concat(f"{s}.xh", [x, h]), 2 * n, _matrix(d, rows, True, True)))
    zr = b.act(f"{s}.zr.sigmoid", zr, "sigmoid")
    z, r = b.slice(f"{s}.z", zr, 0, n), b.slice(f"{s}.r", zr, n, n)
    cand = b.act(f"{s}.n.tanh", _gru_candidate(b, d, s, x, h, r), "tanh")
    if h is None and not rec.initial_h:   # h_1 = n - z * n
        return b.eltwise(f"{s}.h", cand, b.eltwise(f"{s}.z_n", z, cand, "mul"), "sub"), None
    diff = (b.scale(f"{s}.h_n", cand, _scaled(lambda cell: -np.ones(n), lambda cell: cell.h0[d]))
            if h is None else b.eltwise(f"{s}.h_n", h, cand, "sub"))
    return b.add(f"{s}.h", cand, b.eltwise(f"{s}.z_d", z, diff, "mul")), None


def unroll(rec: Recurrent, outputs: tuple[str, ...] = ("Y",)) -> Unrolled:
    """The layers of every step of ``rec`` and of the requested ``outputs`` (``Y``: every
    step's hidden state, named ``rec.name``; ``Y_h``, ``Y_c``: the last step's)."""
    b = _Builder(rec)
    size, steps = rec.input_size, rec.steps
    xs: dict[int, str] = {}

    def step_input(t: int) -> str:   # sliced just before the first step that reads it
        if t not in xs:
            xs[t] = rec.source if steps == 1 else b.slice(
                f"{rec.name}.t{t + 1}.x", rec.source, t * size, size)
        return xs[t]

    step = _lstm_step if rec.cell == "lstm" else _gru_step
    hidden: list[list[str]] = []
    last: list[tuple[str, str | None]] = []
    for d in range(rec.directions):
        backward = rec.direction == "reverse" or d == 1
        prefix = rec.name if rec.directions == 1 else f"{rec.name}.{('fwd', 'bwd')[d]}"
        hs, h, c = [""] * steps, None, None
        for t in (reversed(range(steps)) if backward else range(steps)):
            h, c = step(b, d, f"{prefix}.t{t + 1}", step_input(t), h, c)
            hs[t] = h
        hidden.append(hs)
        last.append((h, c))
    if "Y" in outputs:
        ys = [hs[t] for t in range(steps) for hs in hidden]
        if len(ys) == 1:   # one step, one direction: its hidden state is the output
            b.out.layers[-1] = replace(b.out.layers[-1], name=rec.name)
            last, ys = [(rec.name, last[0][1])], [rec.name]
        b.out.outputs["Y"] = ys[0] if len(ys) == 1 else b.concat(rec.name, ys)
    for key, index, suffix in (("Y_h", 0, "h"), ("Y_c", 1, "c")):
        if key in outputs:
            states = [state[index] for state in last]
            b.out.outputs[key] = states[0] if len(states) == 1 else b.concat(
                f"{rec.name}.{suffix}", states)
    return b.out


def from_yaml(spec: dict, where: str, shapes: dict[str, tuple[int, int, int]],
              previous: str) -> list[Layer]:
    """The unrolled layers of a network YAML's ``lstm`` / ``gru`` layer (:data:`YAML_KEYS`);
    ``where`` names the file and layer in errors, ``shapes`` the earlier layers' outputs."""
    kind = spec["kind"]
    article = "an" if kind == "lstm" else "a"
    for key in spec:
        if key not in YAML_KEYS or (key == "linear_before_reset" and kind != "gru"):
            allowed = [k for k in YAML_KEYS[3:] if kind == "gru" or k != "linear_before_reset"]
            raise WorkloadError(f"{where}.{key}: {article} {kind} layer takes no {key} (it takes "
                                f"{', '.join(allowed)})")
    inputs = spec.get("inputs", [previous])
    if not (isinstance(inputs, list) and len(inputs) == 1 and isinstance(inputs[0], str)):
        raise WorkloadError(f"{where}.inputs: {article} {kind} layer reads one earlier layer, "
                            f"got {inputs!r}")
    if inputs[0] not in shapes:
        raise WorkloadError(f"{where}.inputs: {inputs[0]!r} is not an earlier layer")
    c, h, w = shapes[inputs[0]]
    if (h, w) != (1, 1):
        raise WorkloadError(f"{where}.inputs: {article} {kind} layer reads a sequence laid out in "
                            f"channels (T*I x 1 x 1), but {inputs[0]!r} produces {c}x{h}x{w}")
    steps, hidden = spec.get("steps"), spec.get("hidden")
    for key, value in (("steps", steps), ("hidden", hidden)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise WorkloadError(f"{where}.{key}: expected an integer >= 1, got {value!r}")
    if steps > MAX_STEPS:
        raise WorkloadError(f"{where}.steps: {steps} time steps; at most {MAX_STEPS} are "
                            "unrolled")
    if c % steps:
        raise WorkloadError(f"{where}.steps: the input's {c} channels do not split into "
                            f"{steps} time steps of equal size")
    reset = spec.get("linear_before_reset", False)
    if not isinstance(reset, bool):
        raise WorkloadError(f"{where}.linear_before_reset: expected true or false, got "
                            f"{reset!r}")
    direction = spec.get("direction", "forward")
    if direction not in DIRECTIONS:
        raise WorkloadError(f"{where}.direction: expected one of {', '.join(DIRECTIONS)}, "
                            f"got {direction!r}")
    rec = Recurrent(name=spec["name"], cell=kind, source=inputs[0], input_size=c // steps,
                    hidden=hidden, steps=steps, direction=direction,
                    linear_before_reset=reset)
    return unroll(rec).layers
