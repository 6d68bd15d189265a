"""Who counts in the registered population at the index date (spec tests)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis

from phm.measures.population import registered_population
from tests.conftest import rows

INDEX = dt.date(2026, 3, 31)
D = dt.date

PRACTICE = ibis.memtable(
    [
        {
            "practice_code": "Y99001",
            "name": "North Practice",
            "pcn_code": "U90001",
            "pcn_name": "North PCN",
            "neighbourhood": "Borough and Walworth",
            "lcn": "North",
            "place": "Testplace",
        }
    ]
)

#  person, birth, death, registration start, end, ethnicity → registered? age
PEOPLE = [
    ("registered", D(1950, 3, 31), None, D(2000, 1, 1), None, "Caribbean", True, 76),
    ("birthday tomorrow", D(1950, 4, 1), None, D(2000, 1, 1), None, None, True, 75),
    ("died on index date", D(1950, 1, 1), INDEX, D(2000, 1, 1), None, "British", False, None),
    ("died after", D(1950, 1, 1), D(2026, 4, 1), D(2000, 1, 1), None, "Irish", True, 76),
    ("left before", D(1980, 1, 1), None, D(2000, 1, 1), D(2025, 1, 1), "Indian", False, None),
    ("leaves on index date", D(1980, 1, 1), None, D(2000, 1, 1), INDEX, "Indian", False, None),
    ("joins after", D(1990, 1, 1), None, D(2026, 4, 1), None, "Arab", False, None),
    ("joined on index date", D(2026, 3, 31), None, INDEX, None, "Roma", True, 0),
]


def person_table() -> ibis.Table:
    return ibis.memtable(
        {
            "person_id": [p[0] for p in PEOPLE],
            "nhs_number_hash": [None] * len(PEOPLE),
            "sex": ["F"] * len(PEOPLE),
            "birth_date": [p[1] for p in PEOPLE],
            "death_date": [p[2] for p in PEOPLE],
            "ethnicity": [p[5] for p in PEOPLE],
            "lsoa_code": ["E01000001"] * len(PEOPLE),
            "imd_decile": [3] * len(PEOPLE),
            "practice_code": ["Y99001"] * len(PEOPLE),
            "registration_start": [p[3] for p in PEOPLE],
            "registration_end": [p[4] for p in PEOPLE],
        },
        schema={
            "person_id": "string",
            "nhs_number_hash": "string",
            "sex": "string",
            "birth_date": "date",
            "death_date": "date",
            "ethnicity": "string",
            "lsoa_code": "string",
            "imd_decile": "int64",
            "practice_code": "string",
            "registration_start": "date",
            "registration_end": "date",
        },
    )


def test_registered_and_alive_on_the_index_date(backend: Any) -> None:
    result = rows(backend, registered_population(person_table(), PRACTICE, INDEX), "person_id")
    expected = {p[0]: p[7] for p in PEOPLE if p[6]}
    assert {r["person_id"]: r["age"] for r in result} == expected


def test_geography_and_ethnic_group_are_attached(backend: Any) -> None:
    result = rows(backend, registered_population(person_table(), PRACTICE, INDEX), "person_id")
    by_id = {r["person_id"]: r for r in result}
    assert by_id["registered"]["ethnic_group"] == "Black"
    assert by_id["birthday tomorrow"]["ethnicity"] == "Not stated"
    assert by_id["birthday tomorrow"]["ethnic_group"] == "Not stated"
    assert {r["lcn"] for r in result} == {"North"}
    assert {r["imd_quintile"] for r in result} == {2}
