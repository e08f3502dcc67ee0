from audit.reports.svg import render_chart_svg
from audit.types import Chart, Series


def test_bar_categories_are_named_and_escaped() -> None:
    chart = Chart("c", "rates", "bar", series=(Series("g", (0.0, 1.0), (0.4, 0.6)),),
                  x_tick_labels=("true positive rate", "<script>x</script>"))
    svg = render_chart_svg(chart)
    assert "true positive rate" in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg
