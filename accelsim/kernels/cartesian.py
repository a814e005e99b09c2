"""SCNN's PE, cycle by cycle on compressed data: the Cartesian product, the scatter crossbar
into accumulator banks, real outputs and per-(PE, output-channel group) cycles in one pass.

Compressed format (weights and activations): a sequence of entries ``(value, run)`` where
``run`` (``index_bits`` wide, at most ``max_run = 2**index_bits - 1``; stored as uint16) is
the number of zeros since the previous entry; a run longer than ``max_run`` stores a
placeholder entry (a zero value with run ``max_run``), which the PE multiplies like any other
entry (a wasted product).
Trailing zeros need no entry. :func:`encode_tiles` encodes each PE's input tile per channel
(raster order over the tile), :func:`encode_weights` each (output-channel group, input
channel) slice of the filters in ``(k, r, s)`` order. The kernel decodes the positions from
the runs, so the outputs are computed from the compressed data.

A PE, per output-channel group ``[k0, k1)`` and per input channel ``c`` of the group: for
every vector of up to ``I`` activation entries and every vector of up to ``F`` weight
entries, one cycle multiplies all ``F x I`` pairs. A product of weight ``(k, r, s)`` and
activation ``(y, x)`` belongs to the stride-1 output ``(y + pad_t - r, x + pad_l - s)``;
it lands on a real output only if that position is inside the stride-1 output plane and
on the stride grid (otherwise it is discarded: SCNN's non-unit-stride and border waste).
Landing products go through the crossbar to bank ``hash(k, oy, ox)`` of ``banks``; a bank
takes one product per cycle, so the cycle lasts ``max(1, most products in one bank)``
cycles (the extra ones are bank-conflict stalls).

With ``compute`` the kernel adds every product into the PE's accumulators (fp32's sums, in
this order). Without it only counts: the fixed-point sums are the layer's exact sums
(:mod:`accelsim.kernels.exact_sums`), and under the XOR hash at stride 1 a vector cycle's
banks are counted as bytes of a word instead of product by product (:func:`_channel_xor`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

HASH_XOR, HASH_LINEAR, HASH_SINGLE = 0, 1, 2

# Per-PE statistics columns.
(PRODUCTS, EFFECTUAL, LANDED, STALLS, VECTOR_CYCLES, PAIRS_SLOTS) = range(6)
N_STATS = 6
WEIGHT_BLOCK = 64
"""Input channels :func:`encode_weights` encodes together (a speed knob only)."""


@njit(cache=True)
def _encode_seq(seq, n, max_run, vals, runs, offset, write, limit):
    """Entries of ``seq[:n]`` (the first ``limit`` written at ``offset`` when ``write``:
    the count pass found how many are kept); returns the kept count."""
    count = 0
    kept = 0
    run = 0
    for j in range(n):
        v = seq[j]
        if v != 0 or run == max_run:
            if write and count < limit:
                vals[offset + count] = v
                runs[offset + count] = run
            count += 1
            run = 0
            if v != 0:
                kept = count
        else:
            run += 1
    return kept                      # trailing placeholders are dropped


@njit(cache=True)
def encode_tiles(x, tiles, max_run):
    """Per (PE, channel): compressed entries of the PE's tile. Returns (ptr, vals, runs)."""
    n_pe, n_c = tiles.shape[0], x.shape[0]
    ptr = np.zeros(n_pe * n_c + 1, np.int64)
    seq = np.zeros(x.shape[1] * x.shape[2], x.dtype)
    vals = np.zeros(1, x.dtype)
    runs = np.zeros(1, np.uint16)
    for write in (False, True):
        if write:
            vals = np.zeros(ptr[-1], x.dtype)
            runs = np.zeros(ptr[-1], np.uint16)
        for pe in range(n_pe):
            y0, y1, x0, x1 = tiles[pe, 0], tiles[pe, 1], tiles[pe, 2], tiles[pe, 3]
            for c in range(n_c):
                n = 0
                for y in range(y0, y1):
                    for xx in range(x0, x1):
                        seq[n] = x[c, y, xx]
                        n += 1
                i = pe * n_c + c
                got = _encode_seq(seq, n, max_run, vals, runs, ptr[i], write,
                                  ptr[i + 1] - ptr[i])
                if not write:
                    ptr[i + 1] = ptr[i] + got
    return ptr, vals, runs


