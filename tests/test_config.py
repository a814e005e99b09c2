"""The strict arch-config loader: every error path names the file and the dotted key."""

from __future__ import annotations

import copy
import sys
import types
from dataclasses import dataclass

import pytest
import yaml

from accelsim import arch, config, files
from accelsim.config import (
    ArchConfig,
    BufferConfig,
    DramConfig,
    EngineConfig,
    arch_from_dict,
    load_arch,
    with_overrides,
)
from accelsim.errors import ConfigError

FAKE_MODULE = "accelsim.arch._fakecore"


@dataclass(frozen=True)
class FakeParams:
    """Stands in for a core module's Params: defaults, a tuple field, a range check."""

    tn: int = 16
    skip_zeros: bool = False
    mesh: tuple[int, int] = (1, 1)

    def __post_init__(self):
        if self.tn < 1:
            raise ValueError(f"tn must be >= 1, got {self.tn}")


GOOD = {
    "version": 1,
    "name": "fake-1",
    "core": "_fakecore",
    "clock_mhz": 1000,
    "precision": "fixed16",
    "buffers": {"nbin": {"size_kib": 2}, "sb": {"size_kib": 32, "slots": 3, "ports": 1}},
    "core_params": {"tn": 8, "mesh": [2, 2]},
    "dram": {"bytes_per_cycle": 16, "latency_cycles": 50, "channels": 2},
    "energy_pj": {"sb": {"read": 1.7}},
    "engine": {"max_steps_per_layer": 64},
}
DELETE = object()


@pytest.fixture(autouse=True)
def fake_core(monkeypatch):
    """Register ``_fakecore`` (Params = FakeParams, buffers nbin and sb) for the loader."""
    module = types.ModuleType(FAKE_MODULE)
    module.Params = FakeParams
    module.BUFFERS = ("nbin", "sb")
    monkeypatch.setitem(sys.modules, FAKE_MODULE, module)
    real = config._core_module
    monkeypatch.setattr(config, "_core_module",
                        lambda name: sys.modules[FAKE_MODULE] if name == "_fakecore"
                        else real(name))


def edited(**changes) -> dict:
    """GOOD with dotted keys (written with '__' for '.') set, or removed with DELETE."""
    data = copy.deepcopy(GOOD)
    for dunder_key, value in changes.items():
        *sections, last = dunder_key.split("__")
        node = data
        for key in sections:
            node = node[key]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return data


def problems_of(write_yaml, data) -> tuple[str, list[str]]:
    """(the file path, the ConfigError's problem lines) for loading ``data``."""
    path = write_yaml("x.yaml", data)
    with pytest.raises(ConfigError) as caught:
        load_arch(path)
    return str(path), caught.value.problems


# --- loading good configs ------------------------------------------------------------------

def test_good_config_loads_typed_values(write_yaml):
    path = write_yaml("x.yaml", GOOD)
    arch_config = load_arch(path)
    assert arch_config.origin == str(path)
    assert arch_config.clock_mhz == 1000.0 and isinstance(arch_config.clock_mhz, float)
    assert arch_config.buffers == {"nbin": BufferConfig(size_kib=2.0),
                                   "sb": BufferConfig(size_kib=32.0, slots=3, ports=1)}
    assert arch_config.core_params == FakeParams(tn=8, mesh=(2, 2))
    assert arch_config.dram == DramConfig(bytes_per_cycle=16.0, latency_cycles=50, channels=2)
    assert arch_config.energy_pj == {"sb": {"read": 1.7}}
    assert arch_config.engine == EngineConfig(max_steps_per_layer=64)


def test_omitted_sections_take_defaults(write_yaml):
    data = edited(core_params=DELETE, dram=DELETE, energy_pj=DELETE, engine=DELETE,
                  precision=DELETE, version=DELETE)
    arch_config = load_arch(write_yaml("x.yaml", data))
    assert arch_config.core_params == FakeParams()
    assert arch_config.dram.bytes_per_cycle == 16.0 and arch_config.dram.channels == 1
    assert arch_config.energy_pj == {}
    assert arch_config.engine.max_steps_per_layer == EngineConfig().max_steps_per_layer == 512
    assert (arch_config.precision, arch_config.version) == ("fixed16", 1)


@pytest.mark.parametrize("spelling", [None, "unlimited"])
def test_dram_bandwidth_null_or_unlimited_means_unlimited(write_yaml, spelling):
    arch_config = load_arch(write_yaml("x.yaml", edited(dram__bytes_per_cycle=spelling)))
    assert arch_config.dram.bytes_per_cycle is None


def test_shipped_name_resolves_through_files(write_yaml, monkeypatch):
    path = write_yaml("arch_configs/fake.yaml", GOOD)
    monkeypatch.setattr(files, "shipped", lambda kind, suffixes=(".yaml",): {"fake": path})
    assert load_arch("fake").origin == str(path)


# --- one error path each --------------------------------------------------------------------

