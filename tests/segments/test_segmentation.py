"""The shipped Bridges to Health segmentation, on hand-built people (spec tests).

One person per rule of segments.yaml, people who meet several rules (the
order decides), and the edges of each rule; every person must come out in
exactly one segment. Then the priority groupings, the summary, and the
definitions the loader must refuse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from phm.segments import (
    SegmentError,
    assign_segments,
    load_segments,
    segment_summary,
)
from tests.conftest import rows
from tests.segments.people import PERSON_SCHEMA, person, person_table

COLUMNS = set(PERSON_SCHEMA)

# person, expected rule (the segment follows from the rule)
PEOPLE: list[tuple[dict[str, Any], str]] = [
    # end of life
    (
        person("eol_palliative", palliative_care=True, heart_failure=True, dementia=True),
        "palliative_care_register",
    ),
    (
        person("eol_cancer", cms_cancer=True, cancer=True, ltc_count=1, emergency_admissions_12m=2),
        "cancer_with_recurrent_admissions",
    ),
    (
        person("cancer_one_admission", cms_cancer=True, ltc_count=1, emergency_admissions_12m=1),
        "long_term_condition",
    ),
    # organ failure: before frailty and dementia
    (
        person("heart_failure_dementia", heart_failure=True, dementia=True, ltc_count=2),
        "heart_failure",
    ),
    (
        person("copd_admitted", copd=True, ltc_count=1, emergency_admissions_12m=1),
        "copd_with_emergency_admission",
    ),
    (person("copd_stable", copd=True, ltc_count=1), "long_term_condition"),
    (
        person("ckd_4_admissions", ckd=True, ltc_count=1, emergency_admissions_12m=4),
        "ckd_with_recurrent_admissions",
    ),
    (
        person("ckd_3_admissions", ckd=True, ltc_count=1, emergency_admissions_12m=3),
        "long_term_condition",
    ),
    (
        person(
            "liver_admitted", chronic_liver_disease=True, ltc_count=1, emergency_admissions_12m=1
        ),
        "liver_disease_with_emergency_admission",
    ),
    # frailty and dementia: before disability
    (person("dementia_ld", dementia=True, learning_disability=True, ltc_count=2), "dementia"),
    (person("efi_moderate", age=80, efi_category="moderate", ltc_count=2), "frailty"),
    (person("efi_severe", age=90, efi_category="severe"), "frailty"),
    (person("efi_mild", age=80, efi_category="mild", ltc_count=1), "long_term_condition"),
    (person("hfrs_intermediate_65", age=65, hfrs_category="intermediate"), "frailty"),
    (
        person(
            "hfrs_high_64",
            age=64,
            hfrs_category="high",
            emergency_admissions_12m=1,
            emergency_admissions_90d=1,
        ),
        "acute_episode_90d",
    ),
    # disability: before long-term conditions
    (person("ms", multiple_sclerosis=True, ltc_count=2), "significant_disability"),
    (
        person("learning_disability", learning_disability=True, ltc_count=1),
        "significant_disability",
    ),
    (person("parkinsons", parkinsons=True, ltc_count=1), "significant_disability"),
    (person("blind", visual_impairment=True, ltc_count=1), "significant_disability"),
    (person("smi_only", smi=True, ltc_count=1), "long_term_condition"),
    # long-term conditions: before maternal and infant
    (person("asthma_pregnant", ltc_count=1, maternity=True), "long_term_condition"),
    # maternal and infant: before acutely ill
    (
        person("pregnant_admitted", maternity=True, emergency_admissions_12m=1),
        "pregnant_or_recent_birth",
    ),
    (person("infant", age=0, infant=True), "infant_under_1"),
    # acutely ill
    (
        person("admitted", emergency_admissions_12m=1, emergency_admissions_90d=1),
        "acute_episode_90d",
    ),
    (person("ae_recently", ae_attendances_12m=1, ae_attendances_90d=1), "acute_episode_90d"),
    (person("reablement", in_reablement=True), "acute_episode_90d"),
    (person("admitted_months_ago", emergency_admissions_12m=1), "everyone_else"),
    (person("ae_months_ago", ae_attendances_12m=3), "everyone_else"),
    # healthy, with every nullable column missing
    (person("healthy", hfrs_category=None, efi_category=None, pam_level=None), "everyone_else"),
]


@pytest.fixture(scope="module")
def segmentation() -> Any:
    return load_segments(columns=COLUMNS)


def test_each_person_in_the_segment_of_the_first_rule_that_holds(
    backend: Any, segmentation: Any
) -> None:
    table = person_table(*(p for p, _ in PEOPLE))
    result = rows(backend, assign_segments(table, segmentation), "person_id")
    segment_of = {r.name: r.segment for r in segmentation.rules}

    assert len(result) == len(PEOPLE)  # exactly one row per person
    got = {r["person_id"]: (r["bridges_segment"], r["bridges_segment_rule"]) for r in result}
    expected = {p["person_id"]: (segment_of[rule], rule) for p, rule in PEOPLE}
    assert got == expected
    assert {r["segmentation_version"] for r in result} == {segmentation.full_version}
    groupings = {
        name: {r["person_id"] for r in result if r[name]}
        for name in (
            "priority_dementia_frailty_end_of_life",
            "priority_vulnerable_children",
            "priority_maternity_under_5",
        )
    }
    assert groupings["priority_dementia_frailty_end_of_life"] == {
        "eol_palliative",
        "eol_cancer",
        "heart_failure_dementia",
        "dementia_ld",
        "efi_moderate",
        "efi_severe",
        "hfrs_intermediate_65",
    }
    assert groupings["priority_vulnerable_children"] == set()
    assert groupings["priority_maternity_under_5"] == {
        "asthma_pregnant",
        "pregnant_admitted",
        "infant",
    }


def test_every_rule_is_exercised(segmentation: Any) -> None:
    assert {r.name for r in segmentation.rules} == {rule for _, rule in PEOPLE}


def test_priority_groupings_for_children(backend: Any, segmentation: Any) -> None:
    children = [
        person("social_care_10", age=10, social_care_12m=True),
        person("housing_3", age=3, housing_need=True),
        person("mh_contact_15", age=15, mh_contacts_12m=1),
        person("two_ltcs_12", age=12, ltc_count=2),
        person("two_admissions_6", age=6, emergency_admissions_12m=2),
        person("one_admission_6", age=6, emergency_admissions_12m=1),
        person("social_care_18", age=18, social_care_12m=True),
        person("well_4", age=4),
        person("well_5", age=5),
    ]
    result = rows(backend, assign_segments(person_table(*children), segmentation), "person_id")
    vulnerable = {r["person_id"] for r in result if r["priority_vulnerable_children"]}
    under_5 = {r["person_id"] for r in result if r["priority_maternity_under_5"]}
    assert vulnerable == {
        "social_care_10",
        "housing_3",
        "mh_contact_15",
        "two_ltcs_12",
        "two_admissions_6",
    }
    assert under_5 == {"housing_3", "well_4"}


def test_segment_summary(backend: Any, segmentation: Any) -> None:
    table = person_table(
        person("a", ltc_count=1, total_cost_gbp_12m=1000.0),
        person("b", ltc_count=2, total_cost_gbp_12m=500.0),
        person("c", palliative_care=True, total_cost_gbp_12m=9000.0),
        person("d", total_cost_gbp_12m=None),
    )
    placed = table.join(assign_segments(table, segmentation), "person_id")
    frame = backend.execute(segment_summary(placed, segmentation))
    result = {r["segment"]: r for r in frame.to_dict("records")}

    assert list(frame["segment"]) == [s.name for s in segmentation.segments]
    assert result["long_term_conditions"]["persons"] == 2
    assert result["long_term_conditions"]["share"] == pytest.approx(0.5)
    assert result["long_term_conditions"]["total_cost_gbp_12m"] == pytest.approx(1500.0)
    assert result["long_term_conditions"]["cost_per_head_gbp"] == pytest.approx(750.0)
    assert result["end_of_life"]["cost_per_head_gbp"] == pytest.approx(9000.0)
    assert result["healthy"]["total_cost_gbp_12m"] == pytest.approx(0.0)
    assert result["organ_failure"]["persons"] == 0
    assert (
        result["organ_failure"]["cost_per_head_gbp"] != result["organ_failure"]["cost_per_head_gbp"]
    )  # NaN: no cost per head of nobody
    assert frame["persons"].sum() == 4


# --- definitions the loader refuses, before any data is read -----------------

BASE = """
version: "1"
segments:
  - {name: sick, label: Sick, lynn: 4, national: LTC}
  - {name: healthy, label: Healthy, lynn: 1, national: Healthy Well}