@njit(cache=True)
def encode_weights(w, kgroups, max_run):
    """Per (group, input channel of the group): entries of ``w[k0:k1, c]`` in (k, r, s) order
    (``w`` is M x C/G x R x S). Returns (ptr, vals, runs); row ``g * C/G + c``. One encoder
    state per row, fed while ``w`` is read in memory order, ``WEIGHT_BLOCK`` channels at a
    time (each row's order is unchanged; the block keeps the rows being written few, so
    wide fc layers do not write across thousands of rows per filter)."""
    n_g, cg = kgroups.shape[0], w.shape[1]
    n = n_g * cg
    ptr = np.zeros(n + 1, np.int64)
    vals = np.zeros(1, w.dtype)
    runs = np.zeros(1, np.uint16)
    for write in (False, True):
        run = np.zeros(n, np.int64)
        count = np.zeros(n, np.int64)
        kept = np.zeros(n, np.int64)
        if write:
            vals = np.zeros(ptr[-1], w.dtype)
            runs = np.zeros(ptr[-1], np.uint16)
        for g in range(n_g):
            for cb in range(0, cg, WEIGHT_BLOCK):
                for k in range(kgroups[g, 0], kgroups[g, 1]):
                    for c in range(cb, min(cb + WEIGHT_BLOCK, cg)):
                        i = g * cg + c
                        for r in range(w.shape[2]):
                            for s in range(w.shape[3]):
                                v = w[k, c, r, s]
                                if v != 0 or run[i] == max_run:
                                    if write and count[i] < ptr[i + 1] - ptr[i]:
                                        vals[ptr[i] + count[i]] = v
                                        runs[ptr[i] + count[i]] = run[i]
                                    count[i] += 1
                                    run[i] = 0
                                    if v != 0:
                                        kept[i] = count[i]
                                else:
                                    run[i] += 1
        if not write:
            for i in range(n):
                ptr[i + 1] = ptr[i] + kept[i]
    return ptr, vals, runs


@njit(cache=True)
def _bank(kind, k, oy, ox, banks, mask):
    """The bank of output (k, oy, ox); ``mask`` = banks - 1 when banks is a power of two
    (the same non-negative remainder without a division), else -1."""
    if kind == HASH_SINGLE:
        return 0
    if kind == HASH_LINEAR:
        h = k + ox + 3 * oy
    else:                            # DNNsim's XOR hash of the low bits of k, x, y.
        h = ((((k & 4) << 2) ^ ((ox & 2) << 3) ^ ((oy & 2) << 3)) + ((ox & 1) << 3)
             + ((oy & 1) << 2) + (k & 3))
    return h & mask if mask >= 0 else h % banks


@njit(cache=True)
def _decode(ptr, vals, runs, row, out_v, out_p):
    """Entries of ``row`` into ``out_v`` / ``out_p`` (positions from the runs); their count."""
    pos = -1
    n = 0
    for e in range(ptr[row], ptr[row + 1]):
        pos += runs[e] + 1
        out_v[n] = vals[e]
        out_p[n] = pos
        n += 1
    return n


@njit(cache=True)
def _decode_filters(ptr, vals, runs, row, k0, rr, ss, out_v, out_k, out_r, out_s):
    """Weight entries of ``row`` into ``out_v`` and their filter positions ``(k, r, s)``
    (from ``k0``), stepped along the runs without a division per entry; their count."""
    k, r, s = k0, 0, -1
    n = 0
    for e in range(ptr[row], ptr[row + 1]):
        s += runs[e] + 1
        while s >= ss:
            s -= ss
            r += 1
            if r == rr:
                r = 0
                k += 1
        out_v[n] = vals[e]
        out_k[n], out_r[n], out_s[n] = k, r, s
        n += 1
    return n


