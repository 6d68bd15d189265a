"""The rule language of segments, priority groupings and cohorts.

A rule is one line of a small, safe language over person-table columns,
parsed with Python's `ast` and compiled to an Ibis boolean expression, so an
analyst can read and change it in YAML and it runs unchanged on DuckDB or
Spark. Allowed: names, numbers, text in quotes, true/false, `and`, `or`, `not`,
comparisons (`==`, `!=`, `<`, `<=`, `>`, `>=`, chained as in `5 <= x < 15`)
and `in` / `not in` over a list of constants. Nothing else: no calls,
attributes, arithmetic or subscripts, so a definition cannot do anything but
test values.

    frail: efi_category in ['moderate', 'severe'] or (age >= 65 and hfrs_category == 'high')

Names are person-table columns or other named definitions of the same file.
A definition may share its name with the column it is built on (cohort
`escalating: escalating`): inside its own rule the name means the column;
everywhere else the definition shadows the column.

Missing values: a comparison with a missing value is false, and a missing
yes/no column counts as no. Every rule is therefore plainly true or false for
every person, identically on both engines (SQL's three-valued logic would make
`not x` silently drop people whose `x` is missing).
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

Constant = bool | int | float | str

ALLOWED = (
    "names, numbers, 'text', true/false, and/or/not, comparisons "
    "(== != < <= > >=) and `in [...]` over constants"
)
_LOWER_CONSTANTS = {"true": True, "false": False}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


class RuleError(ValueError):
    """A rule that cannot be used: refused before any data is read."""


@dataclass(frozen=True)
class Rule:
    """One parsed rule: its text, its syntax tree and the names it uses."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    @property
    def always(self) -> bool:
        """The rule is the constant true: a catch-all."""
        return _constant(self.tree) is True


def _constant(node: ast.expr) -> Constant | None:
    """The value of a constant leaf (numbers, text, true/false, -number), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, bool | int | float | str):
        return node.value
    if isinstance(node, ast.Name) and node.id in _LOWER_CONSTANTS:
        return _LOWER_CONSTANTS[node.id]
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
    ):
        value = node.operand.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value
    return None


def _comparable(value: ir.Value, constant: Constant | None) -> bool:
    """Whether `value`'s type can hold `constant` (ibis accepts `1 in ['a']` silently)."""
    kind = value.type()
    if isinstance(constant, bool):
        return kind.is_boolean()
    if isinstance(constant, int | float):
        return kind.is_numeric()
    return kind.is_string()


def _describe(node: ast.AST) -> str:
    kinds = {
        ast.Call: "a function call",
        ast.Attribute: "an attribute",
        ast.Subscript: "a subscript",
        ast.BinOp: "arithmetic",
        ast.Lambda: "a lambda",
        ast.IfExp: "an if-expression",
        ast.Is: "`is`",
        ast.IsNot: "`is not`",
    }
    for kind, words in kinds.items():
        if isinstance(node, kind):
            return words
    if isinstance(node, ast.Constant):
        return f"the constant {node.value!r}"
    return f"`{type(node).__name__}`"


class _Checker:
    """Walks a parsed rule, refusing anything outside the language."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.names: set[str] = set()

    def refuse(self, node: ast.AST, why: str) -> RuleError:
        segment = ast.get_source_segment(self.text, node) or self.text
        return RuleError(f"{segment!r} {why}; a rule may use only {ALLOWED}")

    def boolean(self, node: ast.expr) -> None:
        """A node in yes/no position: a name, true/false, and/or/not, or a comparison."""
        if isinstance(node, ast.BoolOp):
            for value in node.values:
                self.boolean(value)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self.boolean(node.operand)
        elif isinstance(node, ast.Compare):
            self.compare(node)
        elif isinstance(node, ast.Name) and node.id not in _LOWER_CONSTANTS:
            self.names.add(node.id)
        elif isinstance(_constant(node), bool):
            return
        elif _constant(node) is not None:
            raise self.refuse(node, "is not yes/no: compare it, e.g. `x >= 1`")
        else:
            raise self.refuse(node, f"uses {_describe(node)}")

    def operand(self, node: ast.expr) -> None:
        if isinstance(node, ast.Name) and node.id not in _LOWER_CONSTANTS:
            self.names.add(node.id)
        elif _constant(node) is None:
            raise self.refuse(node, f"uses {_describe(node)} where a name or constant belongs")

    def compare(self, node: ast.Compare) -> None:
        self.operand(node.left)
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(right, ast.List | ast.Tuple) or not right.elts:
                    raise self.refuse(right, "follows `in` but is not a list of constants")
                for item in right.elts:
                    if _constant(item) is None:
                        raise self.refuse(item, "is in an `in` list but is not a constant")
            elif type(op) in _COMPARE:
                self.operand(right)
            else:
                raise self.refuse(node, f"uses {_describe(op)}")


def parse_rule(text: str | bool) -> Rule:
    """Parse one rule, refusing syntax errors and anything outside the language.

    YAML turns a bare `true` into a boolean; it is read as the rule `True`.
    """
    if isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str) or not text.strip():
        raise RuleError("the rule is empty: write a yes/no expression, e.g. `ltc_count >= 1`")
    source = " ".join(text.split())
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as e:
        where = f" at column {e.offset}" if e.offset else ""
        raise RuleError(f"cannot parse {source!r}: {e.msg}{where}") from None
    checker = _Checker(source)
    checker.boolean(tree)
    return Rule(source, tree, frozenset(checker.names))


def close_to(name: str, known: Iterable[str]) -> str:
    """' (did you mean ...?)' for a misspelt name, or ''."""
    matches = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def references(owner: str, rule: Rule, definitions: Collection[str]) -> set[str]:
    """The definitions `rule` (of definition `owner`) refers to; other names are columns."""
    return {n for n in rule.names if n in definitions and n != owner}


def column_names(owner: str, rule: Rule, definitions: Collection[str]) -> set[str]:
    """The columns `rule` (of definition `owner`) reads directly."""
    return {n for n in rule.names if n not in definitions or n == owner}


def find_cycle(graph: Mapping[str, Collection[str]]) -> list[str] | None:
    """A cycle in `graph` (name -> names it refers to) as a path, e.g. [a, b, a], or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in graph:
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def check_rules(
    rules: Mapping[str, Rule],
    columns: Collection[str],
    *,
    kinds: Mapping[str, str],
    declared: str,
    optional: Collection[str] = (),
) -> list[str]:
    """Problems with a set of named rules: unknown names and cycles of references.

    `rules` maps each definition's name to its rule (in file order); `kinds`
    says what the file calls each one (rule, condition, cohort...), `declared`
    what a reference may name. `columns` are the person table's columns;
    `optional` columns may be absent without being a mistake (the caller
    decides what an absent optional column means).
    """
    known = set(columns) | set(optional)
    problems = []
    for name, rule in rules.items():
        for used in sorted(column_names(name, rule, rules)):
            if used not in known:
                hint = close_to(used, known | set(rules))
                problems.append(
                    f"{kinds[name]} {name}: unknown name {used!r}: not a person-table column "
                    f"nor a declared {declared}{hint}"
                )
    graph = {name: references(name, rule, rules) for name, rule in rules.items()}
    cycle = find_cycle(graph)
    if cycle:
        problems.append(f"a cycle of references: {' -> '.join(cycle)}")
    return problems


