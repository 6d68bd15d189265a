"""Identifiers leave ingest only as keyed hashes.

HMAC-SHA256 with the installation's key (Settings.key): the same NHS number
gives the same pseudonym within an installation, so records link, but nobody
without the key can recompute or reverse it (a plain hash of a 10-digit number
could be reversed by trying every number).
"""

from __future__ import annotations

import hashlib
import hmac
import re

import nhs_number

_NON_DIGITS = re.compile(r"[\s-]")


def normalise_nhs_number(value: str) -> str:
    """Strip the spaces and dashes people write NHS numbers with ("943 476 5919")."""
    return _NON_DIGITS.sub("", value)


def is_valid_nhs_number(value: str) -> bool:
    """Ten digits with a correct modulus 11 check digit (NHS Data Dictionary)."""
    digits = normalise_nhs_number(value)
    return len(digits) == 10 and digits.isdigit() and bool(nhs_number.is_valid(digits))


def keyed_hash(value: str, key: bytes) -> str:
    """The pseudonym of an identifier: hex HMAC-SHA256 of its normalised form."""
    return hmac.new(key, normalise_nhs_number(value).encode(), hashlib.sha256).hexdigest()
