"""The staging area: adapters write source rows here, then one mapping makes canonical tables.

Every adapter reduces its source to five intermediate tables, all text but
the line numbers, each row carrying the file and line (or record) it came from:

- `x_person`: a person as the source describes them, practice as named there;
- `x_encounter`: an encounter, its setting already decided by the adapter;
- `x_coded`: a coded fact (diagnosis, observation, procedure: domain `event`;
  prescription: domain `medication`) with its source vocabulary and code;
- `x_assessment`: a scored questionnaire;
- `x_reject`: a record the adapter could not read, with its reason.

`Stage.finish` then maps codes (phm.ingest.terminology), gives every person a
practice (phm.ingest.practices), takes each event's source from its
encounter's setting, and writes one canonical Parquet file per table for the
loader, which checks every row like any canonical extract. Codes that map to
nothing become rejects and are counted by code.
"""

from __future__ import annotations

import shutil
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from phm.config.place import Place
from phm.ingest.canonical import sql_string
from phm.ingest.practices import PracticeRule
from phm.ingest.report import SourceReport
from phm.ingest.terminology import map_code, vocabulary

PROVENANCE = (("_source_file", "VARCHAR"), ("_source_line", "BIGINT"))
X_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "person": (
        ("person_id", "VARCHAR"),
        ("nhs_number", "VARCHAR"),
        ("sex", "VARCHAR"),
        ("birth_date", "VARCHAR"),
        ("death_date", "VARCHAR"),
        ("ethnicity", "VARCHAR"),
        ("lsoa_code", "VARCHAR"),
        ("imd_decile", "VARCHAR"),
        ("named_practice", "VARCHAR"),
        ("registration_start", "VARCHAR"),
        ("registration_end", "VARCHAR"),
    ),
    "encounter": (
        ("encounter_id", "VARCHAR"),
        ("person_id", "VARCHAR"),
        ("setting", "VARCHAR"),
        ("admission_method", "VARCHAR"),
        ("start_datetime", "VARCHAR"),
        ("end_datetime", "VARCHAR"),
        ("provider_code", "VARCHAR"),
        ("primary_diagnosis", "VARCHAR"),
        ("cost_gbp", "VARCHAR"),
    ),
    "coded": (
        ("person_id", "VARCHAR"),
        ("event_date", "VARCHAR"),
        ("domain", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("vocabulary", "VARCHAR"),
        ("code", "VARCHAR"),
        ("display", "VARCHAR"),
        ("value", "DOUBLE"),
        ("unit", "VARCHAR"),
        ("encounter_id", "VARCHAR"),
    ),
    "assessment": (
        ("person_id", "VARCHAR"),
        ("assessment_date", "VARCHAR"),
        ("instrument", "VARCHAR"),
        ("score", "DOUBLE"),
        ("kind", "VARCHAR"),
    ),
    "reject": (
        ("kind", "VARCHAR"),
        ("field", "VARCHAR"),
        ("reason", "VARCHAR"),
        ("raw", "VARCHAR"),
    ),
}
_ARROW = {"VARCHAR": pa.string(), "DOUBLE": pa.float64(), "BIGINT": pa.int64()}
UNMAPPED_REASON = "code not mapped to a canonical code system"


def x_schema(kind: str) -> pa.Schema:
    """The Arrow schema of one intermediate table (with its provenance columns)."""
    return pa.schema([(n, _ARROW[t]) for n, t in (*X_COLUMNS[kind], *PROVENANCE)])


@dataclass(frozen=True)
class SourceFile:
    """One file of a source, with the id of its content (what --append remembers)."""

    path: Path
    name: str
    kind: str
    content_id: str


@dataclass
class Staged:
    """A canonical table the stage wrote, and the source files its rows came from."""

    table: str
    path: Path
    source_files: list[str] = field(default_factory=list)

    @property
    def display(self) -> str:
        if len(self.source_files) <= 3:
            return ", ".join(self.source_files)
        return f"{self.source_files[0]} and {len(self.source_files) - 1} more files"


