"""Per-person explanations: the few things that raised this person's score most.

A reason is a group of related features with a phrase a clinician reads
(e.g. "2 emergency admissions in the last year"). Its contribution to a
person's score is the fall in predicted probability when the group's features
are set to the typical value of the training population (the median, or
"missing" where most people have no value) — a deterministic occlusion, the
"what if this were typical" question a clinician asks. A reason can only be
named for a person whose values are on its adverse side (see `Reason`), and
only they are re-scored, so scoring stays fast. The three
largest contributions above `MIN_CONTRIBUTION` are named, largest first, ties
broken by the order of `REASONS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from phm.risk.features import CONDITIONS

TOP_REASONS = 3
MIN_CONTRIBUTION = 0.001  # 0.1 percentage points of probability
NONE_RAISED = "no single factor raises the risk above typical"
BATCH_ROWS = 250_000
HIGH_COST_GBP = 2_000  # a year of services costing more than most people's

Row = Mapping[str, float]


Flags = Callable[[pd.DataFrame], "pd.Series[bool]"]


@dataclass(frozen=True)
class Reason:
    """A group of features, when it can count against a person, and how to say it.

    `applies` marks the people whose values are on the adverse side (more
    admissions than typical, a condition present, BMI 30 or more, ...): only
    they can have this reason named, so a missing or healthy value is never
    given as a reason even where the model's interactions make it raise a score.
    """

    key: str
    features: tuple[str, ...]
    phrase: Callable[[Row], str]
    applies: Flags


def _any_set(*columns: str) -> Flags:
    return lambda f: (f[list(columns)] == 1).any(axis=1)


def _above(*columns: str, at_least: float = 1) -> Flags:
    return lambda f: (f[list(columns)] >= at_least).any(axis=1)


def _count(value: float) -> int:
    return 0 if value is None or math.isnan(value) else round(value)


def _plural(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def _emergency(r: Row) -> str:
    recent, prior = (
        _count(r["emergency_admissions_12m"]),
        _count(r["emergency_admissions_prior_12m"]),
    )
    if recent:
        text = _plural(recent, "emergency admission") + " in the last year"
        days = _count(r["emergency_bed_days_12m"])
        if r["recent_discharge"] == 1:
            return text + " (discharged in the last 30 days)"
        return text + (f" ({_plural(days, 'bed day')})" if days else "")
    if prior:
        return _plural(prior, "emergency admission") + " in the year before last"
    earlier = _count(r["emergency_admissions_24_60m"])
    if earlier:
        return _plural(earlier, "emergency admission") + " 2–5 years ago"
    since = r["days_since_emergency_discharge"]
    if not math.isnan(since):
        return f"an emergency admission {max(2, int(since // 365))} years ago"
    return "an emergency admission on record"


def _service(column: str, noun: str, plural: str | None = None) -> Callable[[Row], str]:
    def phrase(r: Row) -> str:
        recent, prior = _count(r[f"{column}_12m"]), _count(r[f"{column}_prior_12m"])
        if recent:
            return _plural(recent, noun, plural) + " in the last year"
        if prior:
            return _plural(prior, noun, plural) + " in the year before last"
        return _plural(_count(r[f"{column}_24_60m"]), noun, plural) + " 2–5 years ago"

    return phrase


def _escalating(r: Row) -> str:
    recent = _count(r["recent_contacts_90d"])
    usual = r["baseline_contacts_per_90d"]
    return f"rising use of services ({recent} contacts in the last 90 days, usually {usual:.0f})"


def _social_care(r: Row) -> str:
    if r["social_care_12m"] == 1:
        return "receives social care"
    if r["social_care_prior_12m"] == 1:
        return "received social care in the year before last"
    return "received social care 2–5 years ago"


def _cost(r: Row) -> str:
    return f"high use of services (£{r['total_cost_gbp_12m']:,.0f} in the last year)"


def _frailty(r: Row) -> str:
    deficits = r["efi_deficits"]
    if not math.isnan(deficits):
        n = round(deficits)
        band = "fit" if n <= 4 else "mild" if n <= 8 else "moderate" if n <= 12 else "severe"
        if band != "fit":
            return f"frailty (eFI {band}, {n} deficits)"
    hfrs = r["hfrs"]
    band = "low" if hfrs < 5 else "intermediate" if hfrs <= 15 else "high"
    return f"hospital frailty risk score {hfrs:.1f} ({band})"


def _multimorbidity(r: Row) -> str:
    text = _plural(_count(r["ltc_count"]), "long-term condition")
    return text + (", physical and mental" if r["physical_mental"] == 1 else "")


def _activation(r: Row) -> str:
    return f"low activation (PAM level {round(r['pam_level'])})"


def _mental_health(r: Row) -> str:
    phq9, gad7 = r["phq9"], r["gad7"]
    if phq9 >= 10:
        return f"depression symptoms (PHQ-9 {phq9:.0f})"
    return f"anxiety symptoms (GAD-7 {gad7:.0f})"


# Plain names of the registry's long-term conditions, as a clinician says them.
CONDITION_WORDS: dict[str, str] = {
    "hypertension": "hypertension",
    "diabetes": "diabetes",
    "asthma": "asthma",
    "copd": "COPD",
    "chd": "coronary heart disease",
    "atrial_fibrillation": "atrial fibrillation",
    "heart_failure": "heart failure",
    "stroke_tia": "stroke or TIA",
    "ckd": "chronic kidney disease (stage 3–5)",
    "depression": "depression",
    "smi": "serious mental illness",
    "dementia": "dementia",
    "cancer": "cancer",
    "epilepsy": "epilepsy",
    "learning_disability": "learning disability",
    "osteoporosis": "osteoporosis",
    "rheumatoid_arthritis": "rheumatoid arthritis",
    "pad": "peripheral arterial disease",
    "palliative_care": "on the palliative care register",
    "anxiety": "anxiety",
    "alcohol_problems": "alcohol problems",
    "substance_misuse": "substance misuse",
    "anorexia_bulimia": "eating disorder",
    "parkinsons": "Parkinson's disease",
    "multiple_sclerosis": "multiple sclerosis",
    "chronic_liver_disease": "chronic liver disease",
    "hearing_loss": "hearing loss",
    "visual_impairment": "sight loss",
    "glaucoma": "glaucoma",
    "ibs": "irritable bowel syndrome",
    "psoriasis_eczema": "psoriasis or eczema",
    "migraine": "migraine",
    "thyroid_disorders": "thyroid disorder",
    "prostate_disorders": "prostate disorder",
    "diverticular_disease": "diverticular disease",
    "constipation": "constipation (treated)",
    "dyspepsia": "dyspepsia (treated)",
    "peptic_ulcer": "peptic ulcer",
    "ibd": "inflammatory bowel disease",
    "chronic_sinusitis": "chronic sinusitis",
    "bronchiectasis": "bronchiectasis",
    "painful_condition": "chronic pain",
    "connective_tissue_disorder": "inflammatory arthritis or connective tissue disorder",
}


def _condition(name: str) -> Reason:
    words = CONDITION_WORDS.get(name, name.replace("_", " "))
    return Reason(name, (name,), lambda _: words, _any_set(name))


REASONS: tuple[Reason, ...] = (
    Reason(
        "emergency_admissions",
        (
            "emergency_admissions_12m",
            "emergency_bed_days_12m",
            "recent_discharge",
            "days_since_emergency_discharge",
            "in_reablement",
            "emergency_admissions_prior_12m",
            "emergency_bed_days_prior_12m",
            "emergency_admissions_24_60m",
            "emergency_bed_days_24_60m",
            "days_at_home_12m",
        ),
        _emergency,
        lambda f: (
            f["days_since_emergency_discharge"].notna()
            | (
                f["emergency_admissions_12m"]
                + f["emergency_admissions_prior_12m"]
                + f["emergency_admissions_24_60m"]
                >= 1
            )
        ),
    ),
    Reason(
        "ae_attendances",
        ("ae_attendances_12m", "ae_attendances_prior_12m", "ae_attendances_24_60m"),
        _service("ae_attendances", "A&E attendance"),
        _above("ae_attendances_12m", "ae_attendances_prior_12m", "ae_attendances_24_60m"),
    ),
    Reason(
        "escalating",
        ("escalating", "recent_contacts_90d", "baseline_contacts_per_90d"),
        _escalating,
        _any_set("escalating"),
    ),
    Reason(
        "frailty",
        ("efi_deficits", "hfrs"),
        _frailty,
        lambda f: (f["efi_deficits"] >= 5) | (f["hfrs"] >= 5),
    ),
    *(_condition(name) for name in CONDITIONS),
    Reason(
        "multimorbidity",
        ("ltc_count", "ltc_5plus", "physical_mental", "cms_score", "charlson"),
        _multimorbidity,
        _above("ltc_count", at_least=3),
    ),
    Reason(
        "age",
        ("age",),
        lambda r: f"aged {r['age']:.0f}",
        lambda f: (f["age"] >= 65) | (f["age"] < 5),
    ),
    Reason(
        "gp_consultations",
        (
            "gp_consultations_12m",
            "gp_consultations_prior_12m",
            "hub_appointments_12m",
            "hub_appointments_prior_12m",
            "gp_consultations_24_60m",
        ),
        _service("gp_consultations", "GP consultation"),
        _above("gp_consultations_12m", "gp_consultations_prior_12m", at_least=10),
    ),
    Reason(
        "outpatient_appointments",
        (
            "outpatient_appointments_12m",
            "outpatient_appointments_prior_12m",
            "outpatient_appointments_24_60m",
        ),
        _service("outpatient_appointments", "outpatient appointment"),
        _above(
            "outpatient_appointments_12m",
            "outpatient_appointments_prior_12m",
            "outpatient_appointments_24_60m",
            at_least=3,
        ),
    ),
    Reason(
        "elective_admissions",
        ("elective_admissions_12m", "elective_admissions_prior_12m", "elective_admissions_24_60m"),
        _service("elective_admissions", "planned admission"),
        _above(
            "elective_admissions_12m", "elective_admissions_prior_12m", "elective_admissions_24_60m"
        ),
    ),
    Reason(
        "mh_contacts",
        ("mh_contacts_12m", "mh_contacts_prior_12m", "mh_contacts_24_60m"),
        _service("mh_contacts", "mental health service contact"),
        _above("mh_contacts_12m", "mh_contacts_prior_12m", "mh_contacts_24_60m"),
    ),
    Reason(
        "community_contacts",
        ("community_contacts_12m", "community_contacts_prior_12m", "community_contacts_24_60m"),
        _service("community_contacts", "community health contact"),
        _above(
            "community_contacts_12m", "community_contacts_prior_12m", "community_contacts_24_60m"
        ),
    ),
    Reason(
        "social_care",
        (
            "social_care_12m",
            "social_care_contacts_12m",
            "social_care_prior_12m",
            "social_care_contacts_prior_12m",
            "social_care_contacts_24_60m",
        ),
        _social_care,
        lambda f: (
            (f["social_care_12m"] == 1)
            | (f["social_care_prior_12m"] == 1)
            | (f["social_care_contacts_24_60m"] >= 1)
        ),
    ),
    Reason(
        "cost",
        ("total_cost_gbp_12m", "total_cost_gbp_prior_12m"),
        _cost,
        _above("total_cost_gbp_12m", at_least=HIGH_COST_GBP),
    ),
    Reason(
        "deprivation",
        ("imd_decile",),
        lambda r: f"lives in a deprived area (IMD decile {r['imd_decile']:.0f} of 10)",
        lambda f: f["imd_decile"] <= 2,
    ),
    Reason("housing_need", ("housing_need",), lambda _: "housing need", _any_set("housing_need")),
    Reason(
        "activation",
        ("pam_score", "pam_level", "i_statement_score"),
        _activation,
        lambda f: f["pam_level"] <= 2,
    ),
    Reason(
        "mental_health",
        ("phq9", "gad7", "mental_health_risk"),
        _mental_health,
        lambda f: (f["phq9"] >= 10) | (f["gad7"] >= 10),
    ),
    Reason("smoker", ("smoker",), lambda _: "smoker", _any_set("smoker")),
    Reason(
        "alcohol",
        ("audit_c", "alcohol_risk"),
        lambda r: (
            "alcohol risk"
            + (f" (AUDIT-C {r['audit_c']:.0f})" if not math.isnan(r["audit_c"]) else "")
        ),
        _any_set("alcohol_risk"),
    ),
    Reason(
        "bmi",
        ("bmi",),
        lambda r: f"BMI {r['bmi']:.0f}",
        lambda f: (f["bmi"] >= 30) | (f["bmi"] < 18.5),
    ),
    Reason(
        "blood_pressure",
        ("systolic_bp",),
        lambda r: f"systolic BP {r['systolic_bp']:.0f}",
        lambda f: (f["systolic_bp"] >= 160) | (f["systolic_bp"] < 90),
    ),
)


def typical_values(frame: pd.DataFrame) -> dict[str, float]:
    """Each feature's typical value: its median, or NaN where most people have no value."""
    typical: dict[str, float] = {}
    for name in frame.columns:
        column = frame[name]
        typical[name] = float(column.median()) if column.notna().mean() >= 0.5 else float("nan")
    return typical