"""


def load(tmp_path: Path, body: str, columns: set[str] = COLUMNS) -> Any:
    path = tmp_path / "segments.yaml"
    path.write_text(BASE + body)
    return load_segments(path, columns=columns)


def rules_yaml(*rules: tuple[str, str, str]) -> str:
    lines = ["rules:"]
    for name, segment, when in rules:
        lines.append(
            f"  - {{name: {name}, segment: {segment}, label: x, when: {when!r}, source: test}}"
        )
    return "\n".join(lines) + "\n"


def test_a_minimal_segmentation_loads_and_yaml_true_is_the_catch_all(tmp_path: Path) -> None:
    seg = load(
        tmp_path,
        "rules:\n"
        "  - {name: ltc, segment: sick, label: x, when: ltc_count >= 1, source: t}\n"
        "  - {name: rest, segment: healthy, label: x, when: true, source: t}\n",
    )
    assert [r.name for r in seg.rules] == ["ltc", "rest"]
    assert seg.full_version.startswith("1+")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            rules_yaml(("ltc", "sick", "palative_care"), ("rest", "healthy", "True")),
            "rule ltc: unknown name 'palative_care': not a person-table column nor a declared "
            "condition, rule or priority grouping (did you mean 'palliative_care'?)",
        ),
        (
            rules_yaml(("ltc", "sik", "ltc_count >= 1"), ("rest", "healthy", "True")),
            "rule ltc: unknown segment 'sik' (did you mean 'sick'?)",
        ),
        (
            rules_yaml(("ltc", "sick", "ltc_count >= "), ("rest", "healthy", "True")),
            "rule ltc: cannot parse 'ltc_count >=': invalid syntax",
        ),
        (
            rules_yaml(("ltc", "sick", "len(ltc_count) > 1"), ("rest", "healthy", "True")),
            "rule ltc: 'len(ltc_count)' uses a function call",
        ),
        (
            rules_yaml(("ltc", "sick", "ltc_count + 1 > 1"), ("rest", "healthy", "True")),
            "uses arithmetic",
        ),
        (
            rules_yaml(("ltc", "sick", "age in ltc_count"), ("rest", "healthy", "True")),
            "follows `in` but is not a list of constants",
        ),
        (
            rules_yaml(("ltc", "sick", "ltc_count"), ("rest", "healthy", "True")),
            "",  # a bare number-valued name is refused when compiled (see below)
        ),
        ("rules: []\n", "no rules"),
        (
            rules_yaml(("ltc", "sick", "ltc_count >= 1"), ("rest", "healthy", "age > 0")),
            "rule rest: the last rule must be the catch-all `true`",
        ),
        (
            rules_yaml(
                ("all", "sick", "true"),
                ("ltc", "sick", "ltc_count >= 1"),
                ("rest", "healthy", "True"),
            ),
            "rule all always holds, so later rules never place anyone: ltc, rest",
        ),
        (
            rules_yaml(
                ("ltc", "sick", "ltc_count >= 1"),
                ("ltc", "sick", "copd"),
                ("rest", "healthy", "True"),
            ),
            "ltc is declared twice",
        ),
        (
            "conditions:\n"
            "  - {name: a, label: x, when: b or copd, source: t}\n"
            "  - {name: b, label: x, when: c, source: t}\n"
            "  - {name: c, label: x, when: a, source: t}\n"
            + rules_yaml(("ltc", "sick", "a"), ("rest", "healthy", "True")),
            "a cycle of references: a -> b -> c -> a",
        ),
        (
            rules_yaml(("Bad-Name", "sick", "copd"), ("rest", "healthy", "True")),
            "rules.0.name: String should match pattern",
        ),
        (
            "rules:\n  - {name: ltc, segment: sick, label: x, when: copd, source: t, colour: 1}\n",
            "rules.0.colour: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_definitions_are_refused_with_a_clear_message(
    tmp_path: Path, body: str, message: str
) -> None:
    if not message:
        seg = load(tmp_path, body)
        with pytest.raises(SegmentError, match="'ltc_count' is not a yes/no column"):
            assign_segments(person_table(person("x")), seg)
        return
    with pytest.raises(SegmentError) as refused:
        load(tmp_path, body)
    assert message in str(refused.value)


def test_the_shipped_rules_need_maternity_and_infant() -> None:
    with pytest.raises(SegmentError, match="unknown name 'maternity'"):
        load_segments(columns=COLUMNS - {"maternity"})
