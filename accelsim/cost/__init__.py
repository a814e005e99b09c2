"""What a run counts and what the counts cost.

``counts``: raw integer counts keyed (component, action), the currency between cores, the
engine and results; ``energy``: per-action prices (Horowitz 45 nm defaults, YAML
overrides) and ``price(counts, table)``, so energy is a view that re-prices without
re-running. May import errors only: cores, the engine and the simulator all build on it.
"""
