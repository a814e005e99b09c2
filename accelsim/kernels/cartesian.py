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
(:mod:`accelsim.kernels.exact_sums`), and under the XOR hash at stride 1 the PEs are counted
input channel by input channel (:func:`_xor_counts`): a channel's weight rows decoded once
for every PE, equal weight vectors counted once, a vector cycle's banks as bytes of a word,
weight vectors of the same banks (table classes) costed once per activation vector and, on
large planes, activation vectors of the same keys once per channel. An fc layer is counted
straight from its dense weights (:func:`count_fc`), without encoding.
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


@njit(cache=True, parallel=True)
def _tile_pass(x, tiles, max_run, ptr, vals, runs, write, kept):
    """:func:`encode_tiles`' pass over the PEs in parallel (a (PE, channel) row is encoded,
    and written, by its PE's task only): counting each row's kept entries into ``kept``, or
    writing them at ``ptr``."""
    n_pe, n_c = tiles.shape[0], x.shape[0]
    for pe in prange(n_pe):
        y0, y1, x0, x1 = tiles[pe, 0], tiles[pe, 1], tiles[pe, 2], tiles[pe, 3]
        seq = np.empty(max((y1 - y0) * (x1 - x0), 1), x.dtype)
        for c in range(n_c):
            n = 0
            for y in range(y0, y1):
                for xx in range(x0, x1):
                    seq[n] = x[c, y, xx]
                    n += 1
            i = pe * n_c + c
            got = _encode_seq(seq, n, max_run, vals, runs, ptr[i], write, ptr[i + 1] - ptr[i])
            if not write:
                kept[i] = got


@njit(cache=True)
def tile_entries(x, tiles, max_run):
    """Per (PE, channel): how many entries :func:`encode_tiles` stores for the PE's tile."""
    kept = np.zeros(tiles.shape[0] * x.shape[0], np.int64)
    _tile_pass(x, tiles, max_run, np.zeros(len(kept) + 1, np.int64), np.zeros(1, x.dtype),
               np.zeros(1, np.uint16), False, kept)
    return kept


@njit(cache=True)
def encode_tiles(x, tiles, max_run):
    """Per (PE, channel): compressed entries of the PE's tile. Returns (ptr, vals, runs)."""
    kept = tile_entries(x, tiles, max_run)
    ptr = np.zeros(len(kept) + 1, np.int64)
    for i in range(len(kept)):
        ptr[i + 1] = ptr[i] + kept[i]
    vals = np.zeros(ptr[-1], x.dtype)
    runs = np.zeros(ptr[-1], np.uint16)
    _tile_pass(x, tiles, max_run, ptr, vals, runs, True, kept)
    return ptr, vals, runs


@njit(cache=True, parallel=True)
def _encode_blocks(w, kgroups, max_run, ptr, vals, runs, write, kept):
    """:func:`encode_weights`' pass over the rows, ``WEIGHT_BLOCK`` channels of a group per
    task, tasks in parallel (a row is encoded, and written, by one task only). ``w`` is
    read in memory order with one encoder state per row, updated without branches (a
    product the pass must not write goes to the spare last slot of ``vals`` / ``runs``)."""
    cg, rr, ss = w.shape[1], w.shape[2], w.shape[3]
    n_blocks = (cg + WEIGHT_BLOCK - 1) // WEIGHT_BLOCK
    spare = len(vals) - 1
    for task in prange(kgroups.shape[0] * n_blocks):
        g, cb = task // n_blocks, (task % n_blocks) * WEIGHT_BLOCK
        ce = min(cb + WEIGHT_BLOCK, cg)
        run = np.zeros(ce - cb, np.int64)
        count = np.zeros(ce - cb, np.int64)
        last = np.zeros(ce - cb, np.int64)
        for k in range(kgroups[g, 0], kgroups[g, 1]):
            for r in range(rr):
                for s in range(ss):
                    for c in range(cb, ce):
                        j, v = c - cb, w[k, c, r, s]
                        emit = v != 0 or run[j] == max_run
                        if write:
                            i = g * cg + c
                            at = ptr[i] + count[j]
                            at = at if emit and at < ptr[i + 1] else spare
                            vals[at] = v
                            runs[at] = run[j]
                        count[j] += emit
                        run[j] = 0 if emit else run[j] + 1
                        last[j] = count[j] if v != 0 else last[j]
        for c in range(cb, ce):
            kept[g * cg + c] = last[c - cb]      # trailing placeholders are dropped


