"""Code lists: versioned CSV files of clinical codes, each with its source."""

from phm.codelists.codelist import Codelist, CodelistError, codes_table, load_codelist

__all__ = ["Codelist", "CodelistError", "codes_table", "load_codelist"]
