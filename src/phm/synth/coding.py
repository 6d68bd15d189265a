"""How conditions and events are coded: the profile's codes as index tables.

Built once per run from the profile and the vocabulary, so that choosing a
code for a million rows is an array lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from phm.synth.extract import Codebook, Vocabulary
from phm.synth.profile import Coded, Profile, WeightedIcd


@dataclass(frozen=True)
class WeightedCodes:
    """Codes with weights, to draw from."""

    codes: np.ndarray  # vocabulary indices
    weights: np.ndarray

    @classmethod
    def of_icd(cls, book: Codebook, items: Sequence[WeightedIcd]) -> WeightedCodes:
        return cls(book.indices(x.icd10 for x in items), np.array([x.weight for x in items]))

    @classmethod
    def of_snomed(cls, book: Codebook, items: Sequence[Coded]) -> WeightedCodes:
        return cls(book.indices(x.snomed for x in items), np.array([x.weight for x in items]))

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        cumulative = np.cumsum(self.weights) / self.weights.sum()
        pick = np.searchsorted(cumulative, rng.random(n), side="right")
        return self.codes[np.minimum(pick, len(self.codes) - 1)]

    def draw_distinct(self, rng: np.random.Generator, counts: np.ndarray) -> tuple[np.ndarray, ...]:
        """Up to counts[i] distinct codes for row i: (row, code) pairs."""
        most = int(min(counts.max(initial=0), len(self.codes)))
        if most == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32)
        keys = np.log(self.weights) + rng.gumbel(size=(len(counts), len(self.codes)))
        order = np.argsort(-keys, axis=1)[:, :most]
        take = np.arange(most)[None, :] < counts[:, None]
        rows, cols = np.nonzero(take)
        return rows, self.codes[order[rows, cols]]


class Coding:
    """Index tables for every code the generator writes."""

    def __init__(self, profile: Profile, vocab: Vocabulary) -> None:
        book = vocab.codes
        conditions = profile.conditions
        width = max(len(c.variants) for c in conditions)
        self.variant_snomed = np.zeros((len(conditions), width), dtype=np.int32)
        self.variant_icd = np.zeros((len(conditions), width), dtype=np.int32)
        for k, c in enumerate(conditions):
            for j in range(width):
                v = c.variants[min(j, len(c.variants) - 1)]
                self.variant_snomed[k, j] = book[v.snomed]
                self.variant_icd[k, j] = book[v.icd10]
        acute_width = max(1, *(len(c.acute_icd10) for c in conditions))
        self.acute = np.full((len(conditions), acute_width), -1, dtype=np.int32)
        self.acute_count = np.array([len(c.acute_icd10) for c in conditions])
        for k, c in enumerate(conditions):
            self.acute[k, : len(c.acute_icd10)] = book.indices(c.acute_icd10)
        self.resolved = np.array(
            [book[c.resolution.snomed] if c.resolution else -1 for c in conditions], dtype=np.int32
        )
        rc = profile.codes
        self.observation = {k: book[o.snomed] for k, o in rc.observations.items()}
        self.unit = {k: vocab.units[o.unit] for k, o in rc.observations.items() if o.unit}
        self.smoking = book.indices(rc.smoking_status[s].snomed for s in ("never", "ex", "current"))
        self.housing = {k: book[o.snomed] for k, o in rc.housing.items()}
        self.frailty_findings = WeightedCodes.of_snomed(book, rc.frailty_findings)
        self.pregnancy = book[rc.pregnancy.snomed]
        self.minor_illness = WeightedCodes.of_snomed(book, rc.minor_illness)
        h = rc.hospital
        self.emergency_general = WeightedCodes.of_icd(book, h.emergency_general)
        self.emergency_old = WeightedCodes.of_icd(book, h.emergency_old)
        self.frailty_secondary = WeightedCodes.of_icd(book, h.frailty_secondary)
        self.elective = WeightedCodes.of_icd(book, h.elective)
        self.ae_minor = WeightedCodes.of_icd(book, h.ae_minor)
        self.op_follow_up = book[h.op_follow_up]
        self.maternity = {k: book[v] for k, v in h.maternity.items()}

    def condition_icd(self, condition: np.ndarray, variant: np.ndarray) -> np.ndarray:
        return self.variant_icd[condition, variant]

    def condition_snomed(self, condition: np.ndarray, variant: np.ndarray) -> np.ndarray:
        return self.variant_snomed[condition, variant]

    def acute_icd(
        self, rng: np.random.Generator, condition: np.ndarray, variant: np.ndarray
    ) -> np.ndarray:
        """The code of an admission caused by a condition: an acute code, else its own code."""
        count = self.acute_count[condition]
        pick = np.floor(rng.random(len(condition)) * np.maximum(count, 1)).astype(np.int64)
        acute = self.acute[condition, pick]
        return np.where(count > 0, acute, self.condition_icd(condition, variant))
