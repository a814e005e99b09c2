"""Numba kernels only: arrays in, arrays out (outputs and per-tile counts in one pass), with
their count-column constants beside them. One module per dataflow: ``dense`` (DianNao's
NFU), ``zero_skip`` (Cnvlutin), ``bit_serial`` (Stripes, Bit-Pragmatic), ``winograd``
(DianNao's Winograd mode), ``row_stationary`` (Eyeriss), ``csc`` (Eyeriss v2), ``cartesian``
(SCNN), ``inner_join`` (SparTen), ``bitmask`` (Phantom), ``eie`` (EIE), ``xnor`` (XNOR-Net
layers), ``systolic`` and ``scalesim_memory`` (the SCALE-Sim-exact array); shared by several:
``dense_gemm`` and ``exact_sums`` (a fixed16 layer's exact sums by BLAS), ``exact_winograd``
(the same sums of 3x3 stride-1 layers by integer Winograd) and ``blas_threads`` (its GEMMs
on our threads, BLAS at one thread each). May import
numpy, numba, other kernels and ``accelsim.errors`` / ``accelsim.fixedpoint``; nothing else
of accelsim.
"""
