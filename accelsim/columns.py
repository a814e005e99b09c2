"""What every column of accelsim's tables means, in one table: a label, a unit, a sentence.

Figures take their axis labels from it (:func:`axis_label`: ``time_ms`` -> "Time (ms)",
``buffers.sb.size_kib`` -> "SB size (KiB)"), ``accelsim columns`` prints it, and the README's
column section is generated from it (:func:`markdown_table`; a test keeps them equal), so
the three never disagree. Families of columns (``energy_<component>_pj``,
``<component>_<action>``) are patterns. Imports nothing of accelsim: any room may use it.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

ACTIONS = ("read", "write", "fill", "mac", "mac_skipped", "op", "hop", "read_byte",
           "write_byte")
"""The count actions (``accelsim.cost.counts.ACTIONS``; a test keeps the two equal)."""

LAYER_GROUPS = {"conv": ("conv", "conv3d"), "fc": ("fc",), "all": None}
"""``--layers`` choices -> the ``kind`` values they keep (``None``: every layer)."""

DOMINANT_SHARE = 0.5
"""A layer group "dominates" a network when it takes more than this share of its time."""


@dataclass(frozen=True)
class Column:
    """One column or family: ``name`` may hold ``<placeholders>``; ``label`` is the axis
    text (``{placeholder}`` filled in), ``unit`` what the number counts, ``tables`` where
    it appears (layers, summary, compare, networks, points)."""

    name: str
    label: str
    unit: str
    description: str
    tables: str = "layers"

    def pattern(self) -> re.Pattern:
        parts = re.split(r"<(\w+)>", self.name)
        regex = "".join(re.escape(p) if i % 2 == 0 else
                        (f"(?P<{p}>{'|'.join(ACTIONS[::-1])})" if p == "action" else
                         rf"(?P<{p}>[a-z0-9_]+?)" if p != "n" else r"(?P<n>\d+)")
                        for i, p in enumerate(parts))
        return re.compile(regex + "$")


def _c(name, label, unit, description, tables="layers"):
    return Column(name, label, unit, description, tables)


COLUMNS: tuple[Column, ...] = (
    # identity
    _c("workload", "Workload", "", "the network's name", "compare, networks, points"),
    _c("network", "Network", "", "the network's name", "summary"),
    _c("arch", "Architecture", "", "the architecture's name (its config's `name:`)",
       "summary, compare, networks, points"),
    _c("point", "Sweep point", "", "the sweep point's number", "points"),
    _c("status", "Status", "", "`ok`, `failed` (the config or a layer's mapping refused, "
       "with `error`), `infeasible` (a search's constraint broken: never run) or `error` "
       "(a bug)", "points, trials"),
    _c("error", "Error", "", "why a run is not ok", "points"),
    _c("trial", "Trial", "", "the search trial's number (a search's points table calls it "
       "`point`)", "trials"),
    _c("sampler", "Sampler", "", "the search's sampler: tpe, gp, cmaes, random, nsga2, "
       "annealing", "trials"),
    _c("pareto", "Pareto-optimal", "", "no ok trial is at least as good in every objective "
       "and better in one", "trials"),
    _c("edp", "Energy-delay product", "µJ·ms", "energy_uj x time_ms of a run, summed or "
       "averaged over the search's workloads", "trials"),
    _c("layer", "Layer", "", "the layer's name"),
    _c("kind", "Layer kind", "", "conv, fc, pool, add, concat, act, eltwise, softmax, matmul, "
       "..."),
    _c("ran_on", "Ran on", "", "the unit that ran it: the core's name, `host` or `layout`"),
    _c("layers", "Layers", "layers", "how many layers the network has", "summary"),
    # work and time
    _c("macs", "MACs", "MACs", "multiply-accumulates of the layer (all images of the batch)",
       "layers, summary, networks"),
    _c("ops", "Operations", "ops", "arithmetic operations of the layer"),
    _c("cycles", "Cycles", "cycles", "simulated cycles, stalls included",
       "layers, summary, networks, points"),
    _c("compute_cycles", "Compute cycles", "cycles", "cycles the datapath is busy",
       "layers, summary, points"),
    _c("stall_cycles", "Stall cycles", "cycles", "cycles - compute_cycles: waiting on DRAM "
       "or buffers", "layers, summary, points"),
    _c("ideal_cycles", "Ideal cycles", "cycles", "effectual work at full datapath "
       "utilization (a lower bound)", "layers, summary, points"),
    _c("cycles_incl_prefetch", "Cycles incl. prefetch", "cycles", "systolic: SCALE-Sim's "
       "`Total Cycles (incl. prefetch)`: the first fill counted", "layers, summary"),
    _c("prefetch_cycles", "Prefetch cycles", "cycles", "systolic: cycles_incl_prefetch - "
       "cycles: the SRAMs' first fill from DRAM before the layer's first cycle and the ofmap "
       "drain after its last (not in cycles, as in SCALE-Sim's `Total Cycles`)",
       "layers, summary"),
    _c("utilization", "Utilization", "fraction", "effectual work / (cycles x peak work per "
       "cycle), <= 1"),
    _c("utilization_vs_ideal", "Utilization", "fraction", "ideal_cycles / cycles",
       "summary, points"),
    _c("time_us", "Time", "µs", "cycles at the architecture's clock",
       "layers, compare, networks"),
    _c("time_ms", "Time", "ms", "cycles at the architecture's clock", "summary, points"),
    # traffic and values
    _c("dram_read_bytes", "DRAM reads", "B", "bytes read from DRAM"),
    _c("dram_write_bytes", "DRAM writes", "B", "bytes written to DRAM"),
    _c("dram_bytes", "DRAM traffic", "B", "bytes read and written off chip",
       "layers, summary, points"),
    _c("input_zero_fraction", "Input zeros", "fraction", "zeros in the layer's (first) "
       "input tensor"),
    _c("saturated_values", "Saturated values", "values", "outputs clipped to the fixed-point "
       "range", "layers, summary, points"),
    # energy
    _c("energy_pj", "Energy", "pJ", "the layer's energy: the sum of energy_<component>_pj",
       "layers, compare, networks"),
    _c("energy_uj", "Energy", "µJ", "the network's energy", "summary, points"),
    _c("energy_<component>_pj", "{component} energy", "pJ", "energy of one component "
       "(0 in a comparison where an architecture has none)"),
    _c("energy_<component>_uj", "{component} energy", "µJ", "energy of one component",
       "summary, points"),
    _c("fj_per_mac_<component>", "{component} energy per MAC", "fJ/MAC", "energy of one "
       "component over the network's MACs", "summary, points"),
    # area (accelsim/sim/area.py, table accelsim/cost/area_table.yaml)
    _c("area_mm2", "Area", "mm²", "the design's silicon area at 45 nm: its buffers, "
       "multipliers and adders (no control, wires or pads)", "summary, points, trials"),
    _c("area_<part>_mm2", "{part} area", "mm²", "area of one part (all its copies, e.g. "
       "every PE's scratchpad) at 45 nm", "summary, points"),
    # comparisons
    _c("speedup", "Speedup", "×", "baseline time / this architecture's time (time, so "
       "different clocks compare fairly)", "compare, networks"),
    _c("energy_ratio", "Energy efficiency", "×", "baseline energy / this architecture's "
       "energy", "compare, networks"),
    _c("conv_speedup", "Conv speedup", "×", "speedup over the conv layers only",
       "networks"),
    _c("fc_speedup", "FC speedup", "×", "speedup over the fc layers only", "networks"),
    _c("fc_share", "FC share of time", "fraction", "the fc layers' share of this "
       "architecture's time on the network", "networks"),
    # bookkeeping
    _c("mapping", "Mapping", "", "the tiling the core chose"),
    _c("tiles", "Tiles", "tiles", "hardware tiles of the layer"),
    _c("engine_steps", "Engine steps", "steps", "rows of work the engine timed"),
    _c("engine_events", "Engine events", "events", "simpy events of the layer"),
    _c("tensors_<what>", "Tensors: {what}", "", "where the run's weights, biases, input, "
       "calibration and transforms came from", "summary, points"),
    # core statistics (LayerRun.stats), by family then by name
    _c("core_<n>_macs", "Core {n} MACs", "MACs", "mesh cores: effectual MACs of core n"),
    _c("core_<n>_cycles", "Core {n} cycles", "cycles", "mesh cores: busy cycles of core n"),
    _c("cluster_<n>_noc_cycles", "Cluster {n} NoC cycles", "cycles", "eyeriss_v2: cycles "
       "cluster n's network-on-chip is busy"),
    _c("cluster_<n>_cycles", "Cluster {n} cycles", "cycles", "eyeriss_v2: busy cycles of "
       "cluster n"),
    _c("<tensor>_dram_words", "{tensor} DRAM words", "words", "systolic: words of the "
       "tensor moved to or from DRAM (SCALE-Sim's access report)"),
    _c("<tensor>_<memory>_start_cycle", "{tensor} {memory} start", "cycle", "systolic: the "
       "first cycle of the tensor's accesses to that memory (SCALE-Sim's access report)"),
    _c("<tensor>_<memory>_stop_cycle", "{tensor} {memory} stop", "cycle", "systolic: the "
       "last cycle of the tensor's accesses to that memory"),
    _c("noc_<tensor>_mode", "{tensor} NoC mode", "", "eyeriss_v2: how the tensor's NoC "
       "delivers (broadcast, multicast, unicast)"),
    _c("noc_<tensor>_fanout", "{tensor} NoC fan-out", "destinations", "eyeriss_v2: "
       "destinations per word on the tensor's NoC"),
    _c("<component>_<action>", "{component} {action}", "count", "raw event count of a "
       "component (Result.counts): read, write, fill, mac, mac_skipped, op, hop, "
       "read_byte, write_byte"),
    _c("<what>_utilization", "{what} utilization", "fraction", "share of that unit's "
       "slots doing effectual work (compute, cu, multiplier, thread)"),
    _c("<what>_bytes", "{what}", "B", "a core's traffic statistic (e.g. dram_filter_bytes, "
       "halo_bytes, noc_iact_bytes)"),
    _c("<what>_cycles", "{what} cycles", "cycles", "a core's cycle statistic (idle, bank "
       "stall, address generation)"),
    _c("active_pes", "Active PEs", "PEs", "eyeriss: PEs the mapping uses"),
    _c("batch", "Batch", "images", "images processed together"),
    _c("passes", "Passes", "passes", "eyeriss: processing passes of the layer"),
    _c("rlc_<tensor>", "{tensor} RLC words", "words", "eyeriss: run-length coded words "
       "to or from DRAM"),
    _c("clusters", "Clusters", "clusters", "clusters of the chip"),
    _c("pes", "PEs", "PEs", "eyeriss_v2: PEs per cluster"),
    _c("m_lanes", "Output lanes", "lanes", "eyeriss_v2: output channels in flight"),
    _c("k_ranges", "Input ranges", "ranges", "eyeriss_v2: input-channel ranges of a pass"),
    _c("segments", "Segments", "segments", "eyeriss_v2: weight segments of a pass"),
    _c("rounds", "Rounds", "rounds", "eyeriss_v2: rounds of the mapping"),
    _c("tasks", "Tasks", "tasks", "eyeriss_v2: tasks the clusters ran"),
    _c("simd_idle_mac_slots", "Idle SIMD MAC slots", "slots", "eyeriss_v2: MAC slots "
       "left empty by the SIMD pairing"),
    _c("faulty_weights", "Faulty weights", "weights", "diannao with `sb_voltage_v`: "
       "weights stored in an SB word with at least one faulty bit (Minerva's SRAM faults)"),
    _c("activation_bits", "Activation bits", "bits", "diannao with `per_layer_types`: "
       "bits of the layer's input activations the datapath is priced at; stripes, "
       "pragmatic (conv): the bits each activation streams (the layer's precision, else 16)"),
    _c("weight_bits", "Weight bits", "bits", "diannao with `per_layer_types`: bits of the "
       "layer's weights the datapath is priced at (0: no weights)"),
    _c("pe_rows", "PE rows", "PEs", "scnn: rows of the PE array"),
    _c("pe_cols", "PE columns", "PEs", "scnn: columns of the PE array"),
    _c("kc", "Output channels per group", "channels", "scnn: Kc, output channels per group"),
    _c("kc_groups", "Output channel groups", "groups", "scnn: groups of Kc channels"),
    _c("products", "Products", "products", "scnn: products the multipliers formed"),
    _c("effectual_multiplies", "Effectual multiplies", "products", "scnn: products "
       "that land in an output"),
    _c("wasted_multiplies", "Wasted multiplies", "products", "scnn: products that do not"),
    _c("discarded_products", "Discarded products", "products", "scnn: products outside "
       "the output tile"),
    _c("idle_vector_slots", "Idle vector slots", "slots", "scnn: multiplier slots left "
       "empty by short vectors"),
    _c("cus_per_cluster", "CUs per cluster", "CUs", "sparten: compute units per cluster"),
    _c("joins", "Joins", "joins", "sparten: inner joins of masks"),
    _c("work_items", "Work items", "items", "sparten, phantom: units of work scheduled"),
    _c("mesh_rows", "Mesh rows", "cores", "phantom: rows of the core mesh"),
    _c("mesh_cols", "Mesh columns", "cores", "phantom: columns of the core mesh"),
    _c("threads_per_core", "Threads per core", "threads", "phantom: threads of a core"),
    _c("folds", "Folds", "folds", "systolic: array folds of the layer"),
    _c("mapping_efficiency", "Mapping efficiency", "fraction", "systolic: share of the "
       "array the layer maps onto (SCALE-Sim)"),
    _c("scalesim_macs", "SCALE-Sim MACs", "MACs", "systolic: the MACs SCALE-Sim counts"),
    _c("sparse_filter_words", "Dense filter words", "words", "systolic with SCALE-Sim "
       "sparsity: the filter operand's words before compression"),
    _c("sparse_stored_words", "Stored filter words", "words", "systolic with SCALE-Sim "
       "sparsity: the filter words kept (SPARSE_REPORT)"),
    _c("sparse_metadata_words", "Filter metadata words", "words", "systolic with SCALE-Sim "
       "sparsity: index words of the sparse representation (SPARSE_REPORT)"),
    _c("sparse_metadata_bw", "Filter metadata bandwidth", "words/cycle", "systolic with "
       "SCALE-Sim sparsity: metadata words over the layer's cycles (BANDWIDTH_REPORT)"),
    _c("scalesim_ifmap_sram_reads", "SCALE-Sim ifmap SRAM reads", "reads", "systolic with "
       "SCALE-Sim sparsity (ws): the ifmap SRAM reads SCALE-Sim reports (x M/N per fold)"),
    _c("zero_operand_macs", "Zero-operand MACs", "MACs", "systolic: MACs with a zero "
       "operand (the array does them anyway)"),
    _c("nonzero_weights", "Non-zero weights", "weights", "eie: weights left after pruning"),
    _c("csc_entries", "CSC entries", "entries", "eie: stored entries of the compressed "
       "matrix, padding included"),
    _c("padding_entries", "Padding entries", "entries", "eie: zero entries stored because a "
       "gap between non-zeros exceeded the relative index's range"),
    _c("xnor_ops", "XNOR ops", "ops", "stripes on an XNOR-Net layer (`binarize` transform): "
       "one-bit products (XNOR), the layer's real taps times its channels per group"),
    _c("popcount_words", "Popcount words", "words", "stripes on an XNOR-Net layer: 64-bit "
       "XNOR-and-popcount word operations of the XNOR-popcount kernel"),
    _c("brick_steps", "Brick steps", "steps", "stripes, pragmatic: conv steps of one "
       "16-activation brick for every window of a group (weights held for the step's cycles; "
       "one SB read per tile each)"),
    _c("terms_per_activation", "Terms per activation", "terms", "pragmatic: mean essential "
       "bits (oneffsets) of the activations the windows read"),
    _c("codebook_values", "Codebook values", "values", "eie: distinct values the entries "
       "decode to (zero included; 16 after the share transform)"),
    _c("weights_shared", "Weights shared", "", "eie: 1 if the layer's weights were shared "
       "(entries are codebook indices), 0 if raw weights are stored"),
    _c("entry_bits", "Entry bits", "bits", "eie: bits of one entry (weight index + relative "
       "row index)"),
    _c("pointer_bits", "Pointer bits", "bits", "eie: bits of all PEs' column pointer arrays"),
    _c("bits_per_weight", "Bits per weight", "bits", "eie: storage (entries, pointers, "
       "codebook) per non-zero weight"),
    _c("broadcast_activations", "Broadcast activations", "activations", "eie: non-zero "
       "input activations the leading-non-zero detector broadcast"),
    _c("busiest_pe_entries", "Busiest PE entries", "entries", "eie: entries the most loaded "
       "PE processed (a lower bound on the layer's cycles)"),
    _c("mean_pe_entries", "Mean PE entries", "entries", "eie: entries per PE, averaged"),
    _c("padding_entries_run", "Padding entries processed", "entries", "eie: padding entries "
       "the PEs stepped through for the broadcast activations"),
    _c("load_balance_efficiency", "Load-balance efficiency", "", "eie: mean PE entries over "
       "the cycles the last PE finishes (1 = perfectly balanced)"),
    _c("conv_algorithm", "Conv algorithm", "", "diannao with `conv_algorithm` "
       "winograd_f2 / winograd_f4: how a conv / fc layer ran (`winograd_f2`, `winograd_f4`, "
       "or `direct` where Winograd does not apply; `mapping` says why)"),
    _c("winograd_tiles", "Winograd tiles", "tiles", "diannao in a Winograd mode: m x m "
       "output tiles of the layer, partial edge tiles included (0: ran direct)"),
    _c("winograd_max_abs_error", "Winograd max abs error", "", "diannao in a Winograd mode: "
       "the largest difference between the Winograd output and direct conv's on the same "
       "inputs, in the output's real units (the error the rounded transforms add; 0: ran "
       "direct)"),
    _c("winograd_rel_error", "Winograd relative error", "fraction", "diannao in a Winograd "
       "mode: winograd_max_abs_error over the direct output's largest magnitude"),
    _c("winograd_error_bound", "Winograd error bound", "", "diannao in a Winograd mode: the "
       "largest error the 16-bit roundings of the transformed filters and inputs (and of "
       "both outputs) allow, real units; winograd_max_abs_error <= it"),
)

UNIT_SUFFIXES = {"kib": "KiB", "mib": "MiB", "bytes": "B", "cycles": "cycles", "mhz": "MHz",
                 "ghz": "GHz", "pj": "pJ", "fj": "fJ", "uj": "µJ", "us": "µs", "ms": "ms",
                 "bytes_per_cycle": "B/cycle", "words": "words", "bits": "bits"}
"""Unit suffixes of config keys (DESIGN: units in names) -> the unit in a label."""

NAMES = {"nbin": "NBin", "nbout": "NBout", "sb": "SB", "nfu": "NFU", "dram": "DRAM",
         "glb": "GLB", "pe": "PE", "noc": "NoC", "cu": "CU", "rlc": "RLC", "sram": "SRAM",
         "iaram": "IARAM", "oaram": "OARAM", "ppu": "PPU", "gin": "GIN", "gon": "GON",
         "iact": "iact", "bytes_per_cycle": "bandwidth", "size": "size", "mac": "MACs",
         "input_transform": "Input transform", "output_transform": "Output transform",
         "mac_skipped": "MACs skipped", "read_byte": "bytes read",
         "write_byte": "bytes written", "op": "ops", "hop": "hops"}
"""How a name part is written in a label."""


def describe(name: str) -> tuple[Column, dict[str, str]] | None:
    """The entry documenting column ``name`` and its placeholders' values, or None."""
    for column in COLUMNS:
        match = column.pattern().match(name)
        if match:
            return column, match.groupdict()
    return None


