"""FHIR R4: Bundles (JSON) and bulk-export NDJSON (one resource type per file).

Resources read: Patient, Encounter, Condition, Observation, MedicationRequest,
MedicationStatement, Procedure, QuestionnaireResponse (PAM, I-statements and
other scored instruments), and Organization / Medication to resolve
references. Other resource types are counted and left out.

Parsing. Each resource is decoded against typed declarations of the R4
elements this adapter reads (msgspec structs below: their cardinality and
JSON types as in the FHIR R4 4.0.1 specification, e.g. Observation.status and
Observation.code 1..1, Encounter.class 1..1); date and dateTime values are
checked against the R4 regular expressions. Elements the adapter does not read
are not validated. `fhir.resources` validates whole resources but, on this
machine, at about 5,900 Observations a second on one core (R4B models: the
package ships R4B 4.3, R5 and STU3, not R4 4.0.1), below the 20,000 resources
a second needed; the tests run every fixture through `fhir.resources` R4B to
show that what this adapter accepts is valid FHIR. NDJSON files are streamed
line by line, large ones in byte ranges on all cores.

Mappings (docs/ingest.md): NHS number from Patient.identifier
(https://fhir.nhs.uk/Id/nhs-number); ethnicity from UK Core
Extension-UKCore-EthnicCategory (NHS ethnic category codes) or US Core race;
practice from Patient.generalPractitioner's ODS code when it is one of the
place's, else phm.ingest.practices; Encounter.class to a setting
(maps/settings.csv; AMB and VR are gp unless the serviceProvider's ODS code is
not a GP practice's, then op); admission method from the UK Core
AdmissionMethod extension (NHS codes), Encounter.type (SNOMED CT 183452005,
50849002 emergency; 183460006 maternity), hospitalization.admitSource (emd)
or Encounter.priority; codes through phm.ingest.terminology.
"""

from __future__ import annotations

import gzip
import os
import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from phm.ingest.canonical import SourceError, content_id
from phm.ingest.staging import SourceFile, Stage, x_schema
from phm.ingest.terminology import (
    ACT_PRIORITY,
    NHS_ETHNIC_CATEGORY,
    SCORE_ITEMS,
    US_RACE,
    admission_method_of_nhs_code,
    best_coding,
    canonical_code,
    instrument_of,
    setting_of,
    vocabulary,
)

NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
ODS_SYSTEMS = {ODS, "https://fhir.nhs.uk/Id/ods-site-code"}
PRACTICE_CODE = re.compile(r"^[A-Z][0-9]{5}$")
EMERGENCY_TYPES = {"183452005", "50849002"}
MATERNITY_TYPES = {"183460006"}
# FHIR R4 primitive formats (http://hl7.org/fhir/R4/datatypes.html).
DATE = re.compile(r"^([0-9]{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$")
DATETIME = re.compile(
    r"^([0-9]{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|[+-]((0[0-9]|1[0-3])"
    r":[0-5][0-9]|14:00)))?)?)?$"
)
CHUNK_BYTES = 16 << 20
PARALLEL_BYTES = 4 << 20
FLUSH_ROWS = 200_000


# The R4 elements read, as typed declarations (unknown elements are ignored).
class Coding(msgspec.Struct, kw_only=True):
    system: str | None = None
    code: str | None = None
    display: str | None = None


class CodeableConcept(msgspec.Struct, kw_only=True):
    coding: list[Coding] = []
    text: str | None = None


class Identifier(msgspec.Struct, kw_only=True):
    system: str | None = None
    value: str | None = None


class Reference(msgspec.Struct, kw_only=True):
    reference: str | None = None
    identifier: Identifier | None = None


class Period(msgspec.Struct, kw_only=True):
    start: str | None = None
    end: str | None = None


class Quantity(msgspec.Struct, kw_only=True):
    value: float | None = None
    unit: str | None = None
    code: str | None = None


class Extension(msgspec.Struct, kw_only=True):
    url: str
    valueCodeableConcept: CodeableConcept | None = None
    valueCoding: Coding | None = None
    extension: list[Extension] = []


class Hospitalization(msgspec.Struct, kw_only=True):
    admitSource: CodeableConcept | None = None