def test_unknown_key_suggests_closest(write_yaml):
    data = edited(buffers__sb__size_kb=32, buffers__sb__size_kib=DELETE)
    path, problems = problems_of(write_yaml, data)
    assert f"{path}: buffers.sb.size_kb: unknown key (did you mean 'size_kib'?)" in problems
    assert f"{path}: buffers.sb.size_kib: missing required key" in problems


def test_unknown_top_level_key_without_close_match_lists_known_keys(write_yaml):
    path, problems = problems_of(write_yaml, edited(zzz=1))
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: zzz: unknown key (known: name, core, clock_mhz")


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("clock_mhz", "fast", "clock_mhz: expected a number > 0, got 'fast'"),
    ("clock_mhz", True, "clock_mhz: expected a number > 0, got true"),
    ("dram__channels", True, "dram.channels: expected an integer >= 1, got true"),
    ("dram__latency_cycles", 1.5, "dram.latency_cycles: expected an integer >= 0, got 1.5"),
    ("name", 7, "name: expected a string, got 7"),
    ("buffers__sb__ports", 3, "buffers.sb.ports: expected one of 1, 2, got 3"),
    ("dram", [16], "dram: expected a mapping, got [16]"),
    ("energy_pj__sb__read", "cheap", "energy_pj.sb.read: expected a number >= 0, got 'cheap'"),
])
def test_wrong_type(write_yaml, key, value, expected):
    path, problems = problems_of(write_yaml, edited(**{key: value}))
    assert problems == [f"{path}: {expected}"]


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("buffers__sb__size_kib", -4, "buffers.sb.size_kib: expected a number > 0, got -4"),
    ("buffers__nbin__slots", 0, "buffers.nbin.slots: expected an integer >= 1, got 0"),
    ("dram__bytes_per_cycle", -4,
     "dram.bytes_per_cycle: expected a number > 0 or null (unlimited), got -4"),
    ("energy_pj__sb__read", -1.0, "energy_pj.sb.read: expected a number >= 0, got -1.0"),
    ("engine__max_steps_per_layer", 0,
     "engine.max_steps_per_layer: expected an integer >= 1, got 0"),
    ("version", 2, "version: expected 1, got 2"),
])
def test_bad_range(write_yaml, key, value, expected):
    path, problems = problems_of(write_yaml, edited(**{key: value}))
    assert problems == [f"{path}: {expected}"]


def test_bad_precision_suggests_closest(write_yaml):
    path, problems = problems_of(write_yaml, edited(precision="fixed8"))
    assert problems == [f"{path}: precision: expected one of 'fixed16', 'fp32', got 'fixed8' "
                        "(did you mean 'fixed16'?)"]


@pytest.mark.parametrize(("key", "dotted"), [("clock_mhz", "clock_mhz"), ("name", "name"),
                                              ("buffers", "buffers"), ("core", "core")])
def test_missing_required_key(write_yaml, key, dotted):
    path, problems = problems_of(write_yaml, edited(**{key: DELETE}))
    assert f"{path}: {dotted}: missing required key" in problems


def test_unknown_core_lists_available_cores(write_yaml):
    path, problems = problems_of(write_yaml, edited(core="dianao"))
    assert len(problems) == 1  # core_params and buffers cannot be checked, so are not
    assert problems[0].startswith(f"{path}: core: unknown core 'dianao'")
    assert "available: " in problems[0]
    assert all(name in problems[0] for name in arch.available_cores())


def test_empty_buffers_section_reports_each_missing_buffer(write_yaml):
    path, problems = problems_of(write_yaml, edited(buffers=None))
    assert sorted(problems) == [f"{path}: buffers.nbin: missing required buffer",
                                f"{path}: buffers.sb: missing required buffer"]


def test_buffers_must_match_the_core(write_yaml):
    data = edited(buffers={"nbin": {"size_kib": 2}, "sbb": {"size_kib": 32}})
    path, problems = problems_of(write_yaml, data)
    assert sorted(problems) == sorted([
        f"{path}: buffers.sbb: unknown buffer (did you mean 'sb'?)",
        f"{path}: buffers.sb: missing required buffer"])


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("core_params__tn", 0, "core_params: tn must be >= 1, got 0"),
    ("core_params__tnn", 4, "core_params.tnn: unknown key (did you mean 'tn'?)"),
    ("core_params__x", 4, "core_params.x: unknown key (known: tn, skip_zeros, mesh)"),
    ("core_params__tn", "16", "core_params.tn: expected an integer, got '16'"),
    ("core_params__skip_zeros", 1, "core_params.skip_zeros: expected true or false, got 1"),
    ("core_params__mesh", [2, 2, 2], "core_params.mesh: expected a list of 2, got [2, 2, 2]"),
    ("core_params__mesh", [2, "x"], "core_params.mesh[1]: expected an integer, got 'x'"),
])
def test_bad_core_params(write_yaml, key, value, expected):
    path, problems = problems_of(write_yaml, edited(**{key: value}))
    assert problems == [f"{path}: {expected}"]


