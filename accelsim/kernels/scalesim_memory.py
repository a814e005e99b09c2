"""SCALE-Sim's double-buffered SRAMs, re-implemented as numba state machines.

SCALE-Sim 3.0.0 (``scalesim/memory/``) serves the systolic array's demand matrices one row
(one cycle) at a time through three buffers; these functions reproduce them event for event
but keep only what its reports need (no address traces):

* :func:`estimate_read` is ``read_buffer_estimate_bw.py`` (``InterfaceBandwidth: CALC``):
  every read hits (no stalls); new addresses are grouped into sets of
  ``floor(words / 100)``; when 50 sets have filled, they are "prefetched" over the cycles
  since the previous such epoch and the set window restarts empty, so an address seen again
  after an epoch is fetched again. The counts are SCALE-Sim's DRAM reads and trace cycles.
* :func:`user_read` is ``read_buffer.py`` (``InterfaceBandwidth: USER``): the prefetch
  sequence is cut into sets of ``ceil(words / 100)`` addresses; a window of the first
  ``A`` sets is active; a demanded address outside it slides the window ``P`` sets on
  (cyclically) and issues a prefetch of ``ceil(prefetch words / bandwidth)`` lines that
  completes ``lines + 1`` cycles after the previous one. :func:`user_read_sets` serves a row
  whose addresses' sets the caller knows (one each, consecutive).
* :func:`write_row` / :func:`drain_all` are ``write_buffer.py`` (both modes): outputs fill
  ``bandwidth``-word lines; once more than half the buffer is pending a drain of
  ``ceil(half / bandwidth)`` lines starts, one line a cycle; the array waits when the
  buffer is full during a drain.

Quirks of SCALE-Sim kept unless ``faithful`` (``scalesim_compat: false`` in the arch config):
a USER-mode miss adds a positive wait twice and a negative one (prefetch already done) is
subtracted, and each prefetch completes ``lines + 1`` cycles after the previous one however
long ago that was (DRAM idle time is banked for later); a drain frees ``bandwidth`` words for
every line but the last, even a line a forced flush left part-empty. Faithful instead: a
double buffer. While the array reads one half (the active window), the DRAM interface fills
the other with the next window, starting when that half was released (the miss that entered
the current window) and taking ``lines`` cycles; a miss waits ``max(0, ready - now)`` once for
the window it enters, then starts the next window's fetch. A drain frees the words really
written. (Faithful mode also streams a stationary operand in the order the array loads it,
:mod:`accelsim.kernels.systolic`, so a layer whose weights overflow the SRAM fetches each
weight once.)

State lives in small int64 arrays indexed by the module constants, so the simulation loop in
:mod:`accelsim.kernels.systolic` can hold three buffers without jitclasses.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# ---- CALC-mode read buffer (read_buffer_estimate_bw.py) -----------------------------------
EST_ITEMS, EST_START, EST_END, EST_CUR, EST_ELEMS, EST_LAST_START, EST_LAST_END, \
    EST_FIRST_CYCLE, EST_FIRST_SEEN, EST_ACTIVE_DONE, EST_PF_START, EST_ACCESS, \
    EST_TRACE_START, EST_TRACE_STOP, EST_HAS_TRACE = range(15)
EST_STATE = 15
ESTIMATE_SETS = 50            # int(active_buf_frac * 100) sets active, 100 - 50 prefetched
ESTIMATE_DEFAULT_BW = 10      # "The number 10 elems per cycle is arbitrary" (single_layer_sim)

# ---- USER-mode read buffer (read_buffer.py) -----------------------------------------------
USR_SETS, USR_ACTIVE, USR_PREFETCH, USR_START, USR_END, USR_LAST_PREFETCH, \
    USR_PREFETCH_LINES, USR_BW, USR_INIT_LINES, USR_ACCESS, USR_TRACE_START, USR_READY, \
    USR_NEXT_READY, USR_SET_WORDS = range(14)
USR_STATE = 14

# ---- write buffer (write_buffer.py) --------------------------------------------------------
WR_ACTIVE, WR_DRAIN_SIZE, WR_BW, WR_FREE, WR_LINE_IDX, WR_LINES, WR_DRAIN_LINE, \
    WR_DRAIN_END, WR_ACCESS, WR_TRACE_START, WR_TRACE_STOP, WR_HAS_TRACE = range(12)
WR_STATE = 12


def estimate_state(total_words: int) -> np.ndarray:
    """Initial CALC-mode read buffer of ``total_words`` one-word entries."""
    state = np.zeros(EST_STATE, dtype=np.int64)
    state[EST_ITEMS] = total_words // 100
    state[EST_END] = ESTIMATE_SETS - 1
    state[EST_LAST_START], state[EST_LAST_END] = -2, -1
    return state


def user_state(total_words: int, bandwidth: int, n_sequence: int, fetch_entries: int,
               set_words: int) -> np.ndarray:
    """Initial USER-mode read buffer: ``n_sequence`` valid prefetch addresses in sets of
    ``set_words``; ``fetch_entries`` entries (padding included) in the fetch matrix."""
    active_words = -(-total_words // 2)
    prefetch_words = total_words - active_words
    n_sets = n_sequence // set_words + 1
    active = min(-(-active_words // set_words), n_sets)
    state = np.zeros(USR_STATE, dtype=np.int64)
    state[USR_SETS] = n_sets
    state[USR_ACTIVE] = active
    state[USR_PREFETCH] = min(-(-prefetch_words // set_words), n_sets - active)
    state[USR_END] = active
    state[USR_PREFETCH_LINES] = -(-prefetch_words // bandwidth)
    state[USR_BW] = bandwidth
    state[USR_INIT_LINES] = min(-(-active_words // bandwidth), -(-fetch_entries // bandwidth))
    state[USR_SET_WORDS] = set_words
    return state


def write_state(total_words: int, bandwidth: int) -> np.ndarray:
    """Initial write buffer (the ofmap SRAM) of ``total_words`` draining ``bandwidth``/cycle."""
    active = -(-total_words // 2)
    state = np.zeros(WR_STATE, dtype=np.int64)
    state[WR_ACTIVE] = active
    state[WR_DRAIN_SIZE] = total_words - active
    state[WR_BW] = bandwidth
    state[WR_FREE] = total_words
    return state


@njit(cache=True)
def _estimate_prefetch(st, rows_start, rows_end, words, fold, fold_words):
    """One prefetch of ``words`` over response cycles ``rows_start + 1 .. rows_end + 1``."""
    if rows_end >= rows_start:
        if st[EST_HAS_TRACE] == 0:
            st[EST_TRACE_START] = rows_start + 1
            st[EST_HAS_TRACE] = 1
        st[EST_TRACE_STOP] = rows_end + 1
    st[EST_ACCESS] += words
    fold_words[fold] += words


@njit(cache=True)
def _estimate_epoch(st, cycle, fold, fold_words):
    """50 sets are full: prefetch them (``manage_prefetches``) and restart the window."""
    items = st[EST_ITEMS]
    if st[EST_ACTIVE_DONE] == 0:
        st[EST_LAST_END] = st[EST_FIRST_CYCLE] - 2
        needed = -(-(ESTIMATE_SETS * items) // ESTIMATE_DEFAULT_BW)
        st[EST_LAST_START] = st[EST_LAST_END] - needed + 1
        st[EST_PF_START] = st[EST_END] + 1
        st[EST_ACTIVE_DONE] = 1
    else:
        st[EST_PF_START] += ESTIMATE_SETS
    _estimate_prefetch(st, st[EST_LAST_START], st[EST_LAST_END], ESTIMATE_SETS * items, fold,
                       fold_words)
    st[EST_START] += ESTIMATE_SETS
    st[EST_END] += ESTIMATE_SETS
    st[EST_LAST_START] = st[EST_LAST_END] + 1
    st[EST_LAST_END] = cycle


@njit(cache=True)
def estimate_read(st, last_set, addrs, n_addrs, cycle, fold, fold_words):
    """Serve one demand row in CALC mode; never stalls (returns nothing). ``last_set``: per
    address, the last set it entered plus one (0: never; zeroed pages cost nothing until
    an address is looked up: VGG-16's fc6 filter has 102 M, mostly only counted)."""
    if st[EST_FIRST_SEEN] == 0 and n_addrs > 0:
        st[EST_FIRST_CYCLE] = cycle
        st[EST_FIRST_SEEN] = 1
    for j in range(n_addrs):
        addr = addrs[j]
        if last_set[addr] > st[EST_START]:   # in the window's sets or in the current set
            continue
        last_set[addr] = st[EST_CUR] + 1
        st[EST_ELEMS] += 1
        if st[EST_ELEMS] == st[EST_ITEMS]:
            st[EST_ELEMS] = 0
            st[EST_CUR] += 1
            if st[EST_CUR] == st[EST_END] + 1:
                _estimate_epoch(st, cycle, fold, fold_words)


@njit(cache=True)
def estimate_misses(st, n_addrs, cycle, fold, fold_words):
    """Serve one demand row of ``n_addrs`` addresses known to be outside the window (none
    seen since the last epoch): :func:`estimate_read`'s set bookkeeping, a set at a time,
    without looking the addresses up or marking them (see :func:`estimate_mark`)."""
    if st[EST_FIRST_SEEN] == 0 and n_addrs > 0:
        st[EST_FIRST_CYCLE] = cycle
        st[EST_FIRST_SEEN] = 1
    left = n_addrs
    while left > 0:
        take = min(left, st[EST_ITEMS] - st[EST_ELEMS])
        st[EST_ELEMS] += take
        left -= take
        if st[EST_ELEMS] == st[EST_ITEMS]:
            st[EST_ELEMS] = 0
            st[EST_CUR] += 1
            if st[EST_CUR] == st[EST_END] + 1:
                _estimate_epoch(st, cycle, fold, fold_words)


@njit(cache=True)
def estimate_window_size(st):
    """Addresses entered since the last epoch (the window's filled sets and the current)."""
    return (st[EST_CUR] - st[EST_START]) * st[EST_ITEMS] + st[EST_ELEMS]


@njit(cache=True)
def estimate_mark(st, last_set, addrs, n_addrs):
    """Put addresses served by :func:`estimate_misses` since the last epoch in the window
    (``last_set``: any set id of the window, plus one, makes a later demand a hit)."""
    for j in range(n_addrs):
        last_set[addrs[j]] = st[EST_CUR] + 1


@njit(cache=True)
def estimate_finish(st, fold, fold_words):
    """``complete_all_prefetches``: fetch the sets filled since the last epoch."""
    items = st[EST_ITEMS]
    partial = 1 if st[EST_ELEMS] > 0 else 0
    if partial == 0:
        st[EST_CUR] -= 1
    first = 0
    if st[EST_ACTIVE_DONE] == 0:
        st[EST_LAST_END] = -2
        needed = -(-((st[EST_CUR] + 1) * items) // ESTIMATE_DEFAULT_BW)
        st[EST_LAST_START] = st[EST_LAST_END] - needed + 1
    else:
        first = st[EST_PF_START]
    n_sets = st[EST_CUR] - first + 1
    words = max(n_sets - partial, 0) * items + (st[EST_ELEMS] if partial else 0)
    _estimate_prefetch(st, st[EST_LAST_START], st[EST_LAST_END], words, fold, fold_words)


@njit(cache=True)
def build_sets(sequence, n_addresses, set_words):
    """Per address, the sorted distinct ids of the sets (``set_words`` consecutive entries of
    the prefetch ``sequence``) holding it, as CSR ``(ptr, ids)``."""
    last = np.full(n_addresses, -1, dtype=np.int64)
    counts = np.zeros(n_addresses + 1, dtype=np.int64)
    for j in range(len(sequence)):
        addr = sequence[j]
        set_id = j // set_words
        if last[addr] != set_id:
            last[addr] = set_id
            counts[addr + 1] += 1
    ptr = np.cumsum(counts)
    ids = np.empty(ptr[-1], dtype=np.int64)
    fill = ptr[:-1].copy()
    last[:] = -1
    for j in range(len(sequence)):
        addr = sequence[j]
        set_id = j // set_words
        if last[addr] != set_id:
            last[addr] = set_id
            ids[fill[addr]] = set_id
            fill[addr] += 1
    return ptr, ids


@njit(cache=True)
def user_first(st, cycle, fold, fold_words):
    """``prefetch_active_buffer`` on the first demand row (any later row: nothing)."""
    if st[USR_READY] == 0:
        st[USR_LAST_PREFETCH] = cycle - 1
        st[USR_TRACE_START] = cycle - st[USR_INIT_LINES]
        words = st[USR_INIT_LINES] * st[USR_BW]
        st[USR_ACCESS] += words
        fold_words[fold] += words
        st[USR_READY] = 1
        st[USR_NEXT_READY] = cycle - 1 + st[USR_PREFETCH_LINES]   # faithful: the other half


@njit(cache=True)
def user_miss(st, cycle, offset, fold, fold_words, faithful):
    """A demanded address outside the window: ``new_prefetch`` slides it ``P`` sets on;
    returns the row's offset after the wait."""
    st[USR_START] = (st[USR_START] + st[USR_PREFETCH]) % st[USR_SETS]
    st[USR_END] = (st[USR_START] + st[USR_ACTIVE]) % st[USR_SETS]
    words = st[USR_PREFETCH_LINES] * st[USR_BW]
    st[USR_ACCESS] += words
    fold_words[fold] += words
    if faithful:   # enter the half fetched meanwhile; the freed half starts the next
        st[USR_LAST_PREFETCH] = st[USR_NEXT_READY]
        offset += max(st[USR_NEXT_READY] - (cycle + offset), 0)
        st[USR_NEXT_READY] = cycle + offset - 1 + st[USR_PREFETCH_LINES]
    else:
        st[USR_LAST_PREFETCH] += st[USR_PREFETCH_LINES] + 1
        wait = st[USR_LAST_PREFETCH] - (cycle + offset)
        offset += wait + max(wait, 0)
    return offset


@njit(cache=True)
def user_read(st, ptr, ids, addrs, n_addrs, cycle, fold, fold_words, faithful):
    """Serve one demand row in USER mode; returns its stall (serviced - cycle - 1). ``ptr``,
    ``ids``: each address's prefetch sets as CSR (:func:`build_sets`), or ``ptr`` empty and
    ``ids[addr]`` the one set of each address (an operand prefetched once)."""
    user_first(st, cycle, fold, fold_words)
    offset = 1
    for j in range(n_addrs):
        addr = addrs[j]
        lo, hi = (ptr[addr], ptr[addr + 1]) if len(ptr) else (addr, addr + 1)
        while lo < hi:   # active_buffer_hit: a set of addr in the window [start, end)?
            start, end = st[USR_START], st[USR_END]
            first, top = lo, hi          # first id >= start (ids sorted)
            while first < top:
                mid = (first + top) // 2
                if ids[mid] < start:
                    first = mid + 1
                else:
                    top = mid
            if (first < hi and ids[first] < end) if start < end else (first < hi
                                                                        or ids[lo] < end):
                break
            offset = user_miss(st, cycle, offset, fold, fold_words, faithful)
    return offset - 1


@njit(cache=True)
def user_read_sets(st, first_id, last_id, cycle, fold, fold_words, faithful):
    """:func:`user_read` of a row whose addresses each sit in one set, the sets running
    ``first_id .. last_id`` in order (a ws filter's stationary row is one row of its
    prefetch matrix): once an address's set is in the window the next in the same set hits,
    so each set is checked once, and no per-address set table is needed."""
    user_first(st, cycle, fold, fold_words)
    offset = 1
    for set_id in range(first_id, last_id + 1):
        while not user_holds(st, set_id):
            offset = user_miss(st, cycle, offset, fold, fold_words, faithful)
    return offset - 1


@njit(cache=True)
def user_holds(st, set_id):
    """:func:`user_read`'s test for one set: is ``set_id`` in the window (cyclic)?"""
    start, end = st[USR_START], st[USR_END]
    return (start <= set_id < end) if start < end else (set_id >= start or set_id < end)


@njit(cache=True)
def _drain(st, lines, start_cycle, fold, fold_words, faithful):
    """``empty_drain_buf``: write up to ``ceil(drain size / bw)`` pending lines, one a
    cycle from ``start_cycle``; returns the last write's cycle."""
    bw = st[WR_BW]
    wanted = -(-st[WR_DRAIN_SIZE] // bw)
    first = st[WR_DRAIN_LINE]
    last = min(first + wanted, st[WR_LINES])
    n_lines = last - first
    if n_lines <= 0:
        return start_cycle - 1
    if faithful:
        words = 0
        for line in range(first, last):
            words += lines[line]
    else:
        words = (n_lines - 1) * bw + lines[last - 1]
    st[WR_ACCESS] += words
    st[WR_FREE] += words
    fold_words[fold] += words
    if st[WR_HAS_TRACE] == 0:
        st[WR_TRACE_START] = start_cycle
        st[WR_HAS_TRACE] = 1
    st[WR_TRACE_STOP] = max(st[WR_TRACE_STOP], start_cycle + n_lines - 1)
    st[WR_DRAIN_LINE] = last
    return start_cycle + n_lines - 1


@njit(cache=True)
def _flush_line(st, lines):
    if st[WR_LINE_IDX] != 0:
        lines[st[WR_LINES]] = st[WR_LINE_IDX]
        st[WR_LINES] += 1
        st[WR_LINE_IDX] = 0


@njit(cache=True)
def write_row(st, lines, n_words, cycle, fold, fold_words, faithful):
    """``service_writes`` of one demand row with ``n_words`` outputs; returns the cycle the
    row is serviced (``cycle`` plus any wait for a drain). Word by word as SCALE-Sim, except
    that the quiet words before the next event (a full line, the buffer full during a drain,
    a drain starting) are taken in one step."""
    now = cycle
    bw = st[WR_BW]
    left = n_words
    while left > 0:
        if now < st[WR_DRAIN_END]:    # quiet while free stays > 0
            quiet = min(left, bw - st[WR_LINE_IDX], st[WR_FREE]) - 1
        else:                         # quiet while free stays >= active
            quiet = min(left - 1, bw - st[WR_LINE_IDX] - 1, st[WR_FREE] - st[WR_ACTIVE])
        if quiet > 0:
            st[WR_FREE] -= quiet
            st[WR_LINE_IDX] += quiet
            left -= quiet
        left -= 1
        st[WR_FREE] -= 1
        st[WR_LINE_IDX] += 1
        if st[WR_LINE_IDX] == bw:
            _flush_line(st, lines)
        if now < st[WR_DRAIN_END]:
            if st[WR_FREE] <= 0:
                now = st[WR_DRAIN_END]
        elif st[WR_FREE] < st[WR_ACTIVE]:
            _flush_line(st, lines)
            st[WR_DRAIN_END] = _drain(st, lines, now, fold, fold_words, faithful)
    return now


@njit(cache=True)
def drain_all(st, lines, cycle, fold, fold_words, faithful):
    """``empty_all_buffers``: after the last row, drain every pending line."""
    _flush_line(st, lines)
    while st[WR_DRAIN_LINE] < st[WR_LINES]:
        st[WR_DRAIN_END] = _drain(st, lines, cycle, fold, fold_words, faithful)
        cycle = st[WR_DRAIN_END] + 1
