"""What the ONNX importer accepts, as one table: operator -> what it becomes.

The README's operator table is generated from :data:`OPERATORS` (:func:`markdown_table`)
and a test holds the two equal, and every handled operator to a line here, so the documented
list cannot drift from the importer.
"""

from __future__ import annotations

from accelsim.workload.formats.onnx_fold import FOLDABLE

OPERATORS: dict[str, str] = {
    "Conv": "conv layer: groups, strides, pads, `auto_pad`; dilations as a kernel with "
            "zeros between the taps (a zero-skipping core skips them)",
    "Gemm": "fc layer on a flattened input (`alpha`, `beta`, `transB`)",
    "MatMul": "fc layer (constant second operand); on a channels-last view, a 1x1 conv",
    "MaxPool": "pool layer (`ceil_mode`; no dilation)",
    "AveragePool": "pool layer (`ceil_mode`); with `count_include_pad` and padding, a "
                   "depthwise conv of weights 1 / window",
    "GlobalAveragePool": "pool layer over the whole map",
    "GlobalMaxPool": "pool layer over the whole map",
    "ReduceMean": "pool layer, over H and W only (`keepdims` 0 flattens)",
    "Relu": "fused into its producer; an act layer where it cannot be",
    "Clip": "`Clip(0, max)` fused (ReLU6); other bounds an act layer",
    "Add": "add layer of two equal maps (residual); a constant: bias folded into the conv / "
           "fc before it, else a depthwise 1x1 conv",
    "Sub": "eltwise layer; a scalar or per-channel constant as for `Add`",
    "Mul": "eltwise layer (a `C x 1 x 1` gate broadcasts: squeeze-and-excite); a constant "
           "folded into the conv / fc before it, else a depthwise 1x1 conv",
    "Div": "eltwise layer; division by a constant as for `Mul`",
    "Max": "eltwise layer",
    "Min": "eltwise layer",
    "BatchNormalization": "folded into the conv or fc before it; elsewhere a depthwise 1x1 "
                          "conv",
    "Sigmoid": "act layer",
    "HardSigmoid": "act layer (`alpha`, `beta`)",
    "HardSwish": "act layer",
    "Tanh": "act layer",
    "LeakyRelu": "act layer (`alpha`)",
    "Elu": "act layer (`alpha`)",
    "PRelu": "act layer (one slope; per-channel slopes are refused)",
    "Softmax": "softmax layer, over the channels",
    "Concat": "concat layer, on channels (a layout step); of one tensor, no layer",
    "Pad": "zeros around H and W, read by a Conv: joined to its padding, no layer",
    "Split": "slice layers, one per output, on channels (layout steps)",
    "Slice": "slice layer: one channel range, step 1 (on constants: folded)",
    "Transpose": "inside a channel shuffle (`Reshape` to `[1, g, C/g, H, W]`, `Transpose "
                 "[0, 2, 1, 3, 4]`, `Reshape` back): a shuffle layer; `[0, 2, 3, 1]` and "
                 "back: a channels-last view, no layer (on constants: folded)",
    "LayerNormalization": "over the channels of a channels-last view: a layernorm layer "
                          "(host) and its scale / shift as a per-channel step",
    "Erf": "act layer",
    "Gelu": "act layer (exact, not `approximate='tanh'`)",
    "Resize": "upsample layer: nearest, integer factors on H and W (any coordinate mode "
              "that repeats each value)",
    "Upsample": "as `Resize` (opsets 7-9)",
    "ConvTranspose": "zero insertion (an upsample layer) and a conv with the kernel flipped "
                     "(the MACs on inserted zeros counted; zero-skipping cores skip them)",
    "Flatten": "no layer: marks the tensor flat",
    "Reshape": "no layer: flattening to `[1, -1]`, or keeping the shape",
    "Identity": "no layer",
    "Dropout": "no layer (inference)",
    "Constant": "a constant",
    "QuantizeLinear": "int8 / uint8 (QDQ format): with its DequantizeLinear, the producing "
                      "layer's output rounded to that grid in its output stage (datapath "
                      "widened, said in the mapping); on the input, a host step",
    "DequantizeLinear": "see `QuantizeLinear`; on int8 weights and biases: folded into float "
                        "constants",
}


def markdown_table() -> str:
    """The README's operator table: supported operators, then the ones folded on constants."""
    rows = ["| operator | becomes |", "|---|---|"]
    rows += [f"| `{op}` | {note} |" for op, note in OPERATORS.items()]
    folded = ", ".join(f"`{op}`" for op in sorted(FOLDABLE - set(OPERATORS)))
    rows.append(f"| on constants only | folded into constants, no layer: {folded} |")
    return "\n".join(rows)
