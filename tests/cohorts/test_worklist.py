"""Worklists: filtering by place, ordering by need, refusals, and the files written (spec tests)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from phm.cohorts import CohortError, load_cohorts, worklist, write_worklist
from tests.conftest import rows
from tests.segments.people import PERSON_SCHEMA, person, person_table

COLUMNS = set(PERSON_SCHEMA)
RISK = {"risk_score": "float64", "risk_tier": "string", "risk_explanation": "string"}
NORTH = {"practice_code": "A00001", "pcn_code": "PCN1", "neighbourhood": "Borough and Walworth"}
SOUTH = {"practice_code": "B00002", "pcn_code": "PCN2", "neighbourhood": "Dulwich"}


def people() -> list[dict[str, Any]]:
    """3+ LTC people of two practices; the order of need is in the comments."""
    return [
        # 1 reason (escalating), 3 LTCs
        person("n_one_reason", **NORTH, ltc_count=3, escalating=True, hypertension=True),
        # 2 reasons, 4 LTCs: before the 1-reason people
        person(
            "n_two_reasons",
            **NORTH,
            ltc_count=4,
            escalating=True,
            housing_need=True,
            copd=True,
            diabetes=True,
            last_emergency_discharge=dt.date(2026, 3, 1),
            pam_level=3,
        ),
        # 1 reason, 3 LTCs, but 2 emergency admissions: before n_one_reason
        person("n_admitted", **NORTH, ltc_count=3, escalating=True, emergency_admissions_12m=2),
        # 1 reason, 4 LTCs: before n_admitted (more LTCs)
        person("n_more_ltcs", **NORTH, ltc_count=4, escalating=True),
        # ties broken by person_id
        person("n_tie_b", **NORTH, ltc_count=3),
        person("n_tie_a", **NORTH, ltc_count=3),
        # not on the list
        person("n_two_ltcs", **NORTH, ltc_count=2, escalating=True),
        # the other practice
        person("s_escalating", **SOUTH, ltc_count=3, escalating=True),
    ]


BY_NEED = ["n_two_reasons", "n_more_ltcs", "n_admitted", "n_one_reason", "n_tie_a", "n_tie_b"]


def test_a_practice_worklist_ordered_by_need(backend: Any) -> None:
    cohorts = load_cohorts(columns=COLUMNS)
    table = person_table(*people())
    result = rows(
        backend, worklist(table, cohorts, cohort="ltc_3plus", practice="A00001"), "priority"
    )

    assert [r["person_id"] for r in result] == BY_NEED
    assert [r["priority"] for r in result] == [1, 2, 3, 4, 5, 6]
    first = result[0]
    assert first == {
        "priority": 1,
        "person_id": "n_two_reasons",
        "age": 40,
        "sex": "F",
        "practice_code": "A00001",
        "conditions": "diabetes; copd",
        "reasons": "social_care_or_housing; escalating",
        "last_emergency_discharge": dt.date(2026, 3, 1),
        "pam_level": 3,
    }


def test_a_marker_worklist_by_pcn_and_neighbourhood(backend: Any) -> None:
    cohorts = load_cohorts(columns=COLUMNS)
    table = person_table(*people())
    by_pcn = worklist(table, cohorts, cohort="escalating", pcn="PCN1")
    by_area = worklist(table, cohorts, cohort="escalating", neighbourhood="Dulwich")
    assert [r["person_id"] for r in rows(backend, by_pcn, "priority")] == [
        "n_two_reasons",
        "n_more_ltcs",
        "n_admitted",
        "n_one_reason",
    ]
    assert [r["person_id"] for r in rows(backend, by_area, "priority")] == ["s_escalating"]


def test_risk_score_comes_first_where_present(backend: Any) -> None:
    cohorts = load_cohorts(columns=COLUMNS | set(RISK))
    scores = {"n_tie_a": 0.9, "n_one_reason": 0.5, "n_two_reasons": 0.5}
    table = person_table(
        *(
            {
                **p,
                "risk_score": scores.get(p["person_id"]),
                "risk_tier": "high" if p["person_id"] in scores else None,
                "risk_explanation": "prior admissions" if p["person_id"] in scores else None,
            }
            for p in people()
        ),
        extra=RISK,
    )
    result = rows(
        backend, worklist(table, cohorts, cohort="ltc_3plus", practice="A00001"), "priority"
    )
    # 0.9, then the two at 0.5 by reasons, then the unscored by need as before
    assert [r["person_id"] for r in result] == [
        "n_tie_a",
        "n_two_reasons",
        "n_one_reason",
        "n_more_ltcs",
        "n_admitted",
        "n_tie_b",
    ]
    assert result[0]["reasons"] == "high_risk"
    assert result[0]["risk_explanation"] == "prior admissions"


def test_unknown_cohort_or_place_is_refused() -> None:
    cohorts = load_cohorts(columns=COLUMNS)
    table = person_table(*people())
    with pytest.raises(CohortError, match="unknown cohort 'escalatng' \\(did you mean"):
        worklist(table, cohorts, cohort="escalatng")
    with pytest.raises(CohortError, match="cohort high_risk is unavailable"):
        worklist(table, cohorts, cohort="high_risk")
    with pytest.raises(CohortError, match="unknown practice 'Z99999': no registered person"):
        worklist(table, cohorts, cohort="ltc_3plus", practice="Z99999")
    with pytest.raises(CohortError, match="unknown pcn 'PCN9'"):
        worklist(table, cohorts, cohort="ltc_3plus", pcn="PCN9")


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_worklists_written_and_read_back(backend: Any, tmp_path: Path, suffix: str) -> None:
    cohorts = load_cohorts(columns=COLUMNS)
    table = person_table(*people())
    listed = backend.to_pyarrow(worklist(table, cohorts, cohort="ltc_3plus", practice="A00001"))
    path = tmp_path / f"worklist{suffix}"
    assert write_worklist(listed, path) == 6

    headers = [
        "Priority",
        "Person ID",
        "Age",
        "Sex",
        "Practice",
        "Long-term conditions",
        "Reasons",
        "Last emergency discharge",
        "PAM level",
    ]
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            read = list(csv.reader(f))
        assert read[0] == headers
        assert read[1] == [
            "1",
            "n_two_reasons",
            "40",
            "F",
            "A00001",
            "diabetes; copd",
            "social_care_or_housing; escalating",
            "2026-03-01",
            "3",
        ]
        assert [r[1] for r in read[1:]] == BY_NEED
        return
    sheet = load_workbook(path).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == headers
    assert [r[1] for r in values[1:]] == BY_NEED
    assert values[1][7] == dt.datetime(2026, 3, 1)  # a date cell, not text
    assert values[2][7] is None
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].font.bold
    assert sheet.column_dimensions["G"].width >= len("social_care_or_housing; escalating")


def test_an_unknown_file_type_is_refused(tmp_path: Path) -> None:
    cohorts = load_cohorts(columns=COLUMNS)
    listed = worklist(person_table(*people()), cohorts, cohort="ltc_3plus")
    with pytest.raises(CohortError, match=r"give a \.csv or \.xlsx file name"):
        write_worklist(listed, tmp_path / "worklist.pdf")
