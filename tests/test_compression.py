"""Deep Compression on real tensors: k-means weight sharing and EIE's interleaved CSC."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.arch import eie as eie_core
from accelsim.errors import WorkloadError
from accelsim.fixedpoint import quantize
from accelsim.kernels import eie
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors
from accelsim.workload.transforms import apply_transforms, parse_transform
from accelsim.workload.transforms.sharing import kmeans_1d, share_weights

NET = network_from_dict({
    "name": "fcs", "input": [6, 4, 4],
    "layers": [
        {"name": "c1", "kind": "conv", "out_channels": 8, "kernel": 3, "pad": 1, "groups": 2,
         "relu": True},
        {"name": "fc1", "kind": "fc", "out_channels": 300, "relu": True},
        {"name": "fc2", "kind": "fc", "out_channels": 50},
    ]}, "fcs")


def compressed(values=16, density=0.1):
    tensors = make_tensors(NET, 0)
    return apply_transforms(NET, tensors, [{"kind": "prune", "density": density,
                                            "scope": "layer"},
                                           {"kind": "share", "values": values}])


# ---- weight sharing -------------------------------------------------------------------------
@pytest.mark.parametrize("values", [16, 4])
def test_share_leaves_at_most_values_distinct_weights_and_keeps_zeros(values):
    pruned = apply_transforms(NET, make_tensors(NET, 0),
                              [{"kind": "prune", "density": 0.1, "scope": "layer"}])
    shared = share_weights(NET, pruned, values)
    for name, w in shared.weights.items():
        before = pruned.weights[name]
        np.testing.assert_array_equal(w != 0, before != 0, err_msg=name)
        distinct = np.unique(w[w != 0])
        assert len(distinct) + 1 <= values, name      # the zero is one of the codebook values
        assert len(np.unique(quantize(w).q[w != 0])) <= values - 1, name
    assert "share(k-means, " in shared.provenance["transforms"]


def test_an_unpruned_layer_gets_all_its_values_as_clusters():
    shared = share_weights(NET, make_tensors(NET, 0), 16)
    assert all(len(np.unique(w)) == 16 for w in shared.weights.values())


def test_share_is_deterministic_and_each_weight_takes_its_nearest_centroid():
    one, two = compressed(), compressed()
    for name in one.weights:
        np.testing.assert_array_equal(one.weights[name], two.weights[name])
    rng = np.random.default_rng(3)      # 8 separated clusters of uneven sizes
    w = np.concatenate([3 * k + 0.3 * rng.standard_normal(50 + 20 * k) for k in range(8)])
    centroids, labels = kmeans_1d(w, 8)
    nearest = np.argmin(np.abs(w[:, None] - centroids[None, :]), axis=1)
    np.testing.assert_array_equal(labels, nearest)
    for k in range(8):    # after convergence, a centroid is the mean of its members
        assert centroids[k] == pytest.approx(w[labels == k].astype(np.float64).mean())


def test_share_from_the_command_line_spelling_and_bad_values():
    spec = parse_transform("share:values=8,layers=[fc2]")
    shared = apply_transforms(NET, make_tensors(NET, 0), [spec])
    assert len(np.unique(shared.weights["fc2"])) == 8
    assert len(np.unique(shared.weights["fc1"])) > 1000
    for bad in ({"kind": "share", "values": 1}, {"kind": "share", "values": True},
                {"kind": "share", "layers": ["nope"]}, {"kind": "share", "clusters": 4}):
        with pytest.raises(WorkloadError, match="share|clusters"):
            apply_transforms(NET, make_tensors(NET, 0), [bad])


# ---- EIE's CSC ------------------------------------------------------------------------------
def brute_force_padding(matrix: np.ndarray, n_pes: int, span: int = 16) -> int:
    """Walk every PE's slice of every column row by row: a padding entry each time
    ``span - 1`` zeros have been skipped and the next row is a zero too."""
    padding = 0
    for group in matrix:
        for p in range(n_pes):
            for column in group[p::n_pes].T:
                nonzero = np.flatnonzero(column)
                if not nonzero.size:
                    continue
                zeros = 0
                for value in column[:nonzero[-1] + 1]:
                    if value != 0:
                        zeros = 0
                    elif zeros == span - 1:
                        padding += 1
                        zeros = 0
                    else:
                        zeros += 1
    return padding


@pytest.mark.parametrize(("n_pes", "density", "groups"), [(4, 0.02, 1), (8, 0.1, 3),
                                                           (1, 0.05, 2), (64, 0.3, 1)])
def test_csc_round_trips_and_counts_padding_like_brute_force(n_pes, density, groups):
    rng = np.random.default_rng(n_pes)
    matrix = (rng.integers(-7, 8, (groups, 300, 40)) * (rng.random((groups, 300, 40))
                                                         < density)).astype(np.int16)
    csc = eie.encode(matrix, n_pes)
    np.testing.assert_array_equal(eie.decode(csc), matrix)
    assert csc.padding == brute_force_padding(matrix, n_pes)
    assert csc.entries == np.count_nonzero(matrix) + csc.padding
    assert csc.skip.min() >= 0 and csc.skip.max() <= 15
    assert (csc.ptr[:, -1] == np.diff(csc.base)).all()
    rows = np.arange(groups * 300)
    real = csc.out_row[csc.out_row >= 0]
    owner = np.repeat(np.arange(n_pes), np.diff(csc.base))[csc.out_row >= 0]
    assert ((rows[real] % 300) % n_pes == owner).all()      # row i lives on PE i mod n_pes


def test_long_gaps_need_padding():
    matrix = np.zeros((1, 64 * 40, 1), np.int16)
    matrix[0, [0, 64 * 17, 64 * 39], 0] = 5     # PE 0: local rows 0, 17, 39
    csc = eie.encode(matrix, 64)
    assert csc.padding == brute_force_padding(matrix, 64) == 2   # gaps of 16 and 21 zeros
    np.testing.assert_array_equal(eie.decode(csc), matrix)


def test_csc_of_the_pruned_shared_quantized_layer_round_trips():
    tensors = compressed()
    params = eie_core.Params(n_pes=8)
    for layer in (NET.layer("c1"), NET.layer("fc1"), NET.layer("fc2")):
        codes = quantize(tensors.weights[layer.name]).q
        stored = eie_core.storage(layer, codes, params)
        matrices = eie_core.weight_matrices(layer, codes)
        np.testing.assert_array_equal(eie.decode(stored.csc), matrices)
        assert stored.shared and stored.codebook_values <= 16 and stored.entry_bits == 8
        report = stored.report()
        columns = matrices.shape[0] * matrices.shape[2]
        assert report["pointer_bits"] == 8 * (columns + 1) * 16
        assert report["bits_per_weight"] == pytest.approx(
            (stored.csc.entries * 8 + report["pointer_bits"] + 16 * stored.codebook_values)
            / np.count_nonzero(codes))
        assert report["padding_entries"] == brute_force_padding(matrices, 8)
