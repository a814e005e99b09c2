"""Phantom's core, cycle by cycle on binary masks: real outputs and per-core cycles in one pass.

Work items. A conv or fc output ``(m, p)`` (filter ``m``, output position ``p``) is the dot
product of filter ``m`` with the input window at ``p`` over ``K = C/G x R x S`` elements in
``(c, r, s)`` order. The reduction is cut into chunks of ``chunk`` consecutive elements
(with ``chunk = 9`` and a 3x3 kernel, one channel's window); a *work item* is one chunk of
one output. Its weight mask and activation mask are ``chunk``-bit codes (bit ``b`` set when
element ``b`` of the chunk is non-zero); the item's *effectual pairs* are the set bits of
their AND.

A core walks its items in this order (weight-chunk stationary, the window sliding over the
core's output positions, as Phantom slides its filter row across the input row)::

    for m in core's filters, k in core's chunks [k0, k1), p in core's positions [p0, p1):
        item (m, k, p)

and with ``skip`` a chunk whose weight code is 0 is not walked at all (the lookahead unit
reads the weight masks first). Scheduling (``mode``):

* ``DYNAMIC`` (Phantom): a lookahead window holds the next ``lookahead`` items; every cycle
  the scheduler hands up to ``threads`` of the window's effectual pairs, oldest item first,
  to the threads (so one cycle may finish one item and start several others: partial sums
  are tagged and summed in the output buffer). An item leaves the window once all its
  pairs are dispatched (an item with none leaves at the first cycle that reaches it), and
  the window refills to ``lookahead`` items at the start of each cycle. Threads idle only
  when the window holds fewer than ``threads`` pairs.
* ``STATIC``: threads are bound to a chunk's elements: each cycle the lookahead unit issues
  the first item with any effectual pair among the next ``lookahead`` items, which takes
  ``ceil(pairs / threads)`` cycles; ``lookahead`` empty items are passed over per idle cycle.
* Without ``skip`` (the dense baseline with the same multipliers) every element is a pair:
  the dynamic window then packs ``threads`` pairs into every cycle.

The values: every effectual pair multiplies its weight and activation and adds the product
to the output's accumulator (int64 for fixed point, exact; float64 for fp32). Pairs that are
skipped are products with a zero factor, so the sums equal a dense execution's; so a
fixed-point run takes them from :mod:`accelsim.kernels.exact_sums` and the walk only
schedules and counts. Without ``skip`` the pairs do not depend on the data: a counting run
then takes the schedule in closed form where it applies (:func:`_dense_core`).

A counting run of the dynamic window walks a core's work one *run* at a time (one weight
chunk over the core's positions, :func:`_walk_runs`), equal to the item-by-item walk
(tests/test_phantom_speed.py) but with work far below one step per item:

* a run's cumulative pairs are the sum of its weight code's rows of per-bit position counts
  (:func:`bit_counts`, once per layer, where runs are worked out often enough to pay:
  :func:`_counts_pay`), a few vector adds per position, else a popcount per position; they
  are kept per chunk and reused while the core's next filters have the same weight code
  there (with dense weights, every filter);
* where any ``lookahead - 1`` consecutive items hold at least ``threads`` pairs, no
  dispatch can run the window dry, so ``issued`` moves by whole cycles of ``threads``
  pairs and the stretch's cycles have the closed form of :func:`_dense_core`; the
  stretch's end is found when the walk reaches it (:func:`_safe_until`);
* between dispatches nothing happens: the walk goes from one dispatch to the next (the
  window is full again once ``lookahead`` items follow the oldest one still in it);
* a dispatch that hands out every pair in the window empties it: what follows depends on
  the run's data and that position alone, so the rest of the run (cycles, idle threads,
  the window left behind) is recorded there and reused by later filters that empty the
  window at the same position;
* what a run learns is recorded only when the core's next filter walks the same run (with
  pruned weights it rarely does, and the records would only cost cache misses).

A counting run of the static schedule takes its pairs the same way (:func:`_walk_static`).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import njit, prange

DENSE, STATIC, DYNAMIC = 0, 1, 2

# Per-core statistics columns.
(CYCLES, ITEMS, PAIRS, WEIGHT_CHUNKS, NONEMPTY_ITEMS, IDLE_THREAD_CYCLES) = range(6)
N_STATS = 6

MAX_CHUNK = 16
RUN_LIMIT = 1 << 31          # :func:`_walk_runs` keeps a run's counts in int32


@cache
def popcount_table(bits: int) -> np.ndarray:
    """Set bits of every ``bits``-bit code (the lookahead unit's adder tree)."""
    codes = np.arange(1 << bits, dtype=np.int64)
    table = np.zeros(1 << bits, dtype=np.int64)
    for b in range(bits):
        table += (codes >> b) & 1
    return table


@njit(cache=True)
def mask_codes(matrix, chunk):
    """The mask codes of an ``M x K`` matrix cut into chunks of ``chunk`` along ``K``: bit
    ``b`` of ``codes[m, k]`` is set when element ``k * chunk + b`` of row ``m`` is non-zero
    (one pass, no padded copy: an fc layer's weights are large)."""
    rows, width = matrix.shape
    n_chunks = -(-width // chunk)
    codes = np.empty((rows, n_chunks), np.int64)
    for i in range(rows):
        for k in range(n_chunks):
            code = 0
            for b in range(min(chunk, width - k * chunk)):
                code |= np.int64(matrix[i, k * chunk + b] != 0) << b
            codes[i, k] = code
    return codes


@njit(cache=True)
def window_chunks(padded, kernel_h, kernel_w, stride_h, stride_w, out_h, out_w, groups, chunk,
                  values):
    """The input windows of a conv as work-item chunks, in one pass over the padded input
    (``C x H x W``): ``avals[g, k, p, b]`` is element ``k * chunk + b`` (in ``(c, r, s)``
    order within group ``g``) of the window at output position ``p``, zero past the window;
    ``acodes[g, k, p]`` its mask code (bit ``b`` set when that element is non-zero).
    Without ``values`` only the codes (``avals`` is empty): what a count-only run needs."""
    cg = padded.shape[0] // groups
    n_chunks = -(-(cg * kernel_h * kernel_w) // chunk)
    shape = (groups, n_chunks, out_h * out_w, chunk) if values else (0, 0, 0, 0)
    avals = np.zeros(shape, padded.dtype)
    acodes = np.zeros((groups, n_chunks, out_h * out_w), np.int64)
    for g in range(groups):
        for c in range(cg):
            for r in range(kernel_h):
                for s in range(kernel_w):
                    e = (c * kernel_h + r) * kernel_w + s
                    k, b = e // chunk, e % chunk
                    for oy in range(out_h):
                        row = padded[g * cg + c, oy * stride_h + r]
                        for ox in range(out_w):
                            v = row[ox * stride_w + s]
                            if values:
                                avals[g, k, oy * out_w + ox, b] = v
                            if v != 0:
                                acodes[g, k, oy * out_w + ox] |= 1 << b
    return avals, acodes


@njit(cache=True)
def _dispatch(ends, head, count, issued, total, threads, lookahead):
    """Dynamic scheduler cycles until the window's oldest item is fully dispatched (at least
    one): each cycle hands ``min(threads, pending)`` pairs out, oldest first. ``ends[slot]``
    is an item's cumulative pair count (its last pair's number), ``issued`` the pairs
    handed out so far, ``total`` the pairs that entered the window; an item retires once
    ``issued`` reaches its end (an item with no pairs at the first cycle that reaches it).
    Returns (head, count, issued, cycles, idle thread-cycles)."""
    gap = ends[head] - issued
    cycles = 1 if gap <= threads else -(-gap // threads)    # no division when one cycle
    done = min(issued + cycles * threads, total)
    idle = cycles * threads - (done - issued)
    while count > 0 and ends[head] <= done:
        head = head + 1 if head + 1 < lookahead else 0
        count -= 1
    return head, count, done, cycles, idle


@njit(cache=True)
def _item_sum(w_chunk, a_chunks, p, both, integer):
    """The item's effectual products, summed (bits of ``both`` select the elements of the
    weight chunk ``w_chunk`` and the activation chunk ``a_chunks[p]``). ``w_chunk`` is an
    integer (numba multiplies as int64) or float64, so every product is exact (int) or
    double (float). Integers: the whole chunk's dot product without a branch per bit (a
    pair with a zero factor adds an exact 0); floats only the selected elements (``0 * inf``
    would not be 0)."""
    total = w_chunk[0] - w_chunk[0]
    if integer:
        for j in range(w_chunk.shape[0]):
            total += w_chunk[j] * a_chunks[p, j]
        return total
    j = 0
    while both:
        if both & 1:
            total += w_chunk[j] * a_chunks[p, j]
        both >>= 1
        j += 1
    return total


@njit(cache=True)
def _packs_every_cycle(chunk_len, k0, k1, threads, lookahead):
    """Whether a dense core's window hands out ``threads`` pairs in every cycle before its
    drain: every item has a pair and any ``lookahead - 1`` consecutive items hold at least
    ``threads - 1`` pairs (so a dispatch, ending within ``threads - 1`` pairs past the
    oldest item's last, never runs out of the window's pairs)."""
    if k1 <= k0:
        return True
    least = chunk_len[k0:k1].min()
    return least >= 1 and (lookahead - 1) * least >= threads - 1


@njit(cache=True)
def _store_stats(stats, core, cycles, items, pairs, chunks, nonempty, idle):
    """One core's row of the stats table (the column order of ``CYCLES``..)."""
    stats[core, CYCLES] = cycles
    stats[core, ITEMS] = items
    stats[core, PAIRS] = pairs
    stats[core, WEIGHT_CHUNKS] = chunks
    stats[core, NONEMPTY_ITEMS] = nonempty
    stats[core, IDLE_THREAD_CYCLES] = idle


@njit(cache=True)
def _dense_core(core, filter_ptr, ranges, chunk_len, threads, lookahead, entry_cycles, stats):
    """The dynamic schedule of a core without skipping (every element a pair, so the pairs
    do not depend on the data), in closed form when :func:`_packs_every_cycle`: no thread
    idles before the drain, so ``issued`` is always a whole number of cycles' pairs, and
    the window, full when item ``n`` arrives, dispatches until item ``n - lookahead`` is
    out: the cycles once item ``n`` is in are ``ceil(E(n - lookahead) / threads)``
    (``E(i)``: the pairs of items ``0..i``; 0 before the window first fills). The drain
    then hands out the rest. Equal to :func:`_run_core`'s walk (tests/test_phantom.py)."""
    p0, p1, k0, k1, _part = ranges[core]
    n_pos, n_k = p1 - p0, k1 - k0
    cum = np.zeros(n_k + 1, np.int64)
    for kk in range(n_k):
        cum[kk + 1] = cum[kk] + chunk_len[k0 + kk]
    entry_items, entry_pairs = n_pos * n_k, n_pos * cum[n_k]
    e0, e1 = filter_ptr[core], filter_ptr[core + 1]
    cycles = 0
    for entry in range(e0, e1):
        oldest = (entry - e0 + 1) * entry_items - 1 - lookahead   # n - lookahead, n its last
        after = cycles
        if oldest >= 0:
            t, rem = oldest // entry_items, oldest % entry_items
            kk, pp = rem // n_pos, rem % n_pos
            pairs = t * entry_pairs + n_pos * cum[kk] + (pp + 1) * chunk_len[k0 + kk]
            after = (pairs + threads - 1) // threads
        entry_cycles[entry] = after - cycles
        cycles = after
    items, total = (e1 - e0) * entry_items, (e1 - e0) * entry_pairs
    idle = 0
    if items > 0:                    # drain: the pairs still in the window
        left = total - cycles * threads
        spent = max(1, -(-left // threads))
        idle = spent * threads - left
        entry_cycles[e1 - 1] += spent
        cycles += spent
    _store_stats(stats, core, cycles, items, total, (e1 - e0) * n_k, items, idle)


@njit(cache=True, parallel=True)
def bit_counts(acodes, width):
    """Per activation chunk and mask bit, how many positions before each one have the bit:
    ``counts[g, k, b, p]`` = positions ``q < p`` with bit ``b`` of ``acodes[g, k, q]`` set.
    A run's cumulative pairs are then the sum of its weight code's bits' rows
    (:func:`_run_prefix`), shared by every filter instead of a popcount per item."""
    groups, n_chunks, n_pos = acodes.shape
    counts = np.empty((groups, n_chunks, width, n_pos + 1), np.int32)
    for gk in prange(groups * n_chunks):    # each (g, k) writes only its own rows
        g, k = gk // n_chunks, gk % n_chunks
        codes = acodes[g, k]
        for b in range(width):
            row = counts[g, k, b]
            total = 0
            row[0] = 0
            for p in range(n_pos):
                total += (codes[p] >> b) & 1
                row[p + 1] = total
    return counts


@njit(cache=True)
def _run_prefix(a_codes, counts, use_counts, wc, p0, p1, skip, length, popcount, lookahead,
                prefix):
    """One run's pairs (weight code ``wc`` against the activation codes ``a_codes[p0:p1]``,
    whose bit counts are ``counts`` (:func:`bit_counts`) if ``use_counts``; ``length`` each
    without ``skip``), cumulated: ``prefix[lookahead - 1 + j]`` = pairs of the run's items
    before ``j`` (the first ``lookahead - 1`` slots are left for the items before the run).
    With the counts a set bit's row is added whole (a few vector adds per position), else a
    popcount per position. Returns the number of items with a pair."""
    n_pos = p1 - p0
    run = prefix[lookahead - 1:lookahead + n_pos]
    if skip and not use_counts:
        run[0] = 0
        for j in range(n_pos):
            run[j + 1] = run[j] + popcount[wc & a_codes[p0 + j]]
    elif skip:
        run[:] = 0
        b, code = 0, wc
        while code:
            if code & 1:
                row = counts[b, p0:p1 + 1]
                before = row[0]
                for j in range(n_pos + 1):
                    run[j] += row[j] - before
            code >>= 1
            b += 1
    else:
        for j in range(n_pos + 1):
            run[j] = j * length
    nonempty = 0
    for j in range(n_pos):
        nonempty += run[j + 1] != run[j]
    return nonempty


@njit(cache=True)
def _safe_until(prefix, j, n_pos, lookahead, threads):
    """The first arrival ``>= j`` whose ``lookahead - 1`` preceding items hold fewer than
    ``threads`` pairs (``n_pos`` if none); arrival ``j`` itself is known safe (its preceding
    items all in the run). Checks eight arrivals at a time while all are safe."""
    b = j
    while b + 8 <= n_pos:
        short = False
        for i in range(8):
            short |= prefix[lookahead - 1 + b + i] - prefix[b + i] < threads
        if short:
            break
        b += 8
    while b < n_pos and prefix[lookahead - 1 + b] - prefix[b] >= threads:
        b += 1
    return b


@njit(cache=True)
def _walk_runs(core, filters, filter_ptr, ranges, wcodes, acodes, counts, use_counts, chunk_len,
               filters_per_group, threads, lookahead, skip, popcount, entry_cycles, stats):
    """The dynamic window's schedule of one core, run by run (module docstring), equal to
    :func:`_run_core`'s item-by-item walk. In a run's coordinates, slot ``s`` of its
    ``prefix`` row is ``E(item s - lookahead of the run) - base`` (``E``: cumulative pairs,
    ``base``: pairs before the run); ``issued`` and ``head`` (the oldest item still in the
    window) are kept relative to them. What a chunk's run knows (where a safe stretch ends,
    the rest after an emptied window) is stamped with the chunk's ``version``, bumped when
    its run changes, instead of being cleared."""
    p0, p1, k0, k1, _part = ranges[core]
    n_pos, n_k = p1 - p0, k1 - k0
    look, thr = lookahead, threads
    # int32: a run's pairs, cycles and idle threads are below RUN_LIMIT (see _run_core).
    prefix = np.empty((n_k, look + n_pos), np.int32)
    scratch = np.empty(look + n_pos, np.int32)    # a run no later filter reuses
    version = np.zeros(n_k, np.int32)
    # Where the safe stretch from arrival j ends, known when safe_seen[kk, j] is the version.
    safe_end = np.empty((n_k, n_pos + 1), np.int32)
    safe_seen = np.full((n_k, n_pos + 1), -1, np.int32)
    # Rest of the run after a dispatch that emptied the window at arrival j (likewise).
    rest_seen = np.full((n_k, n_pos + 1), -1, np.int32)
    rest_cycles = np.empty((n_k, n_pos + 1), np.int32)
    rest_idle = np.empty((n_k, n_pos + 1), np.int32)
    rest_issued = np.empty((n_k, n_pos + 1), np.int32)
    rest_head = np.empty((n_k, n_pos + 1), np.int32)
    emptied_at = np.empty(n_pos + 1, np.int64)
    emptied_cycles = np.empty(n_pos + 1, np.int64)
    emptied_idle = np.empty(n_pos + 1, np.int64)
    code_of = np.full(n_k, -1, np.int64)
    group_of = np.full(n_k, -1, np.int64)
    nonempty_of = np.zeros(n_k, np.int64)
    before = np.zeros(look, np.int64)       # the items before the next run, relative to it
    issued, head = 0, look
    cycles = idle = 0
    items = pairs_total = chunks = nonempty = 0
    for entry in range(filter_ptr[core], filter_ptr[core + 1]):
        m = filters[entry]
        g = m // filters_per_group
        start = cycles
        for k in range(k0, k1):
            wc = wcodes[m, k]
            if skip and wc == 0:
                continue
            kk = k - k0
            # Worth keeping only if the core's next filter walks the same run (pruned weights
            # rarely do: the records would be cache misses for nothing).
            keep = entry + 1 < filter_ptr[core + 1] and \
                wcodes[filters[entry + 1], k] == wc and \
                filters[entry + 1] // filters_per_group == g
            fresh = code_of[kk] != wc or group_of[kk] != g
            e = prefix[kk] if keep or not fresh else scratch
            if fresh:                          # nothing known about this run yet
                nonempty_of[kk] = _run_prefix(
                    acodes[g, k], counts[g, k] if use_counts else counts[0, 0], use_counts,
                    wc, p0, p1, skip, chunk_len[k], popcount, look, e)
                code_of[kk], group_of[kk] = (wc, g) if keep else (-1, -1)
                version[kk] += 1
            stamp = version[kk]
            e[:look - 1] = before[:look - 1]
            run_pairs = e[look - 1 + n_pos]
            chunks += 1
            items += n_pos
            pairs_total += run_pairs
            nonempty += nonempty_of[kk]
            n_emptied = 0
            j = 0
            while j < n_pos:
                t = look + j                       # arrival j; the window is head..t-1
                if j >= look - 1 and e[t - 1] - e[j] >= thr and head < t and e[head] > issued:
                    if not fresh and safe_seen[kk, j] == stamp:   # arrivals j..b-1 never
                        b = safe_end[kk, j]                           # run the window dry
                    else:
                        b = _safe_until(e, j, n_pos, look, thr)
                        if keep:
                            safe_end[kk, j], safe_seen[kk, j] = b, stamp
                    last = e[b - 1]                # the oldest item at arrival b - 1
                    if last > issued:
                        spent = (last - issued + thr - 1) // thr
                        issued += spent * thr
                        cycles += spent
                        lo, hi = max(head, b), look + b    # items up to slot b - 1 are out
                        while lo < hi:             # the first item not fully dispatched
                            mid = (lo + hi) >> 1
                            if e[mid] <= issued:
                                lo = mid + 1
                            else:
                                hi = mid
                        head = lo
                    j = b
                    continue
                if t - head < look:                # next dispatch: when the window is full
                    j = head
                    continue
                total = e[t - 1]
                gap = e[head] - issued
                spent = 1 if gap <= thr else (gap + thr - 1) // thr
                done = min(issued + spent * thr, total)
                idle += spent * thr - (done - issued)
                cycles += spent
                issued = done
                if done == total:                  # the window emptied: the rest is j's own
                    head = t
                    if not fresh and rest_seen[kk, j] == stamp:
                        cycles += rest_cycles[kk, j]
                        idle += rest_idle[kk, j]
                        issued = run_pairs + rest_issued[kk, j]
                        head = look + n_pos + rest_head[kk, j]
                        break
                    if keep:
                        emptied_at[n_emptied] = j
                        emptied_cycles[n_emptied] = cycles
                        emptied_idle[n_emptied] = idle
                        n_emptied += 1
                else:
                    while head < t and e[head] <= done:
                        head += 1
                j += 1
            for r in range(n_emptied):
                at = emptied_at[r]
                rest_cycles[kk, at] = cycles - emptied_cycles[r]
                rest_idle[kk, at] = idle - emptied_idle[r]
                rest_issued[kk, at] = issued - run_pairs
                rest_head[kk, at] = head - look - n_pos
                rest_seen[kk, at] = stamp
            for s in range(look - 1):              # the next run's view of these items
                before[s] = e[n_pos + s] - run_pairs
            issued -= run_pairs
            head -= n_pos
        entry_cycles[entry] = cycles - start
    tail = 0
    if head < look:                  # drain: cycles until the newest item is dispatched
        left = -issued
        tail = max(1, -(-left // thr))
        idle += tail * thr - left
    last_entry = filter_ptr[core + 1] - 1
    if last_entry >= filter_ptr[core]:
        entry_cycles[last_entry] += tail
    cycles += tail
    _store_stats(stats, core, cycles, items, pairs_total, chunks, nonempty, idle)


@njit(cache=True)
def _walk_static(core, filters, filter_ptr, ranges, wcodes, acodes, counts, use_counts,
                 filters_per_group, threads, lookahead, popcount, entry_cycles, stats):
    """The static schedule of one core, counting only, equal to :func:`_run_core`'s item walk
    in ``STATIC`` mode: each run's pairs come from :func:`_run_prefix` and the pass over its
    items has no branch on the data: ``whole`` and ``part`` are the empty items since the
    last issued one, as whole lookahead windows and the rest."""
    p0, p1, k0, k1, _part = ranges[core]
    n_pos, look = p1 - p0, lookahead
    run = np.empty(n_pos + 1, np.int32)
    static_cycles = (np.arange(MAX_CHUNK + 1) + threads - 1) // threads
    cycles = whole = part = 0
    items = pairs_total = chunks = nonempty = 0
    for entry in range(filter_ptr[core], filter_ptr[core + 1]):
        m = filters[entry]
        g = m // filters_per_group
        start = cycles
        for k in range(k0, k1):
            wc = wcodes[m, k]
            if wc == 0:
                continue
            chunks += 1
            items += n_pos
            nonempty += _run_prefix(acodes[g, k], counts[g, k] if use_counts else counts[0, 0],
                                    use_counts, wc, p0, p1, True, 0, popcount, 1, run)
            pairs_total += run[n_pos]
            for j in range(n_pos):
                pairs = run[j + 1] - run[j]
                empty = pairs == 0
                cycles += 0 if empty else whole + static_cycles[pairs]
                wrapped = empty and part + 1 == look
                whole = (whole + 1 if wrapped else whole) if empty else 0
                part = (0 if wrapped else part + 1) if empty else 0
        entry_cycles[entry] = cycles - start
    tail = whole + (part > 0)        # the empty items left: a window of them per idle cycle
    last = filter_ptr[core + 1] - 1
    if last >= filter_ptr[core]:
        entry_cycles[last] += tail
    cycles += tail
    _store_stats(stats, core, cycles, items, pairs_total, chunks, nonempty,
                 cycles * threads - pairs_total)


@njit(cache=True)
def _walks_static(mode, skip, compute, n_pos):
    """Whether a core with ``n_pos`` positions takes :func:`_walk_static`."""
    return mode == STATIC and skip and not compute and n_pos * (MAX_CHUNK + 1) < RUN_LIMIT


@njit(cache=True)
def _walks_runs(mode, compute, threads, lookahead, n_pos):
    """Whether a core with ``n_pos`` positions takes :func:`_walk_runs`: a dynamic window
    that only counts, with runs longer than the window and small enough for int32."""
    return mode == DYNAMIC and not compute and lookahead < n_pos and \
        n_pos * (MAX_CHUNK + 1) * threads < RUN_LIMIT


@njit(cache=True)
def _run_core(core, filters, filter_ptr, ranges, wcodes, acodes, counts, use_counts, wvals,
              avals, chunk_len, filters_per_group, threads, lookahead, mode, skip, compute,
              integer, popcount, acc, entry_cycles, stats):
    """Walk one core's items in order and time them (see the module docstring); a dense
    core that only counts takes :func:`_dense_core`, a dynamic one :func:`_walk_runs` when
    its runs are longer than the window (``counts``: :func:`bit_counts` of ``acodes``)."""
    p0, p1, k0, k1, part = ranges[core]
    if not skip and not compute and _packs_every_cycle(chunk_len, k0, k1, threads, lookahead):
        _dense_core(core, filter_ptr, ranges, chunk_len, threads, lookahead, entry_cycles,
                    stats)
        return
    if _walks_runs(mode, compute, threads, lookahead, p1 - p0):
        _walk_runs(core, filters, filter_ptr, ranges, wcodes, acodes, counts, use_counts,
                   chunk_len, filters_per_group, threads, lookahead, skip, popcount,
                   entry_cycles, stats)
        return
    if _walks_static(mode, skip, compute, p1 - p0):
        _walk_static(core, filters, filter_ptr, ranges, wcodes, acodes, counts, use_counts,
                     filters_per_group, threads, lookahead, popcount, entry_cycles, stats)
        return
    ends = np.zeros(lookahead, dtype=np.int64)
    head = count = issued = total = 0
    cycles = empties = idle = 0
    items = pairs_total = chunks = nonempty = 0
    static_cycles = (np.arange(popcount.shape[0]) + threads - 1) // threads   # per pair count
    w_chunk, a_chunks, out = wvals[0, 0], avals[0, 0], acc[0, 0]     # set per chunk if compute
    for entry in range(filter_ptr[core], filter_ptr[core + 1]):
        m = filters[entry]
        g = m // filters_per_group
        start = cycles
        for k in range(k0, k1):
            wc = wcodes[m, k]
            if skip and wc == 0:
                continue
            chunks += 1
            items += p1 - p0
            a_codes = acodes[g, k]
            if compute:
                w_chunk, a_chunks, out = wvals[m, k], avals[g, k], acc[part, m]
            for p in range(p0, p1):
                both = wc & a_codes[p]
                if compute and both:
                    out[p] += _item_sum(w_chunk, a_chunks, p, both, integer)
                pairs = popcount[both] if skip else chunk_len[k]
                pairs_total += pairs
                if pairs:
                    nonempty += 1
                if mode == STATIC:
                    if pairs == 0:
                        empties += 1
                    else:
                        cycles += empties // lookahead + static_cycles[pairs]
                        empties = 0
                    continue
                if count == lookahead:
                    head, count, issued, spent, waste = _dispatch(
                        ends, head, count, issued, total, threads, lookahead)
                    cycles += spent
                    idle += waste
                total += pairs
                tail_slot = head + count
                ends[tail_slot if tail_slot < lookahead else tail_slot - lookahead] = total
                count += 1
        entry_cycles[entry] = cycles - start
    tail = -(-empties // lookahead) if mode == STATIC else 0
    if count > 0:                    # drain: cycles until the newest item is dispatched
        spent = max(1, -(-(total - issued) // threads))
        tail += spent
        idle += spent * threads - (total - issued)
    last = filter_ptr[core + 1] - 1
    if last >= filter_ptr[core]:
        entry_cycles[last] += tail
    cycles += tail
    # Static mode: every thread-cycle not spent on a pair idled (bound threads, or no item).
    _store_stats(stats, core, cycles, items, pairs_total, chunks, nonempty,
                 cycles * threads - pairs_total if mode == STATIC else idle)


@njit(cache=True, parallel=True)
def _run_cores(filters, filter_ptr, ranges, wcodes, acodes, counts, use_counts, wvals, avals,
               chunk_len, filters_per_group, threads, lookahead, mode, skip, compute, integer,
               popcount, acc, entry_cycles, stats):
    for core in prange(len(ranges)):
        _run_core(core, filters, filter_ptr, ranges, wcodes, acodes, counts, use_counts, wvals,
                  avals, chunk_len, filters_per_group, threads, lookahead, mode, skip, compute,
                  integer, popcount, acc, entry_cycles, stats)


def run_cores(filters: np.ndarray, filter_ptr: np.ndarray, ranges: np.ndarray,
              wcodes: np.ndarray, acodes: np.ndarray, wvals: np.ndarray, avals: np.ndarray,
              chunk_len: np.ndarray, *, filters_per_group: int, threads: int, lookahead: int,
              mode: int, skip: bool, compute: bool, n_parts: int, chunk: int | None = None):
    """Run every core of the mesh on its share of a layer.

    * ``filters`` / ``filter_ptr``: core ``c`` runs filters ``filters[filter_ptr[c]:
      filter_ptr[c + 1]]``, in that order (one *entry* each);
    * ``ranges``: per core ``(p0, p1, k0, k1, part)``: its output positions, its chunks and
      the accumulator slice it adds into (cores that split one output's reduction use
      different parts, summed by the caller);
    * ``wcodes`` ``M x NCH`` and ``acodes`` ``groups x NCH x positions``: the masks as codes
      (of exactly the non-zero values: fixed-point items sum whole chunks);
      ``wvals`` ``M x NCH x chunk``, ``avals`` ``groups x NCH x positions x chunk``: values;
      ``chunk_len``: elements in each chunk (the last may be short);
    * ``compute`` off: only the schedule and counts (``wvals`` / ``avals`` may be None, then
      ``chunk`` gives the mask chunk); the sums are computed elsewhere
      (:mod:`accelsim.kernels.exact_sums`).

    Returns ``(acc parts x M x positions, cycles per entry, stats cores x N_STATS)``; ``acc``
    is a 1 x 1 x 1 placeholder without ``compute``.
    """
    if mode not in (DENSE, STATIC, DYNAMIC) or threads < 1 or lookahead < 1:
        raise ValueError("bad scheduling parameters")
    if compute and (wvals is None or avals is None):
        raise ValueError("computing the sums needs the values")
    chunk = wvals.shape[2] if wvals is not None else chunk
    if chunk is None or chunk > MAX_CHUNK or (avals is not None and avals.shape[3] != chunk):
        raise ValueError(f"chunk must be <= {MAX_CHUNK} and equal for weights and inputs")
    if compute:
        integer = np.issubdtype(wvals.dtype, np.integer) and \
            np.issubdtype(avals.dtype, np.integer)
        acc = np.zeros((n_parts, wcodes.shape[0], acodes.shape[2]),
                       dtype=np.int64 if integer else np.float64)
        if not integer:              # float products in double; numba multiplies ints as int64
            wvals = wvals.astype(np.float64)
        avals = np.ascontiguousarray(avals)
    else:                            # counting only: placeholders the kernel never reads
        integer = True
        acc = np.zeros((1, 1, 1), np.int64)
        wvals, avals = np.zeros((1, 1, chunk), np.int16), np.zeros((1, 1, 1, chunk), np.int16)
    entry_cycles = np.zeros(len(filters), dtype=np.int64)
    stats = np.zeros((len(ranges), N_STATS), dtype=np.int64)
    acodes = np.ascontiguousarray(acodes, np.int64)
    ranges = np.ascontiguousarray(ranges, np.int64)
    use_counts = skip and _counts_pay(filters, filter_ptr, ranges, wcodes, acodes.size * chunk,
                                      mode, compute, threads, lookahead)
    counts = bit_counts(acodes, chunk) if use_counts else np.zeros((1, 1, 1, 1), np.int32)
    _run_cores(np.ascontiguousarray(filters, np.int64), np.ascontiguousarray(filter_ptr, np.int64),
               ranges, np.ascontiguousarray(wcodes, np.int64), acodes, counts, use_counts,
               np.ascontiguousarray(wvals), avals, np.ascontiguousarray(chunk_len, np.int64),
               filters_per_group, threads, lookahead, mode, skip, compute, integer,
               popcount_table(chunk), acc, entry_cycles, stats)
    return acc, entry_cycles, stats


def _counts_pay(filters, filter_ptr, ranges, wcodes, counts_size, mode, compute, threads,
                lookahead) -> bool:
    """Whether :func:`bit_counts` (``counts_size`` entries, one pass each) costs less than
    the popcount passes it replaces: a walk works a run's pairs out again whenever the core's
    next filter has another weight code at that chunk (the static walk for every run), so
    pruned weights gain and dense ones (one code, runs reused) do not; taken when the
    positions worked out are at least twice the counts."""
    positions = 0
    for core, (p0, p1, k0, k1, _part) in enumerate(ranges):
        static = _walks_static(mode, True, compute, int(p1 - p0))
        if not static and not _walks_runs(mode, compute, threads, lookahead, int(p1 - p0)):
            continue
        codes = wcodes[filters[filter_ptr[core]:filter_ptr[core + 1]], k0:k1]
        runs = codes.size if static else \
            min(len(codes), 1) * (k1 - k0) + np.count_nonzero(codes[1:] != codes[:-1])
        positions += int(runs) * int(p1 - p0)
    return positions >= 2 * counts_size
