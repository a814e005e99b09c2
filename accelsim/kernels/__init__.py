"""Numba kernels only: arrays in, arrays out (outputs and per-tile counts in one pass), with
their count-column constants beside them. One module per dataflow: ``dense`` (DianNao's
NFU), ``zero_skip`` (Cnvlutin), ``row_stationary`` (Eyeriss), ``csc`` (Eyeriss v2),
``cartesian`` (SCNN), ``inner_join`` (SparTen), ``bitmask`` (Phantom), ``systolic`` and
``scalesim_memory`` (the SCALE-Sim-exact array). May import numpy, numba, other kernels and
``accelsim.errors`` / ``accelsim.fixedpoint``; nothing else of accelsim.
"""