@njit(cache=True)
def encode_weights(w, kgroups, max_run):
    """Per (group, input channel of the group): entries of ``w[k0:k1, c]`` in (k, r, s) order
    (``w`` is M x C/G x R x S). Returns (ptr, vals, runs); row ``g * C/G + c``. A pass
    counting each row's kept entries, then one writing them (:func:`_encode_blocks`)."""
    n = kgroups.shape[0] * w.shape[1]
    ptr = np.zeros(n + 1, np.int64)
    kept = np.zeros(n, np.int64)
    _encode_blocks(w, kgroups, max_run, ptr, np.zeros(1, w.dtype), np.zeros(1, np.uint16),
                   False, kept)
    for i in range(n):
        ptr[i + 1] = ptr[i] + kept[i]
    vals = np.zeros(ptr[-1] + 1, w.dtype)
    runs = np.zeros(ptr[-1] + 1, np.uint16)
    _encode_blocks(w, kgroups, max_run, ptr, vals, runs, True, kept)
    return ptr, vals[:-1], runs[:-1]


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
BYTE_ONES = np.uint64(0x0101010101010101)
TABLE_MIN_VECTORS = 4
"""Activation vectors (over all PEs) of an input channel from which :func:`_count_channel`
builds its weight vectors' word tables (a speed knob only: with fewer, as an fc layer's one
activation per PE, the products are counted one by one)."""
SET_MIN_VECTORS = 256
"""Activation vectors (over all PEs) of an input channel from which :func:`_count_channel`
costs their key multisets once each (a speed knob only: with fewer, as VGG-16's 28 x 28 and
14 x 14 layers, the multisets seldom repeat)."""
BLOCKS = 64
"""Input-channel blocks :func:`_xor_counts` spreads over the threads (a fixed number, so
the per-block partial counts, integers, add up the same whatever the thread count)."""


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


@njit(cache=True, inline="always")
def _raise_worst(word, worst):
    """``max(worst, largest byte of word)`` for byte counters below 128, one step at a time
    (adding ``128 - t`` to every byte sets its bit 7 iff the byte is >= t, with no carry into
    the next byte); a vector cycle's busiest bank rarely holds more than a few products."""
    while worst < 127:
        t = worst + 1
        if (word + np.uint64(128 - t) * BYTE_ONES) & BYTE_FLAGS == 0:
            break
        worst = t
    return worst


@njit(cache=True)
def _weight_vector_key(wk, wr, ws, wv, j0, j1, r_bits, s_bits):
    """What fixes a weight vector's banks, landing and effectual products, packed: its
    length, then per weight ``k & 7``, ``r``, ``s`` and whether it is non-zero."""
    width = 4 + r_bits + s_bits
    key = j1 - j0
    for j in range(j0, j1):
        field = (wk[j] & 7) | (wr[j] << 3) | (ws[j] << (3 + r_bits)) \
            | (np.int64(wv[j] != 0) << (3 + r_bits + s_bits))
        key |= field << (4 + (j - j0) * width)
    return key


@njit(cache=True)
def _find_or_add(hkeys, hvals, key, n_unique):
    """Open-addressing lookup of ``key``: its unique index, or ``n_unique`` after adding it."""
    mask = len(hkeys) - 1
    h = np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)) & mask
    while hvals[h] >= 0:
        if hkeys[h] == key:
            return hvals[h]
        h = (h + 1) & mask
    hkeys[h] = key
    hvals[h] = n_unique
    return n_unique


@njit(cache=True)
def _describe_vector(u, j0, j1, wk, wr, ws, wv, wkey, words, tables, ubox, unzw, uclass,
                     unslot, with_tables):
    """Weight vector ``u`` (entries ``j0:j1``): its r, s bounds, non-zeros, the ``k & 3``
    classes it holds and, ``with_tables``, per class the word of each activation key (the
    sum over its weights of :func:`xor_words`)."""
    ubox[u, 0] = ubox[u, 1] = wr[j0]
    ubox[u, 2] = ubox[u, 3] = ws[j0]
    unzw[u] = 0
    unslot[u] = 0
    for j in range(j0, j1):
        ubox[u, 0] = min(ubox[u, 0], wr[j])
        ubox[u, 1] = max(ubox[u, 1], wr[j])
        ubox[u, 2] = min(ubox[u, 2], ws[j])
        ubox[u, 3] = max(ubox[u, 3], ws[j])
        if wv[j] != 0:
            unzw[u] += 1
        cls = wk[j] & 3
        slot = 0
        while slot < unslot[u] and uclass[u, slot] != cls:
            slot += 1
        if slot == unslot[u]:
            uclass[u, slot] = cls
            unslot[u] += 1
            if with_tables:
                for akey in range(16):
                    tables[u, slot, akey] = 0
        if with_tables:
            for akey in range(16):
                tables[u, slot, akey] += words[akey, wkey[j]]


@njit(cache=True, inline="always")
def _product_walk(i0, i1, ay, ax, av, akey, j0, j1, wk, wr, ws, wv, wkey, words, h1, w1):
    """One vector cycle product by product: (busiest bank's products, landed, effectual)."""
    zero = np.uint64(0)
    c0 = c1 = c2 = c3 = zero
    landed = effectual = 0
    for j in range(j0, j1):
        rj, sj = wr[j], ws[j]
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
    worst = _raise_worst(c3, _raise_worst(c2, _raise_worst(c1, _raise_worst(c0, 0))))
    return worst, landed, effectual


