"""Synthetic population generator: a realistic canonical extract for a place.

`generate` writes the eight canonical tables for a place (the embedded default
the platform demos and tests on) and, apart from them, the truth of each
person's emergency admission risk.
"""

from phm.synth.generator import SynthSummary, generate

__all__ = ["SynthSummary", "generate"]