@njit(cache=True)
def _pair(ay, ax, av, i0, i1, wk, wr, ws, wv, j0, j1, geom, hash_kind, banks, mask, count,
          used, compute, acc, oy_lo, ox_lo):
    """One vector cycle, product by product: landing products go to their banks (values
    added into ``acc`` when ``compute``); ``count`` is reset after. Returns (busiest bank's
    products, landed, effectual)."""
    sh, sw, h1, w1 = geom[4], geom[5], geom[10], geom[11]
    strided = sh > 1 or sw > 1
    worst = n_used = effectual = 0
    for j in range(j0, j1):
        wj, kj, rj, sj = wv[j], wk[j], wr[j], ws[j]
        for i in range(i0, i1):
            oy1 = ay[i] - rj
            ox1 = ax[i] - sj
            if oy1 < 0 or ox1 < 0 or oy1 >= h1 or ox1 >= w1:
                continue
            if strided:
                if oy1 % sh or ox1 % sw:
                    continue
                oy, ox = oy1 // sh, ox1 // sw
            else:
                oy, ox = oy1, ox1
            b = _bank(hash_kind, kj, oy, ox, banks, mask)
            used[n_used] = b
            n_used += 1
            n_b = count[b] + 1
            count[b] = n_b
            worst = max(worst, n_b)
            ai = av[i]
            if ai != 0 and wj != 0:
                effectual += 1
                if compute:
                    acc[kj, oy - oy_lo, ox - ox_lo] += ai * wj
    for u in range(n_used):
        count[used[u]] = 0
    return worst, n_used, effectual


@njit(cache=True)
def _channel(ay, ax, av, na, wk, wr, ws, wv, nw, f_vec, i_vec, geom, hash_kind, banks, mask,
             count, used, compute, acc, oy_lo, ox_lo, totals):
    """Every F x I vector cycle of one (PE, group, input channel): activations ``av[:na]``
    at padded input ``(ay, ax)`` times weights ``wv[:nw]`` of filter position
    ``(wk, wr, ws)``, each by :func:`_pair`; a cycle lasts as long as its busiest bank.
    Adds products, effectual, landed, stalls and vector cycles into ``totals``; returns the
    cycles."""
    cycles = products = effectual = landed = stalls = vectors = 0
    for i0 in range(0, na, i_vec):
        i1 = min(i0 + i_vec, na)
        for j0 in range(0, nw, f_vec):
            j1 = min(j0 + f_vec, nw)
            worst, n_landed, n_effectual = _pair(
                ay, ax, av, i0, i1, wk, wr, ws, wv, j0, j1, geom, hash_kind, banks, mask,
                count, used, compute, acc, oy_lo, ox_lo)
            landed += n_landed
            effectual += n_effectual
            products += (j1 - j0) * (i1 - i0)
            cycles += max(worst, 1)
            stalls += max(worst - 1, 0)
            vectors += 1
    totals[PRODUCTS] += products
    totals[EFFECTUAL] += effectual
    totals[LANDED] += landed
    totals[STALLS] += stalls
    totals[VECTOR_CYCLES] += vectors
    return cycles


BYTE_FLAGS = np.uint64(0x8080808080808080)


@njit(cache=True)
def _byte_max(a, b):
    """Bytewise maximum of two words of byte counters below 128 (``a | 0x80`` minus ``b``
    borrows within no byte: bit 7 of each byte says ``a >= b``)."""
    ge = (((a | BYTE_FLAGS) - b) & BYTE_FLAGS) >> np.uint64(7)
    keep = ge * np.uint64(0xFF)
    return (a & keep) | (b & ~keep)


@njit(cache=True)
def _max_byte(x):
    """The largest byte of a word of byte counters below 128."""
    x = _byte_max(x, x >> np.uint64(32))
    x = _byte_max(x, x >> np.uint64(16))
    x = _byte_max(x, x >> np.uint64(8))
    return np.int64(x & np.uint64(0xFF))


