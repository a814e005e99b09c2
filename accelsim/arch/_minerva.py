"""Minerva's co-design steps on the DianNao NFU (Reagen et al., "Minerva: Enabling Low-Power,
Highly-Accurate Deep Neural Network Accelerators", ISCA 2016), as switches of
:mod:`accelsim.arch.diannao` (``core_params``; all off by default, see its ``Params``).

**Predication** (Minerva's "selective operation pruning", stage 4): an input activation whose
magnitude is at or below its layer's threshold is not multiplied: the NFU lanes it feeds
idle for that cycle and the SB column of ``tn`` synapses it would meet is not read. Minerva
saves power, not time, so the cycles are those of the dense NFU (the lanes idle in lock
step); the skipped products are counted as ``(nfu, mac_skipped)`` (priced 0) and the SB reads
are counted per input lane (one column of ``tn`` synapses, ``tn x word`` bits; an SB row is
``ti`` such columns, so with nothing skipped the energy equals the dense row count's). The
output is the convolution with those products dropped, i.e. of the input with the predicated
activations set to 0. ReLU outputs are >= 0, so ``|x| <= t`` is Minerva's ``x <= t``; on a
signed first-layer input it keeps the large negative values (our choice).

**Weight SRAM voltage scaling with faults** (stage 5): SB runs at ``sb_voltage_v``; each of
its bit cells is faulty with the probability :func:`bit_fault_probability` gives for that
voltage. The faulty cells are a static map of the chip's SB (drawn once from ``fault_seed``:
one die), and weight ``i`` of a layer (M x C/G x R x S order) is stored in SB word
``i mod words``. A read of a faulty bit returns its complement. With Razor-style detection
(``fault_detection``; Minerva Sec. 7) the faulty bits of a word are known, and
``fault_mitigation`` repairs them: ``word_mask`` reads the word as 0; ``bit_mask`` replaces
each faulty bit by the word's sign bit (Minerva's choice: the value moves toward zero), and
a word whose sign bit itself is faulty is read as 0 (our choice: the right sign is unknown).
SB dynamic energy scales as ``(V / V_nominal) ** 2``. With detection on below the nominal
supply, Razor's double sampling adds ``razor_overhead`` to every SB read and to the SB's
leakage (our choice: energy in proportion to the area it adds; ``arch_configs/minerva.yaml``
gives the figure and its source). Biases and neurons (NBin / NBout) stay at the nominal
voltage and are never faulty.

**Leakage** (``leakage_fraction`` f, 0: off): the SB and the NFU leak, every cycle of every
layer, ``f / (1 - f)`` times the dynamic energy they spend in a cycle busy at the nominal
supply (one SB row of ``tn x ti`` 16-bit words; ``tn x ti`` 16-bit MACs; 32-bit in fp32
mode), so f is leakage's share of their nominal power. The SB's leakage scales as
``(V / V_nominal) ** 3`` (our choice: leakage current falls with the supply through DIBL,
roughly as V squared, times V).
With per-layer types the arrays are sized for the widest type the network uses (our choice):
SB leakage by the widest weight bits / 16, NFU leakage by the widest activation x weight
bits / 256. Counted as ``sb_leak`` / ``nfu_leak`` ops, one per bit (or bit product) and
cycle. A DaDianNao node's SBs are priced as one array. NBin / NBout leakage and DRAM standby
are not modelled.

**Per-layer data types** (stage 3; ``per_layer_types``): the values are those of the
precision transform (issue 24: ``--transform precision:...`` rounds the weights, the layer
loop the input activations; ``core.layer_precision`` holds each layer's bits), and this core
prices them at their width: NBin and SB accesses are priced per bit (``a`` activation bits,
``w`` weight bits a word), a multiply as ``a * w`` bit products at a 16-bit multiply's
energy / 256 (Horowitz's multiplier grows as bits squared, :mod:`accelsim.cost.energy`)
and its accumulate as ``a + w`` bit adds at a 32-bit add's energy / 32; a pooling or
residual op as ``a`` bit adds. At 16 x 16 bits every price equals the dense core's. NBout
(the 16-bit outputs), DRAM traffic and SRAM sizes keep their 16-bit words (not modelled).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from accelsim.cost.counts import Counts
from accelsim.cost.energy import (
    INT16_MULT_PJ,
    INT32_ADD_PJ,
    Component,
    mac_pj,
    op_pj,
    sram_access_pj,
)
from accelsim.errors import AccelsimError
from accelsim.workload.layer import Layer

MITIGATIONS = ("none", "word_mask", "bit_mask")

DEFAULT_FAULT_CURVE = ((0.50, 1.5e-1), (0.55, 5e-2), (0.60, 1e-2), (0.65, 1e-3),
                       (0.70, 1e-4), (0.75, 1e-5), (0.80, 1e-6), (0.90, 1e-9))
"""(supply V, probability a bit cell is faulty), interpolated log-linearly. NOT read off
Minerva's figure (the paper's text was not reachable when this was written): a documented
placeholder with the usual shape of a 40 nm 6T bit cell's failure curve under voltage
scaling (about a decade per 50 mV near 0.7 V, from 1e-9 at the 0.9 V nominal supply). Give
the paper's points, when read, as ``core_params.sram_fault_curve``."""


