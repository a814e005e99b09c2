"""One path for a SCALE-Sim topology's rows (issue 19): ``accelsim run``, ``compare`` and
``sweep`` on the same sparse topology and sparse config prune the same weights and give the
same numbers, row for row (:mod:`accelsim.sim.rows`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accelsim.cli import main
from accelsim.compare import compare
from accelsim.config import load_arch, with_overrides
from accelsim.sim.rows import load_workloads, topology_row
from accelsim.sweep import make_sweep, run_sweep
from accelsim.workload.tensors import make_tensors

DATA = Path(__file__).parent / "data" / "scalesim_reports"
COLUMNS = ["layer", "cycles", "stall_cycles", "dram_bytes", "array_mac", "zero_operand_macs",
           "energy_pj"]   # zero_operand_macs: the pruned weights, even with dense timing


@pytest.fixture(scope="module")
def topology(tmp_path_factory) -> Path:
    """``sparse.csv`` without its ``DP`` row (which ``run`` on a systolic core splits per
    channel, as SCALE-Sim does, and the multi-arch commands keep as one depthwise layer)."""
    lines = (DATA / "sparse.csv").read_text().splitlines(keepends=True)
    path = tmp_path_factory.mktemp("rows") / "sparse_rows.csv"
    path.write_text("".join(line for line in lines if "_DP" not in line))
    return path


@pytest.mark.parametrize("arch_name, sparse", [
    ("systolic_ws", {"core_params.sparsity_support": True}),
    ("systolic_is", {"core_params.sparsity_support": True, "core_params.sparse_rep": "csr"}),
    ("systolic", {})])   # no SparsitySupport: N:M prunes the values, the timing stays dense
def test_run_compare_and_sweep_prune_and_count_alike(arch_name, sparse, topology, tmp_path):
    settings = [arg for key, value in sparse.items() for arg in ("--set", f"{key}={value}")]
    assert main(["run", "--arch", arch_name, *settings, "--workload", str(topology),
                 "--output", str(tmp_path / "run.csv"), "-q"]) == 0
    run = pd.read_csv(tmp_path / "run.csv")[COLUMNS]
    arch = with_overrides(load_arch(arch_name), sparse)
    compared = compare([arch, with_overrides(arch, {"name": "other"})], [topology]).results
    by_compare = pd.concat([result.layers for (_, name), result in compared.items()
                            if name == arch.name]).set_index("layer").loc[run["layer"]]
    grid = sparse or {"core_params.rows": [arch.core_params.rows]}
    sweep = make_sweep(load_arch(arch_name), [topology],
                       {key: [value] if not isinstance(value, list) else value
                        for key, value in grid.items()})
    swept = run_sweep(sweep, jobs=1, progress=False).layers.set_index("layer").loc[run["layer"]]
    for column in COLUMNS[1:]:
        assert by_compare[column].tolist() == run[column].tolist(), column
        assert swept[column].tolist() == run[column].tolist(), column
    # the weights really pruned to each row's N:M, as run prunes them
    sparse_rows = [n for n in load_workloads(topology) if n.sparsity[0] != n.sparsity[1]]
    assert len(sparse_rows) == 3
    for network in sparse_rows:
        n, m = network.sparsity
        layer = network.layers[0]
        _, tensors = topology_row(arch, network, make_tensors(network, 0))
        window = layer.weight_count // layer.out_channels   # N of every M, a partial M last
        kept = window // m * n + min(n, window % m)
        assert np.count_nonzero(tensors.weights[layer.name]) <= layer.out_channels * kept
        macs = run.set_index("layer").loc[layer.name, "array_mac"]
        assert macs == (layer.macs // window * kept if sparse else layer.macs)
