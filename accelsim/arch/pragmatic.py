"""Bit-Pragmatic (Albericio, Delmás, Judd, Sharify, O'Leary, Genov & Moshovos, "Bit-Pragmatic
Deep Neural Network Computing", MICRO 2017): Stripes' organisation processing only the
essential (one) bits of each activation.

Modelled (the cycle rule is in :mod:`accelsim.kernels.bit_serial`; the organisation is
:mod:`accelsim.arch.stripes`'s, read with isakedo/DNNsim's ``BitPragmatic`` model for the
facts):

* per tile ``windows`` x ``tn`` pragmatic inner-product units (PIPs); each takes, per cycle,
  one *oneffset* (the position of a one bit) of each of its ``ti`` activations and adds the
  correspondingly shifted weights, so a brick costs as many cycles as its activations have
  terms, not ``p``; an all-zero brick still costs 1 cycle;
* the 2-stage shifter (``first_stage_bits`` L): a column's activations share a second-stage
  shift, the lowest pending oneffset among them, and each lane's own first-stage shifter
  reaches only ``2**L - 1`` above it, so terms far apart take extra cycles (L = 4: a full
  single-stage shifter per lane);
* synchronisation (``column_registers`` R): 0 is pallet synchronisation (all ``windows``
  columns wait for the slowest brick before the next step); R > 0 lets each column run up to
  R steps ahead (per-column synchronisation with R extra weight registers per column);
* ``signed_digits``: terms are the non-zero digits of each activation's non-adjacent form
  (runs of ones cost two terms), our stand-in for the paper's improved oneffset encoding;
  off, terms are the one bits of ``|a|``;
* fc layers at DaDianNao's pace (one window; the columns take bricks in turn, as Stripes and
  DNNsim's "linear" mode), pooling and element-wise layers on DaDianNao's NFU-2.

Defaults (arch_configs/pragmatic.yaml): L = 2 and R = 1, our reading of the paper's final
design (2-stage shifting with per-column synchronisation); L = 0 or 4 and R = 0 are the
switches for its other variants. Essential bits are those of the activations the layer
really reads: the fixed16 codes, rounded to the layer's precision when a precision transform
set one (the paper's PRA ran on the Stripes profiles' values in a 16-bit container).

Values as Stripes (exact shift-and-add sums: DaDianNao's outputs on the same activations).
Counters: ``pip mac`` the products (priced 0), ``pip op`` the weight x term steps (one
16-bit shifted add each): the terms of every activation a window reads times the filters
reading it.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.arch import base, diannao, stripes
from accelsim.arch.diannao import Core as DaDianNaoCore
from accelsim.kernels import bit_serial
from accelsim.workload.layer import Layer

BUFFERS = stripes.BUFFERS


@dataclass(frozen=True)
class Params(stripes.Params):
    """Stripes' parameters plus the shifter, synchronisation and encoding switches."""

    first_stage_bits: int = 2
    column_registers: int = 1
    signed_digits: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        base.require_ints(self, ("first_stage_bits", "column_registers"), minimum=0)
        base.require_flags(self, ("signed_digits",))
        if self.first_stage_bits > 4:
            raise ValueError(f"first_stage_bits must be in [0, 4] (4: any of 16 offsets), "
                             f"got {self.first_stage_bits}")
        if self.column_registers > bit_serial.MAX_REGISTERS:
            raise ValueError(f"column_registers must be at most {bit_serial.MAX_REGISTERS}, "
                             f"got {self.column_registers}")


class Core(stripes.Core):
    """Stripes' tiles with essential-bit PIPs; see the module docstring."""

    MODE = bit_serial.PRAGMATIC
    UNIT = "pip"

    def peak_per_cycle(self, layer: Layer) -> int:
        """Conv: one term of every lane a cycle, ``windows x tiles x tn x ti`` products when
        each activation has a single term; fc and the rest as DaDianNao."""
        if layer.kind != "conv":
            return DaDianNaoCore.peak_per_cycle(self, layer)
        return self.params.windows * self.params.outputs_per_cycle * self.params.ti

    def _serial_params(self, layer: Layer) -> tuple[int, ...]:
        return (self.MODE, self.activation_bits(layer), self.params.first_stage_bits,
                int(self.params.signed_digits), self.params.column_registers)

    def _bit_steps(self, layer: Layer, x, products: int) -> tuple[int, dict[str, float]]:
        """Weight x term steps (each term of an activation a window reads, once per filter
        that reads it) and the mean terms per activation read."""
        terms = int(bit_serial.window_terms(
            diannao._padded_hwc(x.q, layer.pad), layer.kernel_h, layer.kernel_w, layer.stride,
            self.params.signed_digits).sum())
        reads = layer.out_h * layer.out_w * layer.kernel_h * layer.kernel_w * layer.in_channels
        return terms * layer.out_channels_per_group, {"terms_per_activation": terms / reads}

    def _mode_note(self, layer: Layer) -> str:
        sync = (f"per-column sync, {self.params.column_registers} registers"
                if self.params.column_registers else "pallet sync")
        encoding = ", signed digits" if self.params.signed_digits else ""
        return f"essential bits, {self.params.first_stage_bits}-bit first stage, {sync}{encoding}"