def check_params(params) -> None:
    """Cross-field checks of the Minerva switches (``diannao.Params.__post_init__``)."""
    if params.fault_mitigation not in MITIGATIONS:
        raise ValueError(f"fault_mitigation must be one of {', '.join(MITIGATIONS)}, "
                         f"got {params.fault_mitigation!r}")
    if params.fault_mitigation != "none" and not params.fault_detection:
        raise ValueError(f"fault_mitigation {params.fault_mitigation!r} needs "
                         "fault_detection: true (only detected faults can be masked)")
    curve = params.sram_fault_curve
    volts = [v for v, _ in curve]
    if len(curve) < 2 or volts != sorted(set(volts)):
        raise ValueError("sram_fault_curve must list >= 2 points with increasing voltages")
    if any(not 0 < p <= 1 for _, p in curve):
        raise ValueError("sram_fault_curve probabilities must be in (0, 1]")
    switched_on = params.predication or params.sb_voltage_v is not None \
        or params.per_layer_types or params.leakage_fraction > 0
    core = type(params).__module__.rsplit(".", 1)[-1]
    steps = "Minerva's steps (predication, sb_voltage_v, per_layer_types, leakage_fraction)"
    if switched_on and core != "diannao":   # a subclass's own kernels would skip them
        raise ValueError(f"{steps} are switches of the diannao core; core {core!r} does not "
                         "apply them")
    if switched_on and getattr(params, "conv_algorithm", "direct") != "direct":
        raise ValueError(f"{steps} run on the direct conv only: use conv_algorithm: direct")
    voltage = params.sb_voltage_v
    if voltage is not None and voltage > params.sb_nominal_voltage_v:
        raise ValueError(f"sb_voltage_v {voltage} is above sb_nominal_voltage_v "
                         f"{params.sb_nominal_voltage_v}")


def bit_fault_probability(voltage: float, curve) -> float:
    """Probability that one SB bit cell is faulty at ``voltage``: ``log10(p)`` linear in V
    between the curve's points, held at the end points outside them."""
    volts = np.array([v for v, _ in curve], dtype=np.float64)
    logs = np.log10(np.array([p for _, p in curve], dtype=np.float64))
    return float(10.0 ** np.interp(voltage, volts, logs))


@dataclass(frozen=True)
class LayerEffects:
    """What the Minerva steps did to one conv/fc layer: predicated MACs and SB columns, and
    weights with at least one faulty bit."""

    skipped_macs: int = 0
    skipped_sb_columns: int = 0
    faulty_weights: int = 0