class Component(msgspec.Struct, kw_only=True):
    code: CodeableConcept
    valueQuantity: Quantity | None = None
    valueInteger: int | None = None
    valueCodeableConcept: CodeableConcept | None = None


class Answer(msgspec.Struct, kw_only=True):
    valueDecimal: float | None = None
    valueInteger: int | None = None
    valueQuantity: Quantity | None = None


class Item(msgspec.Struct, kw_only=True):
    linkId: str
    answer: list[Answer] = []
    item: list[Item] = []


class Resource(msgspec.Struct, kw_only=True, tag_field="resourceType"):
    id: str | None = None


class Patient(Resource, tag="Patient"):
    identifier: list[Identifier] = []
    gender: str | None = None
    birthDate: str | None = None
    deceasedBoolean: bool | None = None
    deceasedDateTime: str | None = None
    generalPractitioner: list[Reference] = []
    extension: list[Extension] = []


class Encounter(Resource, tag="Encounter"):
    status: str
    class_: Coding = msgspec.field(name="class")
    type: list[CodeableConcept] = []
    priority: CodeableConcept | None = None
    subject: Reference | None = None
    period: Period | None = None
    serviceProvider: Reference | None = None
    hospitalization: Hospitalization | None = None
    reasonCode: list[CodeableConcept] = []
    extension: list[Extension] = []


class Condition(Resource, tag="Condition"):
    subject: Reference
    code: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    encounter: Reference | None = None
    onsetDateTime: str | None = None
    onsetPeriod: Period | None = None
    recordedDate: str | None = None


class Observation(Resource, tag="Observation"):
    status: str
    code: CodeableConcept
    subject: Reference | None = None
    encounter: Reference | None = None
    effectiveDateTime: str | None = None
    effectivePeriod: Period | None = None
    effectiveInstant: str | None = None
    issued: str | None = None
    valueQuantity: Quantity | None = None
    valueInteger: int | None = None
    valueCodeableConcept: CodeableConcept | None = None
    component: list[Component] = []


class Medication(Resource, tag="Medication"):
    code: CodeableConcept | None = None


class Contained(msgspec.Struct, kw_only=True):
    resourceType: str
    id: str | None = None
    code: CodeableConcept | None = None


class MedicationRequest(Resource, tag="MedicationRequest"):
    status: str
    intent: str
    subject: Reference
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    encounter: Reference | None = None
    authoredOn: str | None = None
    contained: list[Contained] = []


class MedicationStatement(Resource, tag="MedicationStatement"):
    status: str
    subject: Reference
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    context: Reference | None = None
    effectiveDateTime: str | None = None
    effectivePeriod: Period | None = None
    dateAsserted: str | None = None
    contained: list[Contained] = []


class Procedure(Resource, tag="Procedure"):
    status: str
    subject: Reference
    code: CodeableConcept | None = None
    encounter: Reference | None = None
    performedDateTime: str | None = None
    performedPeriod: Period | None = None


class QuestionnaireResponse(Resource, tag="QuestionnaireResponse"):
    status: str
    questionnaire: str | None = None
    subject: Reference | None = None
    encounter: Reference | None = None
    authored: str | None = None
    item: list[Item] = []


class Organization(Resource, tag="Organization"):
    identifier: list[Identifier] = []


class Head(msgspec.Struct):
    resourceType: str | None = None


class Entry(msgspec.Struct, kw_only=True):
    fullUrl: str | None = None
    resource: msgspec.Raw = msgspec.Raw(b"null")


class Bundle(msgspec.Struct, kw_only=True):
    resourceType: str
    entry: list[Entry] = []


READ = (
    Patient,
    Encounter,
    Condition,
    Observation,
    MedicationRequest,
    MedicationStatement,
    Procedure,
    QuestionnaireResponse,
    Organization,
    Medication,
)
READ_TYPES = frozenset(t.__name__ for t in READ)
CONTEXT_TYPES = frozenset({"Organization", "Medication"})
_DECODER = msgspec.json.Decoder(
    Patient
    | Encounter
    | Condition
    | Observation
    | MedicationRequest
    | MedicationStatement
    | Procedure
    | QuestionnaireResponse
    | Organization
    | Medication
)
_HEAD = msgspec.json.Decoder(Head)
_BUNDLE = msgspec.json.Decoder(Bundle)

