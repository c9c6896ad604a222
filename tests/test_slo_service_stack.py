"""The status page of the SLO service that the stack runs, with the SLOs of the live platform."""

from __future__ import annotations

import threading

import httpx
import pytest
from playwright.sync_api import Browser, expect

from loadgen.load import LoadGenerator, LoadSpec

pytestmark = pytest.mark.timeout(180)


def test_status_page_shows_the_live_platform_slos(stack, browser: Browser) -> None:
    assert stack.slo_service_url, "the stack runs the SLO service"
    # In a thread: Playwright's sync API already runs an event loop in this one.
    gen = LoadGenerator(stack.gateway_url, LoadSpec(qps=15, duration_s=4, engines=tuple(stack.engines), seed=5,
                                                    max_queries=100))
    worker = threading.Thread(target=gen.run)
    worker.start()
    worker.join(60)
    api = httpx.get(f"{stack.slo_service_url}/api/v1/slos", timeout=30)
    assert api.status_code == 200, api.text
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    try:
        page = context.new_page()
        response = page.goto(stack.slo_service_url + "/")
        assert response is not None and response.status == 200
        for name in ("gateway-availability", "gateway-interactive-latency", "query-core-availability"):
            expect(page.locator(f'#slos tr[data-slo="{name}"]').first).to_be_visible()
        # The live platform's engines are the SLO groups, with real figures (not "no data").
        for engine in stack.engines:
            row = page.locator(f'#slos tr[data-slo="gateway-availability"]:has-text("engine={engine}")')
            expect(row.first).to_be_visible()
            expect(row.first).not_to_contain_text("no data")
        expect(page.get_by_text(stack.prometheus_url)).to_be_visible()
    finally:
        context.close()
