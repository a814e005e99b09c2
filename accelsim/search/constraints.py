"""Constraints of a search: ``"sram_kib <= 512"``, ``"buffers.sb.size_kib * 2 <=
buffers.glb.size_kib"``, evaluated on a trial's config before it runs.

An expression compares arithmetic (``+ - * / **``, numbers, parentheses, ``min``/``max``)
over names: a dotted config key (its value in the trial's config, as ``accelsim show``
prints it) or a derived quantity of :data:`DERIVED`. A trial that breaks one is recorded as
infeasible and never simulated. Expressions are parsed with :mod:`ast` and only those node
kinds are allowed, so a spec cannot run code.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass

from accelsim.config import ArchConfig
from accelsim.errors import AccelsimError
from accelsim.sim.area import design_area

DERIVED: dict[str, Callable[[ArchConfig], float]] = {
    "sram_kib": lambda arch: sum(b.size_kib for b in arch.buffers.values()),
    "area_mm2": lambda arch: design_area(arch)["area_mm2"],
    "clock_mhz": lambda arch: arch.clock_mhz,
}
"""Derived quantities: ``sram_kib`` (total of the config's buffers), ``area_mm2`` (the area
model, :mod:`accelsim.sim.area`), ``clock_mhz``."""

_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Div: operator.truediv, ast.Pow: operator.pow, ast.USub: operator.neg,
              ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
              ast.GtE: operator.ge, ast.Eq: operator.eq, ast.NotEq: operator.ne}
_FUNCTIONS = {"min": min, "max": max}


@dataclass(frozen=True)
class Constraint:
    """A parsed comparison; ``names`` are the keys and derived quantities it reads."""

    text: str
    tree: ast.Expression
    names: tuple[str, ...]

    def holds(self, arch: ArchConfig) -> bool:
        return bool(_evaluate(self.tree.body, lambda name: value_of(arch, name)))


def parse_constraint(text, where: str) -> Constraint:
    """A constraint, or a one-line :class:`AccelsimError` naming ``where``."""
    if not isinstance(text, str):
        raise AccelsimError(f"{where}: expected an expression such as 'sram_kib <= 512', "
                            f"got {text!r}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise AccelsimError(f"{where}: {text!r}: not an expression ({err.msg})") from None
    if not isinstance(tree.body, ast.Compare):
        raise AccelsimError(f"{where}: {text!r}: expected a comparison (<=, <, >=, >, ==)")
    names = []
    for node in ast.walk(tree.body):
        if isinstance(node, ast.Name | ast.Attribute) and not _inside_call_name(tree, node):
            name = _dotted(node)
            if name is None:
                raise AccelsimError(f"{where}: {text!r}: cannot read {ast.unparse(node)}")
            names.append(name)
        elif isinstance(node, ast.Call) and (not isinstance(node.func, ast.Name)
                                             or node.func.id not in _FUNCTIONS or node.keywords):
            raise AccelsimError(f"{where}: {text!r}: only min(...) and max(...) may be called")
        elif not isinstance(node, _ALLOWED):
            raise AccelsimError(f"{where}: {text!r}: {type(node).__name__} is not allowed "
                                "(only numbers, names, + - * / **, min, max, comparisons)")
    return Constraint(text, tree, tuple(dict.fromkeys(n for n in names if n not in _FUNCTIONS)))


_ALLOWED = (ast.Compare, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Call, ast.Load,
            *_OPERATORS)


def _inside_call_name(tree, node) -> bool:
    return any(isinstance(n, ast.Call) and n.func is node for n in ast.walk(tree))


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def value_of(arch: ArchConfig, name: str) -> float:
    """A derived quantity, or a dotted key of the config's dict form."""
    if name in DERIVED:
        return DERIVED[name](arch)
    value = arch.to_dict()
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            raise AccelsimError(f"constraint: {name!r} is neither a config key of "
                                f"{arch.name} nor one of {', '.join(DERIVED)}")
        value = value[part]
    return value


def check_names(constraints, arch: ArchConfig, where: str) -> list[str]:
    """Problems of names that no config of the base arch has."""
    problems = []
    for i, constraint in enumerate(constraints):
        for name in constraint.names:
            try:
                value_of(arch, name)
            except AccelsimError as err:
                problems.append(f"{where}: constraints[{i}]: {err}")
    return problems


def _evaluate(node, lookup):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name | ast.Attribute):
        return lookup(_dotted(node))
    if isinstance(node, ast.UnaryOp):
        return _OPERATORS[type(node.op)](_evaluate(node.operand, lookup))
    if isinstance(node, ast.BinOp):
        return _OPERATORS[type(node.op)](_evaluate(node.left, lookup),
                                         _evaluate(node.right, lookup))
    if isinstance(node, ast.Call):
        return _FUNCTIONS[node.func.id](*(_evaluate(a, lookup) for a in node.args))
    left, result = _evaluate(node.left, lookup), True
    for op, right in zip(node.ops, node.comparators, strict=True):
        value = _evaluate(right, lookup)
        result = result and _OPERATORS[type(op)](left, value)
        left = value
    return result
