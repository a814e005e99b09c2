"""SCALE-Sim's per-layer report files, written from a systolic core's :class:`Result`.

``COMPUTE_REPORT.csv``, ``BANDWIDTH_REPORT.csv`` and ``DETAILED_ACCESS_REPORT.csv`` with
SCALE-Sim 3.0.0's headers, column for column, computed as ``single_layer_sim.py`` computes
them (``calc_report_data``) and written as ``simulator.py`` writes them (``", "``-separated,
a trailing comma), so the files diff cleanly against SCALE-Sim's own. One row per conv / fc
layer, ``LayerID`` counting from 0 in network order: pooling and residual-add layers are not
SCALE-Sim layers and are left out (their figures are in ``Result.layers``). A topology row
is one report row (a ``DP`` row loads as SCALE-Sim's per-channel layers, one row each); a
grouped layer of another workload is one row, cycles and counts summed over its groups.
Utilizations are percentages; bandwidths are words per cycle. With SCALE-Sim's sparsity
on (``core_params.sparsity_support``) BANDWIDTH_REPORT has its metadata column and
SPARSE_REPORT is written too (:mod:`accelsim.arch._systolic_sparse`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from accelsim.errors import AccelsimError

COMPUTE_COLUMNS = ("LayerID", "Total Cycles (incl. prefetch)", "Total Cycles", "Stall Cycles",
                   "Overall Util %", "Mapping Efficiency %", "Compute Util %")
BANDWIDTH_COLUMNS = ("LayerID", "Avg IFMAP SRAM BW", "Avg FILTER SRAM BW", "Avg OFMAP SRAM BW",
                     "Avg IFMAP DRAM BW", "Avg FILTER DRAM BW", "Avg OFMAP DRAM BW")
DETAILED_COLUMNS = ("LayerID",
                    "SRAM IFMAP Start Cycle", "SRAM IFMAP Stop Cycle", "SRAM IFMAP Reads",
                    "SRAM Filter Start Cycle", "SRAM Filter Stop Cycle", "SRAM Filter Reads",
                    "SRAM OFMAP Start Cycle", "SRAM OFMAP Stop Cycle", "SRAM OFMAP Writes",
                    "DRAM IFMAP Start Cycle", "DRAM IFMAP Stop Cycle", "DRAM IFMAP Reads",
                    "DRAM Filter Start Cycle", "DRAM Filter Stop Cycle", "DRAM Filter Reads",
                    "DRAM OFMAP Start Cycle", "DRAM OFMAP Stop Cycle", "DRAM OFMAP Writes")
SPARSE_COLUMNS = ("LayerID", "Sparsity Representation", "Original Filter Storage",
                  "New Storage (Filter+Metadata)", "Filter Metadata Storage",
                  "Avg FILTER Metadata SRAM BW")
METADATA_BW = "Avg FILTER Metadata SRAM BW"
REPORTS = {"COMPUTE_REPORT": COMPUTE_COLUMNS, "BANDWIDTH_REPORT": BANDWIDTH_COLUMNS,
           "DETAILED_ACCESS_REPORT": DETAILED_COLUMNS}
_HEADER_TAIL = {"SPARSE_REPORT": ", \n"}   # SCALE-Sim ends this header with a blank cell
_SRAM_COUNTS = {"ifmap": "ifmap_sram_read", "filter": "filter_sram_read",
                "ofmap": "ofmap_sram_write"}


def check_arch(arch) -> int:
    """The array's MAC count; an error for an arch that is not a systolic core."""
    if arch.core != "systolic":
        raise AccelsimError(f"SCALE-Sim reports need the systolic core, not {arch.core!r}")
    return arch.core_params.rows * arch.core_params.cols


