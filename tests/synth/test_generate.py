"""The synthetic extract: schema, calibration, determinism and the truth file."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import nhs_number
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from phm.config.place import Place, load_place
from phm.schema.canonical import TABLES
from phm.synth import SynthSummary, generate
from phm.synth.generator import plan_chunks
from phm.synth.profile import PROFILES_DIR, load_profile

INDEX = datetime.date(2026, 3, 31)
WINDOW_START = datetime.date(2020, 3, 31)
LISTED = "death_date is null and registration_end is null"
EVENT_DATES = {
    "clinical_event": "event_date",
    "medication": "issue_date",
    "encounter": "start_datetime",
    "assessment": "assessment_date",
    "pathway": "start_date",
}


@pytest.fixture(scope="module")
def place() -> Place:
    return load_place()


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory, place: Place) -> tuple[SynthSummary, Path]:
    out = tmp_path_factory.mktemp("synth50k")
    calls: list[int] = []
    summary = generate(out, place=place, persons=50_000, seed=7, progress=calls.append)
    assert sum(calls) == 50_000
    return summary, out


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, place: Place) -> Path:
    out = tmp_path_factory.mktemp("synth5k")
    generate(out, place=place, persons=5_000, seed=11)
    return out


@pytest.fixture(scope="module")
def db(large: tuple[SynthSummary, Path]) -> Iterator[duckdb.DuckDBPyConnection]:
    _, out = large
    con = duckdb.connect()
    for name in TABLES:
        con.execute(f"create view {name} as select * from '{out / name}.parquet'")
    con.execute(f"create view truth as select * from '{out}/truth/emergency_admission.parquet'")
    con.execute(
        f"create view listed as select *, date_diff('day', birth_date, date '{INDEX}') / 365.25 "
        f"as age from person where {LISTED}"
    )
    yield con
    con.close()


def one(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    row = con.execute(sql).fetchone()
    assert row is not None
    return float(row[0])


# ------------------------------------------------------------------ schema


def test_every_table_has_the_canonical_columns_in_order(large: tuple[SynthSummary, Path]) -> None:
    summary, out = large
    for name, table in TABLES.items():
        schema = pq.read_schema(out / f"{name}.parquet")
        assert tuple(schema.names) == table.column_names, name
        assert summary.rows[name] == pq.read_metadata(out / f"{name}.parquet").num_rows > 0


def test_values_respect_the_schema(db: duckdb.DuckDBPyConnection) -> None:
    for name, table in TABLES.items():
        for column in table.columns:
            c = column.name
            if column.required:
                assert one(db, f"select count(*) from {name} where {c} is null") == 0, (name, c)
            if column.allowed:
                allowed = ", ".join(f"'{v}'" for v in column.allowed)
                bad = f"select count(*) from {name} where {c} not in ({allowed})"
                assert one(db, bad) == 0, (name, c)
            if column.pattern:
                bad = (
                    f"select count(*) from {name} where not regexp_matches({c}, '{column.pattern}')"
                )
                assert one(db, bad) == 0, (name, c)
            if column.minimum is not None:
                assert one(db, f"select count(*) from {name} where {c} < {column.minimum}") == 0
            if column.maximum is not None:
                assert one(db, f"select count(*) from {name} where {c} > {column.maximum}") == 0
        for rule in table.rules:
            if rule.kind == "not_before":
                bad = f"select count(*) from {name} where {rule.field} < {rule.other}"
            else:
                bad = (
                    f"select count(*) from {name} "
                    f"where {rule.other} = '{rule.when_value}' and {rule.field} is null"
                )
            assert one(db, bad) == 0, (name, rule.reason)
        for ref in table.references:
            orphans = (
                f"select count(*) from {name} where {ref.column} not in "
                f"(select {ref.key} from {ref.table})"
            )
            assert one(db, orphans) == 0, (name, ref.column)
        for key in [table.key] if table.key else []:
            cols = ", ".join(key)
            dupes = (
                f"select count(*) from (select {cols} from {name} group by all having count(*) > 1)"
            )
            assert one(db, dupes) == 0, (name, key)
    assert (
        one(
            db,
            "select count(*) from encounter where setting <> 'apc' "
            "and admission_method is not null",
        )
        == 0
    )


def test_events_fall_in_the_window_and_the_persons_record(db: duckdb.DuckDBPyConnection) -> None:
    for name, column in EVENT_DATES.items():
        outside = (
            f"select count(*) from {name} where cast({column} as date) "
            f"not between date '{WINDOW_START}' and date '{INDEX}'"
        )
        assert one(db, outside) == 0, name
        after_end = (
            f"select count(*) from {name} e join person p using (person_id) "
            f"where cast(e.{column} as date) > least(p.death_date, p.registration_end)"
        )
        assert one(db, after_end) == 0, name
    late_end = (
        "select count(*) from encounter e join person p using (person_id) "
        f"where cast(e.end_datetime as date) > least(p.death_date, p.registration_end, "
        f"date '{INDEX}')"
    )
    assert one(db, late_end) == 0
    for column in ("birth_date", "death_date", "registration_start", "registration_end"):
        assert one(db, f"select count(*) from person where {column} > date '{INDEX}'") == 0
    assert one(db, f"select count(*) from pathway where end_date > date '{INDEX}'") == 0
    assert one(db, f"select count(*) from hub_capacity where date > date '{INDEX}'") == 0


def test_nhs_numbers_are_valid_test_numbers(db: duckdb.DuckDBPyConnection) -> None:
    numbers = [r[0] for r in db.execute("select nhs_number from person").fetchall()]
    assert len(set(numbers)) == len(numbers)
    assert all(n.startswith("999") and nhs_number.is_valid(n) for n in numbers)
    ids = [r[0] for r in db.execute("select person_id from person limit 3").fetchall()]
    assert all(re.fullmatch(r"P\d{7}", i) for i in ids)


def test_the_extract_holds_deaths_leavers_and_newborns(db: duckdb.DuckDBPyConnection) -> None:
    dead = one(db, "select count(*) from person where death_date is not null")
    people = one(db, "select count(*) from person")
    assert 0.02 < dead / people < 0.05  # ~0.6% a year over six years
    recent_deaths = one(db, f"select count(*) from person where death_date > date '{INDEX}' - 365")
    assert recent_deaths > 0.1 * dead
    assert (
        one(
            db,
            "select count(*) from person where registration_end < coalesce(death_date, "
            f"date '{INDEX}')",
        )
        > 0.05 * people
    )
    assert (
        one(db, "select count(*) from listed where age < 1 and registration_start > birth_date") > 0
    )
    joined = one(db, f"select avg((registration_start > date '{INDEX}' - 365)::int) from listed")
    assert 0.05 < joined < 0.3
    older_dead = one(
        db,
        "select avg((date_diff('day', birth_date, death_date) > 65 * 365.25)::int)"
        " from person where death_date is not null",
    )
    assert older_dead > 0.6


# ------------------------------------------------------------------ calibration


def test_list_sizes_follow_the_place(db: duckdb.DuckDBPyConnection, place: Place) -> None:
    counts = dict(db.execute("select practice_code, count(*) from listed group by 1").fetchall())
    assert sum(counts.values()) == 50_000
    for practice in place.practices:
        expected = practice.list_size * 50_000 / place.list_size
        assert abs(counts[practice.code] - expected) <= max(1.0, 0.02 * expected)


def _prevalence(db: duckdb.DuckDBPyConnection, names: list[str], min_age: float) -> float:
    conditions = yaml.safe_load((PROFILES_DIR / "conditions.yaml").read_text())["conditions"]
    codes = [v["snomed"] for c in conditions if c["name"] in names for v in c["variants"]]
    resolved = [
        c["resolved"]["snomed"] for c in conditions if c["name"] in names and "resolved" in c
    ]
    code_list = ", ".join(f"'{c}'" for c in codes)
    resolved_list = ", ".join(f"'{c}'" for c in resolved) or "''"
    return one(
        db,
        f"""
        with dx as (select person_id, max(event_date) latest from clinical_event
                    where source = 'gp' and code in ({code_list}) group by 1),
             rs as (select person_id, max(event_date) latest from clinical_event
                    where code in ({resolved_list}) group by 1)
        select avg((dx.person_id is not null and (rs.latest is null or rs.latest < dx.latest))::int)
        from listed left join dx using (person_id) left join rs using (person_id)
        where age >= {min_age}""",
    )


@pytest.mark.parametrize(
    ("names", "min_age", "target"),
    [
        (["hypertension"], 0, 0.11),
        (["depression"], 18, 0.08),
        (["diabetes_type2", "diabetes_type1"], 17, 0.06),
        (["smi"], 0, 0.012),
        (["asthma"], 0, 0.0458),
        (["copd"], 0, 0.0124),
        (["ckd"], 18, 0.0191),
    ],
)
def test_register_prevalence_is_on_target(
    db: duckdb.DuckDBPyConnection, names: list[str], min_age: float, target: float
) -> None:
    assert _prevalence(db, names, min_age) == pytest.approx(target, rel=0.15)


def _condition_matrix(db: duckdb.DuckDBPyConnection) -> tuple[np.ndarray, np.ndarray]:
    """Ages and a (person x QOF condition) matrix of the listed population."""
    conditions = yaml.safe_load((PROFILES_DIR / "conditions.yaml").read_text())["conditions"]
    qof = [c for c in conditions if c.get("qof")]
    columns = ", ".join(
        "max((code in ({}))::int)".format(", ".join(f"'{v['snomed']}'" for v in c["variants"]))
        for c in qof
    )
    frame = db.execute(f"""
        with dx as (select person_id, {columns} from clinical_event where source = 'gp'
                    group by 1)
        select listed.age, dx.* exclude (person_id) from listed left join dx using (person_id)
    """).fetchnumpy()
    values = list(frame.values())
    matrix = np.column_stack([np.nan_to_num(np.asarray(v, dtype=float)) for v in values[1:]])
    return np.asarray(values[0], dtype=float), matrix


def test_conditions_cluster_and_rise_with_age(db: duckdb.DuckDBPyConnection) -> None:
    age, matrix = _condition_matrix(db)
    count = matrix.sum(axis=1)
    rng = np.random.default_rng(0)
    shuffled = np.column_stack([rng.permutation(col) for col in matrix.T]).sum(axis=1)
    assert (count >= 3).mean() > 1.5 * (shuffled >= 3).mean()
    assert count[age >= 65].mean() > 5 * count[(age >= 18) & (age < 40)].mean()
    assert (age[count >= 3] >= 65).mean() > 0.5


def test_dementia_is_almost_only_over_65(db: duckdb.DuckDBPyConnection) -> None:
    share = one(
        db,
        """
        select avg((age >= 65)::int) from listed where person_id in (
          select person_id from clinical_event
          where code in ('52448006', '26929004', '429998004'))""",
    )
    assert share > 0.9


def test_emergency_admissions_rise_with_age(db: duckdb.DuckDBPyConnection) -> None:
    rates = dict(
        db.execute(f"""
        with adm as (select person_id, count(*) n from encounter
                     where admission_method = 'emergency'
                       and start_datetime >= date '{INDEX}' - 730 group by 1)
        select case when age < 18 then 'child' when age < 40 then 'young'
                    when age < 65 then 'middle' when age < 80 then 'old' else 'oldest' end,
               avg(coalesce(n, 0)) / 2
        from listed left join adm using (person_id) group by 1""").fetchall()
    )
    assert rates["young"] < rates["middle"] < rates["old"] < rates["oldest"]
    assert rates["oldest"] > 4 * rates["young"]
    assert (
        0.05
        < one(
            db,
            f"""select count(*) / (select count(*) from listed) from encounter
        where admission_method = 'emergency' and start_datetime >= date '{INDEX}' - 365
        and person_id in (select person_id from listed)""",
        )
        < 0.2
    )


def test_services_look_like_real_use(db: duckdb.DuckDBPyConnection) -> None:
    per_person = dict(
        db.execute(f"""
        select setting, count(*) / (select count(*) from listed) from encounter
        where start_datetime >= date '{INDEX}' - 365 and person_id in (select person_id from listed)
        group by 1""").fetchall()
    )
    assert 4 < per_person["gp"] + per_person["hub"] < 8
    assert 1 < per_person["op"] < 2.5
    assert 0.25 < per_person["ae"] < 0.5
    within_4h = one(
        db,
        "select avg((end_datetime - start_datetime <= interval 4 hour)::int) "
        "from encounter where setting = 'ae'",
    )
    assert 0.82 < within_4h < 0.93
    rtt = one(
        db,
        "select avg((end_date - start_date <= 126)::int) from pathway "
        "where kind = 'rtt' and end_date is not null",
    )
    assert 0.75 < rtt < 0.95
    assert one(db, "select count(*) from pathway where kind = 'rtt' and end_date is null") > 0
    pam = db.execute("select avg(score), stddev(score) from assessment where instrument = 'pam'")
    mean, sd = pam.fetchone() or (0, 0)
    assert 50 < mean < 65 and 8 < sd < 18
    util = dict(
        db.execute("select hub, sum(booked) / sum(offered) from hub_capacity group by 1").fetchall()
    )
    assert len(util) == 2 and min(util.values()) < 0.6 < max(util.values())


# ------------------------------------------------------------------ truth


def test_the_truth_file(db: duckdb.DuckDBPyConnection, large: tuple[SynthSummary, Path]) -> None:
    _, out = large
    assert (out / "truth" / "README.md").is_file()
    assert one(db, "select count(*) from truth") == one(db, "select count(*) from listed")
    risk = np.asarray(db.execute("select true_risk from truth").fetchnumpy()["true_risk"])
    outcome = np.asarray(
        db.execute("select outcome from truth").fetchnumpy()["outcome"], dtype=bool
    )
    assert ((risk > 0) & (risk < 1)).all()
    standard_error = np.sqrt(risk.mean() * (1 - risk.mean()) / len(risk))
    assert abs(outcome.mean() - risk.mean()) < 4 * standard_error
    assert 0.06 < risk.mean() < 0.1
    assert _auc(risk, outcome) > 0.72


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula."""
    ranks = np.empty(len(score))
    ranks[np.argsort(score, kind="stable")] = np.arange(1, len(score) + 1)
    positives = label.sum()
    negatives = len(label) - positives
    return float((ranks[label].sum() - positives * (positives + 1) / 2) / (positives * negatives))


