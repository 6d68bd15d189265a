"""Bridges to Health segmentation and the Southwark phase-1 priority groupings."""

from phm.segments.rules import RuleError
from phm.segments.segmentation import (
    SEGMENTS_PATH,
    Segmentation,
    SegmentError,
    assign_segments,
    load_segments,
    segment_columns,
    segment_summary,
)

__all__ = [
    "SEGMENTS_PATH",
    "RuleError",
    "SegmentError",
    "Segmentation",
    "assign_segments",
    "load_segments",
    "segment_columns",
    "segment_summary",
]