def report_tables(layers: pd.DataFrame, arch) -> dict[str, pd.DataFrame]:
    """The reports as DataFrames (SCALE-Sim's column names), from ``Result.layers``."""
    cells = check_arch(arch)
    sparse = arch.core_params.sparsity_support
    gemm = layers[layers["kind"].isin(["conv", "fc"])]
    compute, bandwidth, detailed, sparse_rows = [], [], [], []
    for layer_id, (_, r) in enumerate(gemm.iterrows()):
        cycles = int(r["cycles"])
        compute.append((layer_id, int(r["cycles_incl_prefetch"]), cycles,
                        int(r["stall_cycles"]),
                        (int(r["scalesim_macs"]) * 100) / (cycles * cells),
                        float(r["mapping_efficiency"]) * 100,
                        float(r["compute_utilization"]) * 100))
        sram = {name: int(r[column]) for name, column in _SRAM_COUNTS.items()}
        if pd.notna(r.get("scalesim_ifmap_sram_reads")):   # ws, sparse: times M / N
            sram["ifmap"] = float(r["scalesim_ifmap_sram_reads"])
        dram = {name: (float(r[f"{name}_dram_start_cycle"]), float(r[f"{name}_dram_stop_cycle"]),
                       int(r[f"{name}_dram_words"])) for name in _SRAM_COUNTS}
        sram_bw = [sram[name] / cycles for name in _SRAM_COUNTS]
        if sparse:   # words: ints, but ellpack_block's metadata is fractional
            rep = arch.core_params.sparse_rep
            kind = float if rep == "ellpack_block" else int
            sram_bw.insert(2, float(r["sparse_metadata_bw"]))
            sparse_rows.append((layer_id, rep, int(r["sparse_filter_words"]),
                                kind(r["sparse_stored_words"]), kind(r["sparse_metadata_words"]),
                                float(r["sparse_metadata_bw"])))
        bandwidth.append((layer_id, *sram_bw, *(words / (stop - start + 1)
                                               for start, stop, words in dram.values())))
        detail = [layer_id]
        for name in _SRAM_COUNTS:
            detail += [float(r[f"{name}_sram_start_cycle"]), float(r[f"{name}_sram_stop_cycle"]),
                       sram[name]]
        for start, stop, words in dram.values():
            detail += [start, stop, words]
        detailed.append(tuple(detail))
    bandwidth_columns = list(BANDWIDTH_COLUMNS)
    if sparse:
        bandwidth_columns.insert(3, METADATA_BW)
    tables = {"COMPUTE_REPORT": pd.DataFrame(compute, columns=list(COMPUTE_COLUMNS)),
              "BANDWIDTH_REPORT": pd.DataFrame(bandwidth, columns=bandwidth_columns),
              "DETAILED_ACCESS_REPORT": pd.DataFrame(detailed, columns=list(DETAILED_COLUMNS))}
    if sparse:
        tables["SPARSE_REPORT"] = pd.DataFrame(sparse_rows, columns=list(SPARSE_COLUMNS))
    return tables


def report_totals(layers: pd.DataFrame) -> str:
    """The summary line of what the reports cover: their conv / fc rows' cycles (COMPUTE_REPORT
    sums), prefetch and DRAM words, and what the network's other layers (pooling, adds: not
    SCALE-Sim layers, in ``Result.layers`` only) add to the printed totals."""
    gemm = layers["kind"].isin(["conv", "fc"])
    rows, rest = layers[gemm], layers[~gemm]
    words = sum(int(rows[f"{name}_dram_words"].sum()) for name in _SRAM_COUNTS)
    line = (f"  reports     {len(rows)} conv/fc rows: cycles {int(rows['cycles'].sum()):,} "
            f"(incl. prefetch {int(rows['cycles_incl_prefetch'].sum()):,}), stalls "
            f"{int(rows['stall_cycles'].sum()):,}, DRAM {words:,} words")
    if len(rest):
        line += (f"; not in them: {len(rest)} other layers ({', '.join(rest['kind'].unique())}),"
                 f" cycles {int(rest['cycles'].sum()):,}, DRAM "
                 f"{int(rest['dram_bytes'].sum()) / 1e6:,.1f} MB")
    return line


def write_reports(layers: pd.DataFrame, arch, directory: str | Path) -> list[Path]:
    """Write the reports into ``directory`` (created); returns their paths."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AccelsimError(f"{directory}: cannot create the report directory ({err})") from None
    paths = []
    for name, table in report_tables(layers, arch).items():
        path = directory / f"{name}.csv"
        lines = [", ".join(table.columns) + _HEADER_TAIL.get(name, ",\n")]
        lines += [", ".join(str(v) for v in values) + ",\n"
                  for values in table.itertuples(index=False)]
        path.write_text("".join(lines))
        paths.append(path)
    return paths


def read_report(path: str | Path) -> pd.DataFrame:
    """A SCALE-Sim (or accelsim) report CSV as a DataFrame of numbers."""
    table = pd.read_csv(path, skipinitialspace=True)
    return table.loc[:, ~table.columns.str.startswith("Unnamed")]
