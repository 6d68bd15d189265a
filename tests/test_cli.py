"""The `phm` command end to end: clear one-line errors, no tracebacks for user mistakes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phm.cli import app
from tests.ingest.test_canonical import EVENTS, PERSON, PRACTICE, write

runner = CliRunner()


def phm(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def extract(tmp_path: Path) -> Path:
    return write(
        tmp_path / "extract", practice__csv=PRACTICE, person__csv=PERSON, clinical_event__csv=EVENTS
    )


def test_ingest_run_export(tmp_path: Path, extract: Path) -> None:
    home = str(tmp_path / "home")
    code, output = phm("--home", home, "ingest", str(extract))
    assert code == 0, output
    assert "person.csv" in output and "phm export rejects" in output
    code, output = phm("--home", home, "run", "--index-date", "2026-03-31")
    assert code == 0 and "person_table 2 rows" in output
    code, output = phm("--home", home, "export", "person", "--out", str(tmp_path / "p.csv"))
    assert code == 0 and "Wrote 2 rows of person_table" in output
    with (tmp_path / "p.csv").open() as f:
        people = list(csv.DictReader(f))
    assert {p["person_id"] for p in people} == {"P1", "P2"}
    assert {"birth_date", "age", "practice_code", "lcn"} <= set(people[0])
    code, output = phm("--home", home, "export", "rejects", "--out", str(tmp_path / "r.parquet"))
    assert code == 0 and "Wrote 7 rows of rejects" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "oracle", "tables"], "--engine 'oracle': choose duckdb or spark"),
        (["run", "--index-date", "31/03/2026"], "is not a date: use YYYY-MM-DD"),
        (["ingest", "/no/such/folder"], "no such file or folder"),
        (["ingest", ".", "--replace", "--append"], "choose one of --replace and --append"),
        (["ingest", ".", "--format", "hl7"], "choose one of canonical, synthea, fhir, omop"),
        (["export", "person", "--out", "x.csv"], "no table 'person'"),
        (["synth", "--format", "xml"], "--format 'xml': choose parquet or csv"),
        (["--place", "atlantis", "synth"], "no place file"),
    ],
)
def test_user_mistakes_get_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    code, output = phm("--home", str(tmp_path), *args)
    assert code == 2
    assert message in output
    assert "Traceback" not in output


def test_export_needs_a_known_file_type(tmp_path: Path, extract: Path) -> None:
    phm("--home", str(tmp_path), "ingest", str(extract))
    code, output = phm("--home", str(tmp_path), "export", "person", "--out", "p.xlsx")
    assert code == 2 and "give a .csv or .parquet file name" in output


def test_a_failed_file_makes_ingest_exit_non_zero(tmp_path: Path) -> None:
    broken = write(tmp_path / "broken", practice__csv="code;name\nX;Y\n")
    code, output = phm("--home", str(tmp_path / "home"), "ingest", str(broken))
    assert code == 1 and "practice.csv: missing required column(s)" in output


def test_worklist_for_a_practice(tmp_path: Path) -> None:
    from phm.config import load_place
    from phm.synth import generate

    generate(tmp_path / "extract", place=load_place(), persons=3000, seed=3)
    home = str(tmp_path / "home")
    assert phm("--home", home, "ingest", str(tmp_path / "extract"))[0] == 0
    code, output = phm("--home", home, "run")
    assert code == 0 and "Bridges to Health segments" in output
    out = tmp_path / "worklist.csv"
    code, output = phm(
        "--home",
        home,
        "worklist",
        "--cohort",
        "ltc_3plus",
        "--practice",
        "Y99001",
        "--out",
        str(out),
    )
    assert code == 0, output
    with out.open() as f:
        listed = list(csv.DictReader(f))
    assert listed and [int(r["Priority"]) for r in listed] == list(range(1, len(listed) + 1))
    assert {r["Practice"] for r in listed} == {"Y99001"}
    code, output = phm("--home", home, "worklist", "--cohort", "nope", "--out", str(out))
    assert code == 2 and "unknown cohort 'nope'" in output


def test_demo_runs_the_main_job_end_to_end(tmp_path: Path) -> None:
    """synth → ingest → run → risk train → scored person table, as `make demo` runs it."""
    home = tmp_path / "home"
    code, output = phm("--home", str(home), "demo", "--persons", "1500")
    assert code == 0, output
    assert "Bridges to Health segments" in output and "Risk scored with model" in output
    code, output = phm("--home", str(home), "export", "person", "--out", str(tmp_path / "p.csv"))
    assert code == 0
    with (tmp_path / "p.csv").open() as f:
        people = list(csv.DictReader(f))
    assert len(people) == 1500
    assert all(p["risk_tier"] and p["bridges_segment"] for p in people)
    assert (home / "models" / "latest" / "model_card.md").exists()
