"""The status pages in headless Chromium: SLOs listed worst first, the burn-down SVG, the data-source error.

With ENGINEWATCH_SCREENSHOTS=docs/images, also writes the README's screenshots.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from foundation.process import wait_until
from tests.test_slo_service import Setup, wait_for_burn

# A test run must not rewrite tracked files: screenshots go to the README only when asked for
# (ENGINEWATCH_SCREENSHOTS=docs/images), and to a temporary directory otherwise.
IMAGES = Path(os.environ.get("ENGINEWATCH_SCREENSHOTS") or tempfile.mkdtemp(prefix="slo-screenshots-"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    s = Setup(tmp_path_factory.mktemp("slo-service-page")).start()
    try:
        wait_for_burn(s)
        # A few recordings of the budget after the outage began, so the burn-down shows it.
        wait_until(lambda: _recorded_budget(s) < -1, 30, 1, "the recorded budget of analytics to fall")
        yield s
    finally:
        s.stop()


def _recorded_budget(s: Setup) -> float:
    body = s.http.get("/api/v1/slos/gateway-availability/history", params={"range": "1m"}).json()
    points = next(x["points"] for x in body["series"] if x["labels"]["engine"] == "analytics")
    return next((v for _, v in reversed(points) if v is not None), 1.0)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def test_status_page_lists_slos_worst_budget_first(setup: Setup, page: Page) -> None:
    response = page.goto(setup.service.url + "/")  # type: ignore[union-attr]
    assert response is not None and response.status == 200
    rows = page.locator("#slos tbody tr")
    expect(rows.first).to_have_attribute("data-slo", "gateway-availability")
    expect(rows.first).to_contain_text("engine=analytics")
    expect(rows.first).to_contain_text("exhausted")
    expect(rows.first.locator(".pill.page").first).to_be_visible()
    for name in ("gateway-interactive-latency", "query-core-availability", "control-plane-engine-start-latency"):
        expect(page.locator(f'#slos tr[data-slo="{name}"]').first).to_be_visible()
    # SLOs without series are at the bottom and say so; nothing reads 100% or NaN for them.
    last = rows.last
    expect(last).to_contain_text("no data")
    assert "NaN" not in page.content()
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "slo-status.png"), full_page=True)


def _recorded_span(s: Setup) -> int:
    """Seconds since the first budget recording: the range that the chart fills (a fresh Prometheus)."""
    body = s.http.get("/api/v1/slos/gateway-availability/history", params={"range": "2m", "step": "1s"}).json()
    first = min(t for x in body["series"] for t, v in x["points"] if v is not None)
    return int(body["end"] - first) + 2


def test_detail_page_has_the_burn_down_chart_and_tier_table(setup: Setup, page: Page) -> None:
    url = f"{setup.service.url}/slo/gateway-availability?range={_recorded_span(setup)}s"  # type: ignore[union-attr]
    response = page.goto(url)
    assert response is not None and response.status == 200
    expect(page.locator("h1")).to_have_text("gateway-availability")
    chart = page.locator("#burn-down svg.chart")
    expect(chart).to_be_visible()
    assert chart.locator("polyline.series").count() >= 2  # one line per engine
    expect(chart).to_contain_text("budget exhausted")
    page_fast = page.locator('#tiers tr[data-tier="page-fast"]')
    expect(page_fast.filter(has_text="engine=analytics")).to_contain_text("FIRING")
    expect(page_fast.filter(has_text="engine=sales")).to_contain_text("ok")
    page.screenshot(path=str(IMAGES / "slo-detail.png"), full_page=True)


def test_page_says_when_prometheus_is_down_and_recovers(setup: Setup, page: Page) -> None:
    down_url = setup.prom.url
    setup.prom.stop()
    response = page.goto(setup.service.url + "/")  # type: ignore[union-attr]
    assert response is not None and response.status == 503
    banner = page.get_by_role("alert")
    expect(banner).to_contain_text("Prometheus is not answering")
    expect(banner).to_contain_text(f"Prometheus at {down_url}: cannot connect")
    expect(page.locator("#slos")).to_contain_text("gateway-availability")  # the catalog stays
    response = page.goto(setup.service.url + "/slo/gateway-interactive-latency")  # type: ignore[union-attr]
    assert response is not None and response.status == 503
    expect(page.get_by_role("alert")).to_contain_text("Prometheus is not answering")

    setup.start_prometheus()
    wait_until(lambda: setup.http.get("/").status_code == 200, 30, 0.5, "the page to recover")
    page.goto(setup.service.url + "/")  # type: ignore[union-attr]
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator("#slos tbody tr").first).to_have_attribute("data-slo", "gateway-availability")
