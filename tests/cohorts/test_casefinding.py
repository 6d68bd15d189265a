"""The shipped case-finding cohorts, on hand-built people (spec tests).

One person per reason (each with 3+ LTCs), a person with several reasons, and
people who meet a marker but are not on the 3+ LTC list. Then the cohort that
needs risk scores, with and without them, and the definitions refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from phm.cohorts import CohortError, cohort_members, load_cohorts
from tests.conftest import rows
from tests.segments.people import PERSON_SCHEMA, person, person_table

COLUMNS = set(PERSON_SCHEMA)
RISK = {"risk_score": "float64", "risk_tier": "string", "risk_explanation": "string"}

# Three LTCs and nothing else: on the list, with no reason.
LTC3: dict[str, Any] = {"ltc_count": 3}

# person, the reasons they carry ('; '-joined in cohorts.yaml order)
PEOPLE: list[tuple[dict[str, Any], str]] = [
    (person("list_only", **LTC3), ""),
    (person("physical_mental", **LTC3, physical_mental=True), "physical_mental"),
    (
        person("diabetes_depression", **LTC3, diabetes=True, depression=True),
        "diabetes_depression",
    ),
    (person("copd_anxiety", **LTC3, copd=True, anxiety=True), "copd_anxiety_depression"),
    (person("copd_depression", **LTC3, copd=True, depression=True), "copd_anxiety_depression"),
    (
        person("heart_failure_depression", **LTC3, heart_failure=True, depression=True),
        "heart_disease_depression",
    ),
    (person("chd_depression", **LTC3, chd=True, depression=True), "heart_disease_depression"),
    (person("ltc5", ltc_count=5), "ltc_5plus"),
    (person("social_care", **LTC3, social_care_12m=True), "social_care_or_housing"),
    (person("housing", **LTC3, housing_need=True), "social_care_or_housing"),
    (person("pam_1", **LTC3, pam_level=1), "low_activation"),
    (person("pam_2", **LTC3, pam_level=2), "low_activation"),
    (person("pam_3", **LTC3, pam_level=3), ""),
    (person("escalating", **LTC3, escalating=True), "escalating"),
    (person("discharged", **LTC3, recent_discharge=True), "recent_discharge"),
    (person("reablement", **LTC3, in_reablement=True), "recent_discharge"),
    (
        person(
            "many_reasons",
            ltc_count=6,
            physical_mental=True,
            diabetes=True,
            depression=True,
            housing_need=True,
            pam_level=1,
            escalating=True,
            recent_discharge=True,
        ),
        "physical_mental; diabetes_depression; ltc_5plus; social_care_or_housing; "
        "low_activation; escalating; recent_discharge",
    ),
]
# Markers met, but fewer than three LTCs: not on the list, so in no cohort.
NOT_LISTED = [
    person("two_ltcs_escalating", ltc_count=2, escalating=True, physical_mental=True),
    person("healthy"),
]


def test_each_member_carries_every_reason(backend: Any) -> None:
    cohorts = load_cohorts(columns=COLUMNS)
    assert cohorts.unavailable == {"high_risk": "the person table has no risk_tier column"}
    table = person_table(*(p for p, _ in PEOPLE), *NOT_LISTED)
    result = rows(backend, cohort_members(table, cohorts), "person_id")

    got = {r["person_id"]: r["reasons"] for r in result}
    assert got == {p["person_id"]: reasons for p, reasons in PEOPLE}
    for r in result:
        reasons = r["reasons"].split("; ") if r["reasons"] else []
        assert r["reason_count"] == len(reasons)
        assert r["cohort_ltc_3plus"] is True
        for marker in cohorts.markers:
            assert r[marker.column] is (marker.name in reasons)
    assert "cohort_high_risk" not in result[0]


def test_every_marker_is_exercised() -> None:
    cohorts = load_cohorts(columns=COLUMNS)
    seen = {reason for _, reasons in PEOPLE for reason in reasons.split("; ") if reason}
    assert seen == {m.name for m in cohorts.markers}


def test_high_risk_once_the_person_table_has_risk_tiers(backend: Any) -> None:
    cohorts = load_cohorts(columns=COLUMNS | set(RISK))
    assert cohorts.unavailable == {}
    table = person_table(
        person("very_high", **LTC3, risk_score=0.9, risk_tier="very high"),
        person("high", **LTC3, risk_score=0.5, risk_tier="high", escalating=True),
        person("moderate", **LTC3, risk_score=0.2, risk_tier="moderate"),
        person("unscored", **LTC3, risk_score=None, risk_tier=None),
        person("high_but_2_ltcs", ltc_count=2, risk_score=0.6, risk_tier="high"),
        extra=RISK,
    )
    got = {
        r["person_id"]: r["reasons"]
        for r in rows(backend, cohort_members(table, cohorts), "person_id")
    }
    assert got == {
        "very_high": "high_risk",
        "high": "escalating; high_risk",
        "moderate": "",
        "unscored": "",
    }


# --- definitions the loader refuses, before any data is read -----------------


def load(tmp_path: Path, cohorts: str, optional: str = "[]") -> Any:
    path = tmp_path / "cohorts.yaml"
    path.write_text(f'version: "1"\noptional_columns: {optional}\ncohorts:\n{cohorts}')
    return load_cohorts(path, columns=COLUMNS)


def cohort(name: str, when: str, within: str | None = None) -> str:
    inside = f", within: {within}" if within else ""
    return f"  - {{name: {name}, description: d, when: {when!r}, source: s{inside}}}\n"


def test_a_cohort_may_be_within_a_marker(tmp_path: Path) -> None:
    cohorts = load(
        tmp_path,
        cohort("base", "ltc_count >= 3")
        + cohort("old", "age >= 65", within="base")
        + cohort("old_and_frail", "efi_category == 'severe'", within="old"),
    )
    assert [m.name for m in cohorts.markers] == ["old", "old_and_frail"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            cohort("base", "ltc_3plus") + cohort("busy", "escalatng", within="base"),
            "cohort busy: unknown name 'escalatng': not a person-table column nor a declared "
            "cohort (did you mean 'escalating'?)",
        ),
        (
            cohort("base", "ltc_3plus") + cohort("busy", "escalating", within="bsae"),
            "cohort busy: within unknown cohort 'bsae' (did you mean 'base'?)",
        ),
        (
            cohort("a", "b and ltc_3plus") + cohort("b", "escalating", within="a"),
            "a cycle of references: a -> b -> a",
        ),
        (cohort("a", "ltc_3plus", within="a"), "cohort a: cannot be within itself"),
        (cohort("a", "ltc_count >>= 3"), "cohort a: cannot parse"),
        (cohort("a", "ltc_3plus") + cohort("a", "ltc_5plus"), "cohort a is declared twice"),
        (cohort("a", "risk_tier == 'high'"), "unknown name 'risk_tier'"),  # not declared optional
        ("  []\n", "no cohorts declared"),
    ],
)
def test_bad_definitions_are_refused_with_a_clear_message(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(CohortError) as refused:
        load(tmp_path, body)
    assert message in str(refused.value)


def test_a_cohort_needing_an_absent_optional_column_is_unavailable(tmp_path: Path) -> None:
    cohorts = load(
        tmp_path,
        cohort("base", "ltc_3plus")
        + cohort("risky", "risk_tier == 'high'", within="base")
        + cohort("risky_and_busy", "risky and escalating", within="base"),
        optional="[risk_tier]",
    )
    assert [d.name for d in cohorts.available] == ["base"]
    assert cohorts.unavailable["risky"] == "the person table has no risk_tier column"
    assert cohorts.unavailable["risky_and_busy"].startswith("it needs cohort risky")
    with pytest.raises(CohortError, match="cohort risky is unavailable: the person table has no"):
        cohorts.get("risky")
    with pytest.raises(CohortError, match="unknown cohort 'bsae' \\(did you mean 'base'\\?\\)"):
        cohorts.get("bsae")
