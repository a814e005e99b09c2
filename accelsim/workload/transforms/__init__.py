"""Transforms: change a network's tensor values, never its shapes (pruning, imposed
activation zeros, quantization, weight sharing), composable from Python, the command line
and YAML.

``recipe`` parses and applies a list of transforms (the format is documented there);
``pruning``, ``quantization``, ``activations``, ``sharing``, ``binarize`` and ``precision``
implement them (``precision_search`` finds a precision profile); ``profiles`` reads the
shipped per-layer density and precision profiles they take. May import the rest of
``accelsim.workload``, errors, files and fixed point; nothing that simulates.
"""

from accelsim.workload.transforms.recipe import (
    TRANSFORM_KEYS,
    apply_transform,
    apply_transforms,
    load_recipe,
    parse_transform,
)

__all__ = ["TRANSFORM_KEYS", "apply_transform", "apply_transforms", "load_recipe",
           "parse_transform"]