class MinervaSteps:
    """The switches of one DianNao core; ``active`` is False when all are off."""

    def __init__(self, params, sb_words: int, word_bits: int, fixed: bool,
                 origin: str = "") -> None:
        self.params = params
        self.predication = params.predication
        self.voltage = params.sb_voltage_v
        self.data_types = params.per_layer_types
        self.leakage = params.leakage_fraction
        self.word_bits = word_bits
        self.precision = "fixed16" if fixed else "fp32"
        for key, on in (("sb_voltage_v", self.voltage is not None),
                        ("per_layer_types", self.data_types)):
            if on and not fixed:
                raise AccelsimError(f"{origin or 'arch'}: core_params.{key} needs precision "
                                    "fixed16 (it works on the 16-bit codes)")
        self.sb_words = sb_words
        self._fault_map: np.ndarray | None = None

    @property
    def active(self) -> bool:
        return self.predication or self.voltage is not None or self.data_types \
            or self.leakage > 0

    @property
    def transforms_operands(self) -> bool:
        """Predication or faults change what the NFU multiplies."""
        return self.predication or self.voltage is not None

    def value_key(self) -> tuple:
        """What the steps add to the core's value key (they change output values)."""
        p = self.params
        key = ()
        if self.predication:
            key += ("predication", p.predication_threshold,
                    tuple(sorted(p.predication_thresholds.items())))
        if self.voltage is not None:
            key += ("sb_faults", self.voltage, p.sb_nominal_voltage_v, p.fault_detection,
                    p.fault_mitigation, p.fault_seed, p.sram_fault_curve, self.sb_words)
        return key

    def sb_energy_scale(self) -> float:
        """Dynamic SB energy relative to the nominal supply: ``(V / V_nominal) ** 2``, times
        Razor's overhead when it runs."""
        if self.voltage is None:
            return 1.0
        return (self.voltage / self.params.sb_nominal_voltage_v) ** 2 * self._razor()

    def _razor(self) -> float:
        """1 + Razor's overhead when detection runs below the nominal supply, else 1."""
        on = self.voltage is not None and self.params.fault_detection
        return 1.0 + self.params.razor_overhead if on else 1.0

    # ---- leakage -------------------------------------------------------------------------
    def leakage_components(self) -> list[Component]:
        """``sb_leak`` (per SB bit and cycle) and ``nfu_leak`` (per bit product and cycle)
        when leakage is on (see the module doc)."""
        if not self.leakage:
            return []
        p, bits = self.params, self.word_bits
        lanes = p.outputs_per_cycle * p.ti
        ratio, per_op = self.leakage / (1 - self.leakage), op_pj(self.precision)
        volts = 1.0 if self.voltage is None else (self.voltage / p.sb_nominal_voltage_v) ** 3
        sb_row = sram_access_pj(self.sb_words * bits // 8, lanes * bits)
        return [Component("sb_leak", "logic", energy_scale=ratio * sb_row / bits * volts
                          * self._razor() / per_op),
                Component("nfu_leak", "logic", energy_scale=ratio * lanes
                          * mac_pj(self.precision) / bits ** 2 / per_op)]

    def account_leakage(self, counts: Counts, cycles: int, precision: dict) -> None:
        """One layer's leakage over its ``cycles``; ``precision``: the network's per-layer
        bits, whose widest entries size the arrays under per-layer types (a layer the record
        does not name does not widen them: name every layer, as the precision transform's
        integer form does)."""
        if not self.leakage:
            return
        w_bits = a_bits = self.word_bits
        if self.data_types:
            w_bits = max([e.weights for e in precision.values() if e.weights] or [w_bits])
            a_bits = max([e.activations for e in precision.values() if e.activations]
                         or [a_bits])
        counts.add("sb_leak", "op", cycles * w_bits)
        counts.add("nfu_leak", "op", cycles * a_bits * w_bits)

    # ---- data types ----------------------------------------------------------------------
    def price_bits(self) -> int:
        """Bits an NBin / SB access is priced by: 1 with per-layer types (counted per bit)."""
        return 1 if self.data_types else self.word_bits

    def bit_components(self) -> list[Component]:
        """The NFU priced per bit with per-layer types: ``nfu_mult`` (one bit product) and
        ``nfu_acc`` (one bit of an add); the ``nfu`` component's own prices are then 0."""
        if not self.data_types:
            return []
        per_op = op_pj("fixed16")
        return [Component("nfu_mult", "logic", energy_scale=INT16_MULT_PJ / 256 / per_op),
                Component("nfu_acc", "logic", energy_scale=INT32_ADD_PJ / 32 / per_op)]

    def account_bits(self, counts: Counts, activation_bits: int, weight_bits: int) -> None:
        """Re-express one layer's NFU, NBin and SB events per bit (see the module doc)."""
        macs, ops = counts.get_count("nfu", "mac"), counts.get_count("nfu", "op")
        counts.add("nfu_mult", "op", macs * activation_bits * weight_bits)
        counts.add("nfu_acc", "op", macs * (activation_bits + weight_bits)
                   + ops * activation_bits)
        for (component, action), n in list(counts.items()):
            if component in ("nbin", "sb"):
                counts[(component, action)] = n * (activation_bits if component == "nbin"
                                                   else weight_bits)

    # ---- predication ---------------------------------------------------------------------
    def network_problem(self, network) -> str | None:
        """A ``predication_thresholds`` entry naming a layer ``network`` lacks (a typo would
        otherwise leave that layer silently unpredicated)."""
        names = {layer.name for layer in network.layers}
        unknown = [name for name in self.params.predication_thresholds if name not in names]
        return (f"core_params.predication_thresholds.{unknown[0]}: no layer {unknown[0]!r} in "
                f"network {network.name!r}" if unknown else None)

    def threshold(self, layer: Layer) -> float:
        return self.params.predication_thresholds.get(layer.name,
                                                      self.params.predication_threshold)

    def predicate(self, layer: Layer, x_hwc: np.ndarray, frac: int | None, out_hw,
                  tn: int, sb_lanes: int):
        """(input with predicated activations zeroed, skipped MACs, skipped SB columns).

        ``x_hwc`` is the padded H x W x C input (int16 codes at ``frac`` bits, or float32
        with ``frac`` None); padding zeros are predicated too (the dense NFU multiplies
        them, see :func:`accelsim.kernels.dense.conv_tiles`)."""
        limit = self.threshold(layer) * (2.0 ** frac if frac is not None else 1.0)
        mask = np.abs(x_hwc.astype(np.float64)) <= limit
        uses = _uses_per_channel(mask, layer, out_hw)
        macs = int(uses.sum()) * layer.out_channels_per_group
        columns = int(uses @ _sb_tiles_per_channel(layer, tn, sb_lanes))
        return np.where(mask, 0, x_hwc).astype(x_hwc.dtype), macs, columns

    # ---- SRAM faults ---------------------------------------------------------------------
    def fault_map(self) -> np.ndarray:
        """One faulty-bit mask per SB word (uint16 for fixed16), drawn once per core from
        ``fault_seed``: how many cells fail is binomial, which ones uniform."""
        if self._fault_map is None:
            self._fault_map = draw_fault_map(
                self.sb_words, self.word_bits,
                bit_fault_probability(self.voltage, self.params.sram_fault_curve),
                self.params.fault_seed)
        return self._fault_map

    def stored_weights(self, q: np.ndarray) -> tuple[np.ndarray, int]:
        """The weight codes as the NFU reads them from the faulty SB, and how many weights
        have a faulty bit (:func:`read_through_faults` on this chip's map)."""
        faults = np.resize(self.fault_map(), q.size).reshape(q.shape)
        p = self.params
        mitigation = p.fault_mitigation if p.fault_detection else "none"
        return read_through_faults(q, faults, mitigation), int(np.count_nonzero(faults))


def draw_fault_map(words: int, word_bits: int, probability: float, seed: int) -> np.ndarray:
    """``words`` masks of ``word_bits`` bits, each bit set with ``probability``."""
    rng = np.random.default_rng([seed, zlib.crc32(b"sb_fault_map")])
    cells = words * word_bits
    positions = rng.choice(cells, size=rng.binomial(cells, probability), replace=False)
    masks = np.zeros(words, dtype=np.uint64)
    np.bitwise_or.at(masks, positions // word_bits,
                     np.left_shift(np.uint64(1), (positions % word_bits).astype(np.uint64)))
    return masks.astype(np.uint16)


def read_through_faults(q: np.ndarray, faults: np.ndarray, mitigation: str) -> np.ndarray:
    """int16 codes ``q`` read from cells whose faulty bits are ``faults`` (uint16, same
    shape): ``none`` flips them, ``word_mask`` reads a faulty word as 0, ``bit_mask`` sets
    each faulty bit to the sign bit (a faulty sign bit: the word reads 0)."""
    stored = q.view(np.uint16)
    if mitigation == "none":
        return (stored ^ faults).view(np.int16)
    if mitigation == "word_mask":
        return np.where(faults != 0, 0, q).astype(np.int16)
    sign_bit = np.uint16(0x8000)
    negative = (stored & sign_bit) != 0
    masked = np.where(negative, stored | faults, stored & ~faults).astype(np.uint16)
    return np.where((faults & sign_bit) != 0, 0, masked.view(np.int16)).astype(np.int16)


def _uses_per_channel(mask: np.ndarray, layer: Layer, out_hw) -> np.ndarray:
    """For each input channel, how many (output position, kernel tap) pairs read a masked
    value of the padded input: the MACs one output channel of its group skips."""
    p_out, q_out = out_hw
    sh, sw = layer.stride
    coverage = np.zeros(mask.shape[:2], dtype=np.int64)
    for r in range(layer.kernel_h):
        for s in range(layer.kernel_w):
            coverage[r:r + sh * (p_out - 1) + 1:sh, s:s + sw * (q_out - 1) + 1:sw] += 1
    return np.einsum("hwc,hw->c", mask.astype(np.int64), coverage)


def _sb_tiles_per_channel(layer: Layer, tn: int, sb_lanes: int) -> np.ndarray:
    """For each input channel, the SB tiles (``sb_lanes`` outputs each) of all output
    blocks (``tn`` channels) that read it: one SB column per tile per use."""
    mg, cg = layer.out_channels_per_group, layer.in_channels_per_group
    tiles = np.zeros(layer.in_channels, dtype=np.int64)
    for m0 in range(0, layer.out_channels, tn):
        m1 = min(m0 + tn, layer.out_channels)
        tiles[(m0 // mg) * cg:((m1 - 1) // mg + 1) * cg] += math.ceil((m1 - m0) / sb_lanes)
    return tiles