def _differs(
    values: npt.NDArray[np.float64], typical: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    same = (values == typical) | (np.isnan(values) & np.isnan(typical))
    return np.asarray(~same.all(axis=1))


def contributions(
    frame: pd.DataFrame,
    predicted: npt.NDArray[np.float64],
    predict: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]],
    typical: Mapping[str, float],
    reasons: tuple[Reason, ...] = REASONS,
    batch_rows: int = BATCH_ROWS,
) -> npt.NDArray[np.float64]:
    """Per person (rows) and reason (columns): predicted minus predicted-if-typical.

    `predict` takes a matrix whose columns are those of `frame`. The re-scored
    rows of all reasons are stacked and predicted in batches of `batch_rows`,
    as each call to the model has a fixed cost.
    """
    values = np.asfortranarray(frame.to_numpy(np.float64))
    position = {name: k for k, name in enumerate(frame.columns)}
    out = np.zeros((len(frame), len(reasons)))
    pending: list[tuple[int, npt.NDArray[np.intp], list[int], npt.NDArray[np.float64]]] = []

    def flush() -> None:
        if not pending:
            return
        total = sum(len(rows) for _, rows, _, _ in pending)
        # Column-major, as the gradient boosting predictor reads it fastest.
        stacked = np.empty((total, values.shape[1]), order="F")
        start = 0
        for _, rows, columns, usual in pending:
            end = start + len(rows)
            for k in range(values.shape[1]):
                stacked[start:end, k] = values[rows, k]
            stacked[start:end, columns] = usual
            start = end
        scores = predict(stacked)
        start = 0
        for j, rows, _, _ in pending:
            out[rows, j] = predicted[rows] - scores[start : start + len(rows)]
            start += len(rows)
        pending.clear()

    size = 0
    for j, reason in enumerate(reasons):
        columns = [position[c] for c in reason.features if c in position]
        if not columns:
            continue
        usual = np.array([typical[frame.columns[c]] for c in columns], dtype=np.float64)
        applies = reason.applies(frame).to_numpy(bool)
        rows = np.flatnonzero(applies & _differs(values[:, columns], usual))
        if len(rows) == 0:
            continue
        pending.append((j, rows, columns, usual))
        size += len(rows)
        if size >= batch_rows:
            flush()
            size = 0
    flush()
    return out


