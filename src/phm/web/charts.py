"""Vega-Lite specs for the pages' charts (data inline, suppressed counts left out)."""

from __future__ import annotations

from typing import Any

Spec = dict[str, Any]
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
NHS_BLUE = "#005eb8"


def _base(title: str, values: list[dict[str, Any]], width: int | str = "container") -> Spec:
    return {
        "$schema": SCHEMA,
        "title": title,
        "width": width,
        "data": {"values": values},
        "config": {"font": "Arial, sans-serif", "view": {"stroke": None}},
    }


def pyramid(values: list[dict[str, Any]], bands: list[str]) -> Spec:
    """Age-sex pyramid: females to the right, males to the left."""
    spec = _base("Registered population by age and sex", values)
    spec |= {
        "height": 360,
        "transform": [
            {"calculate": "datum.sex == 'M' ? -datum.persons : datum.persons", "as": "signed"}
        ],
        "mark": {"type": "bar"},
        "encoding": {
            "y": {
                "field": "band",
                "type": "ordinal",
                "sort": list(reversed(bands)),
                "title": "Age band",
            },
            "x": {
                "field": "signed",
                "type": "quantitative",
                "title": "Persons (male | female)",
                "axis": {"labelExpr": "abs(datum.value)"},
            },
            "color": {
                "field": "sex",
                "type": "nominal",
                "title": "Sex",
                "scale": {"domain": ["F", "M"], "range": [NHS_BLUE, "#ed8b00"]},
            },
            "tooltip": [{"field": "band"}, {"field": "sex"}, {"field": "persons"}],
        },
    }
    return spec


def bars(
    title: str,
    values: list[dict[str, Any]],
    category: str,
    measure: str,
    *,
    category_title: str,
    measure_title: str,
    sort: list[str] | None = None,
    horizontal: bool = True,
    reference: str | None = None,
) -> Spec:
    """A bar per category; optionally a tick at `reference` (e.g. the place average)."""
    cat: dict[str, Any] = {
        "field": category,
        "type": "nominal",
        "title": category_title,
        "sort": sort or "-x",
    }
    num: dict[str, Any] = {"field": measure, "type": "quantitative", "title": measure_title}
    encoding = {"y": cat, "x": num} if horizontal else {"x": cat | {"sort": sort}, "y": num}
    layer: list[Spec] = [
        {
            "mark": {"type": "bar", "color": NHS_BLUE},
            "encoding": encoding | {"tooltip": [{"field": category}, {"field": measure}]},
        }
    ]
    if reference:
        ref = {"field": reference, "type": "quantitative"}
        tick_encoding = {"y": cat, "x": ref} if horizontal else {"x": cat, "y": ref}
        layer.append(
            {
                "mark": {"type": "tick", "color": "#d5281b", "thickness": 3},
                "encoding": tick_encoding
                | {"tooltip": [{"field": category}, {"field": reference}]},
            }
        )
    spec = _base(title, values)
    spec["layer"] = layer
    if horizontal:
        spec["height"] = {"step": 16}
    return spec


def stacked_shares(
    title: str,
    values: list[dict[str, Any]],
    category: str,
    stack: str,
    order: list[str],
    *,
    category_title: str,
    stack_title: str,
) -> Spec:
    """100% stacked bars: the share of each `stack` value within each category."""
    spec = _base(title, values)
    spec |= {
        "height": 300,
        "mark": "bar",
        "encoding": {
            "x": {"field": category, "type": "ordinal", "title": category_title},
            "y": {
                "aggregate": "sum",
                "field": "persons",
                "stack": "normalize",
                "title": "Share of people",
                "axis": {"format": "%"},
            },
            "color": {
                "field": stack,
                "type": "ordinal",
                "title": stack_title,
                "sort": order,
                "scale": {"scheme": "blues"},
            },
            "order": {"field": "order", "type": "quantitative"},
            "tooltip": [{"field": category}, {"field": stack}, {"field": "persons"}],
        },
    }
    return spec


def heatmap(title: str, values: list[dict[str, Any]], order: list[str]) -> Spec:
    """A marker-by-marker grid of how many people have both."""
    spec = _base(title, values, width=420)
    spec |= {
        "height": 420,
        "mark": "rect",
        "encoding": {
            "x": {"field": "a", "type": "nominal", "sort": order, "title": None},
            "y": {"field": "b", "type": "nominal", "sort": order, "title": None},
            "color": {
                "field": "persons",
                "type": "quantitative",
                "title": "People",
                "scale": {"scheme": "blues"},
            },
            "tooltip": [{"field": "a"}, {"field": "b"}, {"field": "persons"}],
        },
    }
    return spec
