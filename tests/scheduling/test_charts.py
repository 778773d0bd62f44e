"""Inline SVG charts (scheduling.charts): pure, no database."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from scheduling import charts

SVG = "{http://www.w3.org/2000/svg}"


def chart(**overrides) -> ET.Element:
    kwargs = {
        "labels": ["12:00", "13:00", "14:00"],
        "series": {"APPOINTMENT_REMINDER": [1, 4, 0], "DATA_CLEANUP": [0, 2, 0]},
        "title": "Events due by hour",
    }
    kwargs.update(overrides)
    return ET.fromstring(charts.stacked_bars(**kwargs))


def bars(svg: ET.Element) -> list[tuple[str, str, float, float]]:
    """(fill, tooltip, y, height) of every bar segment."""
    return [
        (r.get("fill"), r.find(f"{SVG}title").text, float(r.get("y")), float(r.get("height")))
        for r in svg.iter(f"{SVG}rect")
        if r.find(f"{SVG}title") is not None
    ]


def test_segments_stack_in_series_order_with_a_tooltip_each() -> None:
    segments = bars(chart())
    assert [tooltip for _, tooltip, _, _ in segments] == [
        "12:00: APPOINTMENT_REMINDER 1",
        "13:00: APPOINTMENT_REMINDER 4",
        "13:00: DATA_CLEANUP 2",
    ]
    (_, _, y_first, h_first), (_, _, y_second, h_second) = segments[1:]
    # The second segment sits on top of the first, twice as short as it is.
    assert y_second + h_second == pytest.approx(y_first, abs=0.1)
    assert h_first == pytest.approx(2 * h_second, abs=0.1)


def test_the_legend_names_each_series_with_its_total_and_colour() -> None:
    svg = chart()
    legend = [
        (g.find(f"{SVG}rect").get("fill"), g.find(f"{SVG}text").text) for g in svg.iter(f"{SVG}g")
    ]
    assert legend == [
        ("#0072B2", "APPOINTMENT_REMINDER (5)"),
        ("#E69F00", "DATA_CLEANUP (2)"),
    ]


def test_a_type_keeps_its_colour_whatever_the_order() -> None:
    assert charts.colours_for(["b", "a"]) == {"a": "#0072B2", "b": "#E69F00"}
    many = charts.colours_for([f"t{i:02}" for i in range(10)])
    assert many["t09"] == charts.OTHER_COLOUR


def test_text_is_escaped() -> None:
    svg = charts.stacked_bars(labels=["<b>"], series={"A&B": [1]}, title="x < y")
    assert "<b>" not in svg
    assert "&lt;b&gt;" in svg
    assert "A&amp;B" in svg
    ET.fromstring(svg)  # well-formed


def test_an_empty_chart_still_draws_an_axis() -> None:
    svg = chart(series={})
    assert bars(svg) == []
    assert [t.text for t in svg.iter(f"{SVG}text")] == ["0", "1", "12:00"]


def test_axis_maxima_are_round() -> None:
    assert charts.nice_ceiling(0) == (1.0, 1.0)
    assert charts.nice_ceiling(7) == (8.0, 2.0)
    assert charts.nice_ceiling(1234) == (1500.0, 500.0)