# Statuses that mean the thing did not happen or was recorded in error.
NOT_HAPPENED = {
    "Encounter": {"planned", "cancelled", "entered-in-error"},
    "Observation": {"cancelled", "entered-in-error"},
    "MedicationRequest": {"cancelled", "entered-in-error", "draft"},
    "MedicationStatement": {"entered-in-error", "not-taken"},
    "Procedure": {"not-done", "entered-in-error", "preparation"},
    "QuestionnaireResponse": {"in-progress", "stopped", "entered-in-error"},
}
NOT_ISSUED_INTENTS = {"proposal", "plan"}
NOT_DIAGNOSED = {"refuted", "entered-in-error"}


def fhir_date(value: str | None) -> str | None:
    """The calendar date of a FHIR date or dateTime as written (partial dates to the 1st).

    A value that is not a FHIR date goes on as it is, for the loader to reject.
    """
    if value is None:
        return None
    if not DATETIME.match(value):
        return value
    year, month, day = value[:4], value[5:7] or "01", value[8:10] or "01"
    return f"{year}-{month}-{day}"


def fhir_instant(value: str | None) -> str | None:
    """A FHIR dateTime as a UTC date-time (YYYY-MM-DDTHH:MM:SS); a date alone is midnight."""
    if value is None:
        return None
    if not DATETIME.match(value):
        return value
    if len(value) <= 10:
        return f"{fhir_date(value)}T00:00:00"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _codings(concept: CodeableConcept | None) -> list[tuple[str, str, str]]:
    if concept is None:
        return []
    return [(vocabulary(c.system), c.code or "", c.display or "") for c in concept.coding]


@dataclass
class Context:
    """What references resolve to: organisations' ODS codes, medications' codes."""

    ods: dict[str, str] = field(default_factory=dict)
    medications: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)

    def add(self, key: str, resource: Organization | Medication) -> None:
        if isinstance(resource, Organization):
            for ident in resource.identifier:
                if ident.system in ODS_SYSTEMS and ident.value:
                    self.ods[key] = ident.value.strip().upper()
        elif resource.code is not None:
            self.medications[key] = _codings(resource.code)


