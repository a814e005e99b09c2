"""The systolic core's DRAM traffic and totals (issue 27): SCALE-Sim's re-fetching kept in
compat mode, weights streamed once in accelsim's own mode, and one set of totals.

* ``fc_overflow_ws_user`` (``tests/data/scalesim_reports/``, written by SCALE-Sim 3.0.0 via
  ``benchmarks/vs_scalesim.py --write-reference DIR --only fc_overflow_ws_user``): a batch-1
  fc layer (7168 -> 1024) whose weights just overflow the filter SRAM of ``systolic_tpu``'s
  sizes. SCALE-Sim fetches each weight about 4 times; in compat mode so do we, every cell.
* In own mode (``scalesim_compat: false``, as ``systolic_tpu`` ships) each weight crosses the
  DRAM interface once, through the double buffer, and the layer is bound by its bandwidth.
* The printed summary: totals equal the per-layer table's sums and, with
  ``--scalesim-reports``, COMPUTE_REPORT's; a layer moving over 2x its compulsory traffic is
  named.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accelsim import simulate
from accelsim.cli import main
from accelsim.config import load_arch, with_overrides
from accelsim.scalesim.config import load_scalesim_workload, scalesim_arch
from accelsim.scalesim.reports import read_report
from accelsim.workload.tensors import make_tensors

DATA = Path(__file__).parent / "data" / "scalesim_reports"
CASE = DATA / "fc_overflow_ws_user"
TOPOLOGY = DATA / "fc_overflow.csv"
WEIGHTS = 7168 * 1024


@pytest.fixture(scope="module")
def fc_network():
    (network,) = load_scalesim_workload(TOPOLOGY)
    return network


def test_compat_mode_refetches_as_scalesim_does(tmp_path, capsys):
    """accelsim's reports of the overflowing fc equal SCALE-Sim's own, cell for cell (its
    ~4.3x filter fetches included), and the summary names the layer as over 2x."""
    assert main(["run", "--scalesim-config", str(CASE / "scale.cfg"), "--workload",
                 str(TOPOLOGY), "--scalesim-reports", str(tmp_path), "-q"]) == 0
    out = capsys.readouterr().out
    for expected in sorted(CASE.glob("*_REPORT.csv")):
        pd.testing.assert_frame_equal(read_report(tmp_path / expected.name),
                                      read_report(expected), check_exact=True)
    filter_reads = read_report(CASE / "DETAILED_ACCESS_REPORT.csv")["DRAM Filter Reads"][0]
    assert filter_reads > 4 * WEIGHTS
    assert re.search(r"! DRAM .*: FC 4\.\dx", out)


def test_own_mode_streams_each_weight_once(fc_network):
    tensors = make_tensors(fc_network, 0)
    compat = with_overrides(load_arch("systolic_tpu"), {"core_params.scalesim_compat": True})
    runs = {mode: simulate(arch, fc_network, tensors=tensors, keep_outputs=True)
            for mode, arch in (("compat", compat), ("own", load_arch("systolic_tpu")))}
    own = runs["own"].layers.iloc[0]
    assert not load_arch("systolic_tpu").core_params.scalesim_compat   # as shipped
    sram_words = 6144 * 1024 // 2                 # 16-bit words in own mode
    # every weight once; at most one speculative half-buffer prefetch past the end
    assert WEIGHTS <= own["filter_dram_words"] <= WEIGHTS + sram_words // 2
    assert runs["compat"].layers.iloc[0]["filter_dram_words"] > 4 * WEIGHTS
    # bandwidth-bound: what the first fill (half the SRAM, before cycle 0) leaves, at 10/cycle
    streamed = own["filter_dram_words"] - sram_words // 2
    assert own["cycles"] >= streamed // 10 > own["compute_cycles"]
    assert own["stall_cycles"] == own["cycles"] - own["compute_cycles"] > 0
    assert own["prefetch_cycles"] >= sram_words // 2 // 10
    np.testing.assert_array_equal(runs["own"].outputs["FC"].q, runs["compat"].outputs["FC"].q)


def _summary_numbers(out: str) -> dict[str, int]:
    cycles = re.search(r"cycles\s+([\d,]+)\s+\(stalls ([\d,]+), ideal [\d,]+\); prefetch "
                       r"([\d,]+) more", out)
    dram = re.search(r"DRAM\s+([\d,.]+) MB", out)
    numbers = [int(v.replace(",", "")) for v in cycles.groups()]
    return {"cycles": numbers[0], "stalls": numbers[1], "prefetch": numbers[2],
            "dram_mb": float(dram.group(1).replace(",", ""))}


@pytest.mark.parametrize("case, workload", [("os_calc", "tiny.csv"), ("ws_user", "tiny.csv"),
                                            ("os_calc", "lenet5")])
def test_summary_equals_table_and_report_sums(case, workload, tmp_path, capsys):
    """The printed cycles, stalls, prefetch and DRAM are the per-layer table's sums; those of
    the conv / fc rows are COMPUTE_REPORT's sums (a non-topology workload's pooling layers,
    not SCALE-Sim layers, are named apart)."""
    workload_arg = str(DATA / workload) if workload.endswith(".csv") else workload
    assert main(["run", "--scalesim-config", str(DATA / case / "scale.cfg"), "--workload",
                 workload_arg, "--scalesim-reports", str(tmp_path / "r"), "--output",
                 str(tmp_path / "run.csv"), "-q"]) == 0
    out = capsys.readouterr().out
    printed = _summary_numbers(out)
    table = pd.read_csv(tmp_path / "run.csv")
    assert printed["cycles"] == table["cycles"].sum()
    assert printed["stalls"] == table["stall_cycles"].sum()
    assert printed["prefetch"] == table["prefetch_cycles"].sum()
    assert printed["dram_mb"] == pytest.approx(table["dram_bytes"].sum() / 1e6, abs=0.05)
    compute = read_report(tmp_path / "r" / "COMPUTE_REPORT.csv")
    detail = read_report(tmp_path / "r" / "DETAILED_ACCESS_REPORT.csv")
    gemm = table[table["kind"].isin(["conv", "fc"])]
    assert gemm["cycles"].sum() == compute["Total Cycles"].sum()
    assert gemm["stall_cycles"].sum() == compute["Stall Cycles"].sum()
    assert (gemm["cycles"] + gemm["prefetch_cycles"]).sum() == \
        compute["Total Cycles (incl. prefetch)"].sum()
    words = detail[["DRAM IFMAP Reads", "DRAM Filter Reads", "DRAM OFMAP Writes"]].sum().sum()
    assert gemm["dram_bytes"].sum() == 2 * words          # fixed16: 2-byte words
    line = next(lyr for lyr in out.splitlines() if lyr.startswith("  reports"))
    assert f"cycles {compute['Total Cycles'].sum():,} " in line
    assert f"stalls {compute['Stall Cycles'].sum():,}," in line
    others = table[~table["kind"].isin(["conv", "fc"])]
    assert ("not in them" in line) == (len(others) > 0)
    if len(others):
        assert f"cycles {others['cycles'].sum():,}," in line
        assert printed["cycles"] == gemm["cycles"].sum() + others["cycles"].sum()


def test_scalesim_config_means_compat_mode():
    """A SCALE-Sim ``.cfg`` asks for SCALE-Sim's figures, even on systolic_tpu (own mode)."""
    arch = scalesim_arch(CASE / "scale.cfg", "systolic_tpu")
    assert arch.core_params.scalesim_compat