@njit(cache=True)
def _channel_weights(c, geom, kgroups, w_ptr, w_val, w_run, s):
    """The weight rows of the groups that read input channel ``c``, decoded one after the
    other into the scratch arrays (with their weight keys, :func:`xor_words`); returns how
    many groups (their index and entries in ``gl_of`` and ``nw_g``)."""
    cg, rr, ss = geom[1], geom[2], geom[3]
    wv, wk, wr, ws, wkey, gl_of, nw_g = s[0], s[1], s[2], s[3], s[4], s[19], s[20]
    n_groups = base = 0
    for g in range(kgroups.shape[0]):
        c0, n_cg = kgroups[g, 2], kgroups[g, 3]
        if c < c0 or c >= c0 + n_cg:
            continue
        nw = _decode_filters(w_ptr, w_val, w_run, g * cg + c - c0, kgroups[g, 0], rr, ss,
                             wv[base:], wk[base:], wr[base:], ws[base:])
        for j in range(base, base + nw):
            wkey[j] = ((wk[j] >> 2) & 1) * 16 + (wr[j] & 3) * 4 + (ws[j] & 3)
        gl_of[n_groups], nw_g[n_groups] = g, nw
        n_groups += 1
        base += nw
    return n_groups


@njit(cache=True)
def _merge_vectors(geom, f_vec, n_groups, words, with_tables, s):
    """The channel's weight vectors (:func:`_channel_weights`) made unique: equal ones (same
    length, ``k & 7``, r, s and zero pattern: same banks, landing and effectual products)
    share an index, ``mult[group, u]`` counts them; each unique vector described once
    (:func:`_describe_vector`). Returns how many are unique."""
    rr, ss = geom[2], geom[3]
    wv, wk, wr, ws, wkey, ustart, ulen, ubox, unzw, uclass, unslot, tables, mult, hkeys, \
        hvals = s[:15]
    nw_g = s[20]
    r_bits = s_bits = 0
    while (1 << r_bits) < rr:
        r_bits += 1
    while (1 << s_bits) < ss:
        s_bits += 1
    merge = f_vec < 16 and 4 + f_vec * (4 + r_bits + s_bits) <= 63
    if merge:
        hvals[:] = -1
    n_unique = base = 0
    for gl in range(n_groups):
        for u in range(n_unique):
            mult[gl, u] = 0
        for j0 in range(base, base + nw_g[gl], f_vec):
            j1 = min(j0 + f_vec, base + nw_g[gl])
            u = n_unique
            if merge:
                u = _find_or_add(hkeys, hvals,
                                 _weight_vector_key(wk, wr, ws, wv, j0, j1, r_bits, s_bits),
                                 n_unique)
            if u == n_unique:
                ustart[u], ulen[u] = j0, j1 - j0
                _describe_vector(u, j0, j1, wk, wr, ws, wv, wkey, words, tables, ubox, unzw,
                                 uclass, unslot, with_tables)
                for earlier in range(gl):
                    mult[earlier, u] = 0
                mult[gl, u] = 0
                n_unique += 1
            mult[gl, u] += 1
        base += nw_g[gl]
    return n_unique


@njit(cache=True)
def _pe_activations(pe, c, geom, tiles, a_ptr, a_val, a_run, s):
    """PE ``pe``'s entries of channel ``c`` into the scratch arrays: values, padded
    coordinates and activation keys (:func:`xor_words`); returns their count."""
    n_c, pt, pl = geom[0], geom[6], geom[7]
    av, ay, ax, akey = s[21], s[22], s[23], s[24]
    row = pe * n_c + c
    x0, x1 = tiles[pe, 2] + pl, tiles[pe, 3] + pl
    y, x = tiles[pe, 0] + pt, x0 - 1
    na = 0
    for e in range(a_ptr[row], a_ptr[row + 1]):   # raster positions stepped along the runs
        x += a_run[e] + 1
        while x >= x1:
            x -= x1 - x0
            y += 1
        av[na], ay[na], ax[na] = a_val[e], y, x
        akey[na] = (y & 3) * 4 + (x & 3)
        na += 1
    return na