class Stage:
    """A scratch DuckDB session and folder under home/tmp where one adapter run stages rows."""

    def __init__(self, home: Path) -> None:
        self.root = home / "tmp" / f"stage-{uuid.uuid4().hex[:12]}"
        self.root.mkdir(parents=True)
        self.con = duckdb.connect()
        self.con.execute("SET autoinstall_known_extensions = false")
        self.con.execute(f"SET temp_directory = {sql_string(str(self.root / 'spill'))}")
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET memory_limit = '2GB'")
        for kind, columns in X_COLUMNS.items():
            body = ", ".join(f'"{n}" {t}' for n, t in (*columns, *PROVENANCE))
            self.con.execute(f"CREATE TABLE x_{kind} ({body})")
        self.sources: dict[str, SourceReport] = {}
        self.unmapped: Counter[tuple[str, str, str]] = Counter()
        self.notes: list[str] = []
        self.rejects: pa.Table | None = None

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def source(self, file: SourceFile) -> SourceReport:
        """The report of one source file (made on first use)."""
        if file.name not in self.sources:
            self.sources[file.name] = SourceReport(file.name, file.kind)
        return self.sources[file.name]

    def insert(self, kind: str, select_sql: str) -> int:
        """Add rows to `x_<kind>` from a query whose columns are named as the table's."""
        names = [n for n, _ in (*X_COLUMNS[kind], *PROVENANCE)]
        columns = ", ".join(f'"{n}"' for n in names)
        casts = ", ".join(
            f'CAST("{n}" AS {t}) AS "{n}"' for n, t in (*X_COLUMNS[kind], *PROVENANCE)
        )
        before = self._count(kind)
        self.con.execute(
            f"INSERT INTO x_{kind} ({columns}) SELECT {casts} FROM ({select_sql}) AS q"
        )
        return self._count(kind) - before

    def insert_parquet(self, kind: str, paths: list[Path]) -> None:
        if paths:
            files = "[" + ", ".join(sql_string(str(p)) for p in paths) + "]"
            self.insert(kind, f"SELECT * FROM read_parquet({files})")

    def _count(self, kind: str) -> int:
        row = self.con.execute(f"SELECT count(*) FROM x_{kind}").fetchone()
        return int(row[0]) if row else 0

    def finish(self, place: Place, rule: PracticeRule, skip: set[str]) -> list[Staged]:
        """Map the staged rows to canonical tables, leaving out rows of the `skip` files."""
        keep = "TRUE"
        if skip:
            keep = f"_source_file NOT IN ({', '.join(sql_string(s) for s in sorted(skip))})"
        out = self.folder("canonical")
        staged = [self._practices(place, out)]
        self._assign_practices(rule, keep)
        self._admissions_from_ae()
        self._map_codes()
        queries = {
            "person": f"""
                SELECT p.person_id, p.nhs_number, p.sex, p.birth_date, p.death_date,
                       p.ethnicity, p.lsoa_code, p.imd_decile, a.practice_code,
                       p.registration_start, p.registration_end, p._source_file, p._source_line
                FROM x_person p LEFT JOIN _practice_of a USING (person_id) WHERE {keep}""",
            "encounter": f"""
                SELECT encounter_id, person_id, setting,
                       CASE WHEN setting = 'apc' AND admission_method IS NULL
                            THEN CASE WHEN a._source_line IS NOT NULL THEN 'emergency'
                                      ELSE 'elective' END
                            ELSE admission_method END AS admission_method,
                       start_datetime, end_datetime, provider_code, primary_diagnosis, cost_gbp,
                       e._source_file, e._source_line
                FROM x_encounter e LEFT JOIN _admitted_from_ae a USING (_source_file, _source_line)
                WHERE {keep}""",
            "clinical_event": f"""
                SELECT c.person_id, c.event_date, m.code_system, m.mapped AS code, c.value,
                       c.unit, COALESCE(CASE s.setting WHEN 'hub' THEN 'gp' ELSE s.setting END,
                       'gp') AS source, c._source_file, c._source_line
                FROM x_coded c JOIN _code_map m USING (domain, vocabulary, code)
                LEFT JOIN (SELECT encounter_id, any_value(setting) AS setting FROM x_encounter
                           GROUP BY encounter_id) s USING (encounter_id)
                WHERE m.target = 'clinical_event' AND {keep}""",
            "medication": f"""
                SELECT c.person_id, c.event_date AS issue_date, m.code_system, m.mapped AS code,
                       c._source_file, c._source_line
                FROM x_coded c JOIN _code_map m USING (domain, vocabulary, code)
                WHERE m.target = 'medication' AND {keep}""",
            "assessment": f"""
                SELECT person_id, assessment_date, instrument, score, _source_file, _source_line
                FROM x_assessment WHERE {keep}
                UNION ALL
                SELECT c.person_id, c.event_date, m.mapped, c.value, c._source_file, c._source_line
                FROM x_coded c JOIN _code_map m USING (domain, vocabulary, code)
                WHERE m.target = 'assessment' AND {keep}""",
        }
        for table, query in queries.items():
            count = self.con.execute(f"SELECT count(*) FROM ({query})").fetchone()
            if not count or not count[0]:
                continue
            path = out / f"{table}.parquet"
            self.con.execute(f"COPY ({query}) TO {sql_string(str(path))} (FORMAT parquet)")
            files = self.con.execute(
                f"SELECT DISTINCT _source_file FROM ({query}) ORDER BY 1"
            ).fetchall()
            staged.append(Staged(table, path, [str(f[0]) for f in files]))
        self._collect_rejects(keep)
        for name, n in self._rejects_by_file().items():
            if name in self.sources:
                self.sources[name].records_rejected = n
        return staged

    def _practices(self, place: Place, out: Path) -> Staged:
        rows = place.practice_rows()
        name = f"place {place.name}"
        data = pa.Table.from_pylist(
            [{**r, "_source_file": name, "_source_line": i} for i, r in enumerate(rows, start=1)]
        )
        path = out / "practice.parquet"
        self.con.register("_place_practices", data)
        self.con.execute(
            f"COPY (SELECT * FROM _place_practices) TO {sql_string(str(path))} (FORMAT parquet)"
        )
        self.con.unregister("_place_practices")
        return Staged("practice", path, [name])

    def _assign_practices(self, rule: PracticeRule, keep: str) -> None:
        people = self.con.execute(
            f"SELECT person_id, any_value(named_practice) FROM x_person "
            f"WHERE person_id IS NOT NULL AND {keep} GROUP BY person_id ORDER BY person_id"
        ).fetchall()
        assigned = pa.table(
            {
                "person_id": pa.array([p for p, _ in people], pa.string()),
                "practice_code": pa.array([rule.assign(p, n) for p, n in people], pa.string()),
            }
        )
        self.con.execute("DROP TABLE IF EXISTS _practice_of")
        self.con.register("_practice_arrow", assigned)
        self.con.execute("CREATE TABLE _practice_of AS SELECT * FROM _practice_arrow")
        self.con.unregister("_practice_arrow")
        if people:
            self.notes.append(rule.note())

    def _admissions_from_ae(self) -> None:
        """Admissions the source does not qualify that follow an A&E contact.

        An apc encounter without an admission method is an emergency admission
        when it starts within 24 hours of the end of an ae encounter of the same
        person (admitted from the emergency department), elective otherwise.
        """
        self.con.execute(
            """CREATE OR REPLACE TABLE _admitted_from_ae AS
            SELECT i._source_file, i._source_line
            FROM (SELECT *, TRY_CAST(start_datetime AS TIMESTAMP) AS _start FROM x_encounter
                  WHERE setting = 'apc' AND admission_method IS NULL) i
            ASOF JOIN (SELECT person_id AS _person, TRY_CAST(start_datetime AS TIMESTAMP) AS _ae,
                              COALESCE(TRY_CAST(end_datetime AS TIMESTAMP),
                                       TRY_CAST(start_datetime AS TIMESTAMP)) AS _ae_end
                       FROM x_encounter WHERE setting = 'ae') e
              ON i.person_id = e._person AND i._start >= e._ae
            WHERE e._ae_end >= i._start - INTERVAL 24 HOUR"""
        )

    def _map_codes(self) -> None:
        """Map each distinct source code once (few), then join the map to the rows (many)."""
        distinct = self.con.execute(
            "SELECT domain, vocabulary, code, any_value(display) FROM x_coded "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        names = ("domain", "vocabulary", "code", "system_name", "target", "code_system", "mapped")
        columns: dict[str, list[Any]] = {k: [] for k in names}
        for domain, system, code, display in distinct:
            name = vocabulary(system)
            mapped = map_code(domain, name, code or "", display or "")
            values = (domain, system, code, name, mapped.table, mapped.code_system, mapped.code)
            for k, v in zip(names, values, strict=True):
                columns[k].append(v)
        data = pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})
        self.con.execute("DROP TABLE IF EXISTS _code_map")
        self.con.register("_code_arrow", data)
        self.con.execute("CREATE TABLE _code_map AS SELECT * FROM _code_arrow")
        self.con.unregister("_code_arrow")

    def _collect_rejects(self, keep: str) -> None:
        """The adapter's rejects and the rows whose code maps to nothing, with counts by code."""
        unmapped = f"""
            SELECT c.kind, 'code' AS field, '{UNMAPPED_REASON}' AS reason,
                   json_object('system', c.vocabulary, 'code', c.code,
                               'display', c.display, 'date', c.event_date)::VARCHAR AS raw,
                   c._source_file, c._source_line,
                   COALESCE(m.system_name, c.vocabulary, 'unknown') AS system_name, c.code,
                   c.display
            FROM x_coded c LEFT JOIN _code_map m USING (domain, vocabulary, code)
            WHERE (m.target IS NULL OR m.target = '') AND {keep}"""
        for system, code, display, n in self.con.execute(
            f"SELECT system_name, code, any_value(display), count(*) FROM ({unmapped}) "
            "GROUP BY system_name, code"
        ).fetchall():
            self.unmapped[(str(system), str(code), str(display or ""))] += int(n)
        self.rejects = self.con.execute(
            f"""SELECT kind AS "table", _source_file AS source_file, _source_line AS line, field,
                       reason, 'row rejected' AS outcome, raw
                FROM x_reject WHERE {keep}
                UNION ALL
                SELECT kind, _source_file, _source_line, field, reason, 'row rejected', raw
                FROM ({unmapped})"""
        ).fetch_arrow_table()

    def _rejects_by_file(self) -> dict[str, int]:
        if self.rejects is None or not self.rejects.num_rows:
            return {}
        counts: Counter[str] = Counter(self.rejects.column("source_file").to_pylist())
        return dict(counts)

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self.root, ignore_errors=True)
