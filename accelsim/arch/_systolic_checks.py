"""Config checks of the systolic core that its module has no room for: each a one-line error
naming the file and key, for a config the SCALE-Sim memory model cannot run."""

from __future__ import annotations

from accelsim.errors import ConfigError

CALC_SETS = 100
"""InterfaceBandwidth CALC splits a read SRAM into ``floor(words / 100)``-word sets (SCALE-Sim
3.0.0 ``read_buffer_estimate_bw.py``): fewer than 100 words make empty sets, and the set
bookkeeping could never advance."""


def check_memories(core) -> None:
    """Refuse a DRAM the core does not time, an SRAM under 2 words (its halves would be empty:
    the write buffer never drains, USER-mode sets are empty) and a CALC-mode read SRAM under
    100 words."""
    arch = core.arch
    where = arch.origin or arch.name
    if arch.dram.bytes_per_cycle is not None or arch.dram.latency_cycles != 0:
        raise ConfigError(
            f"{where}: dram: the systolic core times its DRAM interface itself "
            "(core_params.bandwidth_mode, *_words_per_cycle); set dram.bytes_per_cycle: null "
            "and dram.latency_cycles: 0")
    for name in ("ifmap_sram", "filter_sram", "ofmap_sram"):
        words = core.sram_words(name)
        calc_read = core.params.bandwidth_mode == "calc" and name != "ofmap_sram"
        least = CALC_SETS if calc_read else 2
        if words < least:
            why = (f"bandwidth_mode calc splits a read SRAM into {CALC_SETS} sets" if calc_read
                   else "a double buffer needs a word in each half")
            raise ConfigError(
                f"{where}: buffers.{name}.size_kib: {arch.buffers[name].size_kib:g} KiB holds "
                f"{words} word{'s' * (words != 1)}; {why}, so it needs at least {least} words")