@njit(cache=True)
def xor_words():
    """``words[akey, wkey]``: the XOR-hash bank of a product as a one-hot byte counter (the
    bank is ``4 * byte + (k & 3)``), for an activation at padded ``(y, x)`` with ``akey =
    4 * (y & 3) + (x & 3)`` and a weight ``(k, r, s)`` with ``wkey = 16 * (k >> 2 & 1) +
    4 * (r & 3) + (s & 3)``. At stride 1 the output is ``(y - r, x - s)`` and the hash reads
    only bits 0-1 of its row and column and bits 0-2 of ``k``: these keys fix the bank."""
    words = np.zeros((16, 32), np.uint64)
    for akey in range(16):
        for wkey in range(32):
            oy = ((akey >> 2) - (wkey >> 2)) & 3
            ox = ((akey & 3) - wkey) & 3
            h = _bank(HASH_XOR, (wkey >> 4) << 2, oy, ox, 32, 31)
            words[akey, wkey] = np.uint64(1) << np.uint64(8 * (h >> 2))
    return words


@njit(cache=True)
def _channel_xor(ay, ax, av, na, wk, wr, ws, wv, nw, f_vec, i_vec, geom, words, akey, wkey,
                 wvec, hw, totals):
    """:func:`_channel`'s counts without the sums, under the XOR hash at stride 1 with at
    least 32 banks (so the bank is the hash) and ``f_vec * i_vec < 128``. A vector cycle
    whose products all land (the activations' and weights' bounding boxes say so) counts
    its banks as byte counters, one word per ``k & 3`` of its weights: the sum over its
    weights of the activation vector's words for their keys (``hw``, made once per
    activation vector from :func:`xor_words`); its busiest bank is the largest byte, its
    effectual products non-zero weights x non-zero activations. In other cycles (at the
    plane's borders) a weight whose products do not all land adds the words of those that
    do, one by one. Same numbers as :func:`_channel` (tests/test_scnn.py)."""
    h1, w1 = geom[10], geom[11]
    n_wvec = (nw + f_vec - 1) // f_vec
    for v in range(n_wvec):          # per weight vector: r, s bounds, non-zeros, k & 3 class
        j0, j1 = v * f_vec, min(v * f_vec + f_vec, nw)
        wvec[v, 0] = wvec[v, 1] = wr[j0]
        wvec[v, 2] = wvec[v, 3] = ws[j0]
        wvec[v, 4] = 0
        wvec[v, 5] = wk[j0] & 3
        for j in range(j0, j1):
            wvec[v, 0] = min(wvec[v, 0], wr[j])
            wvec[v, 1] = max(wvec[v, 1], wr[j])
            wvec[v, 2] = min(wvec[v, 2], ws[j])
            wvec[v, 3] = max(wvec[v, 3], ws[j])
            if wv[j] != 0:
                wvec[v, 4] += 1
            if wk[j] & 3 != wvec[v, 5]:
                wvec[v, 5] = -1      # classes mixed
            wkey[j] = ((wk[j] >> 2) & 1) * 16 + (wr[j] & 3) * 4 + (ws[j] & 3)
    zero = np.uint64(0)
    cycles = effectual = landed = stalls = 0
    for i0 in range(0, na, i_vec):
        i1 = min(i0 + i_vec, na)
        ylo, yhi, xlo, xhi = ay[i0], ay[i0], ax[i0], ax[i0]
        nz_a = 0
        for q in range(32):
            hw[q] = zero
        for i in range(i0, i1):
            ylo, yhi = min(ylo, ay[i]), max(yhi, ay[i])
            xlo, xhi = min(xlo, ax[i]), max(xhi, ax[i])
            if av[i] != 0:
                nz_a += 1
            akey[i] = (ay[i] & 3) * 4 + (ax[i] & 3)
            row = words[akey[i]]
            for q in range(32):
                hw[q] += row[q]
        y_top, x_left = yhi - h1 + 1, xhi - w1 + 1   # every activation lands for r, s in
        for v in range(n_wvec):                          # [y_top, ylo] x [x_left, xlo]
            j0, j1 = v * f_vec, min(v * f_vec + f_vec, nw)
            if wvec[v, 5] >= 0 and y_top <= wvec[v, 0] and wvec[v, 1] <= ylo and \
                    x_left <= wvec[v, 2] and wvec[v, 3] <= xlo:
                word = zero                              # one class, every product lands
                for j in range(j0, j1):
                    word += hw[wkey[j]]
                landed += (j1 - j0) * (i1 - i0)
                effectual += wvec[v, 4] * nz_a
            else:
                c0 = c1 = c2 = c3 = zero
                for j in range(j0, j1):
                    rj, sj = wr[j], ws[j]
                    if y_top <= rj <= ylo and x_left <= sj <= xlo:
                        add = hw[wkey[j]]
                        landed += i1 - i0
                        if wv[j] != 0:
                            effectual += nz_a
                    else:
                        add = zero
                        for i in range(i0, i1):
                            oy, ox = ay[i] - rj, ax[i] - sj
                            if 0 <= oy < h1 and 0 <= ox < w1:
                                add += words[akey[i], wkey[j]]
                                landed += 1
                                if av[i] != 0 and wv[j] != 0:
                                    effectual += 1
                    cls = wk[j] & 3
                    if cls == 0:
                        c0 += add
                    elif cls == 1:
                        c1 += add
                    elif cls == 2:
                        c2 += add
                    else:
                        c3 += add
                word = _byte_max(_byte_max(c0, c1), _byte_max(c2, c3))
            worst = _max_byte(word)
            cycles += max(worst, 1)
            stalls += max(worst - 1, 0)
    n_avec = (na + i_vec - 1) // i_vec
    totals[PRODUCTS] += na * nw
    totals[EFFECTUAL] += effectual
    totals[LANDED] += landed
    totals[STALLS] += stalls
    totals[VECTOR_CYCLES] += n_avec * n_wvec
    return cycles


