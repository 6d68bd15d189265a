"""One code list per file: `data/<name>.csv`, columns code_system, code, term.

The file opens with `#` lines that say what the list is for, its source and
its version, e.g.

    # title: Hypertension
    # source: NHS Digital Primary Care Domain reference set HYP_COD (QOF v48)
    # version: 2026-11-26
    code_system,code,term
    snomed,38341003,Hypertensive disorder
    icd10,I10,Essential (primary) hypertension

SNOMED CT, CTV3, Read and dm+d codes match exactly. ICD-10, OPCS-4 and BNF
codes match by prefix, as those classifications nest: `I10` matches `I10X`,
and the BNF chemical substance `0601022B0` matches every presentation code
that starts with it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import ibis.expr.types as ir

from phm.engine import rows_table

DATA_DIR = Path(__file__).parent / "data"
EXACT_SYSTEMS = frozenset({"snomed", "ctv3", "read2", "dmd"})
PREFIX_SYSTEMS = frozenset({"icd10", "opcs4", "bnf"})
SYSTEMS = EXACT_SYSTEMS | PREFIX_SYSTEMS
METADATA = ("title", "source", "version")


class CodelistError(ValueError):
    """A code list file that is missing or malformed."""


@dataclass(frozen=True)
class Codelist:
    name: str
    title: str
    source: str
    version: str
    codes: tuple[tuple[str, str, str], ...]  # (code_system, code, term)

    def systems(self) -> set[str]:
        return {system for system, _, _ in self.codes}

    def __contains__(self, item: tuple[str, str]) -> bool:
        system, code = item
        if system in PREFIX_SYSTEMS:
            return any(s == system and code.startswith(c) for s, c, _ in self.codes)
        return any(s == system and c == code for s, c, _ in self.codes)


def _parse(path: Path) -> Codelist:
    meta: dict[str, str] = {}
    lines: list[str] = []
    with path.open(newline="", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                key, _, value = line[1:].partition(":")
                meta[key.strip()] = value.strip()
            elif line.strip():
                lines.append(line)
    missing = [k for k in METADATA if not meta.get(k)]
    if missing:
        raise CodelistError(f"{path.name}: header lacks {', '.join(missing)}")
    reader = csv.DictReader(lines)
    if reader.fieldnames != ["code_system", "code", "term"]:
        raise CodelistError(f"{path.name}: columns must be code_system,code,term")
    codes = []
    for n, row in enumerate(reader, start=2):
        system, code = row["code_system"].strip(), row["code"].strip()
        if system not in SYSTEMS:
            raise CodelistError(f"{path.name}: row {n}: unknown code_system {system!r}")
        if not code:
            raise CodelistError(f"{path.name}: row {n}: empty code")
        codes.append((system, code, (row["term"] or "").strip()))
    if not codes:
        raise CodelistError(f"{path.name}: no codes")
    return Codelist(path.stem, meta["title"], meta["source"], meta["version"], tuple(codes))


@cache
def load_codelist(name: str) -> Codelist:
    """A shipped code list by name (the file's stem)."""
    path = DATA_DIR / f"{name}.csv"
    if not path.is_file():
        raise CodelistError(f"no code list {name!r} ({path} does not exist)")
    return _parse(path)


def codes_table(lists: Iterable[tuple[str, Codelist]]) -> ir.Table:
    """(label, code_system, code, length, prefix) rows for joining events to lists.

    `prefix` is true for classifications matched by prefix; `length` is the
    number of characters to compare, so a prefix match is an equality join on
    `substr(event.code, 0, length)`.
    """
    rows = [
        {
            "label": label,
            "code_system": system,
            "code": code,
            "length": len(code),
            "prefix": system in PREFIX_SYSTEMS,
        }
        for label, codelist in lists
        for system, code, _ in codelist.codes
    ]
    return rows_table(
        rows,
        {
            "label": "string",
            "code_system": "string",
            "code": "string",
            "length": "int64",
            "prefix": "boolean",
        },
    )
