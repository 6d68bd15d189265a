"""OMOP CDM v5.3 / v5.4 from a DuckDB or SQLite database file, or a folder of CSV tables.

Tables read (OHDSI CDM specification, ohdsi.github.io/CommonDataModel):
person, observation_period, death, visit_occurrence, condition_occurrence,
procedure_occurrence, drug_exposure, measurement, observation, with the
source's own vocabulary (concept, concept_relationship) and care_site /
location for a named practice. Column names are matched without regard to
case; a table that is empty and lacks its columns (as some exports write
empty tables) is skipped.

Codes. Each row's concept goes through the source's vocabulary, first
loadable coding wins (phm.ingest.terminology preferences): the concept itself,
its 'Maps to' targets, the row's source concept and its 'Maps to' targets,
and for drugs a dm+d concept that maps to the drug (dm+d to RxNorm is how
the OMOP vocabulary links them). SNOMED, ICD10, ICD10CM, OPCS4, Read go to
clinical_event; dm+d to medication; LOINC through maps/loinc.csv; RxNorm by
ingredient name (maps/ingredients.csv). Concept 0 (no concept) keeps the
row's source value. Anything else is kept as an unmapped code.

People. gender_concept_id 8507 M, 8532 F, else U; birth date from
birth_datetime or year/month/day of birth (a missing month or day is the
1st); death from the death table; ethnicity from race_concept_id (US
categories to their ONS 2021 "Other ..." group); registered from the first
observation_period start (else birth) until death; practice from the
person's care site or location source value when it is one of the place's
ODS codes, else phm.ingest.practices.

Visits. visit_concept_id to a setting (maps/settings.csv: 9201 inpatient ->
apc, 262 ER and inpatient -> apc emergency, 9203 -> ae, 9202 -> op, 581477
office -> gp, ...); an inpatient visit admitted from the emergency room
(admitting_source_concept_id / admitted_from_concept_id 8870) is an
emergency admission, others follow phm.ingest.staging's A&E rule. A visit
ending on its start day with no end time ends at its start time. The line
of a database row is its table's id (e.g. condition_occurrence_id).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from phm.ingest.canonical import IngestError, SourceError, content_id, scan_csv, sql_string
from phm.ingest.staging import SourceFile, Stage
from phm.ingest.terminology import US_RACE, best_coding, setting_rules, vocabulary

CLINICAL = (
    "condition_occurrence",
    "procedure_occurrence",
    "drug_exposure",
    "measurement",
    "observation",
)
TABLES = (
    "person",
    "observation_period",
    "death",
    "visit_occurrence",
    *CLINICAL,
    "concept",
    "concept_relationship",
    "care_site",
    "location",
)
REQUIRED = {
    "person": ("person_id", "gender_concept_id", "year_of_birth"),
    "observation_period": ("person_id", "observation_period_start_date"),
    "death": ("person_id", "death_date"),
    "visit_occurrence": (
        "visit_occurrence_id",
        "person_id",
        "visit_concept_id",
        "visit_start_date",
    ),
    "condition_occurrence": ("person_id", "condition_concept_id", "condition_start_date"),
    "procedure_occurrence": ("person_id", "procedure_concept_id", "procedure_date"),
    "drug_exposure": ("person_id", "drug_concept_id", "drug_exposure_start_date"),
    "measurement": ("person_id", "measurement_concept_id", "measurement_date"),
    "observation": ("person_id", "observation_concept_id", "observation_date"),
    "concept": ("concept_id", "vocabulary_id", "concept_code"),
    "concept_relationship": ("concept_id_1", "concept_id_2", "relationship_id"),
    "care_site": ("care_site_id",),
    "location": ("location_id",),
}
# Per clinical table: its id, concept, source concept, source value, date and domain.
EVENTS = {
    "condition_occurrence": (
        "condition_occurrence_id",
        "condition_concept_id",
        "condition_source_concept_id",
        "condition_source_value",
        "condition_start_date",
        "event",
    ),
    "procedure_occurrence": (
        "procedure_occurrence_id",
        "procedure_concept_id",
        "procedure_source_concept_id",
        "procedure_source_value",
        "procedure_date",
        "event",
    ),
    "drug_exposure": (
        "drug_exposure_id",
        "drug_concept_id",
        "drug_source_concept_id",
        "drug_source_value",
        "drug_exposure_start_date",
        "medication",
    ),
    "measurement": (
        "measurement_id",
        "measurement_concept_id",
        "measurement_source_concept_id",
        "measurement_source_value",
        "measurement_date",
        "event",
    ),
    "observation": (
        "observation_id",
        "observation_concept_id",
        "observation_source_concept_id",
        "observation_source_value",
        "observation_date",
        "event",
    ),
}
IDS = {
    "person": "person_id",
    "visit_occurrence": "visit_occurrence_id",
    "observation_period": "observation_period_id",
    "care_site": "care_site_id",
    "location": "location_id",
    **{t: spec[0] for t, spec in EVENTS.items()},
}
EMERGENCY_ROOM = "8870"  # Place of Service: Emergency Room - Hospital
SQLITE_MAGIC = b"SQLite format 3\x00"
DATABASE_SUFFIXES = (".duckdb", ".db", ".sqlite", ".sqlite3", ".ddb")


def _is_database(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(16)
    return head == SQLITE_MAGIC or head[8:12] == b"DUCK"


@dataclass(frozen=True)
class _Table:
    """A source table as a relation in the stage, with its columns (lower case)."""

    relation: str
    columns: frozenset[str]
    display: str

    def has(self, column: str) -> bool:
        return column in self.columns

    def col(self, column: str, default: str = "NULL", alias: str = "") -> str:
        """The column (qualified by `alias`), or `default` when the table lacks it."""
        prefix = f"{alias}." if alias else ""
        return f'{prefix}"{column}"' if column in self.columns else default


def _date(expr: str) -> str:
    """An OMOP date (DATE, or text as YYYY-MM-DD or YYYYMMDD) as YYYY-MM-DD text."""
    text = f"NULLIF(TRIM(CAST({expr} AS VARCHAR)), '')"
    return (
        f"CASE WHEN regexp_matches({text}, '^[0-9]{{8}}$') "
        f"THEN strftime(strptime({text}, '%Y%m%d'), '%Y-%m-%d') ELSE {text}[1:10] END"
    )


def _datetime(expr: str, date: str) -> str:
    text = f"NULLIF(TRIM(CAST({expr} AS VARCHAR)), '')"
    return (
        f"COALESCE(strftime(TRY_CAST({text} AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S'), "
        f"{_date(date)} || 'T00:00:00')"
    )


class OmopAdapter:
    label = "OMOP CDM (a .duckdb or SQLite database file, or a folder of <table>.csv)"

    def discover(self, source: Path) -> tuple[list[SourceFile], list[str]]:
        if source.is_file():
            if not _is_database(source):
                return [], [f"{source.name} (not a DuckDB or SQLite database)"]
            digest = content_id(source, salt="omop")
            try:
                tables = self._database_tables(source)
            except (duckdb.Error, sqlite3.Error) as e:
                first = str(e).splitlines()[0]
                raise IngestError(f"{source.name}: not a readable database: {first}") from e
            return [
                SourceFile(source, f"{source.name}#{t}", t, content_id(salt=f"{digest}:{t}"))
                for t in tables
            ], []
        files, ignored = [], []
        for path in sorted(source.iterdir()):
            stem = path.name.lower().removesuffix(".gz").removesuffix(".csv")
            if path.is_file() and stem in TABLES and path.name.lower() != stem:
                files.append(
                    SourceFile(path, path.name, stem, content_id(path, salt=f"omop:{stem}"))
                )
            elif path.is_file() and path.name.lower().endswith(DATABASE_SUFFIXES):
                ignored.append(f"{path.name} (point phm ingest at the database file itself)")
            elif path.is_file() and not path.name.startswith("."):
                ignored.append(path.name)
        return files, ignored

    def _database_tables(self, path: Path) -> list[str]:
        names = {name.lower() for name in _list_tables(path)}
        return [t for t in TABLES if t in names]

    def stage(self, files: list[SourceFile], stage: Stage) -> None:
        tables: dict[str, _Table] = {}
        for file in files:
            report = stage.source(file)
            try:
                table = self._open(stage, file)
                missing = [c for c in REQUIRED[file.kind] if not table.has(c)]
                rows = stage.con.execute(f"SELECT count(*) FROM {table.relation}").fetchone()
                n = int(rows[0]) if rows else 0
                if missing and (n == 0 or _header_only(stage, table, file.kind)):
                    report.message = (
                        "empty table" if n == 0 else "empty (its one row is its header)"
                    )
                    continue
                if missing:
                    hint = ""
                    if len(table.columns) == 1 and any(
                        s in next(iter(table.columns)) for s in ";|\t"
                    ):
                        hint = " (one column found: is the file comma-separated?)"
                    raise SourceError(
                        f"{file.name}: missing required column(s) {', '.join(missing)}{hint}"
                    )
                if file.kind not in ("concept", "concept_relationship", "care_site", "location"):
                    report.records_read = n
                tables[file.kind] = table
            except (SourceError, duckdb.Error, sqlite3.Error) as e:
                report.status = "failed"
                message = str(e).splitlines()[0]
                report.message = (
                    message if message.startswith(file.name) else f"{file.name}: {message}"
                )
        self._vocabulary(stage, tables)
        if "person" in tables:
            self._persons(stage, tables)
        if "visit_occurrence" in tables:
            self._visits(stage, tables)
        for name in CLINICAL:
            if name in tables:
                self._events(stage, tables, name)

    def _open(self, stage: Stage, file: SourceFile) -> _Table:
        """The table as a relation with `_line` (CSV line, or the row's id) and `_file`."""
        relation = f"omop_{file.kind}"
        if file.path.name.lower().endswith((".csv", ".csv.gz")):
            scan = scan_csv(stage.con, file.path, file.name, f"{relation}_text")
            stage.insert(
                "reject",
                f"SELECT {sql_string(file.kind)} AS kind, '' AS field, "
                "'malformed line: ' || arg_min(error_message, column_idx) AS reason, "
                f"any_value(csv_line) AS raw, {sql_string(file.name)} AS _source_file, "
                f"line AS _source_line FROM {scan.name}_bad GROUP BY line",
            )
            columns = [c.lower() for c in scan.columns]
            select = ", ".join(f'NULLIF(TRIM("{c}"), \'\') AS "{c.lower()}"' for c in scan.columns)
            stage.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {relation} AS SELECT {select}, _line "
                f"FROM {scan.name}"
            )
        else:
            data = _read_database_table(stage, file)
            columns = [c.lower() for c in data]
            id_column = IDS.get(file.kind)
            line = (
                f'TRY_CAST("{id_column}" AS BIGINT)'
                if id_column and id_column in columns
                else "row_number() OVER ()"
            )
            select = ", ".join(f'"{c}" AS "{c.lower()}"' for c in data)
            stage.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {relation} AS SELECT {select}, "
                f"CAST({line} AS BIGINT) AS _line FROM omop_raw_{file.kind}"
            )
        return _Table(relation, frozenset(columns), file.name)

    def _vocabulary(self, stage: Stage, tables: dict[str, _Table]) -> None:
        """Each (concept, source concept) of the clinical tables to its best coding."""
        con = stage.con
        pairs = []
        for name in CLINICAL:
            if name in tables:
                t = tables[name]
                _, concept, source_concept, _, _, domain = EVENTS[name]
                pairs.append(
                    f"SELECT '{domain}' AS domain, TRY_CAST({t.col(concept)} AS BIGINT) AS cid, "
                    f"TRY_CAST({t.col(source_concept)} AS BIGINT) AS sid FROM {t.relation}"
                )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE omop_pairs (domain VARCHAR, cid BIGINT, sid BIGINT)"
        )
        if pairs:
            con.execute(
                f"INSERT INTO omop_pairs SELECT DISTINCT * FROM ({' UNION ALL '.join(pairs)})"
            )
        picks: list[dict[str, Any]] = []
        if "concept" in tables:
            vocab = tables["concept"]
            name = vocab.col("concept_name", "''")
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE omop_concepts AS
                SELECT TRY_CAST(concept_id AS BIGINT) AS id,
                       CAST(vocabulary_id AS VARCHAR) AS vocab,
                       CAST(concept_code AS VARCHAR) AS code, CAST({name} AS VARCHAR) AS name
                FROM {vocab.relation}"""
            )
            maps = "SELECT NULL::BIGINT AS a, NULL::BIGINT AS b WHERE false"
            if "concept_relationship" in tables:
                rel = tables["concept_relationship"]
                invalid = rel.col("invalid_reason", "NULL")
                maps = (
                    f"SELECT TRY_CAST(concept_id_1 AS BIGINT) AS a, "
                    f"TRY_CAST(concept_id_2 AS BIGINT) AS b FROM {rel.relation} "
                    f"WHERE relationship_id = 'Maps to' AND COALESCE({invalid}, '') = ''"
                )
            con.execute(f"CREATE OR REPLACE TEMP TABLE omop_maps AS {maps}")
            rows = con.execute(
                """WITH cands AS (
                    SELECT p.*, 1 AS rank, c.* FROM omop_pairs p
                        JOIN omop_concepts c ON c.id = p.cid
                    UNION ALL
                    SELECT p.*, 2, c.* FROM omop_pairs p JOIN omop_maps m ON m.a = p.cid
                        JOIN omop_concepts c ON c.id = m.b
                    UNION ALL
                    SELECT p.*, 3, c.* FROM omop_pairs p JOIN omop_concepts c ON c.id = p.sid
                    UNION ALL
                    SELECT p.*, 4, c.* FROM omop_pairs p JOIN omop_maps m ON m.a = p.sid
                        JOIN omop_concepts c ON c.id = m.b
                    UNION ALL
                    SELECT p.*, 5, c.* FROM omop_pairs p JOIN omop_maps m ON m.b = p.cid
                        JOIN omop_concepts c ON c.id = m.a
                    WHERE p.domain = 'medication' AND lower(c.vocab) = 'dm+d')
                SELECT domain, cid, sid, vocab, code, name FROM cands
                WHERE cid IS NOT NULL AND cid <> 0 OR sid IS NOT NULL AND sid <> 0
                ORDER BY domain, cid, sid, rank, code"""
            ).fetchall()
            grouped: dict[tuple[str, int | None, int | None], list[tuple[str, str, str]]] = {}
            for domain, cid, sid, vocab, code, label in rows:
                grouped.setdefault((domain, cid, sid), []).append(
                    (vocabulary(vocab), str(code or ""), str(label or ""))
                )
            for (domain, cid, sid), codings in grouped.items():
                best = best_coding(domain, codings)
                raw_vocab = best[0] if best else ""
                picks.append(
                    {
                        "domain": domain,
                        "cid": cid,
                        "sid": sid,
                        "vocab": raw_vocab,
                        "code": best[1] if best else None,
                        "name": best[2] if best else None,
                    }
                )
        schema = pa.schema(
            [
                ("domain", pa.string()),
                ("cid", pa.int64()),
                ("sid", pa.int64()),
                ("vocab", pa.string()),
                ("code", pa.string()),
                ("name", pa.string()),
            ]
        )
        con.register("omop_picks_arrow", pa.Table.from_pylist(picks, schema=schema))
        con.execute("CREATE OR REPLACE TEMP TABLE omop_picks AS SELECT * FROM omop_picks_arrow")
        con.unregister("omop_picks_arrow")

    def _persons(self, stage: Stage, tables: dict[str, _Table]) -> None:
        p = tables["person"]
        birth = (
            f"make_date(TRY_CAST(year_of_birth AS INTEGER), "
            f"COALESCE(TRY_CAST({p.col('month_of_birth')} AS INTEGER), 1), "
            f"COALESCE(TRY_CAST({p.col('day_of_birth')} AS INTEGER), 1))"
        )
        if p.has("birth_datetime"):
            birth = f"COALESCE(TRY_CAST(CAST(birth_datetime AS VARCHAR)[1:10] AS DATE), {birth})"
        joins, named = [], "NULL"
        death = "NULL"
        if "death" in tables:
            d = tables["death"]
            joins.append(
                f"LEFT JOIN (SELECT CAST(person_id AS VARCHAR) AS pid, min({_date('death_date')}) "
                f"AS death FROM {d.relation} GROUP BY 1) d ON d.pid = CAST(p.person_id AS VARCHAR)"
            )
            death = "d.death"
        start = f"strftime({birth}, '%Y-%m-%d')"
        if "observation_period" in tables:
            o = tables["observation_period"]
            joins.append(
                f"LEFT JOIN (SELECT CAST(person_id AS VARCHAR) AS pid, "
                f"min({_date('observation_period_start_date')}) AS start FROM {o.relation} "
                f"GROUP BY 1) o ON o.pid = CAST(p.person_id AS VARCHAR)"
            )
            start = f"COALESCE(o.start, {start})"
        named_parts = []
        if (
            "care_site" in tables
            and p.has("care_site_id")
            and tables["care_site"].has("care_site_source_value")
        ):
            joins.append(
                f"LEFT JOIN {tables['care_site'].relation} cs "
                "ON CAST(cs.care_site_id AS VARCHAR) = CAST(p.care_site_id AS VARCHAR)"
            )
            named_parts.append("cs.care_site_source_value")
        if (
            "location" in tables
            and p.has("location_id")
            and tables["location"].has("location_source_value")
        ):
            joins.append(
                f"LEFT JOIN {tables['location'].relation} lo "
                "ON CAST(lo.location_id AS VARCHAR) = CAST(p.location_id AS VARCHAR)"
            )
            named_parts.append("lo.location_source_value")
        if named_parts:
            named = f"COALESCE({', '.join(f'CAST({n} AS VARCHAR)' for n in named_parts)})"
        races = " ".join(
            f"WHEN {sql_string(k)} THEN {sql_string(v)}" for k, v in US_RACE.items() if k.isdigit()
        )
        race = p.col("race_concept_id")
        stage.insert(
            "person",
            f"""SELECT CAST(p.person_id AS VARCHAR) AS person_id, NULL AS nhs_number,
                   CASE CAST(p.gender_concept_id AS VARCHAR) WHEN '8507' THEN 'M'
                        WHEN '8532' THEN 'F' ELSE 'U' END AS sex,
                   strftime({birth}, '%Y-%m-%d') AS birth_date, {death} AS death_date,
                   CASE CAST({race} AS VARCHAR) {races} ELSE NULL END AS ethnicity,
                   NULL AS lsoa_code, NULL AS imd_decile, {named} AS named_practice,
                   {start} AS registration_start, {death} AS registration_end,
                   {sql_string(p.display)} AS _source_file, p._line AS _source_line
            FROM {p.relation} p {" ".join(joins)}""",
        )

    def _visits(self, stage: Stage, tables: dict[str, _Table]) -> None:
        v = tables["visit_occurrence"]
        rules = {value: r for (system, value), r in setting_rules().items() if system == "omop"}
        settings = " ".join(f"WHEN '{k}' THEN '{r.setting}'" for k, r in rules.items())
        methods = " ".join(
            f"WHEN '{k}' THEN '{r.admission_method}'"
            for k, r in rules.items()
            if r.admission_method
        )
        admitted = v.col(
            "admitted_from_concept_id", v.col("admitting_source_concept_id", alias="v"), alias="v"
        )
        provider = "CAST(v.care_site_id AS VARCHAR)" if v.has("care_site_id") else "NULL"
        join = ""
        if (
            "care_site" in tables
            and v.has("care_site_id")
            and tables["care_site"].has("care_site_source_value")
        ):
            join = (
                f"LEFT JOIN {tables['care_site'].relation} cs "
                "ON CAST(cs.care_site_id AS VARCHAR) = CAST(v.care_site_id AS VARCHAR)"
            )
            provider = f"COALESCE(CAST(cs.care_site_source_value AS VARCHAR), {provider})"
        concept = "CAST(v.visit_concept_id AS VARCHAR)"
        stage.insert(
            "encounter",
            f"""SELECT CAST(v.visit_occurrence_id AS VARCHAR) AS encounter_id,
                   CAST(v.person_id AS VARCHAR) AS person_id,
                   CASE {concept} {settings} END AS setting,
                   CASE WHEN ({concept}) IN ('9201', '262')
                             AND CAST({admitted} AS VARCHAR) = '{EMERGENCY_ROOM}'
                        THEN 'emergency'
                        ELSE CASE {concept} {methods or "WHEN NULL THEN NULL"} END END
                        AS admission_method,
                   {_datetime(v.col("visit_start_datetime"), "v.visit_start_date")}
                        AS start_datetime,
                   CASE WHEN {v.col("visit_end_date")} IS NULL THEN NULL
                        WHEN {v.col("visit_end_datetime")} IS NULL
                             AND {_date(v.col("visit_end_date"))} = {_date("v.visit_start_date")}
                        THEN {_datetime(v.col("visit_start_datetime"), "v.visit_start_date")}
                        ELSE {_datetime(v.col("visit_end_datetime"), v.col("visit_end_date"))}
                   END AS end_datetime,
                   {provider} AS provider_code, NULL AS primary_diagnosis, NULL AS cost_gbp,
                   {sql_string(v.display)} AS _source_file, v._line AS _source_line
            FROM {v.relation} v {join}
            WHERE ({concept}) IN ({", ".join(f"'{k}'" for k in rules)})""",
        )
        known = ", ".join(f"'{k}'" for k in rules)
        stage.insert(
            "reject",
            f"""SELECT 'visit_occurrence' AS kind, 'visit_concept_id' AS field,
                   'visit concept ' || COALESCE({concept}, 'NULL') || ' has no setting' AS reason,
                   '' AS raw, {sql_string(v.display)} AS _source_file, v._line AS _source_line
            FROM {v.relation} v
            WHERE ({concept}) IS NULL OR ({concept}) NOT IN ({known})""",
        )

    def _events(self, stage: Stage, tables: dict[str, _Table], name: str) -> None:
        t = tables[name]
        _, concept, source_concept, source_value, date, domain = EVENTS[name]
        value = "NULL"
        if t.has("value_as_number"):
            value = "TRY_CAST(e.value_as_number AS DOUBLE)"
        unit = "NULL"
        if t.has("unit_source_value"):
            unit = "CAST(e.unit_source_value AS VARCHAR)"
        if t.has("unit_concept_id") and "concept" in tables:
            unit = (
                f"COALESCE({unit}, (SELECT code FROM omop_concepts u "
                "WHERE u.id = TRY_CAST(e.unit_concept_id AS BIGINT) AND u.id <> 0))"
            )
        visit = "CAST(e.visit_occurrence_id AS VARCHAR)" if t.has("visit_occurrence_id") else "NULL"
        source_text = f"CAST({t.col(source_value, alias='e')} AS VARCHAR)"
        stage.insert(
            "coded",
            f"""SELECT CAST(e.person_id AS VARCHAR) AS person_id,
                   {_date("e." + date)} AS event_date,
                   '{domain}' AS domain, '{name}' AS kind,
                   COALESCE(NULLIF(k.vocab, ''), 'OMOP concept') AS vocabulary,
                   COALESCE(k.code, {source_text},
                            CAST(TRY_CAST(e.{concept} AS BIGINT) AS VARCHAR)) AS code,
                   k.name AS display, {value} AS value, {unit} AS unit, {visit} AS encounter_id,
                   {sql_string(t.display)} AS _source_file, e._line AS _source_line
            FROM {t.relation} e
            LEFT JOIN omop_picks k ON k.domain = '{domain}'
                 AND k.cid IS NOT DISTINCT FROM TRY_CAST(e.{concept} AS BIGINT)
                 AND k.sid IS NOT DISTINCT FROM TRY_CAST({t.col(source_concept, alias="e")}
                                                         AS BIGINT)""",
        )


def _header_only(stage: Stage, table: _Table, kind: str) -> bool:
    """Whether the table's only row holds its column names (an empty table exported badly)."""
    rows = stage.con.execute(f"SELECT * EXCLUDE (_line) FROM {table.relation} LIMIT 2").fetchall()
    if len(rows) != 1:
        return False
    values = {str(v).strip().lower() for v in rows[0] if v is not None}
    return set(REQUIRED[kind]) <= values


