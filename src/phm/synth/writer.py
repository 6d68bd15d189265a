"""Writing the canonical extract: one Parquet or CSV file per table, chunk by chunk.

Columns come out exactly in the order of the canonical schema. Parquet files
are written with fixed options (zstd, dictionary encoding, date32 dates,
timestamp[us] datetimes) so the same rows give the same bytes; CSV files have a
header, ISO 8601 dates and datetimes, and an empty field for null.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from phm.config.place import Place
from phm.schema.canonical import (
    ADMISSION_METHODS,
    CODE_SYSTEMS,
    MEDICATION_CODE_SYSTEMS,
    PATHWAY_KINDS,
    SETTINGS,
    SEXES,
    SOURCES,
    TABLES,
    Table,
)
from phm.synth.chunk import ChunkResult
from phm.synth.extract import NO_TIME, Vocabulary
from phm.synth.profile import ETHNICITIES
from phm.synth.timeline import NO_DATE

Format = Literal["parquet", "csv"]

_ARROW_TYPES = {
    "string": pa.string(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "int": pa.int32(),
    "float": pa.float64(),
}
_ENCOUNTER_ID_WIDTH = 10
_PATHWAY_ID_WIDTH = 9


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema(
        [pa.field(c.name, _ARROW_TYPES[c.type], nullable=not c.required) for c in table.columns]
    )


def identifiers(prefix: str, start: int, count: int, width: int) -> pa.Array:
    """Identifiers prefix + zero-padded numbers start+1 ... start+count, as strings."""
    number = np.arange(start + 1, start + count + 1, dtype=np.int64)
    digits = (number[:, None] // 10 ** np.arange(width - 1, -1, -1)) % 10
    text = np.empty((count, len(prefix) + width), dtype=np.uint8)
    text[:, : len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8)
    text[:, len(prefix) :] = digits + ord("0")
    return pa.array(text.view(f"S{len(prefix) + width}").ravel()).cast(pa.string())


def _coded(values: pa.Array, index: np.ndarray) -> pa.Array:
    """Strings looked up by index; a negative index is null."""
    return values.take(pa.array(index.astype(np.int32), mask=index < 0))


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32), mask=days == NO_DATE).cast(pa.date32())


def _times(microseconds: np.ndarray) -> pa.Array:
    return pa.array(microseconds, type=pa.timestamp("us"), mask=microseconds == NO_TIME)


def _floats(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype(np.float64), mask=np.isnan(values))


class ExtractWriter:
    """Writes the eight canonical tables and the truth file of one run."""

    def __init__(
        self, out_dir: Path, fmt: Format, place: Place, vocab: Vocabulary, person_width: int
    ) -> None:
        self.out_dir = out_dir
        self.fmt = fmt
        self.person_width = person_width
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "truth").mkdir(exist_ok=True)
        self.rows = {name: 0 for name in TABLES}
        self._people = 0
        self._encounters = 0
        self._pathways = 0
        strings = {
            "codes": vocab.codes.values,
            "drugs": vocab.drugs.values,
            "units": vocab.units.values,
            "providers": vocab.providers.values,
            "instruments": vocab.instruments.values,
            "sexes": SEXES,
            "ethnicities": ETHNICITIES,
            "sources": SOURCES,
            "code_systems": CODE_SYSTEMS,
            "medication_code_systems": MEDICATION_CODE_SYSTEMS,
            "settings": SETTINGS,
            "methods": ADMISSION_METHODS,
            "kinds": PATHWAY_KINDS,
            "lsoas": tuple(x.code for x in place.lsoas),
            "practices": tuple(p.code for p in place.practices),
        }
        self._strings = {k: pa.array(v, type=pa.string()) for k, v in strings.items()}
        self._writers: dict[str, pq.ParquetWriter | pacsv.CSVWriter] = {}
        for name, table in TABLES.items():
            self._writers[name] = self._open(out_dir / f"{name}.{fmt}", arrow_schema(table))
        self._truth = pq.ParquetWriter(
            out_dir / "truth" / "emergency_admission.parquet",
            pa.schema(
                [("person_id", pa.string()), ("true_risk", pa.float64()), ("outcome", pa.bool_())]
            ),
            compression="zstd",
        )

    def _open(self, path: Path, schema: pa.Schema) -> pq.ParquetWriter | pacsv.CSVWriter:
        if self.fmt == "parquet":
            return pq.ParquetWriter(
                path,
                schema,
                compression="zstd",
                compression_level=3,
                use_dictionary=True,
                write_statistics=True,
                version="2.6",
            )
        csv_schema = pa.schema(
            [
                pa.field(f.name, pa.string() if f.type == pa.timestamp("us") else f.type)
                for f in schema
            ]
        )
        return pacsv.CSVWriter(path, csv_schema)

    def _write(self, name: str, columns: dict[str, pa.Array]) -> None:
        schema = arrow_schema(TABLES[name])
        table = pa.table([columns[f.name] for f in schema], schema=schema)
        if self.fmt == "csv":
            for i, f in enumerate(schema):
                if f.type == pa.timestamp("us"):
                    text = pc.strftime(
                        table.column(i).cast(pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%S"
                    )
                    table = table.set_column(i, pa.field(f.name, pa.string()), text)
        self._writers[name].write_table(table)
        self.rows[name] += table.num_rows

    def practices(self, place: Place) -> None:
        rows = place.practice_rows()
        schema = arrow_schema(TABLES["practice"])
        self._write(
            "practice",
            {f.name: pa.array([r[f.name] for r in rows], type=pa.string()) for f in schema},
        )

    def chunk(self, result: ChunkResult, nhs_numbers: np.ndarray) -> None:
        """Append a chunk: number its people, encounters and pathways on from the last."""
        s = self._strings
        p = result.person
        n = len(p["sex"])
        ids = identifiers("P", self._people, n, self.person_width)
        nhs = nhs_numbers[self._people : self._people + n]
        self._write(
            "person",
            {
                "person_id": ids,
                "nhs_number": pa.array(nhs, mask=np.char.str_len(nhs) == 0).cast(pa.string()),
                "sex": _coded(s["sexes"], p["sex"]),
                "birth_date": _dates(p["birth_date"]),
                "death_date": _dates(p["death_date"]),
                "ethnicity": _coded(s["ethnicities"], p["ethnicity"]),
                "lsoa_code": _coded(s["lsoas"], p["lsoa_code"]),
                "imd_decile": pa.array(p["imd_decile"].astype(np.int32)),
                "practice_code": _coded(s["practices"], p["practice_code"]),
                "registration_start": _dates(p["registration_start"]),
                "registration_end": _dates(p["registration_end"]),
            },
        )
        self._people += n
        t = result.tables

        ce = t["clinical_event"]
        self._write(
            "clinical_event",
            {
                "person_id": ids.take(pa.array(ce["person_id"])),
                "event_date": _dates(ce["event_date"]),
                "code_system": _coded(s["code_systems"], ce["code_system"]),
                "code": _coded(s["codes"], ce["code"]),
                "value": _floats(ce["value"]),
                "unit": _coded(s["units"], ce["unit"]),
                "source": _coded(s["sources"], ce["source"]),
            },
        )
        md = t["medication"]
        self._write(
            "medication",
            {
                "person_id": ids.take(pa.array(md["person_id"])),
                "issue_date": _dates(md["issue_date"]),
                "code_system": _coded(s["medication_code_systems"], md["code_system"]),
                "code": _coded(s["drugs"], md["code"]),
            },
        )
        en = t["encounter"]
        count = len(en["person_id"])
        self._write(
            "encounter",
            {
                "encounter_id": identifiers("E", self._encounters, count, _ENCOUNTER_ID_WIDTH),
                "person_id": ids.take(pa.array(en["person_id"])),
                "setting": _coded(s["settings"], en["setting"]),
                "admission_method": _coded(s["methods"], en["admission_method"]),
                "start_datetime": _times(en["start_datetime"]),
                "end_datetime": _times(en["end_datetime"]),
                "provider_code": _coded(s["providers"], en["provider_code"]),
                "primary_diagnosis": _coded(s["codes"], en["primary_diagnosis"]),
                "cost_gbp": _floats(en["cost_gbp"]),
            },
        )
        self._encounters += count
        asm = t["assessment"]
        self._write(
            "assessment",
            {
                "person_id": ids.take(pa.array(asm["person_id"])),
                "assessment_date": _dates(asm["assessment_date"]),
                "instrument": _coded(s["instruments"], asm["instrument"]),
                "score": _floats(asm["score"]),
            },
        )
        pw = t["pathway"]
        count = len(pw["person_id"])
        self._write(
            "pathway",
            {
                "pathway_id": identifiers("W", self._pathways, count, _PATHWAY_ID_WIDTH),
                "person_id": ids.take(pa.array(pw["person_id"])),
                "kind": _coded(s["kinds"], pw["kind"]),
                "start_date": _dates(pw["start_date"]),
                "end_date": _dates(pw["end_date"]),
                "provider_code": _coded(s["providers"], pw["provider_code"]),
            },
        )
        self._pathways += count
        truth = result.truth
        self._truth.write_table(
            pa.table(
                {
                    "person_id": ids.take(pa.array(truth["person_id"])),
                    "true_risk": pa.array(truth["true_risk"]),
                    "outcome": pa.array(truth["outcome"]),
                }
            )
        )

    def hub_capacity(
        self, hub: list[str], day: np.ndarray, offered: np.ndarray, booked: np.ndarray
    ) -> None:
        self._write(
            "hub_capacity",
            {
                "hub": pa.array(hub, type=pa.string()),
                "date": _dates(day),
                "offered": pa.array(offered.astype(np.int32)),
                "booked": pa.array(booked.astype(np.int32)),
            },
        )

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._truth.close()