@njit(cache=True)
def _add_counts(cycles_part, stats_part, blk, pe, g, cyc, stall, land, eff, na, nw, f_vec,
                i_vec):
    """One (PE, group, channel)'s counts into block ``blk``'s partial sums."""
    cycles_part[blk, pe, g] += cyc
    stats_part[blk, pe, PRODUCTS] += na * nw
    stats_part[blk, pe, EFFECTUAL] += eff
    stats_part[blk, pe, LANDED] += land
    stats_part[blk, pe, STALLS] += stall
    stats_part[blk, pe, VECTOR_CYCLES] += ((na + i_vec - 1) // i_vec) * ((nw + f_vec - 1)
                                                                        // f_vec)


@njit(cache=True)
def _table_class_key(j0, j1, wk, wr, ws, slot_cls, slot_k2, slot_n, slot_val, codes):
    """What fixes the busiest bank of weight vector ``j0:j1`` (at most 5 weights) with any
    activations whose products all land, packed: per ``k & 3`` class (slot) the multiset of
    its weights' ``(k >> 2 & 1, r & 3, s & 3)`` (:func:`xor_words`' weight keys), ``k >> 2 &
    1`` taken relative to the slot's first weight (flipping it for a whole slot only swaps
    the slot's bytes), slots in sorted order: 6-bit codes, a zero after each slot."""
    n_slots = 0
    for j in range(j0, j1):
        cls, k2 = wk[j] & 3, (wk[j] >> 2) & 1
        q = 0
        while q < n_slots and slot_cls[q] != cls:
            q += 1
        if q == n_slots:
            slot_cls[q], slot_k2[q], slot_n[q] = cls, k2, 0
            n_slots += 1
        code = ((k2 ^ slot_k2[q]) << 4 | (wr[j] & 3) << 2 | (ws[j] & 3)) + 1
        i = slot_n[q]
        while i > 0 and codes[q, i - 1] > code:
            codes[q, i] = codes[q, i - 1]
            i -= 1
        codes[q, i] = code
        slot_n[q] += 1
    for q in range(n_slots):
        val = 0
        for i in range(slot_n[q]):
            val |= codes[q, i] << (6 * i)
        i = q
        while i > 0 and slot_val[i - 1] > val:
            slot_val[i] = slot_val[i - 1]
            i -= 1
        slot_val[i] = val
    key = 0
    for q in range(n_slots):
        val = slot_val[q]
        while val:
            key = (key << 6) | (val & 63)
            val >>= 6
        key <<= 6
    return key


@njit(cache=True)
def _table_classes(n_unique, n_groups, f_vec, s, tc):
    """The channel's unique weight vectors grouped by :func:`_table_class_key` (at most 5
    weights a vector; else each its own class): ``utc[u]`` its class, ``tc_rep`` a vector
    of each class, ``mult_tc[group, class]`` the group's vectors in the class. Returns how
    many classes."""
    wk, wr, ws, ustart, ulen, mult = s[1], s[2], s[3], s[5], s[6], s[12]
    utc, tc_rep, tkeys, tvals, mult_tc = tc[:5]
    n_tc = 0
    if f_vec <= 5:
        tvals[:] = -1
    for u in range(n_unique):
        t = n_tc
        if f_vec <= 5:
            t = _find_or_add(tkeys, tvals, _table_class_key(
                ustart[u], ustart[u] + ulen[u], wk, wr, ws, *tc[8:]), n_tc)
        if t == n_tc:
            tc_rep[t] = u
            n_tc += 1
        utc[u] = t
    for gl in range(n_groups):
        for t in range(n_tc):
            mult_tc[gl, t] = 0
        for u in range(n_unique):
            mult_tc[gl, utc[u]] += mult[gl, u]
    return n_tc


@njit(cache=True, inline="always")
def _table_worst(u, i0, i1, akey, tables, unslot):
    """The busiest bank of weight vector ``u`` times activations ``i0:i1`` whose products
    all land: per ``k & 3`` class, the sum of its word table at the activations' keys."""
    worst = 0
    for slot in range(unslot[u]):
        word = np.uint64(0)
        for i in range(i0, i1):
            word += tables[u, slot, akey[i]]
        worst = _raise_worst(word, worst)
    return worst


@njit(cache=True)
def _set_costs(a, i0, i1, akey, n_tc, n_groups, s, m, tc):
    """Activation set ``a`` (the activations ``i0:i1``' keys, every product landing): per
    group, the cycles and stalls of all its weight vectors against the set, one table
    class (:func:`_table_classes`) at a time."""
    tables, unslot = s[11], s[10]
    gcyc, gstall = m[2], m[3]
    tc_rep, mult_tc = tc[1], tc[4]
    for gl in range(n_groups):
        gcyc[a, gl] = gstall[a, gl] = 0
    for t in range(n_tc):
        worst = _table_worst(tc_rep[t], i0, i1, akey, tables, unslot)
        cyc, stall = max(worst, 1), max(worst - 1, 0)
        for gl in range(n_groups):
            gcyc[a, gl] += mult_tc[gl, t] * cyc
            gstall[a, gl] += mult_tc[gl, t] * stall


@njit(cache=True)
def _count_channel(c, geom, tiles, a_ptr, a_val, a_run, f_vec, i_vec, words, n_groups,
                   with_tables, by_sets, s, m, tc, cycles_part, stats_part, blk):
    """Channel ``c``: its unique weight vectors (:func:`_merge_vectors`) counted once per
    activation vector, by their word tables (``with_tables``) where every product lands,
    else product by product; then per group times their multiplicities. An activation
    vector whose products land for every weight vector costs the same as any other with
    the same keys (their multiset, ``akeys``: a count per key), so with tables its groups'
    cycles and stalls are worked out once per multiset and channel (:func:`_set_costs`).
    Where every product lands, weight vectors of one table class (:func:`_table_classes`)
    take the same cycles: each class's are worked out once per activation vector."""
    h1, w1 = geom[10], geom[11]
    wv, wk, wr, ws, wkey, ustart, ulen, ubox, unzw, _uclass, unslot, tables, mult = s[:13]
    ucyc, ustall, uland, ueff, gl_of, nw_g, av, ay, ax, akey = s[15:]
    mkeys, mvals, gcyc, gstall, pcyc, pstall, geff = m
    utc, tc_rep, tcw, tc_seen, stamp = tc[0], tc[1], tc[5], tc[6], tc[7]
    n_unique = _merge_vectors(geom, f_vec, n_groups, words, with_tables, s)
    n_tc = _table_classes(n_unique, n_groups, f_vec, s, tc) if with_tables else 0
    whole = with_tables and n_unique > 0     # vectors landing whole go by table classes
    by_sets = by_sets and whole and i_vec < 16
    rlo, rhi, slo, shi = geom[2], -1, geom[3], -1    # the channel's weights' r, s bounds
    for u in range(n_unique):
        rlo, rhi = min(rlo, ubox[u, 0]), max(rhi, ubox[u, 1])
        slo, shi = min(slo, ubox[u, 2]), max(shi, ubox[u, 3])
    if by_sets:
        mvals[:] = -1
    for gl in range(n_groups if whole else 0):
        geff[gl] = 0
        for u in range(n_unique):
            geff[gl] += mult[gl, u] * unzw[u]
    n_sets = 0
    for pe in range(tiles.shape[0]):
        na = _pe_activations(pe, c, geom, tiles, a_ptr, a_val, a_run, s)
        if na == 0:
            continue
        for gl in range(n_groups):
            pcyc[gl] = pstall[gl] = 0
        set_products = set_nonzeros = 0
        by_vectors = False                # a vector of this PE counted weight vector by one
        for i0 in range(0, na, i_vec):
            i1 = min(i0 + i_vec, na)
            ylo, yhi, xlo, xhi = ay[i0], ay[i0], ax[i0], ax[i0]
            nz_a = 0
            for i in range(i0, i1):
                ylo, yhi = min(ylo, ay[i]), max(yhi, ay[i])
                xlo, xhi = min(xlo, ax[i]), max(xhi, ax[i])
                if av[i] != 0:
                    nz_a += 1
            y_top, x_left = yhi - h1 + 1, xhi - w1 + 1   # every activation lands for r, s
            if whole and y_top <= rlo and rhi <= ylo and x_left <= slo and shi <= xlo:
                a = 0                             # without sets: row 0, recomputed
                if by_sets:
                    key = np.uint64(0)
                    for i in range(i0, i1):
                        key += np.uint64(1) << np.uint64(4 * akey[i])
                    a = _find_or_add(mkeys, mvals, np.int64(key), n_sets)
                if a == n_sets or not by_sets:
                    _set_costs(a, i0, i1, akey, n_tc, n_groups, s, m, tc)
                    n_sets += by_sets
                for gl in range(n_groups):
                    pcyc[gl] += gcyc[a, gl]
                    pstall[gl] += gstall[a, gl]
                set_products += i1 - i0
                set_nonzeros += nz_a
                continue
            if not by_vectors:
                by_vectors = True
                for u in range(n_unique):
                    ucyc[u] = ustall[u] = uland[u] = ueff[u] = 0
            stamp[0] += 1
            for u in range(n_unique):                     # in [y_top, ylo] x [x_left, xlo]
                j0 = ustart[u]
                j1 = j0 + ulen[u]
                if with_tables and y_top <= ubox[u, 0] and ubox[u, 1] <= ylo and \
                        x_left <= ubox[u, 2] and ubox[u, 3] <= xlo:
                    t = utc[u]
                    if tc_seen[t] != stamp[0]:
                        tc_seen[t] = stamp[0]
                        tcw[t] = _table_worst(tc_rep[t], i0, i1, akey, tables, unslot)
                    worst = tcw[t]
                    uland[u] += (j1 - j0) * (i1 - i0)
                    ueff[u] += unzw[u] * nz_a
                else:
                    worst, landed, effectual = _product_walk(
                        i0, i1, ay, ax, av, akey, j0, j1, wk, wr, ws, wv, wkey, words, h1, w1)
                    uland[u] += landed
                    ueff[u] += effectual
                ucyc[u] += max(worst, 1)
                ustall[u] += max(worst - 1, 0)
        for gl in range(n_groups):
            cyc, stall = pcyc[gl], pstall[gl]
            land = nw_g[gl] * set_products
            eff = geff[gl] * set_nonzeros
            for u in range(n_unique if by_vectors else 0):
                m_u = mult[gl, u]
                cyc += m_u * ucyc[u]
                stall += m_u * ustall[u]
                land += m_u * uland[u]
                eff += m_u * ueff[u]
            _add_counts(cycles_part, stats_part, blk, pe, gl_of[gl], cyc, stall, land, eff,
                        na, nw_g[gl], f_vec, i_vec)


@njit(cache=True, parallel=True)
def _xor_counts(geom, tiles, kgroups, a_ptr, a_val, a_run, w_ptr, w_val, w_run, f_vec, i_vec,
                group_cycles, stats):
    """:func:`_run_pe`'s counts without the sums under the XOR hash at stride 1 with at
    least 32 banks (so the bank is the hash) and ``f_vec * i_vec < 128``, input channel by
    input channel (:func:`_count_channel`): a vector cycle's banks as byte counters, one word
    per ``k & 3`` class of its weights (:func:`xor_words`), its busiest bank the largest
    byte. A vector cycle whose products all land (the activations' and weights' bounding
    boxes say so) sums its weight vector's word table at its activations' keys; others (at
    the plane's borders) walk their products. Same numbers as :func:`_channel`
    (tests/test_scnn.py, tests/test_scnn_sparten_speed.py, tests/test_scnn_speed.py)."""
    n_c, rr, ss = geom[0], geom[2], geom[3]
    n_pe, n_g = tiles.shape[0], kgroups.shape[0]
    per_channel = 1                   # weights of one input channel over its groups
    for g in range(n_g):
        total = 0
        for h in range(n_g):
            if kgroups[h, 2] == kgroups[g, 2]:
                total += (kgroups[h, 1] - kgroups[h, 0]) * rr * ss
        per_channel = max(per_channel, total)
    n_vec = per_channel // f_vec + n_g + 1
    na_max = 1
    for pe in range(n_pe):
        na_max = max(na_max, (tiles[pe, 1] - tiles[pe, 0]) * (tiles[pe, 3] - tiles[pe, 2]))
    slots = min(f_vec, 4)
    hash_size = 1
    while hash_size < 2 * n_vec:
        hash_size *= 2
    n_sets = 1                        # activation multisets in a channel: at most its
    for j in range(1, min(i_vec, 15) + 1):     # vectors and C(16 + i_vec, i_vec)
        n_sets = n_sets * (16 + j) // j
    n_avec_max = 0
    for pe in range(n_pe):
        n_avec_max += -(-(tiles[pe, 1] - tiles[pe, 0]) * (tiles[pe, 3] - tiles[pe, 2])
                        // i_vec)
    n_sets = min(n_sets, n_avec_max) + 1
    set_hash = 1
    while set_hash < 2 * n_sets:
        set_hash *= 2
    n_blocks = min(BLOCKS, n_c)
    cycles_part = np.zeros((n_blocks, n_pe, n_g), np.int64)
    stats_part = np.zeros((n_blocks, n_pe, N_STATS), np.int64)
    words = xor_words()
    for blk in prange(n_blocks):
        # scratch, in the order the helpers unpack it: a channel's weights (wv, wk, wr, ws,
        # wkey), its unique vectors (ustart, ulen, ubox, unzw, uclass, unslot, tables, mult,
        # hkeys, hvals) and their counts (ucyc, ustall, uland, ueff), its groups (gl_of,
        # nw_g), a PE's activations (av, ay, ax, akey)
        s = (np.zeros(per_channel + 1, w_val.dtype), np.zeros(per_channel + 1, np.int64),
             np.zeros(per_channel + 1, np.int64), np.zeros(per_channel + 1, np.int64),
             np.zeros(per_channel + 1, np.int64), np.zeros(n_vec, np.int64),
             np.zeros(n_vec, np.int64), np.zeros((n_vec, 4), np.int64),
             np.zeros(n_vec, np.int64), np.zeros((n_vec, slots), np.int64),
             np.zeros(n_vec, np.int64), np.zeros((n_vec, slots, 16), np.uint64),
             np.zeros((n_g, n_vec), np.int64), np.zeros(hash_size, np.int64),
             np.full(hash_size, -1, np.int64), np.zeros(n_vec, np.int64),
             np.zeros(n_vec, np.int64), np.zeros(n_vec, np.int64), np.zeros(n_vec, np.int64),
             np.zeros(n_g, np.int64), np.zeros(n_g, np.int64), np.zeros(na_max, a_val.dtype),
             np.zeros(na_max, np.int64), np.zeros(na_max, np.int64),
             np.zeros(na_max, np.int64))
        # activation multisets (:func:`_count_channel`): their hash (keys, indices), each
        # one's cost per group (cycles, stalls), a PE's sums of those, effectual per group
        m = (np.zeros(set_hash, np.int64), np.full(set_hash, -1, np.int64),
             np.zeros((n_sets, n_g), np.int64), np.zeros((n_sets, n_g), np.int64),
             np.zeros(n_g, np.int64), np.zeros(n_g, np.int64), np.zeros(n_g, np.int64))
        # table classes (:func:`_table_classes`): each unique vector's class, a vector of
        # each class, their hash (keys, indices), per group and class the vectors, each
        # class's cycles for the current activation vector and that vector's stamp, the
        # stamps' counter; :func:`_table_class_key`'s slots (class, k >> 2 & 1, weights,
        # packed codes) and codes
        tc = (np.zeros(n_vec, np.int64), np.zeros(n_vec, np.int64),
              np.zeros(hash_size, np.int64), np.full(hash_size, -1, np.int64),
              np.zeros((n_g, n_vec), np.int64), np.zeros(n_vec, np.int64),
              np.full(n_vec, -1, np.int64), np.zeros(1, np.int64), np.zeros(8, np.int64),
              np.zeros(8, np.int64), np.zeros(8, np.int64), np.zeros(8, np.int64),
              np.zeros((8, 8), np.int64))
        for c in range(blk * n_c // n_blocks, (blk + 1) * n_c // n_blocks):
            n_avec = 0
            for pe in range(n_pe):
                n_avec += (a_ptr[pe * n_c + c + 1] - a_ptr[pe * n_c + c] + i_vec - 1) // i_vec
            if n_avec == 0:
                continue
            n_groups = _channel_weights(c, geom, kgroups, w_ptr, w_val, w_run, s)
            _count_channel(c, geom, tiles, a_ptr, a_val, a_run, f_vec, i_vec, words, n_groups,
                           n_avec >= TABLE_MIN_VECTORS, n_avec >= SET_MIN_VECTORS, s, m,
                           tc, cycles_part, stats_part, blk)
    for blk in range(n_blocks):
        for pe in range(n_pe):
            for g in range(n_g):
                group_cycles[pe, g] += cycles_part[blk, pe, g]
            for col in range(N_STATS):
                stats[pe, col] += stats_part[blk, pe, col]
    for pe in range(n_pe):
        stats[pe, PAIRS_SLOTS] = stats[pe, VECTOR_CYCLES] * f_vec * i_vec


@njit(cache=True)
def _run_pe(pe, geom, tiles, origin, kgroups, a_ptr, a_val, a_run, w_ptr, w_val, w_run,
            f_vec, i_vec, banks, hash_kind, compute, acc, group_cycles, stats):
    """One PE's tile through every output-channel group: per input channel, the activation
    and weight rows decoded once (positions to coordinates once, not per vector cycle), then
    :func:`_channel`."""
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
            cycles += _channel(ay, ax, av, na, wk, wr, ws, wv, nw, f_vec, i_vec, geom,
                               hash_kind, banks, mask, count, used, compute, acc_pe, oy_lo,
                               ox_lo, totals)
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
    geom, tiles = np.asarray(geom, np.int64), np.ascontiguousarray(tiles, np.int64)
    kgroups = np.ascontiguousarray(kgroups, np.int64)
    if by_words(geom, f_vec, i_vec, banks, hash_kind, compute):
        _xor_counts(geom, tiles, kgroups, a_ptr, a_val, a_run, w_ptr, w_val, w_run, f_vec,
                    i_vec, group_cycles, stats)
    else:
        _run_pes(geom, tiles, np.ascontiguousarray(origin, np.int64), kgroups, a_ptr, a_val,
                 a_run, w_ptr, w_val, w_run, f_vec, i_vec, banks, hash_kind, compute, acc,
                 group_cycles, stats)
    return acc, group_cycles, stats


FC_BLOCK = 64
"""Walked input channels :func:`_fc_rows` counts together (a speed knob only)."""
FC_ROWS = 256
"""Filter rows :func:`_fc_rows` reads per step of a block (a speed knob only: the block's
columns of that many rows stay in cache while each column is walked down them)."""


@njit(cache=True, parallel=True)
def _fc_rows(w, walked, kgroups, max_run, f_vec, hash_kind, banks, rows):
    """Per (group, walked channel ``a``): the cycles, stalls, entries and non-zeros of its
    weight row (``w[k0:k1, walked[a]]``) against one activation, encoded as it is read, up
    to the row's last non-zero (trailing placeholders are dropped: the figures are kept as
    the first placeholder after a non-zero comes): an entry goes to bank ``hash(k, 0, 0)``,
    a vector of ``f_vec`` entries lasts as long as its busiest bank. ``FC_BLOCK`` channels
    of a group per task, tasks in parallel; ``w`` (K x C) is read ``FC_ROWS`` rows at a
    time, each channel walked down them with its encoder state carried from step to step,
    so no gathered copy of the walked columns is made."""
    mask = banks - 1 if banks & (banks - 1) == 0 else -1
    n_a = len(walked)
    n_blocks = (n_a + FC_BLOCK - 1) // FC_BLOCK
    for task in prange(kgroups.shape[0] * n_blocks):
        g, a0 = task // n_blocks, (task % n_blocks) * FC_BLOCK
        n = min(a0 + FC_BLOCK, n_a) - a0
        count = np.zeros((n, banks), np.int64)
        used = np.zeros((n, f_vec), np.int64)
        # per channel: run, fill, worst, entries, non-zeros, cycles, stalls, after_nonzero
        state = np.zeros((n, 8), np.int64)
        for kb in range(kgroups[g, 0], kgroups[g, 1], FC_ROWS):
            ke = min(kb + FC_ROWS, kgroups[g, 1])
            for j in range(n):
                a, col, cnt, use = a0 + j, walked[a0 + j], count[j], used[j]
                run, fill, worst, entries, nonzeros, cycles, stalls, after = state[j]
                for k in range(kb, ke):
                    v = w[k, col]
                    if v == 0:
                        if run < max_run:
                            run += 1
                            continue
                        if after:
                            rows[g, a, 0] = cycles + worst
                            rows[g, a, 1] = stalls + max(worst - 1, 0)
                            rows[g, a, 2], rows[g, a, 3] = entries, nonzeros
                            after = 0
                    else:
                        nonzeros += 1
                        after = 1
                    run = 0
                    b = _bank(hash_kind, k, 0, 0, banks, mask)
                    cnt[b] += 1
                    worst = max(worst, cnt[b])
                    use[fill] = b
                    fill += 1
                    entries += 1
                    if fill == f_vec:
                        cycles += worst
                        stalls += worst - 1
                        for q in range(f_vec):
                            cnt[use[q]] = 0
                        fill = worst = 0
                state[j, 0], state[j, 1], state[j, 2], state[j, 3] = run, fill, worst, entries
                state[j, 4], state[j, 5], state[j, 6], state[j, 7] = nonzeros, cycles, stalls, \
                    after
        for j in range(n):
            run, fill, worst, entries, nonzeros, cycles, stalls, after = state[j]
            if after:
                rows[g, a0 + j, 0] = cycles + worst
                rows[g, a0 + j, 1] = stalls + max(worst - 1, 0)
                rows[g, a0 + j, 2], rows[g, a0 + j, 3] = entries, nonzeros


def count_fc(x, w, tiles, kgroups, max_run, *, f_vec, i_vec, banks, hash_kind):
    """:func:`run_pes`' cycles and statistics of an fc layer without the sums, and the
    (PE, channel) and (group, channel) entries of :func:`encode_tiles` and
    :func:`encode_weights`, without encoding: the layer is a 1 x 1 conv over a 1 x 1 input
    of C channels, one PE's tile, holding one entry per non-zero input (``x``, C values);
    each of its vector cycles pairs that entry with up to ``f_vec`` weight entries, which
    all land on output (k, 0, 0). Only the channels with an entry are walked
    (:func:`_fc_rows`), and those whose zeros may need placeholders (at least ``max_run +
    1`` zeros in a row): any other row stores one entry per non-zero. Returns (cycles PEs x
    groups, stats PEs x N_STATS, activation entries PEs x C, weight entries groups x C)."""
    n_pe, n_g, n_c = len(tiles), len(kgroups), x.size
    active = np.flatnonzero(x.ravel())
    pe = np.flatnonzero((tiles[:, 1] > tiles[:, 0]) & (tiles[:, 3] > tiles[:, 2]))[0]
    w = np.ascontiguousarray(w).reshape(-1, n_c)
    kgroups = np.ascontiguousarray(kgroups, np.int64)
    w_entries = np.stack([np.count_nonzero(w[k0:k1], axis=0) for k0, k1 in kgroups[:, :2]])
    sparse = (kgroups[:, 1] - kgroups[:, 0])[:, None] - w_entries > max_run
    walked = np.union1d(active, np.flatnonzero(sparse.any(axis=0)))
    rows = np.zeros((n_g, len(walked), 4), np.int64)
    _fc_rows(w, walked, kgroups, max_run, f_vec, hash_kind, banks, rows)
    w_entries[:, walked] = rows[:, :, 2]
    rows = rows[:, np.searchsorted(walked, active)]
    group_cycles = np.zeros((n_pe, n_g), np.int64)
    group_cycles[pe] = rows[:, :, 0].sum(axis=1)
    stats = np.zeros((n_pe, N_STATS), np.int64)
    entries = rows[:, :, 2]
    stats[pe, PRODUCTS] = stats[pe, LANDED] = entries.sum()
    stats[pe, EFFECTUAL] = rows[:, :, 3].sum()
    stats[pe, STALLS] = rows[:, :, 1].sum()
    stats[pe, VECTOR_CYCLES] = (-(-entries // f_vec)).sum()
    stats[pe, PAIRS_SLOTS] = stats[pe, VECTOR_CYCLES] * f_vec * i_vec
    a_entries = np.zeros((n_pe, n_c), np.int64)
    a_entries[pe, active] = 1
    return group_cycles, stats, a_entries, w_entries.astype(np.int64)


def by_words(geom, f_vec, i_vec, banks, hash_kind, compute) -> bool:
    """Whether :func:`run_pes` counts by :func:`_xor_counts` (no sums, the XOR hash with at
    least 32 banks, stride 1, byte counters wide enough) rather than product by product."""
    return (not compute and hash_kind == HASH_XOR and banks >= 32 and geom[4] == 1
            and geom[5] == 1 and f_vec * i_vec < 128)
