"""The rule language: what it accepts, what it refuses, and what it means for missing values."""

from __future__ import annotations

from typing import Any

import pytest

from phm.engine import rows_table
from phm.segments.rules import (
    RuleError,
    check_rules,
    compile_rules,
    find_cycle,
    parse_rule,
)
from tests.conftest import rows

# Each rule, and the people (of TABLE) it holds for.
RULES = {
    "frail": (
        "efi_category in ['moderate', 'severe'] or (age >= 65 and hfrs == 'high')",
        {"B", "C"},
    ),
    "not_frail": ("not frail", {"A", "D"}),
    "low_pam": ("pam_level <= 2", {"A"}),
    "not_low_pam": ("not pam_level <= 2", {"B", "C", "D"}),
    "pam_not_1_2": ("pam_level not in [1, 2]", {"B"}),
    "band": ("50 <= age < 80", {"A", "B"}),
    "flag_set": ("flag", {"A"}),
    "not_flag": ("not flag", {"B", "C", "D"}),
    "flag_is_false": ("flag == false", {"B"}),
    "negative": ("balance > -1.5", {"A", "B"}),
    "always": ("true", {"A", "B", "C", "D"}),
    "columns_compared": ("age > pam_level", {"A", "B"}),
}
# A has a missing efi_category; D has every optional value missing.
TABLE = [
    {
        "person_id": "A",
        "age": 50,
        "efi_category": None,
        "hfrs": "low",
        "pam_level": 1,
        "flag": True,
        "balance": 0.0,
    },
    {
        "person_id": "B",
        "age": 70,
        "efi_category": "moderate",
        "hfrs": "low",
        "pam_level": 3,
        "flag": False,
        "balance": -1.0,
    },
    {
        "person_id": "C",
        "age": 90,
        "efi_category": "fit",
        "hfrs": "high",
        "pam_level": None,
        "flag": None,
        "balance": -2.0,
    },
    {
        "person_id": "D",
        "age": 20,
        "efi_category": None,
        "hfrs": None,
        "pam_level": None,
        "flag": None,
        "balance": None,
    },
]
SCHEMA = {
    "person_id": "string",
    "age": "int64",
    "efi_category": "string",
    "hfrs": "string",
    "pam_level": "int64",
    "flag": "boolean",
    "balance": "float64",
}


def test_rules_mean_what_they_say_and_missing_values_compare_false(backend: Any) -> None:
    parsed = {name: parse_rule(text) for name, (text, _) in RULES.items()}
    table = rows_table(TABLE, SCHEMA)
    tests = compile_rules(table, parsed, list(RULES))
    result = rows(backend, table.select("person_id", **tests), "person_id")
    got = {name: {r["person_id"] for r in result if r[name]} for name in RULES}
    assert got == {name: holds for name, (_, holds) in RULES.items()}
    assert all(r[name] in (True, False) for r in result for name in RULES)  # never missing


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the rule is empty"),
        ("age >", "cannot parse 'age >'"),
        ("age > 1 if x else y", "uses an if-expression"),
        ("age.real > 1", "uses an attribute"),
        ("codes[0] == 'x'", "uses a subscript"),
        ("age * 2 > 1", "uses arithmetic"),
        ("__import__('os')", "uses a function call"),
        ("age is None", "uses `is`"),
        ("age", ""),  # a name parses; whether it is yes/no is known only from the table
        ("1", "is not yes/no"),
        ("'x'", "is not yes/no"),
        ("age in []", "follows `in` but is not a list of constants"),
        ("age in [x]", "is in an `in` list but is not a constant"),
        ("age < (b < c)", "where a name or constant belongs"),
    ],
)
def test_anything_outside_the_language_is_refused(text: str, message: str) -> None:
    if not message:
        assert parse_rule(text).names == {"age"}
        return
    with pytest.raises(RuleError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_rule(text)


def test_names_refer_to_definitions_except_a_definitions_own_name() -> None:
    rules = {"escalating": parse_rule("escalating and not frail"), "frail": parse_rule("efi > 9")}
    assert (
        check_rules(
            rules, {"escalating", "efi"}, kinds=dict.fromkeys(rules, "cohort"), declared="cohort"
        )
        == []
    )
    problems = check_rules(
        {"a": parse_rule("escalatng")}, {"escalating"}, kinds={"a": "cohort"}, declared="cohort"
    )
    assert problems == [
        "cohort a: unknown name 'escalatng': not a person-table column nor a declared cohort "
        "(did you mean 'escalating'?)"
    ]


def test_cycles_are_found() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]


def test_a_bare_name_must_be_yes_no() -> None:
    table = rows_table([], SCHEMA)
    with pytest.raises(RuleError, match="'age' is not a yes/no column"):
        compile_rules(table, {"r": parse_rule("age")}, ["r"])
    with pytest.raises(RuleError, match="cannot compare"):
        compile_rules(table, {"r": parse_rule("age == 'old'")}, ["r"])
    with pytest.raises(RuleError, match="cannot compare"):
        compile_rules(table, {"r": parse_rule("age in ['old', 'young']")}, ["r"])
