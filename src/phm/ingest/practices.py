"""GP practice of each person, for sources that do not record one (Synthea, OMOP, some FHIR).

The rule, deterministic for a given place and installation key:

1. the practice the person's record names (a FHIR generalPractitioner with an
   ODS code, an OMOP care site or location whose source value is an ODS code)
   when it is one of the place's practices;
2. otherwise a practice drawn by a keyed hash of the person id: HMAC-SHA256
   of the id with the installation key, read as a number, picks a practice
   with probability proportional to its list size (place YAML). The same
   person always lands in the same practice; nobody without the key can
   predict or reverse the draw; the list sizes of the place are reproduced.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
from collections import Counter
from itertools import accumulate

from phm.config.place import Place


class PracticeRule:
    """Assigns persons to the place's practices and counts how each was assigned."""

    def __init__(self, place: Place, key: bytes) -> None:
        self.place = place
        self.key = key
        self.codes = [p.code for p in place.practices]
        self.known = set(self.codes)
        self.bounds = list(accumulate(p.list_size for p in place.practices))
        self.counts: Counter[str] = Counter()

    def by_hash(self, person_id: str) -> str:
        digest = hmac.new(self.key, b"practice:" + person_id.encode(), hashlib.sha256).digest()
        point = int.from_bytes(digest[:8], "big") % self.bounds[-1]
        return self.codes[bisect.bisect_right(self.bounds, point)]

    def assign(self, person_id: str, named: str | None) -> str:
        """The practice of one person; `named` is the practice code the record gives."""
        if named and named.strip().upper() in self.known:
            self.counts["named"] += 1
            return named.strip().upper()
        self.counts["hash"] += 1
        return self.by_hash(person_id)

    def note(self) -> str:
        """How this run assigned practices, for the ingest report."""
        practices = len(self.codes)
        return (
            f"practice: {self.counts['named']:,} persons at the practice their record names; "
            f"{self.counts['hash']:,} assigned by a keyed hash of the person id over the "
            f"{practices} practices of {self.place.name}, weighted by list size "
            "(the source records no practice of the place for them)"
        )