# ------------------------------------------------------------------ determinism and formats


def _digests(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.*"))}


def test_same_seed_gives_identical_files(tmp_path: Path, place: Place, small: Path) -> None:
    again = tmp_path / "again"
    generate(again, place=place, persons=5_000, seed=11)
    assert _digests(again) == _digests(small)


def test_another_seed_gives_another_extract(tmp_path: Path, place: Place, small: Path) -> None:
    other = tmp_path / "other"
    generate(other, place=place, persons=5_000, seed=12)
    first, second = _digests(small), _digests(other)
    assert first.keys() == second.keys()
    assert first["person.parquet"] != second["person.parquet"]
    assert first["encounter.parquet"] != second["encounter.parquet"]


def test_csv_extract(tmp_path: Path, place: Place) -> None:
    out = tmp_path / "csv"
    summary = generate(
        out, place=place, persons=2_000, seed=3, fmt="csv", index_date=datetime.date(2025, 12, 31)
    )
    assert summary.persons == 2_000 and summary.index_date == datetime.date(2025, 12, 31)
    for name, table in TABLES.items():
        with (out / f"{name}.csv").open() as f:
            header = f.readline().strip().replace('"', "").split(",")
            first = f.readline()
        assert tuple(header) == table.column_names, name
        assert first, name
    with (out / "encounter.csv").open() as f:
        f.readline()
        row = f.readline().split(",")
    assert re.fullmatch(r'"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"', row[4])
    assert row[3] == "" or row[2] == '"apc"'
    latest = duckdb.sql(f"select max(event_date) from '{out}/clinical_event.csv'").fetchone()
    assert latest is not None and latest[0] <= datetime.date(2025, 12, 31)
    assert (out / "truth" / "emergency_admission.parquet").is_file()


def test_persons_defaults_to_the_place_list_size(place: Place) -> None:
    plans = plan_chunks(place, load_profile(), place.list_size, seed=42)
    assert sum(len(p.practices) for p in plans) == place.list_size == 288_300
    assert all(p.decedents > 0 and p.leavers > 0 for p in plans)


def test_workers_do_not_change_the_output(
    tmp_path: Path, place: Place, large: tuple[SynthSummary, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, parallel = large
    monkeypatch.setenv("PHM_SYNTH_WORKERS", "1")
    inline = tmp_path / "inline"
    generate(inline, place=place, persons=50_000, seed=7)
    assert _digests(inline) == _digests(parallel)


def test_another_place_shape(tmp_path: Path, place: Place) -> None:
    """Nothing assumes the shipped place: no hubs and three acute trusts work too."""
    providers = place.providers.model_copy(update={"acute": ("R01", "R02", "R03")})
    other = place.model_copy(update={"hubs": (), "providers": providers})
    out = tmp_path / "other-place"
    summary = generate(out, place=other, persons=3_000, seed=5)
    assert summary.rows["hub_capacity"] == 0
    con = duckdb.connect()
    settings = dict(
        con.execute(
            f"select setting, count(*) from '{out}/encounter.parquet' group by 1"
        ).fetchall()
    )
    assert "hub" not in settings and settings["gp"] > 0
    trusts = {
        r[0]
        for r in con.execute(
            f"select distinct provider_code from '{out}/encounter.parquet' where setting = 'apc'"
        ).fetchall()
    }
    assert trusts == {"R01", "R02", "R03"}


def _declared(node: object, key: str) -> set[str]:
    """Every value of `key` anywhere in a YAML tree."""
    if isinstance(node, dict):
        found = {str(node[key])} if key in node and not isinstance(node[key], dict) else set()
        return found.union(*(_declared(v, key) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_declared(v, key) for v in node))
    return set()


def test_every_code_is_declared_in_the_conditions_file(db: duckdb.DuckDBPyConnection) -> None:
    declared = yaml.safe_load((PROFILES_DIR / "conditions.yaml").read_text())
    hospital = declared["hospital"]
    icd = _declared(declared, "icd10") | {hospital["op_follow_up"], *hospital["maternity"].values()}
    icd |= {c for x in declared["conditions"] for c in x.get("acute_icd10", [])}
    snomed = _declared(declared, "snomed")
    bnf = _declared(declared, "bnf")
    by_system = dict(
        db.execute(
            "select code_system, list(distinct code) from clinical_event group by 1"
        ).fetchall()
    )
    assert set(by_system) == {"snomed", "icd10"}
    assert set(by_system["snomed"]) <= snomed
    assert set(by_system["icd10"]) <= icd
    assert all(re.fullmatch(r"[A-Z]\d{2}\d?", c) for c in by_system["icd10"])
    drugs = {r[0] for r in db.execute("select distinct code from medication").fetchall()}
    assert drugs <= bnf and all(len(c) == 9 for c in drugs)
    diagnoses = {
        r[0]
        for r in db.execute("select distinct primary_diagnosis from encounter").fetchall()
        if r[0] is not None
    }
    assert diagnoses <= icd