def _words(part: str) -> str:
    return NAMES.get(part) or " ".join(NAMES.get(w, w) for w in part.split("_"))


def axis_label(name: str, qualifier: str = "", unit: str | None = None) -> str:
    """A human label with its unit: ``time_ms`` -> "Time (ms)", ``energy_sb_pj`` -> "SB
    energy (pJ)", a dotted config key ``buffers.sb.size_kib`` -> "SB size (KiB)";
    ``qualifier`` goes before the unit ("Speedup over diannao (×)"), ``unit`` replaces the
    table's (a figure drawing µJ from a pJ column, or a fraction in %)."""
    found = describe(name)
    if found and "." not in name:
        column, values = found
        text = column.label.format(**{k: _words(v) for k, v in values.items()})
        own = column.unit if column.unit not in ("count", "fraction") else ""
    else:
        text, own = _config_label(name)
    unit = own if unit is None else unit
    text = text[:1].upper() + text[1:]
    if unit and text.lower().endswith(unit.lower()) and not qualifier:
        return text   # "Cycles", not "Cycles (cycles)"
    text = f"{text} {qualifier}" if qualifier else text
    return f"{text} ({unit})" if unit else text


def _config_label(key: str) -> tuple[str, str]:
    """A dotted config key (or any other name) as words and a unit from its suffix."""
    parts = [p for p in key.split(".") if p not in ("buffers", "core_params", "chip")]
    last, unit = parts[-1] if parts else key, ""
    for suffix, text in sorted(UNIT_SUFFIXES.items(), key=lambda s: -len(s[0])):
        if last == suffix or last.endswith("_" + suffix):
            last, unit = last[:-len(suffix)].rstrip("_") or suffix, text
            break
    if unit == "B/cycle":
        last = "bandwidth"
    words = [_words(p) for p in parts[:-1]] + ([_words(last)] if last else [])
    return " ".join(words), unit