@dataclass
class Output:
    """Rows of the intermediate tables for one piece of a source, flushed to Parquet."""

    folder: Path
    prefix: str
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    paths: dict[str, list[Path]] = field(default_factory=dict)
    count: int = 0

    def add(self, kind: str, row: tuple[Any, ...]) -> None:
        self.rows.setdefault(kind, []).append(row)
        self.count += 1
        if self.count >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        for kind, rows in self.rows.items():
            if not rows:
                continue
            schema = x_schema(kind)
            columns = list(zip(*rows, strict=True))
            table = pa.table(
                [pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
            )
            n = len(self.paths.setdefault(kind, []))
            path = self.folder / f"{self.prefix}-{kind}-{n:04d}.parquet"
            pq.write_table(table, path)
            self.paths[kind].append(path)
        self.rows = {}
        self.count = 0


@dataclass
class PieceResult:
    """What reading one piece of a source found."""

    paths: dict[str, list[Path]]
    records: int = 0
    rejected: int = 0
    ignored: Counter[str] = field(default_factory=Counter)
    questionnaires: Counter[str] = field(default_factory=Counter)
    error: str = ""


class Reader:
    """Turns FHIR resources of one source file into intermediate rows."""

    def __init__(self, name: str, out: Output, context: Context) -> None:
        self.name, self.out, self.context = name, out, context
        self.urls: dict[str, str] = {}  # a Bundle's fullUrl -> "Type/id"
        self.result = PieceResult(out.paths)

    def ref(self, reference: Reference | None, kind: str) -> str | None:
        """The id a reference points at ("Patient/1", a Bundle urn:uuid, an absolute URL)."""
        if reference is None or not reference.reference:
            return None
        target = self.urls.get(reference.reference, reference.reference)
        parts = target.split("/")
        if "_history" in parts:
            parts = parts[: parts.index("_history")]
        if len(parts) >= 2 and parts[-2] == kind:
            return parts[-1]
        if target.startswith("urn:uuid:"):
            return target.removeprefix("urn:uuid:")
        return None

    def reject(self, kind: str, line: int, fld: str, reason: str, raw: str = "") -> None:
        self.result.rejected += 1
        self.out.add("reject", (kind, fld, reason, raw[:2000], self.name, line))

    def coded(
        self,
        line: int,
        kind: str,
        domain: str,
        person: str | None,
        date: str | None,
        codings: list[tuple[str, str, str]],
        encounter: str | None,
        value: float | None = None,
        unit: str | None = None,
    ) -> None:
        best = best_coding(domain, codings)
        system, code, display = best if best else ("text", "", "")
        self.out.add(
            "coded",
            (
                person,
                date,
                domain,
                kind,
                system,
                code,
                display,
                value,
                unit,
                encounter,
                self.name,
                line,
            ),
        )

    def read(self, resource: Any, line: int) -> None:
        """One decoded resource to rows (or a reject)."""
        kind = type(resource).__name__
        status = getattr(resource, "status", None)
        if status in NOT_HAPPENED.get(kind, ()):
            self.reject(kind, line, "status", f"{kind} status {status}: not loaded")
            return
        getattr(self, f"_{kind.lower()}")(resource, line)

    def _organization(self, resource: Organization, line: int) -> None:
        self.context.add(f"Organization/{resource.id}", resource)

    def _medication(self, resource: Medication, line: int) -> None:
        self.context.add(f"Medication/{resource.id}", resource)

    def _ods(self, reference: Reference | None) -> str | None:
        if reference is None:
            return None
        ident = reference.identifier
        if ident is not None and ident.system in ODS_SYSTEMS and ident.value:
            return ident.value.strip().upper()
        if reference.reference:
            target = self.urls.get(reference.reference, reference.reference)
            return self.context.ods.get(target)
        return None

    def _patient(self, p: Patient, line: int) -> None:
        nhs = next((i.value for i in p.identifier if i.system == NHS_NUMBER and i.value), None)
        sex = {"male": "M", "female": "F"}.get(p.gender or "", "U")
        ethnicity = None
        for ext in p.extension:
            if ext.url.endswith("EthnicCategory") or "EthnicCategory" in ext.url:
                codes = _codings(ext.valueCodeableConcept)
                ethnicity = next(
                    (NHS_ETHNIC_CATEGORY[c] for _, c, _ in codes if c in NHS_ETHNIC_CATEGORY), None
                )
            elif ext.url.endswith("us-core-race") and ethnicity is None:
                for sub in ext.extension:
                    if sub.url == "ombCategory" and sub.valueCoding is not None:
                        ethnicity = US_RACE.get(sub.valueCoding.code or "", ethnicity)
        practice = next(
            (code for code in (self._ods(r) for r in p.generalPractitioner) if code), None
        )
        birth = fhir_date(p.birthDate)
        death = fhir_date(p.deceasedDateTime)
        self.out.add(
            "person",
            (
                p.id,
                nhs,
                sex,
                birth,
                death,
                ethnicity,
                None,
                None,
                practice,
                birth,
                death,
                self.name,
                line,
            ),
        )

    def _encounter(self, e: Encounter, line: int) -> None:
        rule = setting_of("fhir", e.class_.code or "")
        if rule is None:
            self.reject(
                "Encounter", line, "class", f"encounter class {e.class_.code!r} has no setting"
            )
            return
        setting, method = rule.setting, rule.admission_method or None
        provider = self._ods(e.serviceProvider)
        if setting == "gp" and provider and not PRACTICE_CODE.match(provider):
            setting = "op"
        if setting == "apc" and method is None:
            method = self._admission_method(e)
        diagnosis = None
        if setting in ("apc", "op", "ae"):
            for concept in e.reasonCode:
                for system, code, _ in _codings(concept):
                    if system in ("icd10", "icd10cm") and code:
                        diagnosis = canonical_code("icd10", code)
                        break
                if diagnosis:
                    break
        period = e.period or Period()
        if provider is None and e.serviceProvider is not None:
            provider = self.ref(e.serviceProvider, "Organization")
        self.out.add(
            "encounter",
            (
                e.id,
                self.ref(e.subject, "Patient"),
                setting,
                method if setting == "apc" else None,
                fhir_instant(period.start),
                fhir_instant(period.end),
                provider,
                diagnosis,
                None,
                self.name,
                line,
            ),
        )

    def _admission_method(self, e: Encounter) -> str | None:
        for ext in e.extension:
            if "AdmissionMethod" in ext.url:
                for _, code, _ in _codings(ext.valueCodeableConcept):
                    method = admission_method_of_nhs_code(code)
                    if method:
                        return method
        for concept in e.type:
            for system, code, _ in _codings(concept):
                if system == "snomed" and code in EMERGENCY_TYPES:
                    return "emergency"
                if system == "snomed" and code in MATERNITY_TYPES:
                    return "maternity"
        if e.hospitalization is not None:
            sources = {c for _, c, _ in _codings(e.hospitalization.admitSource)}
            if "emd" in sources:
                return "emergency"
        if e.priority is not None:
            for _, code, _ in _codings(e.priority):
                if code in ACT_PRIORITY:
                    return ACT_PRIORITY[code]
        return None  # decided from the person's A&E contacts (phm.ingest.staging)

    def _condition(self, c: Condition, line: int) -> None:
        verified = {code for _, code, _ in _codings(c.verificationStatus)}
        if verified & NOT_DIAGNOSED:
            status = sorted(verified & NOT_DIAGNOSED)[0]
            self.reject("Condition", line, "verificationStatus", f"Condition {status}: not loaded")
            return
        date = c.onsetDateTime or (c.onsetPeriod.start if c.onsetPeriod else None)
        self.coded(
            line,
            "Condition",
            "event",
            self.ref(c.subject, "Patient"),
            fhir_date(date or c.recordedDate),
            _codings(c.code),
            self.ref(c.encounter, "Encounter"),
        )

    def _observation(self, o: Observation, line: int) -> None:
        person = self.ref(o.subject, "Patient")
        encounter = self.ref(o.encounter, "Encounter")
        moment = o.effectiveDateTime or (o.effectivePeriod.start if o.effectivePeriod else None)
        date = fhir_date(moment or o.effectiveInstant or o.issued)
        value, unit = _value(o.valueQuantity, o.valueInteger)
        # A panel (components, no value of its own) is loaded as its components.
        if not o.component or value is not None:
            self.coded(
                line, "Observation", "event", person, date, _codings(o.code), encounter, value, unit
            )
        for part in o.component:
            value, unit = _value(part.valueQuantity, part.valueInteger)
            self.coded(
                line,
                "Observation",
                "event",
                person,
                date,
                _codings(part.code),
                encounter,
                value,
                unit,
            )
        answer = [c for c in _codings(o.valueCodeableConcept) if c[0] == "snomed" and c[1]]
        if answer:
            self.coded(line, "Observation.value", "event", person, date, answer, encounter)

    def _medication_codes(
        self,
        line: int,
        kind: str,
        concept: CodeableConcept | None,
        reference: Reference | None,
        contained: list[Contained],
    ) -> list[tuple[str, str, str]] | None:
        if concept is not None:
            return _codings(concept)
        if reference is not None and reference.reference:
            target = reference.reference
            if target.startswith("#"):
                for item in contained:
                    if item.resourceType == "Medication" and item.id == target[1:]:
                        return _codings(item.code)
            key = self.urls.get(target, target)
            key = "Medication/" + key.rsplit("/", 1)[-1] if "Medication/" in key else key
            if key in self.context.medications:
                return self.context.medications[key]
        self.reject(kind, line, "medication", "medication not coded and its reference not found")
        return None

    def _medicationrequest(self, m: MedicationRequest, line: int) -> None:
        if m.intent in NOT_ISSUED_INTENTS:
            self.reject("MedicationRequest", line, "intent", f"intent {m.intent}: not an issue")
            return
        codes = self._medication_codes(
            line,
            "MedicationRequest",
            m.medicationCodeableConcept,
            m.medicationReference,
            m.contained,
        )
        if codes is not None:
            self.coded(
                line,
                "MedicationRequest",
                "medication",
                self.ref(m.subject, "Patient"),
                fhir_date(m.authoredOn),
                codes,
                self.ref(m.encounter, "Encounter"),
            )

    def _medicationstatement(self, m: MedicationStatement, line: int) -> None:
        codes = self._medication_codes(
            line,
            "MedicationStatement",
            m.medicationCodeableConcept,
            m.medicationReference,
            m.contained,
        )
        moment = m.effectiveDateTime or (m.effectivePeriod.start if m.effectivePeriod else None)
        if codes is not None:
            self.coded(
                line,
                "MedicationStatement",
                "medication",
                self.ref(m.subject, "Patient"),
                fhir_date(moment or m.dateAsserted),
                codes,
                self.ref(m.context, "Encounter"),
            )

    def _procedure(self, p: Procedure, line: int) -> None:
        moment = p.performedDateTime or (p.performedPeriod.start if p.performedPeriod else None)
        self.coded(
            line,
            "Procedure",
            "event",
            self.ref(p.subject, "Patient"),
            fhir_date(moment),
            _codings(p.code),
            self.ref(p.encounter, "Encounter"),
        )

    def _questionnaireresponse(self, q: QuestionnaireResponse, line: int) -> None:
        instrument = instrument_of(q.questionnaire or "")
        if instrument is None:
            self.result.questionnaires[q.questionnaire or "(no questionnaire)"] += 1
            self.reject(
                "QuestionnaireResponse",
                line,
                "questionnaire",
                "questionnaire is not a scored instrument phm knows (PAM, I-statements, PHQ-9, "
                "GAD-7, AUDIT-C)",
                q.questionnaire or "",
            )
            return
        score = _score(q.item)
        self.out.add(
            "assessment",
            (
                self.ref(q.subject, "Patient"),
                fhir_date(q.authored),
                instrument,
                score,
                "QuestionnaireResponse",
                self.name,
                line,
            ),
        )

    def decode(self, data: bytes, line: int, url: str | None = None) -> Any | None:
        """Decode one resource; a resource that fails is rejected, an unread type counted."""
        try:
            return _DECODER.decode(data)
        except msgspec.DecodeError as e:
            try:
                head = _HEAD.decode(data)
            except msgspec.DecodeError:
                self.reject("json", line, "", f"malformed JSON: {e}", data.decode(errors="replace"))
                return None
            kind = head.resourceType or "(no resourceType)"
            if kind not in READ_TYPES:
                self.result.ignored[kind] += 1
                return None
            self.reject(
                kind,
                line,
                _field_of(str(e)),
                f"not valid FHIR R4 {kind}: {e}",
                data.decode(errors="replace"),
            )
            return None


def _value(quantity: Quantity | None, integer: int | None) -> tuple[float | None, str | None]:
    if quantity is not None and quantity.value is not None:
        return float(quantity.value), quantity.unit or quantity.code
    if integer is not None:
        return float(integer), None
    return None, None


def _score(items: list[Item]) -> float | None:
    for item in items:
        if item.linkId.strip().lower() in SCORE_ITEMS:
            for answer in item.answer:
                if answer.valueDecimal is not None:
                    return float(answer.valueDecimal)
                if answer.valueInteger is not None:
                    return float(answer.valueInteger)
                if answer.valueQuantity is not None and answer.valueQuantity.value is not None:
                    return float(answer.valueQuantity.value)
        found = _score(item.item)
        if found is not None:
            return found
    return None


def _field_of(message: str) -> str:
    """The element a msgspec error names ("... - at `$.status`", "missing required field `x`")."""
    found = re.search(r"at `\$\.?([^`]*)`", message) or re.search(r"field `([^`]*)`", message)
    return found.group(1) if found else ""


def _lines(stream: BinaryIO, start: int, end: int) -> Iterator[bytes]:
    stream.seek(start)
    position = start
    for line in stream:
        if position >= end:
            return
        position += len(line)
        yield line


def _open(path: Path) -> BinaryIO:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


@dataclass(frozen=True)
class Piece:
    """A part of one source file to read: a byte range of NDJSON, or a whole Bundle."""

    path: Path
    name: str
    bundle: bool
    start: int = 0
    end: int = -1
    first_line: int = 1
    index: int = 0


def read_piece(piece: Piece, folder: Path, context: Context) -> PieceResult:
    """Read one piece into Parquet files of intermediate rows (runs in a worker process)."""
    out = Output(folder, f"{piece.index:06d}")
    reader = Reader(piece.name, out, context)
    try:
        if piece.bundle:
            _read_bundle(reader, piece.path)
        else:
            with _open(piece.path) as stream:
                end = piece.end if piece.end >= 0 else 1 << 62
                for number, line in enumerate(_lines(stream, piece.start, end), piece.first_line):
                    if not line.strip():
                        continue
                    reader.result.records += 1
                    resource = reader.decode(line, number)
                    if resource is not None:
                        reader.read(resource, number)
    except (OSError, EOFError) as e:
        reader.result.error = f"{piece.name}: cannot be read: {e}"
    out.flush()
    return reader.result


def _read_bundle(reader: Reader, path: Path) -> None:
    with _open(path) as stream:
        data = stream.read()
    try:
        head = _HEAD.decode(data)
    except msgspec.DecodeError as e:
        raise SourceError(f"{reader.name}: not valid JSON: {e}") from e
    if head.resourceType != "Bundle":
        reader.result.records += 1
        resource = reader.decode(data, 1)
        if resource is not None:
            reader.read(resource, 1)
        return
    try:
        bundle = _BUNDLE.decode(data)
    except msgspec.DecodeError as e:
        raise SourceError(f"{reader.name}: not a valid FHIR Bundle: {e}") from e
    decoded: list[tuple[int, Any]] = []
    for number, entry in enumerate(bundle.entry, 1):
        if bytes(entry.resource) == b"null":
            continue
        reader.result.records += 1
        resource = reader.decode(bytes(entry.resource), number)
        if resource is None:
            continue
        if resource.id is None and entry.fullUrl and entry.fullUrl.startswith("urn:uuid:"):
            resource.id = entry.fullUrl.removeprefix("urn:uuid:")
        if entry.fullUrl and resource.id:
            reader.urls[entry.fullUrl] = f"{type(resource).__name__}/{resource.id}"
        if isinstance(resource, Organization | Medication):
            reader.read(resource, number)
        else:
            decoded.append((number, resource))
    for number, resource in decoded:
        reader.read(resource, number)


def _resource_type(path: Path) -> str | None:
    """The resource type of an NDJSON file: from its first non-blank line."""
    try:
        with _open(path) as stream:
            for line in stream:
                if line.strip():
                    head = _HEAD.decode(line)
                    return head.resourceType
    except (OSError, EOFError, msgspec.DecodeError):
        return None
    return None


def _json_type(path: Path) -> str | None:
    """The resourceType of a JSON file (None when it is not JSON or names none)."""
    try:
        with _open(path) as stream:
            return _HEAD.decode(stream.read()).resourceType
    except (OSError, EOFError, msgspec.DecodeError):
        return "Bundle"


def _pieces(file: SourceFile, start_index: int) -> list[Piece]:
    """Byte ranges of about CHUNK_BYTES, each starting on a line, with its first line number."""
    bundle = not file.path.name.endswith((".ndjson", ".ndjson.gz"))
    size = file.path.stat().st_size
    if bundle or file.path.name.endswith(".gz") or size <= CHUNK_BYTES:
        return [Piece(file.path, file.name, bundle, index=start_index)]
    pieces: list[Piece] = []
    with file.path.open("rb") as stream:
        start, line = 0, 1
        while start < size:
            stream.seek(min(start + CHUNK_BYTES, size))
            stream.readline()
            end = min(stream.tell(), size)
            pieces.append(
                Piece(file.path, file.name, False, start, end, line, start_index + len(pieces))
            )
            stream.seek(start)
            line += stream.read(end - start).count(b"\n")
            start = end
    return pieces


class FhirAdapter:
    label = "FHIR R4 (.ndjson bulk export or .json Bundles)"

    def discover(self, source: Path) -> tuple[list[SourceFile], list[str]]:
        paths = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        files, ignored = [], []
        for path in paths:
            name = str(path.relative_to(source)) if source.is_dir() else path.name
            if path.name.startswith("."):
                continue
            if path.name.endswith((".ndjson", ".ndjson.gz")):
                # Bulk export names each file after its resource type; a file is
                # passed over only when its name and first line agree on a type
                # that is not loaded, so one odd line cannot hide a whole file.
                stem = path.name.split(".")[0].split("-")[0]
                kind = stem if stem in READ_TYPES else (_resource_type(path) or "NDJSON")
                if kind not in READ_TYPES and kind == stem:
                    ignored.append(f"{name} ({kind} resources are not loaded)")
                    continue
                if kind not in READ_TYPES:
                    kind = "NDJSON"
            elif path.name.endswith((".json", ".json.gz")):
                kind = _json_type(path) or ""
                if kind not in READ_TYPES and kind != "Bundle":
                    ignored.append(f"{name} (not a FHIR Bundle or resource)")
                    continue
            else:
                ignored.append(name)
                continue
            files.append(SourceFile(path, name, kind, content_id(path, salt="fhir")))
        return files, ignored

    def stage(self, files: list[SourceFile], stage: Stage) -> None:
        context = Context()
        # Organizations and Medications first: other resources refer to them.
        first = [f for f in files if f.kind in CONTEXT_TYPES]
        rest = [f for f in files if f.kind not in CONTEXT_TYPES]
        folder = stage.folder("fhir")
        for file in first:
            result = read_piece(Piece(file.path, file.name, False), folder, context)
            self._record(stage, file, [result])
        pieces: list[Piece] = []
        for file in rest:
            pieces.extend(_pieces(file, len(pieces)))
        total = sum(f.path.stat().st_size for f in rest)
        workers = min(os.cpu_count() or 1, 8)
        results: list[PieceResult] | None = None
        if total >= PARALLEL_BYTES and workers > 1 and len(pieces) > 1:
            results = _read_in_parallel(pieces, folder, context, workers)
        if results is None:
            results = [_read_piece_safely(p, folder, context) for p in pieces]
        by_file: dict[str, list[PieceResult]] = {}
        for piece, result in zip(pieces, results, strict=True):
            by_file.setdefault(piece.name, []).append(result)
        for file in rest:
            self._record(stage, file, by_file.get(file.name, []))
        unread: Counter[str] = Counter()
        for result in results:
            unread.update(result.ignored)
        if unread:
            listed = ", ".join(f"{k} {v:,}" for k, v in sorted(unread.items()))
            stage.notes.append(f"FHIR resources of types not loaded, left out: {listed}")

    def _record(self, stage: Stage, file: SourceFile, results: list[PieceResult]) -> None:
        report = stage.source(file)
        errors = [r.error for r in results if r.error]
        if errors:
            report.status, report.message = "failed", errors[0]
            return
        report.records_read = sum(r.records for r in results)
        for result in results:
            for kind, paths in result.paths.items():
                stage.insert_parquet(kind, paths)
            for questionnaire, n in result.questionnaires.items():
                stage.unmapped[("questionnaire", questionnaire, "")] += n


def _read_in_parallel(
    pieces: list[Piece], folder: Path, context: Context, workers: int
) -> list[PieceResult] | None:
    """Read the pieces in worker processes; None when workers cannot be started here.

    Workers are spawned (not forked: the parent holds DuckDB's threads), which
    needs a main module that can be imported again: `python -c` or stdin
    cannot; then the pieces are read in this process instead.
    """
    try:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            return list(
                pool.map(
                    _read_piece_safely,
                    pieces,
                    [folder] * len(pieces),
                    [context] * len(pieces),
                    chunksize=1 if len(pieces) < 64 else 16,
                )
            )
    except (BrokenProcessPool, OSError):
        return None


def _read_piece_safely(piece: Piece, folder: Path, context: Context) -> PieceResult:
    try:
        return read_piece(piece, folder, context)
    except SourceError as e:
        return PieceResult({}, error=str(e))


__all__ = ["FhirAdapter", "read_piece"]
