"""Zoo variants: a shipped network at another width or input resolution.

MobileNet v1 (Howard et al. 2017, Sec. 4.2-4.3) is a family: a width multiplier ``alpha``
thins every layer (``int(channels x alpha)`` output channels, as TF-slim's and Keras'
builders round) and a resolution multiplier shrinks the input. The standard published
checkpoints are ``alpha`` 0.25 / 0.5 / 0.75 / 1.0 by resolution 128 / 160 / 192 / 224.

A variant is named as TF-Hub names the checkpoints, ``mobilenet_v1_<alpha x 100>_<res>``
(``mobilenet_v1_050_128``), so it works wherever a workload name does (``--workload``,
``compare --workload a,b``, a sweep's ``workloads:``); in Python,
``load_network("mobilenet_v1", alpha=0.5, resolution=128)`` gives the same network. The
base case (1.0, 224) is ``mobilenet_v1`` itself. A value outside the family is one error
line naming the option and its allowed values. Everything but the channel counts, the input
size and the global pool's window (the last feature map, ``resolution / 32``) is the shipped
YAML's; the classifier keeps its 1000 outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from accelsim.errors import WorkloadError
from accelsim.files import read_yaml, resolve


@dataclass(frozen=True)
class Family:
    """A shipped network (``base``) and the option values it may be built at."""

    base: str
    options: dict[str, tuple]           # option -> allowed values, the last the base's
    pattern: str                        # regex of a variant's name, one group per option

    def default(self, option: str) -> Any:
        return self.options[option][-1]


FAMILIES = {
    "mobilenet_v1": Family("mobilenet_v1",
                           {"alpha": (0.25, 0.5, 0.75, 1.0),
                            "resolution": (128, 160, 192, 224)},
                           r"mobilenet_v1_(\d{3})_(\d{3})"),
}
"""Networks that take options: base name -> its family."""


def family_entries() -> dict[str, str]:
    """``accelsim list``'s line per family: the name pattern and what it stands for."""
    return {"mobilenet_v1_<AAA>_<RRR>": "mobilenet_v1 at width multiplier AAA / 100 (025, 050, "
            "075, 100) and input RRR x RRR (128, 160, 192, 224): mobilenet_v1_050_128"}


def _allowed(values: tuple) -> str:
    return ", ".join(str(v) for v in values)


def variant_name(base: str, alpha: float, resolution: int) -> str:
    """``mobilenet_v1_050_128``; the base network's own name at its defaults."""
    family = FAMILIES[base]
    if (alpha, resolution) == (family.default("alpha"), family.default("resolution")):
        return base
    return f"{base}_{round(alpha * 100):03d}_{resolution:03d}"


def parse_variant(name: str) -> tuple[str, dict[str, Any]] | None:
    """``(base, options)`` if ``name`` is a family member's name, else None; a name of the
    family's form with a value outside it is an error naming the option."""
    for base, family in FAMILIES.items():
        match = re.fullmatch(family.pattern, name)
        if match:
            alpha, resolution = int(match.group(1)) / 100, int(match.group(2))
            return base, check_options(base, {"alpha": alpha, "resolution": resolution},
                                       where=f"workload {name!r}")
    return None


def check_options(base: str, options: dict[str, Any], where: str | None = None
                  ) -> dict[str, Any]:
    """The options, complete and checked: unknown options and values outside the family
    are one error line naming them and what is allowed."""
    where = where or f"workload {base!r}"
    family = FAMILIES.get(base)
    if family is None:
        raise WorkloadError(f"{where}: takes no options (got {', '.join(sorted(options))}); "
                            f"networks with options: {', '.join(FAMILIES)}")
    for option in options:
        if option not in family.options:
            raise WorkloadError(f"{where}: unknown option {option!r}; {base} takes "
                                f"{', '.join(family.options)}")
    full = {option: options.get(option) for option in family.options}
    for option, allowed in family.options.items():
        value = family.default(option) if full[option] is None else full[option]
        if isinstance(value, bool) or value not in allowed:
            raise WorkloadError(f"{where}: {option} {value!r} is not one of "
                                f"{_allowed(allowed)}")
        full[option] = value
    return full


def variant_dict(base: str, options: dict[str, Any]) -> tuple[dict, str]:
    """The network YAML mapping of a variant and the file it was derived from."""
    path = resolve("workloads", base, "workload")
    data = read_yaml(path, WorkloadError)
    alpha, resolution = options["alpha"], options["resolution"]
    name = variant_name(base, alpha, resolution)
    if name == base:
        return data, str(path)
    base_size = data["input"][1]
    layers = []
    for spec in data["layers"]:
        spec = dict(spec)
        if spec.get("kind") == "conv" and "out_channels" in spec:
            spec["out_channels"] = int(spec["out_channels"] * alpha)
        if spec.get("kind") == "pool" and spec.get("op") == "avg":
            spec["kernel"] = spec["kernel"] * resolution // base_size
        layers.append(spec)
    data = {**data, "name": name, "input": [data["input"][0], resolution, resolution],
            "layers": layers,
            "source": f"{data.get('source', '')} Variant: width multiplier {alpha} "
                      f"(int(channels x alpha) per conv), input {resolution} x {resolution}, "
                      f"global pool {resolution // 32} x {resolution // 32} "
                      "(Howard et al. 2017, Sec. 4.2-4.3)."}
    return data, f"{path} ({name})"
