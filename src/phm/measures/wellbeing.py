"""Activation, Vital 5 and housing need at the index date.

Case-finding markers of seed 001 ("low patient activation (PAM) scores",
"with housing needs") and the Vital 5 of King's Health Partners / SEL ICS
(blood pressure, BMI, smoking, alcohol, mental health). Every threshold is
read from `phm/codelists/measures.yaml`, where each carries its source.

Each function takes Ibis tables and returns one row per person of
`population`, keyed by person_id. Records after the index date are ignored;
look-back windows are half-open, `(index - N days, index]`. Where the latest
day holds several values, the one that flags need is kept (lower PAM and
I-statement; higher BMI, AUDIT-C, PHQ-9, GAD-7), except blood pressure, where
QOF's rule takes the lowest systolic and lowest diastolic of the day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

import ibis
import ibis.expr.types as ir

from phm.codelists.codelist import load_codelist
from phm.codelists.thresholds import HousingRule, PamCutPoints, Vital5Rule, shipped_thresholds
from phm.measures.events import coded

# Half the 0.1 resolution of a PAM score: a published band "47.1-55.1" runs to < 55.15.
_PAM_HALF_STEP = 0.05

# Smoking status by code list, ranked so that a current code wins a same-day tie.
_SMOKING = {
    "vital5_smoking_current": "current",
    "vital5_smoking_ex": "ex",
    "vital5_smoking_never": "never",
}
_SMOKING_RANK = {"current": 3, "ex": 2, "never": 1}


def _day(index_date: dt.date, days_before: int = 0) -> ir.DateScalar:
    return ibis.date(index_date - dt.timedelta(days=days_before))


def _latest(
    t: ir.Table,
    date: str,
    value: str,
    *,
    keep: Literal["min", "max"],
    name: str,
    date_name: str | None = None,
) -> ir.Table:
    """Per person, `value` on their latest `date` (min or max of that day's values)."""
    last = t.mutate(_last=t[date].max().over(group_by="person_id"))
    last = last.filter(last[date] == last._last)
    picked = last[value].min() if keep == "min" else last[value].max()
    columns = {name: picked}
    if date_name:
        columns[date_name] = last[date].max()
    return last.group_by("person_id").aggregate(**columns)


def _scores(
    assessment: ir.Table, instrument: str, index_date: dt.date, lookback_days: int | None = None
) -> ir.Table:
    """Scores of one instrument on or before the index date (within the look-back if given)."""
    day = assessment.assessment_date
    keep = (assessment.instrument == instrument) & (day <= _day(index_date))
    if lookback_days is not None:
        keep &= day > _day(index_date, lookback_days)
    return assessment.filter(keep, assessment.score.notnull())


def _coded(events: ir.Table, lists: dict[str, str]) -> ir.Table:
    """Events in the named code lists, labelled with `lists[name]` in column `label`."""
    matched = coded(events, {name: load_codelist(name) for name in lists})
    return matched.select(
        "person_id", "event_date", "value", label=matched.codelist.cases(*lists.items())
    )


def _attach(base: ir.Table, *parts: ir.Table) -> ir.Table:
    """Left-join per-person tables onto `base` (one row per person), keeping one key."""
    out = base
    for part in parts:
        joined = out.left_join(part, out.person_id == part.person_id)
        out = joined.select(out, *(joined[c] for c in part.columns if c != "person_id"))
    return out


def pam_level(score: ir.FloatingValue, cut_points: PamCutPoints) -> ir.IntegerValue:
    """PAM level 1-4 of a 0-100 activation score (null when the score is null).

    A level runs up to its published maximum (scores are given to one decimal),
    so the boundary sits half a step above it: level 1 below 47.05 by default.
    """
    return ibis.cases(
        (score.isnull(), ibis.null("int64")),
        (score < cut_points.level1_max + _PAM_HALF_STEP, 1),
        (score < cut_points.level2_max + _PAM_HALF_STEP, 2),
        (score < cut_points.level3_max + _PAM_HALF_STEP, 3),
        else_=4,
    ).cast("int64")


def activation(
    population: ir.Table,
    assessment: ir.Table,
    index_date: dt.date,
    cut_points: PamCutPoints | None = None,
) -> ir.Table:
    """Latest patient activation and I-statement scores on or before the index date.

    - pam_score, pam_date: the latest PAM-13 activation score (0-100, vendor-scored:
      the raw-to-score conversion is Insignia Health's licensed lookup) and its date.
    - pam_level: 1-4 by the cut-points in measures.yaml (Insignia Health current
      bands: 1 ≤ 47.0, 2 47.1-55.1, 3 55.2-67.0, 4 ≥ 67.1; instrument Hibbard 2005).
    - i_statement_score: the latest patient-reported "I statement" score.
    All null when never measured; no look-back limit.
    """
    cut_points = cut_points or shipped_thresholds().pam
    pam = _latest(
        _scores(assessment, "pam", index_date),
        "assessment_date",
        "score",
        keep="min",
        name="pam_score",
        date_name="pam_date",
    )
    statement = _latest(
        _scores(assessment, "i_statement", index_date),
        "assessment_date",
        "score",
        keep="min",
        name="i_statement_score",
    )
    out = _attach(population.select("person_id"), pam, statement)
    return out.select(
        "person_id",
        "pam_score",
        "pam_date",
        pam_level=pam_level(out.pam_score, cut_points),
        i_statement_score=out.i_statement_score,
    )


def _smoking_status(clinical_event: ir.Table, index_date: dt.date, lookback_days: int) -> ir.Table:
    """current / ex / never from the latest smoking code within the look-back.

    Same-day codes rank current > ex > never. A "never smoked" code that follows
    a current or ex-smoker code recorded at any earlier date reads as ex-smoker:
    a never-smoker cannot have smoked before (the OpenSAFELY convention).
    """
    events = clinical_event.filter(clinical_event.event_date <= _day(index_date))
    coded = _coded(events, _SMOKING)
    coded = coded.mutate(rank=coded.label.cases(*_SMOKING_RANK.items(), else_=0).cast("int64"))
    recent = coded.filter(coded.event_date > _day(index_date, lookback_days))
    latest = _latest(
        recent, "event_date", "rank", keep="max", name="rank", date_name="smoking_date"
    )
    smoked = coded.filter(coded.label != "never")
    first = smoked.group_by("person_id").aggregate(first_smoked=smoked.event_date.min())
    joined = latest.left_join(first, latest.person_id == first.person_id)
    smoked_before = (joined.first_smoked < joined.smoking_date).fill_null(False)
    status = ibis.cases(
        (joined["rank"] == _SMOKING_RANK["current"], "current"),
        (joined["rank"] == _SMOKING_RANK["ex"], "ex"),
        (smoked_before, "ex"),
        else_="never",
    )
    return joined.select(latest.person_id, smoking_status=status)


def vital5(
    population: ir.Table,
    clinical_event: ir.Table,
    assessment: ir.Table,
    index_date: dt.date,
    rule: Vital5Rule | None = None,
) -> ir.Table:
    """The Vital 5 at the index date, each from the latest record within rule.lookback_days.

    - systolic_bp, diastolic_bp: latest clinic readings (QOF: lowest of the latest
      day); bp_recorded: either present; bp_high: systolic ≥ 140 or diastolic ≥ 90
      (NICE NG136 clinic threshold).
    - bmi, bmi_recorded; obese: BMI ≥ 30, or ≥ 27.5 for the ethnic categories listed
      in measures.yaml (South Asian, Chinese, other Asian, Middle Eastern, Black
      African or African-Caribbean family background; NICE CG189, QOF OBES_REG v48).
    - smoking_status: current / ex / never (see `_smoking_status`), null if none;
      smoker: current.
    - audit_c; alcohol_risk: AUDIT-C ≥ 5.
    - phq9, gad7; mental_health_risk: PHQ-9 ≥ 10 or GAD-7 ≥ 10.
    - vital5_recorded: how many of BP, BMI, smoking, alcohol and mental health
      (PHQ-9 or GAD-7) have a record (0-5); vital5_out_of_range: how many of
      bp_high, obese, smoker, alcohol_risk and mental_health_risk hold (0-5).
    Flags are false, never null, when nothing was recorded. Default look-back
    5 years; thresholds from measures.yaml.
    """
    rule = rule or shipped_thresholds().vital5
    since = _day(index_date, rule.lookback_days)
    events = clinical_event.filter(
        clinical_event.event_date <= _day(index_date),
        clinical_event.event_date > since,
        clinical_event.value.notnull(),
    )
    readings = _coded(
        events,
        {"vital5_systolic_bp": "systolic", "vital5_diastolic_bp": "diastolic", "vital5_bmi": "bmi"},
    )

    def reading(label: str, keep: Literal["min", "max"], name: str) -> ir.Table:
        chosen = readings.filter(readings.label == label)
        return _latest(chosen, "event_date", "value", keep=keep, name=name)

    def score(instrument: str, name: str) -> ir.Table:
        scores = _scores(assessment, instrument, index_date, rule.lookback_days)
        return _latest(scores, "assessment_date", "score", keep="max", name=name)

    out = _attach(
        population.select("person_id", "ethnicity"),
        reading("systolic", "min", "systolic_bp"),
        reading("diastolic", "min", "diastolic_bp"),
        reading("bmi", "max", "bmi"),
        _smoking_status(clinical_event, index_date, rule.lookback_days),
        score("audit_c", "audit_c"),
        score("phq9", "phq9"),
        score("gad7", "gad7"),
    )
    bmi_threshold = out.ethnicity.isin(rule.lower_bmi_ethnicities).ifelse(
        rule.bmi_obese_lower, rule.bmi_obese
    )
    flags = {
        "bp_high": (out.systolic_bp >= rule.systolic_high).fill_null(False)
        | (out.diastolic_bp >= rule.diastolic_high).fill_null(False),
        "obese": (out.bmi >= bmi_threshold).fill_null(False),
        "smoker": (out.smoking_status == "current").fill_null(False),
        "alcohol_risk": (out.audit_c >= rule.audit_c_risk).fill_null(False),
        "mental_health_risk": (out.phq9 >= rule.phq9_risk).fill_null(False)
        | (out.gad7 >= rule.gad7_risk).fill_null(False),
    }
    recorded = {
        "bp": out.systolic_bp.notnull() | out.diastolic_bp.notnull(),
        "bmi": out.bmi.notnull(),
        "smoking": out.smoking_status.notnull(),
        "alcohol": out.audit_c.notnull(),
        "mental_health": out.phq9.notnull() | out.gad7.notnull(),
    }
    return out.select(
        "person_id",
        "systolic_bp",
        "diastolic_bp",
        bp_recorded=recorded["bp"],
        bp_high=flags["bp_high"],
        bmi=out.bmi,
        bmi_recorded=recorded["bmi"],
        obese=flags["obese"],
        smoking_status=out.smoking_status,
        smoker=flags["smoker"],
        audit_c=out.audit_c,
        alcohol_risk=flags["alcohol_risk"],
        phq9=out.phq9,
        gad7=out.gad7,
        mental_health_risk=flags["mental_health_risk"],
        vital5_recorded=_count_true(recorded.values()),
        vital5_out_of_range=_count_true(flags.values()),
    )


def _count_true(flags: Iterable[ir.BooleanValue]) -> ir.IntegerValue:
    """How many of `flags` hold, as an int64 column."""
    total: ir.IntegerValue = ibis.literal(0, type="int64")
    for flag in flags:
        total = total + flag.cast("int64")
    return total


def housing_need(
    population: ir.Table,
    clinical_event: ir.Table,
    index_date: dt.date,
    rule: HousingRule | None = None,
) -> ir.Table:
    """`housing_need`: a code from the housing_need list within the look-back (default 2 years).

    The list holds homelessness and unsatisfactory-housing findings (SNOMED CT);
    the window is (index - rule.lookback_days, index].
    """
    rule = rule or shipped_thresholds().housing
    events = clinical_event.filter(
        clinical_event.event_date <= _day(index_date),
        clinical_event.event_date > _day(index_date, rule.lookback_days),
    )
    coded = _coded(events, {"housing_need": "housing_need"})
    needing = coded.select("person_id").distinct().mutate(housing_need=ibis.literal(True))
    out = _attach(population.select("person_id"), needing)
    return out.select("person_id", housing_need=out.housing_need.fill_null(False))
