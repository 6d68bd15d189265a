"""phm: population health management for a place-based integrated health and care system."""

__version__ = "0.1.0"