class _Compiler:
    """Turns parsed rules into Ibis boolean expressions over one table."""

    def __init__(self, table: ir.Table, rules: Mapping[str, Rule]) -> None:
        self.table = table
        self.rules = rules
        self.done: dict[str, ir.BooleanValue] = {}

    def definition(self, name: str) -> ir.BooleanValue:
        if name not in self.done:
            self.done[name] = self.boolean(self.rules[name].tree, name)
        return self.done[name]

    def column(self, name: str, owner: str) -> ir.Value:
        if name not in self.table.columns:
            raise RuleError(f"{owner}: the person table has no column {name!r}")
        return self.table[name]

    def value(self, node: ast.expr, owner: str) -> ir.Value | Constant:
        constant = _constant(node)
        if constant is not None:
            return constant
        assert isinstance(node, ast.Name)
        if node.id in self.rules and node.id != owner:
            return self.definition(node.id)
        return self.column(node.id, owner)

    def boolean(self, node: ast.expr, owner: str) -> ir.BooleanValue:
        if isinstance(node, ast.BoolOp):
            parts = [self.boolean(v, owner) for v in node.values]
            combine = ibis.and_ if isinstance(node.op, ast.And) else ibis.or_
            return combine(*parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~self.boolean(node.operand, owner)
        if isinstance(node, ast.Compare):
            return self.compare(node, owner)
        value = self.value(node, owner)
        if isinstance(value, bool):
            return ibis.literal(value)
        if not isinstance(value, ir.BooleanValue):
            raise RuleError(
                f"{owner}: {ast.unparse(node)!r} is not a yes/no column: compare it, "
                f"e.g. `{ast.unparse(node)} >= 1`"
            )
        return value.fill_null(False)

    def compare(self, node: ast.Compare, owner: str) -> ir.BooleanValue:
        try:
            return self._compare(node, owner).fill_null(False)
        except (TypeError, ValueError, AttributeError) as e:
            raise RuleError(f"{owner}: cannot compare in {ast.unparse(node)!r}: {e}") from e

    def _compare(self, node: ast.Compare, owner: str) -> ir.BooleanValue:
        tests = []
        left = self.value(node.left, owner)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            subject = left if isinstance(left, ir.Value) else ibis.literal(left)
            if isinstance(op, ast.In | ast.NotIn):
                assert isinstance(right_node, ast.List | ast.Tuple)
                options = [_constant(item) for item in right_node.elts]
                for option in options:
                    if not _comparable(subject, option):
                        raise TypeError(f"{subject.type()} values cannot equal {option!r}")
                test = subject.isin(options)
                tests.append(~test if isinstance(op, ast.NotIn) else test)
                continue
            right = self.value(right_node, owner)
            tests.append(_COMPARE[type(op)](subject, right))
            left = right
        return ibis.and_(*tests) if len(tests) > 1 else tests[0]


def compile_rules(
    table: ir.Table, rules: Mapping[str, Rule], names: Iterable[str]
) -> dict[str, ir.BooleanValue]:
    """Ibis yes/no expressions over `table` for the named rules (and what they refer to).

    Building the expressions reads no data; a column the table lacks, or a bare
    name that is not yes/no, raises `RuleError` here.
    """
    compiler = _Compiler(table, rules)
    return {name: compiler.definition(name) for name in names}