def test_malformed_yaml_gives_line_and_column(write_yaml):
    path = write_yaml("x.yaml", "name: a\ncore: _fakecore\n  clock_mhz: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_arch(path)
    assert str(caught.value).startswith(f"{path}: line 3, column 12: malformed YAML: ")


def test_top_level_must_be_a_mapping(write_yaml):
    path, problems = problems_of(write_yaml, "- 1\n- 2\n")
    assert problems == [f"{path}: expected a mapping, got [1, 2]"]


@pytest.mark.parametrize("name", ["missing.yaml", "nowhere/missing.yaml"])
def test_missing_file(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(ConfigError) as caught:
        load_arch(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert "file not found" in str(caught.value)


def test_unknown_shipped_name():
    with pytest.raises(ConfigError, match="unknown architecture 'no_such_arch'"):
        load_arch("no_such_arch")


def test_all_problems_reported_at_once(write_yaml):
    data = edited(clock_mhz=-1, buffers__sb__size_kb=1, dram__channels="two",
                  core_params__tn=0, precision="int8")
    path, problems = problems_of(write_yaml, data)
    assert sorted(problems) == sorted([
        f"{path}: clock_mhz: expected a number > 0, got -1",
        f"{path}: buffers.sb.size_kb: unknown key (did you mean 'size_kib'?)",
        f"{path}: dram.channels: expected an integer >= 1, got 'two'",
        f"{path}: core_params: tn must be >= 1, got 0",
        f"{path}: precision: expected one of 'fixed16', 'fp32', got 'int8'",
    ])


def test_arch_from_dict_names_the_origin():
    with pytest.raises(ConfigError) as caught:
        arch_from_dict(edited(clock_mhz=0), "sweep-point-3")
    assert caught.value.problems == ["sweep-point-3: clock_mhz: expected a number > 0, got 0"]


# --- overrides, round trip, digest ----------------------------------------------------------

@pytest.fixture
def loaded(write_yaml) -> ArchConfig:
    return load_arch(write_yaml("x.yaml", GOOD))


def test_with_overrides_replaces_dotted_keys(loaded):
    changed = with_overrides(loaded, {"dram.bytes_per_cycle": 8, "buffers.sb.size_kib": 64,
                                      "core_params.tn": 4, "energy_pj.nbin.write": 2})
    assert changed.dram == DramConfig(bytes_per_cycle=8.0, latency_cycles=50, channels=2)
    assert changed.buffers["sb"].size_kib == 64.0 and changed.buffers["nbin"].size_kib == 2.0
    assert changed.core_params == FakeParams(tn=4, mesh=(2, 2))
    assert changed.energy_pj == {"sb": {"read": 1.7}, "nbin": {"write": 2.0}}
    assert changed.origin == loaded.origin
    assert loaded.dram.bytes_per_cycle == 16.0  # the original is untouched


def test_with_overrides_reports_every_bad_key(loaded):
    with pytest.raises(ConfigError) as caught:
        with_overrides(loaded, {"dram.bytes_per_cycle": -4, "dram.chanels": 3,
                                "core_params.tn": 0})
    label = f"{loaded.origin} (overrides)"
    assert sorted(caught.value.problems) == sorted([
        f"{label}: dram.bytes_per_cycle: expected a number > 0 or null (unlimited), got -4",
        f"{label}: dram.chanels: unknown key (did you mean 'channels'?)",
        f"{label}: core_params: tn must be >= 1, got 0",
    ])


def test_with_overrides_into_a_scalar_is_an_error(loaded):
    with pytest.raises(ConfigError) as caught:
        with_overrides(loaded, {"clock_mhz.value": 3})
    assert caught.value.problems == [
        f"{loaded.origin} (overrides): clock_mhz.value: clock_mhz is not a section"]


def test_to_dict_round_trips_through_yaml(loaded):
    data = loaded.to_dict()
    assert "origin" not in data
    assert data["core_params"] == {"tn": 8, "skip_zeros": False, "mesh": [2, 2]}
    again = arch_from_dict(yaml.safe_load(yaml.safe_dump(data)), "again.yaml")
    assert again == loaded
    assert again.to_dict() == data


def test_digest_is_stable_and_tracks_values(write_yaml, loaded):
    assert len(loaded.digest) == 16 and int(loaded.digest, 16) >= 0
    same_elsewhere = load_arch(write_yaml("y.yaml", edited(clock_mhz=1000.0)))
    assert same_elsewhere.digest == loaded.digest  # origin and int/float spelling ignored
    assert hash(same_elsewhere) == hash(loaded)
    for override in ({"clock_mhz": 999}, {"core_params.tn": 9}, {"energy_pj.sb.read": 1.8}):
        assert with_overrides(loaded, override).digest != loaded.digest
