"""Person-level measures as of an index date: the person table."""

from phm.measures.population import registered_population

__all__ = ["registered_population"]