@njit(cache=True)
def _run_pe(pe, geom, tiles, origin, kgroups, a_ptr, a_val, a_run, w_ptr, w_val, w_run,
            f_vec, i_vec, banks, hash_kind, compute, acc, group_cycles, stats):
    """One PE's tile through every output-channel group: per input channel, the activation
    and weight rows decoded once (positions to coordinates once, not per vector cycle), then
    :func:`_channel` (counting only, under the XOR hash at stride 1: :func:`_channel_xor`)."""
    n_c, cg, rr, ss, sh, sw, pt, pl, out_h, out_w, h1, w1 = geom
    y0, x0, tw = tiles[pe, 0], tiles[pe, 2], tiles[pe, 3] - tiles[pe, 2]
    oy_lo, ox_lo = origin[pe, 0], origin[pe, 1]
    na_max = max((tiles[pe, 1] - y0) * tw, 1)
    av = np.zeros(na_max, a_val.dtype)
    ap = np.zeros(na_max, np.int64)
    ay, ax = np.zeros(na_max, np.int64), np.zeros(na_max, np.int64)
    wmax = 1
    for g in range(kgroups.shape[0]):
        wmax = max(wmax, (kgroups[g, 1] - kgroups[g, 0]) * rr * ss)
    wv = np.zeros(wmax, w_val.dtype)
    wk, wr, ws = np.zeros(wmax, np.int64), np.zeros(wmax, np.int64), np.zeros(wmax, np.int64)
    count = np.zeros(banks, np.int64)
    used = np.zeros(f_vec * i_vec, np.int64)
    mask = banks - 1 if banks & (banks - 1) == 0 else -1
    by_words = (not compute and hash_kind == HASH_XOR and banks >= 32 and geom[4] == 1
                and geom[5] == 1 and f_vec * i_vec < 128)
    words, hw, akey = xor_words(), np.zeros(32, np.uint64), np.zeros(na_max, np.int64)
    wkey, wvec = np.zeros(wmax, np.int64), np.zeros(((wmax + f_vec - 1) // f_vec, 6), np.int64)
    acc_pe = acc[pe]
    totals = np.zeros(N_STATS, np.int64)
    for g in range(kgroups.shape[0]):
        k0, c0 = kgroups[g, 0], kgroups[g, 2]
        cycles = 0
        for ci in range(kgroups[g, 3]):
            na = _decode(a_ptr, a_val, a_run, pe * n_c + c0 + ci, av, ap)
            if na == 0:                  # nothing to multiply: the weights stay encoded
                continue
            nw = _decode_filters(w_ptr, w_val, w_run, g * cg + ci, k0, rr, ss, wv, wk, wr, ws)
            if nw == 0:
                continue
            for i in range(na):
                ay[i] = y0 + ap[i] // tw + pt
                ax[i] = x0 + ap[i] % tw + pl
            if by_words:
                cycles += _channel_xor(ay, ax, av, na, wk, wr, ws, wv, nw, f_vec, i_vec, geom,
                                       words, akey, wkey, wvec, hw, totals)
            else:
                cycles += _channel(ay, ax, av, na, wk, wr, ws, wv, nw, f_vec, i_vec, geom,
                                   hash_kind, banks, mask, count, used, compute, acc_pe,
                                   oy_lo, ox_lo, totals)
        group_cycles[pe, g] = cycles
    for col in range(N_STATS):
        stats[pe, col] = totals[col]
    stats[pe, PAIRS_SLOTS] = totals[VECTOR_CYCLES] * f_vec * i_vec


@njit(cache=True, parallel=True)
def _run_pes(geom, tiles, origin, kgroups, a_ptr, a_val, a_run, w_ptr, w_val, w_run,
             f_vec, i_vec, banks, hash_kind, compute, acc, group_cycles, stats):
    for pe in prange(tiles.shape[0]):
        _run_pe(pe, geom, tiles, origin, kgroups, a_ptr, a_val, a_run, w_ptr, w_val, w_run,
                f_vec, i_vec, banks, hash_kind, compute, acc, group_cycles, stats)


def run_pes(geom, tiles, origin, extent, kgroups, acts, weights, *, f_vec, i_vec, banks,
            hash_kind, compute, n_out):
    """Run every PE on its tile for all output-channel groups.

    * ``geom``: (C, C/G, R, S, stride_h, stride_w, pad_t, pad_l, out_h, out_w, stride-1 out_h,
      stride-1 out_w) of the layer as a convolution;
    * ``tiles``: per PE (y0, y1, x0, x1) of its input tile; ``origin`` / ``extent``: the first
      output (row, col) and the (rows, cols) of outputs its products can reach (its
      accumulator region, halo included);
    * ``kgroups``: per group (k0, k1, first input channel, input channels);
    * ``acts`` = :func:`encode_tiles` output, ``weights`` = :func:`encode_weights` output.

    Returns ``(acc PEs x n_out x rows x cols, cycles PEs x groups, stats PEs x N_STATS)``.
    """
    integer = np.issubdtype(acts[1].dtype, np.integer)
    dtype = np.int64 if integer else np.float64
    # Integer values stay in their dtype (numba multiplies small ints as int64); floats
    # become float64, as the accumulators.
    a_ptr, a_val, a_run = acts[0], acts[1] if integer else acts[1].astype(dtype), acts[2]
    w_ptr, w_val, w_run = weights[0], weights[1] if integer else weights[1].astype(dtype), \
        weights[2]
    rows, cols = (int(max(extent[:, 0].max(), 1)), int(max(extent[:, 1].max(), 1))) \
        if compute else (1, 1)
    acc = np.zeros((len(tiles), n_out if compute else 1, rows, cols), dtype)
    group_cycles = np.zeros((len(tiles), len(kgroups)), np.int64)
    stats = np.zeros((len(tiles), N_STATS), np.int64)
    _run_pes(np.asarray(geom, np.int64), np.ascontiguousarray(tiles, np.int64),
             np.ascontiguousarray(origin, np.int64), np.ascontiguousarray(kgroups, np.int64),
             a_ptr, a_val, a_run, w_ptr, w_val, w_run, f_vec, i_vec, banks, hash_kind,
             compute, acc, group_cycles, stats)
    return acc, group_cycles, stats
