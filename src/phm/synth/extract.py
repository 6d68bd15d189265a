"""The rows of one chunk of the extract, held as numpy columns.

Coded columns hold integer indices into a Codebook (a fixed list of strings per
column, known before generation starts); the writer turns them into strings.
This keeps generation vectorised and the output deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from phm.config.place import Place
from phm.synth.profile import Profile

INSTRUMENTS = ("pam", "i_statement", "phq9", "gad7", "audit_c")


class Codebook:
    """The strings a coded column can hold; rows store their index (-1 for null)."""

    def __init__(self, values: Iterable[str]) -> None:
        self.values: tuple[str, ...] = tuple(dict.fromkeys(values))
        self._index = {v: i for i, v in enumerate(self.values)}

    def __getitem__(self, value: str) -> int:
        return self._index[value]

    def __len__(self) -> int:
        return len(self.values)

    def indices(self, values: Iterable[str]) -> np.ndarray:
        return np.array([self._index[v] for v in values], dtype=np.int32)


@dataclass(frozen=True)
class Vocabulary:
    """Every string a coded column of the extract can take, fixed for a profile and place."""

    codes: Codebook  # SNOMED CT and ICD-10 (clinical_event.code, encounter.primary_diagnosis)
    drugs: Codebook  # BNF chemical substances
    units: Codebook
    providers: Codebook  # provider ODS codes, practice codes and hub names
    instruments: Codebook

    @classmethod
    def build(cls, profile: Profile, place: Place) -> Vocabulary:
        codes: list[str] = []
        for c in profile.conditions:
            for v in c.variants:
                codes += [v.snomed, v.icd10]
            if c.resolution:
                codes.append(c.resolution.snomed)
            codes += c.acute_icd10
        rc = profile.codes
        codes += [o.snomed for o in rc.observations.values()]
        codes += [o.snomed for o in rc.smoking_status.values()]
        codes += [o.snomed for o in rc.housing.values()]
        codes += [o.snomed for o in rc.frailty_findings]
        codes += [rc.pregnancy.snomed]
        codes += [o.snomed for o in rc.minor_illness]
        h = rc.hospital
        for group in (
            h.emergency_general,
            h.emergency_old,
            h.frailty_secondary,
            h.elective,
            h.ae_minor,
        ):
            codes += [x.icd10 for x in group]
        codes += [h.op_follow_up, *h.maternity.values()]
        units = [o.unit for o in rc.observations.values() if o.unit]
        providers = [
            *place.providers.acute,
            place.providers.community,
            place.providers.mental_health,
            place.providers.social_care,
            *(p.code for p in place.practices),
            *(h.name for h in place.hubs),
        ]
        drugs = [d.bnf for c in profile.conditions for d in c.drugs]
        return cls(
            Codebook(codes),
            Codebook(drugs),
            Codebook(units),
            Codebook(providers),
            Codebook(INSTRUMENTS),
        )


@dataclass
class TableBuffer:
    """Rows added in batches of columns; `finish` concatenates and sorts them."""

    columns: tuple[str, ...]
    parts: list[dict[str, np.ndarray]] = field(default_factory=list)

    def add(self, **values: np.ndarray | float | int) -> None:
        missing = set(self.columns) - set(values)
        extra = set(values) - set(self.columns)
        if missing or extra:
            raise ValueError(f"columns missing {sorted(missing)}, unknown {sorted(extra)}")
        lengths = {len(v) for v in values.values() if isinstance(v, np.ndarray)}
        if len(lengths) != 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        (n,) = lengths
        if n:
            self.parts.append(
                {k: v if isinstance(v, np.ndarray) else np.full(n, v) for k, v in values.items()}
            )

    def finish(self, order: tuple[str, ...], dtypes: dict[str, type]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {
            c: np.concatenate([p[c] for p in self.parts]).astype(dtypes[c], copy=False)
            if self.parts
            else np.empty(0, dtype=dtypes[c])
            for c in self.columns
        }
        if self.parts and order:
            sort = np.lexsort(tuple(out[c] for c in reversed(order)))
            out = {c: v[sort] for c, v in out.items()}
        return out


NO_TIME = np.iinfo(np.int64).min  # marks "no datetime" in int64 microsecond columns

# The event tables as generated: canonical column names, holding day numbers,
# microseconds, numbers and code indices (person_id holds the chunk's person index;
# encounter_id and pathway_id are numbered by the writer).
TABLE_DTYPES: dict[str, dict[str, type]] = {
    "clinical_event": {
        "person_id": np.int32,
        "event_date": np.int32,
        "code_system": np.int8,
        "code": np.int32,
        "value": np.float64,
        "unit": np.int16,
        "source": np.int8,
    },
    "medication": {
        "person_id": np.int32,
        "issue_date": np.int32,
        "code_system": np.int8,
        "code": np.int32,
    },
    "encounter": {
        "person_id": np.int32,
        "setting": np.int8,
        "admission_method": np.int8,
        "start_datetime": np.int64,
        "end_datetime": np.int64,
        "provider_code": np.int32,
        "primary_diagnosis": np.int32,
        "cost_gbp": np.float64,
    },
    "assessment": {
        "person_id": np.int32,
        "assessment_date": np.int32,
        "instrument": np.int8,
        "score": np.float64,
    },
    "pathway": {
        "person_id": np.int32,
        "kind": np.int8,
        "start_date": np.int32,
        "end_date": np.int32,
        "provider_code": np.int32,
    },
}

SORT_ORDER: dict[str, tuple[str, ...]] = {
    "clinical_event": ("person_id", "event_date", "source", "code"),
    "medication": ("person_id", "issue_date", "code"),
    "encounter": ("person_id", "start_datetime", "setting"),
    "assessment": ("person_id", "assessment_date", "instrument"),
    "pathway": ("person_id", "start_date", "kind"),
}


def new_tables() -> dict[str, TableBuffer]:
    return {name: TableBuffer(tuple(columns)) for name, columns in TABLE_DTYPES.items()}


def finish_tables(tables: dict[str, TableBuffer]) -> dict[str, dict[str, np.ndarray]]:
    return {
        name: buffer.finish(SORT_ORDER[name], TABLE_DTYPES[name]) for name, buffer in tables.items()
    }
