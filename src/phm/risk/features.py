"""The features of the emergency admission risk model, read from the person table.

Every feature is a number or a flag of the person table as of its index date,
so known on that date: prior use of services in the last 12 months and the 12
before, emergency bed days, long-term conditions and their counts, the
Cambridge Multimorbidity Score, Charlson, the Hospital Frailty Risk Score, the
eFI deficit count, age, sex, deprivation, activation and the case-finding
markers of seed 001, and service use over months 24–60 before the index date
(`phm.risk.history`, until the person table has it). These cover the
predictors of the published models: PARR (age, sex, prior admissions,
conditions, area deprivation; Billings et al., BMJ 2006;333:327), the Combined
Predictive Model (inpatient, outpatient, A&E and GP data; King's Fund 2006)
and QAdmissions (age, deprivation, conditions, prior admissions, lifestyle and
clinical values; Hippisley-Cox & Coupland, BMJ Open 2013;3:e003482).

Identifiers, geography codes and dates are never features (the years since
registration and the days since the last emergency discharge are derived from
dates). Ethnicity is not a feature: the model card judges the model by ethnic
group instead. The number of medicines, a QAdmissions predictor, is not in the
person table yet.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from phm.codelists.registry import shipped_registry
from phm.measures.activity import SERVICE_USE_COLUMNS
from phm.risk.history import HISTORY_COLUMNS

DAYS_PER_YEAR = 365.25

DEMOGRAPHY = ("age", "female", "imd_decile", "years_registered")

# Long-term conditions of the registry; the CMS variants (cms_*) are folded into cms_score.
CONDITIONS = tuple(c.name for c in shipped_registry().conditions if not c.name.startswith("cms_"))

MULTIMORBIDITY = (
    "ltc_count",
    "ltc_5plus",
    "physical_mental",
    "cms_score",
    "charlson",
    "hfrs",
    "efi_deficits",
)

SERVICE_USE = (
    *(f"{name}_12m" for name in SERVICE_USE_COLUMNS),
    *(f"{name}_prior_12m" for name in SERVICE_USE_COLUMNS),
    "days_at_home_12m",
    "escalating",
    "recent_contacts_90d",
    "baseline_contacts_per_90d",
    "recent_discharge",
    "days_since_emergency_discharge",
    "in_reablement",
    *HISTORY_COLUMNS,
)

WELLBEING = (
    "pam_score",
    "pam_level",
    "i_statement_score",
    "systolic_bp",
    "bmi",
    "smoker",
    "audit_c",
    "alcohol_risk",
    "phq9",
    "gad7",
    "mental_health_risk",
    "housing_need",
)

FEATURES: tuple[str, ...] = (*DEMOGRAPHY, *CONDITIONS, *MULTIMORBIDITY, *SERVICE_USE, *WELLBEING)

# Features computed here from person-table columns, and the columns each reads.
DERIVED: dict[str, tuple[str, ...]] = {
    "female": ("sex",),
    "years_registered": ("registration_start", "index_date"),
    "days_since_emergency_discharge": ("last_emergency_discharge", "index_date"),
}


def source_columns(features: tuple[str, ...] = FEATURES) -> tuple[str, ...]:
    """The person-table columns that `features` are read or derived from, in order."""
    columns: list[str] = []
    for name in features:
        for column in DERIVED.get(name, (name,)):
            if column not in columns:
                columns.append(column)
    return tuple(columns)


def _derived(table: ir.Table, name: str) -> ir.Value:
    if name == "female":
        return (table.sex == "F").fill_null(False)
    if name == "years_registered":
        days = table.index_date.cast("date").delta(
            table.registration_start.cast("date"), unit="day"
        )
        # Both sides float64, so that Spark does not divide in decimals.
        return days.cast("float64") / ibis.literal(DAYS_PER_YEAR, type="float64")
    if name == "days_since_emergency_discharge":
        return table.index_date.cast("date").delta(
            table.last_emergency_discharge.cast("date"), unit="day"
        )
    raise KeyError(name)


def feature_frame(person_table: ir.Table, features: tuple[str, ...] = FEATURES) -> pd.DataFrame:
    """One row per person (indexed by person_id, sorted), one float column per feature.

    Flags become 0/1 and a missing value (no PAM score, eFI under 65, no
    emergency discharge on record) stays NaN, which the gradient boosting model
    treats as its own branch.
    """
    missing = [c for c in source_columns(features) if c not in person_table.columns]
    if missing:
        raise KeyError(f"the person table lacks {', '.join(missing)}")
    columns = {
        name: (_derived(person_table, name) if name in DERIVED else person_table[name]).cast(
            "float64"
        )
        for name in features
    }
    expr = person_table.select("person_id", **columns).order_by("person_id")
    frame = expr.to_pyarrow().to_pandas()
    frame = frame.set_index("person_id")
    return frame.astype("float64")