def explanations(
    frame: pd.DataFrame,
    contribution: npt.NDArray[np.float64],
    reasons: tuple[Reason, ...] = REASONS,
    top: int = TOP_REASONS,
) -> list[str]:
    """The phrases of each person's `top` largest contributions, joined by "; "."""
    out = [NONE_RAISED] * len(frame)
    rows = np.flatnonzero((contribution >= MIN_CONTRIBUTION).any(axis=1))
    if len(rows) == 0:
        return out
    mine = contribution[rows]
    order = np.argsort(-mine, axis=1, kind="stable")[:, :top]
    picked = np.take_along_axis(mine, order, axis=1) >= MIN_CONTRIBUTION
    values = frame.to_numpy(np.float64)
    position = {name: k for k, name in enumerate(frame.columns)}
    texts = np.full((len(rows), order.shape[1]), "", dtype=object)
    for j, reason in enumerate(reasons):
        hit, slot = np.nonzero((order == j) & picked)
        if len(hit) == 0:
            continue
        names = [c for c in reason.features if c in position]
        block = values[rows[hit]][:, [position[c] for c in names]].tolist()
        phrases = [reason.phrase(cast(Row, dict(zip(names, v, strict=True)))) for v in block]
        texts[hit, slot] = np.array(phrases, dtype=object)
    for i, row in enumerate(rows):
        out[row] = "; ".join(t for t in texts[i] if t)
    return out
