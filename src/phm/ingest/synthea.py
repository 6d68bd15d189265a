"""Synthea CSV exports (patients, encounters, conditions, observations, medications, procedures).

Columns as in the Synthea CSV data dictionary (synthetichealth/synthea wiki,
"CSV File Data Dictionary", v3.x; headers matched without regard to case).
Mappings (see also maps/settings.csv and docs/ingest.md):

- patients.csv: Id, GENDER (M/F, else U), BIRTHDATE, DEATHDATE, RACE (a US
  group, to its ONS 2021 "Other ..." category); Synthea records no GP
  practice, so each person gets one by phm.ingest.practices; registered from
  birth to death (Synthea has no registration history).
- encounters.csv: ENCOUNTERCLASS to a setting by maps/settings.csv (wellness,
  ambulatory, virtual -> gp; outpatient -> op; emergency, urgentcare -> ae;
  inpatient -> apc; snf, home, hospice -> community; other classes are
  rejected by the loader as not a setting). An inpatient stay is an emergency
  admission when its CODE says so (SNOMED CT 183452005 Emergency hospital
  admission, 50849002 Emergency room admission) or when it starts within 24
  hours of the end of an emergency or urgent care encounter of the same
  patient (Synthea's modules admit from the emergency department that way);
  maternity when its CODE is 183460006 Obstetric emergency hospital
  admission; elective otherwise. A psychiatric admission (183495009) is an
  mh contact. ORGANIZATION is the provider; US claim costs are not NHS costs
  and are not loaded.
- conditions.csv, procedures.csv: SNOMED CT (or the SYSTEM column where the
  export has one) to clinical_event, dated START (procedures before v3: DATE).
- observations.csv: LOINC through maps/loinc.csv (observables to SNOMED CT
  with their numeric VALUE and UNITS; PHQ-9, GAD-7, AUDIT-C totals to
  assessment); other LOINC codes are unmapped.
- medications.csv: RxNorm has no dm+d map outside NHS terminology servers; a
  single-ingredient drug is mapped by the ingredient its DESCRIPTION names
  (maps/ingredients.csv) to its BNF chemical substance, one medication row
  per dispense (DISPENSES, spread evenly from START to STOP, or 28 days apart
  while the prescription is open).

Every event's source is the setting of its ENCOUNTER (gp where it has none).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from phm.ingest.canonical import SourceError, content_id, scan_csv, sql_string
from phm.ingest.staging import SourceFile, Stage
from phm.ingest.terminology import US_RACE, setting_rules

FILES = ("patients", "encounters", "conditions", "observations", "medications", "procedures")
REQUIRED = {
    "patients": ("Id", "BIRTHDATE", "GENDER"),
    "encounters": ("Id", "START", "PATIENT", "ENCOUNTERCLASS"),
    "conditions": ("START", "PATIENT", "CODE"),
    "observations": ("DATE", "PATIENT", "CODE"),
    "medications": ("START", "PATIENT", "CODE"),
    "procedures": ("PATIENT", "CODE"),
}
EMERGENCY_ADMISSION = ("183452005", "50849002")
MATERNITY_ADMISSION = ("183460006",)
PSYCHIATRIC_ADMISSION = ("183495009",)


def _date(column: str) -> str:
    """A Synthea date or UTC date-time as YYYY-MM-DD; text that is neither stays as it is."""
    return (
        f"COALESCE(strftime(TRY_CAST({column} AS TIMESTAMPTZ), '%Y-%m-%d'), "
        f"NULLIF(TRIM({column}), ''))"
    )


def _datetime(column: str) -> str:
    return (
        f"COALESCE(strftime(TRY_CAST({column} AS TIMESTAMPTZ), '%Y-%m-%dT%H:%M:%S'), "
        f"NULLIF(TRIM({column}), ''))"
    )


def _optional(columns: list[str], name: str, default: str = "NULL") -> str:
    return f'"{name}"' if name.lower() in {c.lower() for c in columns} else default


class SyntheaAdapter:
    label = "Synthea CSV (patients.csv, encounters.csv, conditions.csv, ...)"

    def discover(self, source: Path) -> tuple[list[SourceFile], list[str]]:
        paths = sorted(source.iterdir()) if source.is_dir() else [source]
        files, ignored = [], []
        for path in paths:
            stem = path.name.removesuffix(".gz").removesuffix(".csv")
            if path.is_file() and stem in FILES and path.name != stem:
                files.append(
                    SourceFile(path, path.name, stem, content_id(path, salt=f"synthea:{stem}"))
                )
            elif path.is_file() and not path.name.startswith("."):
                ignored.append(path.name)
        order = {name: i for i, name in enumerate(FILES)}
        return sorted(files, key=lambda f: order[f.kind]), ignored

    def stage(self, files: list[SourceFile], stage: Stage) -> None:
        for file in files:
            report = stage.source(file)
            try:
                scan = scan_csv(stage.con, file.path, file.name, f"synthea_{file.kind}")
                missing = [
                    c
                    for c in REQUIRED[file.kind]
                    if c.lower() not in {x.lower() for x in scan.columns}
                ]
                if file.kind == "procedures" and not {"start", "date"} & {
                    x.lower() for x in scan.columns
                }:
                    missing.append("START")
                if missing:
                    hint = ""
                    if len(scan.columns) == 1 and any(s in scan.columns[0] for s in ";|\t"):
                        hint = " (one column found: is the file comma-separated?)"
                    raise SourceError(
                        f"{file.name}: missing required column(s) {', '.join(missing)}{hint}"
                    )
                rows = stage.con.execute(f"SELECT count(*) FROM {scan.name}").fetchone()
                report.records_read = (int(rows[0]) if rows else 0) + scan.malformed
                self._malformed(stage, file, scan.name)
                getattr(self, f"_{file.kind}")(stage, file, scan.name, scan.columns)
            except (SourceError, duckdb.Error) as e:
                report.status = "failed"
                report.message = str(e).splitlines()[0]
                if not report.message.startswith(file.name):
                    report.message = f"{file.name}: cannot be read: {report.message}"

    def _malformed(self, stage: Stage, file: SourceFile, name: str) -> None:
        stage.insert(
            "reject",
            f"SELECT {sql_string(file.kind)} AS kind, '' AS field, "
            "'malformed line: ' || arg_min(error_message, column_idx) AS reason, "
            f"any_value(csv_line) AS raw, {sql_string(file.name)} AS _source_file, "
            f"line AS _source_line FROM {name}_bad GROUP BY line",
        )

    def _patients(self, stage: Stage, file: SourceFile, name: str, columns: list[str]) -> None:
        race = _optional(columns, "RACE")
        cases = " ".join(
            f"WHEN {sql_string(k)} THEN {sql_string(v)}"
            for k, v in US_RACE.items()
            if not k[0].isdigit()
        )
        death = _optional(columns, "DEATHDATE")
        stage.insert(
            "person",
            f"""SELECT "Id" AS person_id, NULL AS nhs_number,
                   CASE upper(trim("GENDER")) WHEN 'M' THEN 'M' WHEN 'F' THEN 'F' ELSE 'U' END
                       AS sex,
                   {_date('"BIRTHDATE"')} AS birth_date, {_date(death)} AS death_date,
                   CASE lower(trim({race})) {cases} ELSE NULL END AS ethnicity,
                   NULL AS lsoa_code, NULL AS imd_decile, NULL AS named_practice,
                   {_date('"BIRTHDATE"')} AS registration_start,
                   {_date(death)} AS registration_end,
                   {sql_string(file.name)} AS _source_file, _line AS _source_line
            FROM {name}""",
        )

    def _encounters(self, stage: Stage, file: SourceFile, name: str, columns: list[str]) -> None:
        code = _optional(columns, "CODE")
        stop = _optional(columns, "STOP")
        organization = _optional(columns, "ORGANIZATION")
        emergency = ", ".join(sql_string(c) for c in EMERGENCY_ADMISSION)
        maternity = ", ".join(sql_string(c) for c in MATERNITY_ADMISSION)
        psychiatric = ", ".join(sql_string(c) for c in PSYCHIATRIC_ADMISSION)
        stage.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {name}_typed AS
            SELECT *, lower(trim("ENCOUNTERCLASS")) AS _class, trim({code}) AS _code
            FROM {name}"""
        )
        classes = " ".join(
            f"WHEN {sql_string(value)} THEN {sql_string(rule.setting)}"
            for (system, value), rule in setting_rules().items()
            if system == "synthea"
        )
        stage.insert(
            "encounter",
            f"""SELECT "Id" AS encounter_id, "PATIENT" AS person_id,
                   CASE WHEN _class = 'inpatient' AND _code IN ({psychiatric}) THEN 'mh'
                        ELSE CASE _class {classes} ELSE _class END END AS setting,
                   CASE WHEN _class <> 'inpatient' OR _code IN ({psychiatric}) THEN NULL
                        WHEN _code IN ({maternity}) THEN 'maternity'
                        WHEN _code IN ({emergency}) THEN 'emergency'
                        ELSE NULL END AS admission_method,
                   {_datetime('"START"')} AS start_datetime, {_datetime(stop)} AS end_datetime,
                   {organization} AS provider_code, NULL AS primary_diagnosis,
                   NULL AS cost_gbp, {sql_string(file.name)} AS _source_file,
                   _line AS _source_line
            FROM {name}_typed""",
        )

    def _coded(
        self,
        stage: Stage,
        file: SourceFile,
        name: str,
        columns: list[str],
        *,
        date: str,
        system: str,
        value: str = "NULL",
        unit: str = "NULL",
    ) -> None:
        stage.insert(
            "coded",
            f"""SELECT "PATIENT" AS person_id, {_date(date)} AS event_date, 'event' AS domain,
                   {sql_string(file.kind)} AS kind, {system} AS vocabulary,
                   trim("CODE") AS code, {_optional(columns, "DESCRIPTION")} AS display,
                   {value} AS value, {unit} AS unit,
                   {_optional(columns, "ENCOUNTER")} AS encounter_id,
                   {sql_string(file.name)} AS _source_file, _line AS _source_line
            FROM {name}""",
        )

    def _conditions(self, stage: Stage, file: SourceFile, name: str, columns: list[str]) -> None:
        system = f"COALESCE(NULLIF(trim({_optional(columns, 'SYSTEM')}), ''), 'SNOMED-CT')"
        self._coded(stage, file, name, columns, date='"START"', system=system)

    def _procedures(self, stage: Stage, file: SourceFile, name: str, columns: list[str]) -> None:
        system = f"COALESCE(NULLIF(trim({_optional(columns, 'SYSTEM')}), ''), 'SNOMED-CT')"
        date = _optional(columns, "START", '"DATE"')
        self._coded(stage, file, name, columns, date=date, system=system)

    def _observations(self, stage: Stage, file: SourceFile, name: str, columns: list[str]) -> None:
        kind = _optional(columns, "TYPE", "'numeric'")
        value = f"""CASE WHEN lower(trim({kind})) = 'numeric'
                    THEN TRY_CAST({_optional(columns, "VALUE")} AS DOUBLE) END"""
        self._coded(
            stage,
            file,
            name,
            columns,
            date='"DATE"',
            system="'LOINC'",
            value=value,
            unit=_optional(columns, "UNITS"),
        )

    def _medications(self, stage: Stage, file: SourceFile, name: str, columns: list[str]) -> None:
        stop = _optional(columns, "STOP")
        dispenses = _optional(columns, "DISPENSES", "'1'")
        stage.insert(
            "coded",
            f"""WITH m AS (
                SELECT *, TRY_CAST("START" AS TIMESTAMPTZ) AS _start,
                       TRY_CAST({stop} AS TIMESTAMPTZ) AS _stop,
                       least(greatest(COALESCE(TRY_CAST(TRY_CAST({dispenses} AS DOUBLE)
                             AS BIGINT), 1), 1), 10000) AS _n
                FROM {name}),
            issues AS (
                SELECT *, unnest(generate_series(0, _n - 1)) AS _k FROM m)
            SELECT "PATIENT" AS person_id,
                   CASE WHEN _start IS NULL THEN NULLIF(trim("START"), '')
                        WHEN _stop IS NOT NULL AND _stop > _start THEN strftime(
                            _start + to_seconds(CAST(_k * (epoch(_stop) - epoch(_start)) / _n
                                                AS BIGINT)), '%Y-%m-%d')
                        ELSE strftime(_start + to_days(CAST(28 * _k AS INTEGER)), '%Y-%m-%d')
                   END AS event_date,
                   'medication' AS domain, 'medications' AS kind, 'RxNorm' AS vocabulary,
                   trim("CODE") AS code, {_optional(columns, "DESCRIPTION")} AS display,
                   NULL AS value, NULL AS unit, {_optional(columns, "ENCOUNTER")} AS encounter_id,
                   {sql_string(file.name)} AS _source_file, _line AS _source_line
            FROM issues""",
        )