def _list_tables(path: Path) -> list[str]:
    with path.open("rb") as f:
        sqlite = f.read(16) == SQLITE_MAGIC
    if sqlite:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    finally:
        con.close()


def _read_database_table(stage: Stage, file: SourceFile) -> list[str]:
    """Copy one table of the database into the stage as `omop_raw_<table>`; its columns."""
    with file.path.open("rb") as f:
        sqlite = f.read(16) == SQLITE_MAGIC
    target = f"omop_raw_{file.kind}"
    if sqlite:
        with sqlite3.connect(f"file:{file.path}?mode=ro", uri=True) as db:
            names = {r[0].lower(): r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            cursor = db.execute(f'SELECT * FROM "{names[file.kind]}"')
            columns = [d[0] for d in cursor.description]
            batches = []
            while rows := cursor.fetchmany(100_000):
                data = list(zip(*rows, strict=True))
                batches.append(
                    pa.table(
                        {
                            c: pa.array(
                                [None if v is None else str(v) for v in values], pa.string()
                            )
                            for c, values in zip(columns, data, strict=True)
                        }
                    )
                )
        schema = pa.schema([(c, pa.string()) for c in columns])
        table = pa.concat_tables(batches) if batches else schema.empty_table()
        stage.con.register("_sqlite_arrow", table)
        stage.con.execute(f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT * FROM _sqlite_arrow")
        stage.con.unregister("_sqlite_arrow")
        return columns
    alias = "omop_db"
    attached = {
        r[0] for r in stage.con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
    }
    if alias not in attached:
        stage.con.execute(f"ATTACH {sql_string(str(file.path))} AS {alias} (READ_ONLY)")
    found = stage.con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        f"WHERE database_name = '{alias}' AND lower(table_name) = '{file.kind}' ORDER BY 1 LIMIT 1"
    ).fetchone()
    if found is None:
        raise SourceError(f"{file.name}: no such table")
    stage.con.execute(
        f'CREATE OR REPLACE TEMP TABLE {target} AS SELECT * FROM {alias}."{found[0]}"."{found[1]}"'
    )
    return list(stage.con.execute(f"SELECT * FROM {target} LIMIT 0").fetchnumpy().keys())
