"""What the ONNX importer accepts, as one table: operator -> what it becomes.

The README's operator table is generated from :data:`OPERATORS` (:func:`markdown_table`)
and a test holds the two equal, and every handled operator to a line here, so the documented
list cannot drift from the importer.
"""

from __future__ import annotations

from accelsim.workload.formats.onnx_fold import FOLDABLE
from accelsim.workload.formats.onnx_qoperator import PASS_THROUGH, QOPERATORS

OPERATORS: dict[str, str] = {
    "Conv": "conv layer: groups, strides, pads, `auto_pad`; dilations as a kernel with "
            "zeros between the taps (a zero-skipping core skips them)",
    "Gemm": "fc layer on a flattened input (`alpha`, `beta`, `transB`); on `[N, C]` tokens, a "
            "1x1 conv",
    "MatMul": "fc layer (constant second operand); on a channels-last view or tokens, a 1x1 "
              "conv; of two activations (attention's `Q @ K^T` and `P @ V`, per head), a "
              "matmul layer: on the core, a grouped 1x1 conv weighted by the second operand",
    "MaxPool": "pool layer (`ceil_mode`; no dilation)",
    "AveragePool": "pool layer (`ceil_mode`); with `count_include_pad` and padding, a "
                   "depthwise conv of weights 1 / window",
    "GlobalAveragePool": "pool layer over the whole map",
    "GlobalMaxPool": "pool layer over the whole map",
    "ReduceMean": "pool layer, over H and W only, or over all the tokens of `[1, N, C]` "
                  "(`keepdims` 0 flattens)",
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
    "PRelu": "act layer (one slope); per-channel slopes: `max(x, slope * x)` (`min` for "
             "slopes >= 1), a depthwise 1x1 conv and an eltwise layer",
    "Softmax": "softmax layer, over the channels (attention scores: each head's)",
    "Concat": "concat layer, on channels (a layout step); of one tensor, no layer",
    "Pad": "zeros around H and W, read by a Conv: joined to its padding, no layer",
    "Split": "slice layers, one per output, on channels (layout steps); of tokens or heads, "
             "each part a run of channels (q, k, v of a packed projection)",
    "Slice": "slice layer: one channel range, step 1 (on constants: folded); of tokens or "
             "heads, as `Split`",
    "Gather": "of tokens or heads, a run of channels (timm's `qkv[0]`): as `Split` (on "
              "constants: folded)",
    "Squeeze": "no layer: a view of the tensor (on constants: folded)",
    "Unsqueeze": "no layer: a view of the tensor (on constants: folded)",
    "Transpose": "inside a channel shuffle (`Reshape` to `[1, g, C/g, H, W]`, `Transpose "
                 "[0, 2, 1, 3, 4]`, `Reshape` back): a shuffle layer; any other: a view "
                 "(channels-last `[0, 2, 3, 1]`, tokens, attention heads), no layer (on "
                 "constants: folded)",
    "LayerNormalization": "over the channels of a channels-last view or of tokens: a "
                          "layernorm layer "
                          "(host) and its scale / shift as a per-channel step",
    "Erf": "act layer",
    "Gelu": "act layer (exact, not `approximate='tanh'`)",
    "Resize": "integer factors on H and W: nearest, an upsample layer (any coordinate mode "
              "that repeats each value); linear, a resize layer (bilinear, on the host; "
              "`half_pixel`, `pytorch_half_pixel`, `align_corners`, `asymmetric`)",
    "Upsample": "as `Resize` (opsets 7-9)",
    "ConvTranspose": "zero insertion (an upsample layer) and a conv with the kernel flipped "
                     "(the MACs on inserted zeros counted; zero-skipping cores skip them)",
    "LSTM": "unrolled over its time steps: per step one fc on `[x_t; h_t-1]` (`W` and `R` "
            "side by side, EIE's formulation), act layers for the gates, eltwise / add "
            "layers for the cell and hidden updates (`accelsim/workload/recurrent.py`); "
            "batch 1, `X` a vector's channels step after step; forward, reverse, "
            "bidirectional; constant initial states; default activations only, no "
            "`sequence_lens`, peepholes, `clip`",
    "GRU": "as `LSTM`: per step an fc on `[x_t; h_t-1]` for z and r, the candidate's fc on "
           "`[x_t; r * h_t-1]` (`linear_before_reset` 1: two fcs and an eltwise product)",
    "Flatten": "no layer: marks the tensor flat (other axes: a view)",
    "Reshape": "no layer: flattening to `[1, -1]`, keeping the shape, or a view (tokens "
               "`[1, N, C]`, heads `[1, N, h, C/h]`: read by MatMul, Softmax, ...)",
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
    """The README's operator table: supported operators, the int8 QOperator ones rewritten
    into them, then the ones folded on constants."""
    rows = ["| operator | becomes |", "|---|---|"]
    rows += [f"| `{op}` | {note} |" for op, note in OPERATORS.items()]
    qoperators = ", ".join(f"`{op}`" for op in QOPERATORS)
    rows.append(f"| int8 QOperator format: {qoperators} | rewritten before the import as "
                f"`DequantizeLinear` -> the float operator -> `QuantizeLinear` (int8 weights "
                f"and int32 biases into float constants), then as the QDQ format; "
                f"{', '.join(f'`{op}`' for op in sorted(PASS_THROUGH))} on an int8 tensor "
                f"keep its grid |")
    folded = ", ".join(f"`{op}`" for op in sorted(FOLDABLE - set(OPERATORS)))
    rows.append(f"| on constants only | folded into constants, no layer: {folded} |")
    return "\n".join(rows)
