"""Configuration: the place (geography) and the settings of an installation."""

from phm.config.place import Place, PlaceError, load_place
from phm.config.settings import Settings

__all__ = ["Place", "PlaceError", "Settings", "load_place"]
