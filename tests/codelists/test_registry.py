"""The shipped definitions registry: it loads, its scores carry the published
weights, its code lists find every code the synthetic population generator
emits, and broken definitions are refused with a message that names the fault."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import phm
from phm.codelists.codelist import DATA_DIR, METADATA, Codelist, _parse, load_codelist
from phm.codelists.registry import REGISTRY_DIR, Registry, RegistryError, load_registry

SRC_DIR = Path(phm.__file__).parent
SYNTH_CONDITIONS = SRC_DIR / "synth" / "profiles" / "conditions.yaml"
VERSION = "2026-11-26"

# Synthetic condition -> registry conditions that must recognise it. The first
# entry is the condition whose code list holds the generator's codes; cms_*
# entries with a medication rule are checked against the generator's drugs too.
SYNTH_TO_REGISTRY: dict[str, tuple[str, ...]] = {
    "stroke": ("stroke_tia",),
    "tia": ("stroke_tia",),
    "diabetes_type1": ("diabetes", "cms_diabetes"),
    "diabetes_type2": ("diabetes", "cms_diabetes"),
    "asthma": ("asthma", "cms_asthma"),
    "atrial_fibrillation": ("atrial_fibrillation", "cms_atrial_fibrillation"),
    "cancer": ("cancer", "cms_cancer"),
    "ckd": ("ckd", "cms_ckd"),
    "constipation": ("constipation", "cms_constipation"),
    "depression": ("depression", "cms_anxiety_depression"),
    "anxiety": ("anxiety", "cms_anxiety_depression"),
    "epilepsy": ("epilepsy", "cms_epilepsy"),
    "hypertension": ("hypertension", "cms_hypertension"),
    "painful_condition": ("painful_condition", "cms_painful_condition"),
    "smi": ("smi", "cms_psychosis"),
}

# Emergency-admission codes the generator gives a condition that are not the
# condition itself, so they rightly stay out of its code list.
ACUTE_NOT_THE_CONDITION = {
    ("diabetes_type1", "E162"): "hypoglycaemia, unspecified",
    ("diabetes_type2", "E162"): "hypoglycaemia, unspecified",
    ("ckd", "N179"): "acute kidney failure",
    ("epilepsy", "R568"): "convulsions, not elsewhere classified",
    ("dementia", "F059"): "delirium, unspecified",
}

# Generator drugs that the condition's medication rule rightly does not count.
DRUGS_OUTSIDE_THE_RULE = {
    ("anxiety", "0403030Q0"): "sertraline: Cassell's anxiety rule counts anxiolytics (BNF 4.1)",
    ("anxiety", "0403030D0"): "citalopram: Cassell's anxiety rule counts anxiolytics (BNF 4.1)",
    ("smi", "0402010AD"): "aripiprazole: QOF MH2 and the CMS count lithium only",
    ("cms_psychosis", "0402010AD"): "aripiprazole: QOF MH2 and the CMS count lithium only",
    ("ibs", "0403010B0"): "amitriptyline is not an antispasmodic (BNF 1.2)",
    ("painful_condition", "0403010B0"): "amitriptyline (BNF 4.3) is not a BNF 4.7 analgesic",
    ("cms_painful_condition", "0403010B0"): "amitriptyline (BNF 4.3) is not a BNF 4.7 analgesic",
    ("painful_condition", "1001010P0"): "naproxen (an NSAID, BNF 10.1.1) is not in BNF 4.7",
    ("cms_painful_condition", "1001010P0"): "naproxen (an NSAID, BNF 10.1.1) is not in BNF 4.7",
}

# Synthetic conditions whose codes are also an eFI deficit.
SYNTH_TO_EFI = {
    "atrial_fibrillation": "efi_atrial_fibrillation",
    "heart_failure": "efi_heart_failure",
    "ckd": "efi_ckd",
    "diabetes_type1": "efi_diabetes",
    "diabetes_type2": "efi_diabetes",
    "hypertension": "efi_hypertension",
    "stroke": "efi_cerebrovascular_disease",
    "tia": "efi_cerebrovascular_disease",
    "chd": "efi_ischaemic_heart_disease",
    "osteoporosis": "efi_osteoporosis",
    "parkinsons": "efi_parkinsonism_tremor",
    "pad": "efi_peripheral_vascular_disease",
    "copd": "efi_respiratory_disease",
    "asthma": "efi_respiratory_disease",
    "bronchiectasis": "efi_respiratory_disease",
    "hearing_loss": "efi_hearing_impairment",
    "visual_impairment": "efi_visual_impairment",
    "thyroid_disorders": "efi_thyroid_disease",
    "peptic_ulcer": "efi_peptic_ulcer",
    "dementia": "efi_memory_cognitive_problems",
}

# The generator's frailty findings and the deficit each one records.
FRAILTY_FINDING_TO_EFI = {
    "161898004": "efi_falls",
    "160689007": "efi_housebound",
    "719232003": "efi_mobility_transfer_problems",
    "165232002": "efi_urinary_incontinence",
    "386807006": "efi_memory_cognitive_problems",
    # 248279007 "Frailty" is a judgement of the whole, not one of the 36 deficits.
}

# Code lists shipped for a purpose other than a registry rule.
DOCUMENTED_PURPOSES = {
    "antidepressants": "antidepressant prescribing (BNF 4.3) for measures; the CMS rule uses "
    "antidepressants_anxiolytics",
    "antipsychotics": "antipsychotic prescribing (BNF 4.2.1, 4.2.2) for SMI and dementia "
    "medication-review measures; not part of any register rule",
    "antidementia": "drugs for dementia (BNF 4.11) for dementia-care measures; QOF DEM_REG is "
    "diagnosis-only",
}

# Barnett et al. Lancet 2012: the mental health conditions of the 40.
MENTAL = {
    "depression",
    "anxiety",
    "smi",
    "dementia",
    "alcohol_problems",
    "substance_misuse",
    "anorexia_bulimia",
    "learning_disability",
    "cms_anxiety_depression",
    "cms_psychosis",
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="module")
def synth() -> dict[str, Any]:
    return yaml.safe_load(SYNTH_CONDITIONS.read_text())


def _list(registry: Registry, name: str) -> Codelist:
    return registry.codelists()[name]


# --- the shipped registry --------------------------------------------------------


def test_shipped_registry_loads(registry: Registry) -> None:
    assert registry.version == "2026.11.0"
    assert re.fullmatch(r"[0-9a-f]{12}", registry.digest)
    names = [c.name for c in registry.conditions]
    assert len(names) == len(set(names))
    for c in registry.conditions:
        assert c.source.strip(), c.name


def test_groups_follow_barnett(registry: Registry) -> None:
    for c in registry.conditions:
        assert c.group == ("mental" if c.name in MENTAL else "physical"), c.name


def test_qof_register_rules(registry: Registry) -> None:
    asthma = registry.condition("asthma")
    assert (asthma.resolved, asthma.min_age) == ("asthma_resolved", 6)
    assert asthma.medication is not None
    assert (asthma.medication.codelist, asthma.medication.within_days) == ("asthma_drugs", 365)
    assert asthma.medication.combine == "and"
    diabetes = registry.condition("diabetes")
    assert (diabetes.resolved, diabetes.min_age) == ("diabetes_resolved", 17)
    depression = registry.condition("depression")
    assert (depression.resolved, depression.min_age, depression.lookback_days) == (
        "depression_resolved",
        18,
        None,
    )
    assert registry.condition("ckd").min_age == 18
    epilepsy = registry.condition("epilepsy")
    assert epilepsy.min_age == 18 and epilepsy.resolved == "epilepsy_resolved"
    assert epilepsy.medication is not None and epilepsy.medication.within_days == 183
    assert registry.condition("rheumatoid_arthritis").min_age == 16
    assert registry.condition("osteoporosis").min_age == 50
    smi = registry.condition("smi")
    assert smi.medication is not None
    assert (smi.medication.codelist, smi.medication.combine) == ("lithium", "or")
    assert registry.condition("palliative_care").counts_as_ltc is False
    assert registry.condition("cms_cancer").first_within_days == 1826


def test_cms_entries_do_not_count_twice(registry: Registry) -> None:
    for c in registry.conditions:
        if c.name.startswith("cms_"):
            assert c.counts_as_ltc is False, c.name


def test_resolved_lists_hold_the_qof_resolved_codes(registry: Registry) -> None:
    expected = {
        "asthma_resolved": "162660004",
        "depression_resolved": "196381000000100",
        "diabetes_resolved": "315051004",
        "hypertension_resolved": "162659009",
        "epilepsy_resolved": "162658001",
        "af_resolved": "196371000000102",
    }
    for name, code in expected.items():
        assert ("snomed", code) in load_codelist(name), name


# --- scores -----------------------------------------------------------------------


def test_hfrs_has_109_codes_with_maximum_173_2(registry: Registry) -> None:
    hfrs = registry.scores.hfrs
    assert len(hfrs) == 109
    assert all(re.fullmatch(r"[A-Z][0-9]{2}", code) for code in hfrs)
    assert sum(hfrs.values()) == pytest.approx(173.2, abs=0.05)
    assert hfrs["F00"] == 7.1 and hfrs["R50"] == 0.1
    assert registry.scores.hfrs_lookback_days == 730


def test_cms_has_20_weights_summing_to_16_33(registry: Registry) -> None:
    cms = registry.scores.cms
    assert len(cms) == 20
    assert len({w.condition for w in cms}) == 20
    assert sum(w.weight for w in cms) == pytest.approx(16.33, abs=0.01)
    weights = {w.condition: w.weight for w in cms}
    assert weights["dementia"] == 2.50 and weights["cms_hypertension"] == 0.08


def test_charlson_quan_2011_weights(registry: Registry) -> None:
    weights = {w.codelist: w.weight for w in registry.scores.charlson}
    assert weights == {
        "charlson_mi": 0,
        "charlson_chf": 2,
        "charlson_pvd": 0,
        "charlson_cevd": 0,
        "charlson_dementia": 2,
        "charlson_cpd": 1,
        "charlson_rheumatic": 1,
        "charlson_pud": 0,
        "charlson_mild_liver": 2,
        "charlson_diabetes_uncomplicated": 0,
        "charlson_diabetes_complicated": 1,
        "charlson_paraplegia": 2,
        "charlson_renal": 1,
        "charlson_cancer": 2,
        "charlson_severe_liver": 4,
        "charlson_metastatic": 6,
        "charlson_hiv": 4,
    }
    assert weights["charlson_hiv"] == 4
    assert registry.scores.charlson_lookback_days == 1826


def test_charlson_lists_are_icd10_only(registry: Registry) -> None:
    for w in registry.scores.charlson:
        assert _list(registry, w.codelist).systems() == {"icd10"}, w.codelist
    mi = load_codelist("charlson_mi")
    assert ("icd10", "I252") in mi and ("icd10", "I251") not in mi


def test_efi_has_35_coded_deficits_and_polypharmacy(registry: Registry) -> None:
    deficits = registry.scores.efi_deficits
    assert len(deficits) == len(set(deficits)) == 35
    assert all(name.startswith("efi_") for name in deficits)
    for name in deficits:
        assert _list(registry, name).systems() == {"snomed"}, name
    assert registry.scores.efi_polypharmacy_min_drugs == 5
    assert registry.scores.efi_polypharmacy_within_days == 365


# --- code lists against the synthetic population generator ------------------------


def _synth_conditions() -> list[dict[str, Any]]:
    return yaml.safe_load(SYNTH_CONDITIONS.read_text())["conditions"]


@pytest.mark.parametrize("synth_condition", _synth_conditions(), ids=lambda c: c["name"])
def test_synth_codes_are_in_their_condition_lists(
    registry: Registry, synth_condition: dict[str, Any]
) -> None:
    name = synth_condition["name"]
    for target in SYNTH_TO_REGISTRY.get(name, (name,)):
        condition = registry.condition(target)
        if condition.codelist is None:
            continue
        codes = load_codelist(condition.codelist)
        for variant in synth_condition["variants"]:
            assert ("snomed", str(variant["snomed"])) in codes, (target, variant)
            assert ("icd10", str(variant["icd10"])) in codes, (target, variant)
        for code in synth_condition.get("acute_icd10") or ():
            if (name, code) not in ACUTE_NOT_THE_CONDITION:
                assert ("icd10", code) in codes, (target, code)
    resolved = synth_condition.get("resolved")
    if resolved:
        condition = registry.condition(SYNTH_TO_REGISTRY.get(name, (name,))[0])
        assert condition.resolved is not None, name
        assert ("snomed", str(resolved["snomed"])) in load_codelist(condition.resolved)


@pytest.mark.parametrize("synth_condition", _synth_conditions(), ids=lambda c: c["name"])
def test_synth_drugs_are_in_their_medication_rules(
    registry: Registry, synth_condition: dict[str, Any]
) -> None:
    name = synth_condition["name"]
    for target in SYNTH_TO_REGISTRY.get(name, (name,)):
        medication = registry.condition(target).medication
        if medication is None:
            continue
        drugs = load_codelist(medication.codelist)
        for drug in synth_condition.get("drugs") or ():
            if (target, drug["bnf"]) in DRUGS_OUTSIDE_THE_RULE:
                assert ("bnf", drug["bnf"]) not in drugs, (target, drug)
            else:
                assert ("bnf", drug["bnf"]) in drugs, (target, drug)


def test_synth_conditions_are_all_mapped(registry: Registry, synth: dict[str, Any]) -> None:
    known = {c.name for c in registry.conditions}
    for c in synth["conditions"]:
        for target in SYNTH_TO_REGISTRY.get(c["name"], (c["name"],)):
            assert target in known, (c["name"], target)


def test_synth_codes_reach_the_efi_deficits(synth: dict[str, Any]) -> None:
    by_name = {c["name"]: c for c in synth["conditions"]}
    for name, deficit in SYNTH_TO_EFI.items():
        codes = load_codelist(deficit)
        for variant in by_name[name]["variants"]:
            assert ("snomed", str(variant["snomed"])) in codes, (name, deficit, variant)
    findings = {str(f["snomed"]) for f in synth["frailty_findings"]}
    for code, deficit in FRAILTY_FINDING_TO_EFI.items():
        assert code in findings, code
        assert ("snomed", code) in load_codelist(deficit), (code, deficit)
    housing = str(synth["housing"]["unsatisfactory"]["snomed"])
    assert ("snomed", housing) in load_codelist("efi_social_vulnerability")


def test_anxiety_depression_is_the_union_of_its_parts() -> None:
    union = {(s, c) for s, c, _ in load_codelist("anxiety_depression").codes}
    for part in ("anxiety", "depression"):
        assert {(s, c) for s, c, _ in load_codelist(part).codes} <= union, part


# --- every file in data/ ----------------------------------------------------------

_CODE_FORMS = {
    "snomed": r"[1-9][0-9]{5,17}",
    "icd10": r"[A-Z][0-9]{2}[0-9X]?",
    "bnf": r"[0-9]{4}([0-9]{2}([0-9A-Z]{3}([0-9A-Z]{2})*)?)?",
}


def _referenced_in_source(name: str) -> bool:
    pattern = re.compile(rf"[\"']{re.escape(name)}[\"']")
    return any(pattern.search(p.read_text()) for p in SRC_DIR.rglob("*.py"))


@pytest.mark.parametrize("path", sorted(DATA_DIR.glob("*.csv")), ids=lambda p: p.stem)
def test_every_code_list_parses_and_has_a_purpose(registry: Registry, path: Path) -> None:
    codelist = _parse(path)
    assert all(getattr(codelist, key) for key in METADATA)
    codes = [(s, c) for s, c, _ in codelist.codes]
    assert len(codes) == len(set(codes)), "duplicate codes"
    for system, code in codes:
        if system in _CODE_FORMS:
            assert re.fullmatch(_CODE_FORMS[system], code), (system, code)
    name = path.stem
    assert (
        name in registry.codelists() or name in DOCUMENTED_PURPOSES or _referenced_in_source(name)
    ), f"{name}.csv is used by neither the registry nor any code, and has no documented purpose"


def test_registry_lists_carry_this_release_version(registry: Registry) -> None:
    for name, codelist in registry.codelists().items():
        assert codelist.version == VERSION, name
    for name in DOCUMENTED_PURPOSES:
        assert load_codelist(name).version == VERSION, name


# --- bad definitions are refused -------------------------------------------------


@pytest.fixture
def definitions(tmp_path: Path) -> Path:
    for name in ("conditions.yaml", "scores.yaml"):
        shutil.copy(REGISTRY_DIR / name, tmp_path / name)
    return tmp_path


def _edit(folder: Path, name: str, change: Any) -> None:
    path = folder / name
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _refused(folder: Path) -> str:
    with pytest.raises(RegistryError) as caught:
        load_registry(folder)
    return str(caught.value)


def test_the_copied_definitions_load(definitions: Path) -> None:
    assert load_registry(definitions).version == "2026.11.0"


def test_unknown_code_list_is_refused(definitions: Path) -> None:
    _edit(
        definitions, "conditions.yaml", lambda d: d["conditions"][0].update(codelist="no_such_list")
    )
    message = _refused(definitions)
    assert "no code list 'no_such_list'" in message


def test_unknown_resolved_or_medication_list_is_refused(definitions: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["conditions"][0]["resolved"] = "no_such_resolved"
        d["conditions"][0]["medication"] = {"codelist": "no_such_drugs", "within_days": 365}

    _edit(definitions, "conditions.yaml", change)
    message = _refused(definitions)
    assert "no_such_resolved" in message and "no_such_drugs" in message


def test_unknown_charlson_or_efi_list_is_refused(definitions: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["charlson"][0]["codelist"] = "charlson_nothing"
        d["efi_deficits"].append("efi_nothing")

    _edit(definitions, "scores.yaml", change)
    message = _refused(definitions)
    assert "charlson_nothing" in message and "efi_nothing" in message


def test_unknown_condition_in_cms_is_refused(definitions: Path) -> None:
    _edit(definitions, "scores.yaml", lambda d: d["cms"][0].update(condition="gout"))
    assert "cms names unknown condition 'gout'" in _refused(definitions)


def test_duplicate_condition_is_refused(definitions: Path) -> None:
    _edit(definitions, "conditions.yaml", lambda d: d["conditions"].append(d["conditions"][0]))
    assert "condition hypertension is declared twice" in _refused(definitions)


def test_unknown_field_is_refused(definitions: Path) -> None:
    _edit(definitions, "conditions.yaml", lambda d: d["conditions"][0].update(lookback=365))
    message = _refused(definitions)
    assert "conditions.0.lookback" in message
    assert "extra inputs are not permitted" in message.lower()


def test_unknown_score_field_is_refused(definitions: Path) -> None:
    _edit(definitions, "scores.yaml", lambda d: d.update(hfrs_lookback=730))
    message = _refused(definitions)
    assert "scores.hfrs_lookback" in message


def test_lookback_and_first_within_together_are_refused(definitions: Path) -> None:
    _edit(
        definitions,
        "conditions.yaml",
        lambda d: d["conditions"][0].update(lookback_days=365, first_within_days=1826),
    )
    message = _refused(definitions)
    assert "hypertension: give lookback_days or first_within_days, not both" in message


def test_condition_without_evidence_is_refused(definitions: Path) -> None:
    _edit(definitions, "conditions.yaml", lambda d: d["conditions"][0].update(codelist=None))
    assert "hypertension: needs a codelist" in _refused(definitions)


def test_unreadable_yaml_is_refused(definitions: Path) -> None:
    (definitions / "scores.yaml").write_text("cms: [unclosed\n")
    assert f"definitions in {definitions}" in _refused(definitions)