def in_group(kinds, layers: str):
    """A mask of the ``kind`` values in layer group ``layers`` (:data:`LAYER_GROUPS`)."""
    if layers not in LAYER_GROUPS:
        raise ValueError(f"--layers {layers}: expected one of {', '.join(LAYER_GROUPS)}")
    group = LAYER_GROUPS[layers]
    return kinds.isin(group) if group is not None else kinds == kinds


def markdown_table() -> str:
    """The README's column table."""
    rows = ["| column | unit | tables | meaning |", "|---|---|---|---|"]
    rows += [f"| `{c.name}` | {c.unit} | {c.tables} | {c.description} |" for c in COLUMNS]
    return "\n".join(rows)


def text_table(names: list[str] | None = None, width: int = 100) -> str:
    """The table as plain text (``accelsim columns``): every entry, or the given columns
    (those no entry documents marked so)."""
    rows = []
    for name in names if names is not None else [c.name for c in COLUMNS]:
        found = describe(name)
        column = found[0] if found else None
        unit = column.unit if column else ""
        text = column.description if column else "(not documented)"
        if "." in name:   # a sweep's key: the config value the run used
            unit, text = _config_label(name)[1], "a swept config key (as in `--set`)"
        rows.append((name, unit, text))
    first = min(max(len(r[0]) for r in rows), 32)
    second = max(len(r[1]) for r in rows)
    indent = first + second + 4
    lines = []
    for name, unit, text in rows:
        wrapped = textwrap.wrap(text, max(20, width - indent)) or [""]
        lines.append(f"{name:{first}s}  {unit:{second}s}  {wrapped[0]}")
        lines += [" " * indent + more for more in wrapped[1:]]
    return "\n".join(lines)
