"""Chromium on the Stats and Reports pages: the share of the range each camera was watched beside its
compliance, and a sent report's PDF and CSV downloaded again (tests/dashboard/conftest.py has the site)."""
from __future__ import annotations

import re

from support.browser import LONG_NAME, artifacts


def test_coverage_beside_compliance_and_the_reports_page(tab):
    page, shots = tab.page, artifacts()
    tab.login("viewer")
    page.click("header nav >> text=Stats")
    page.wait_for_selector("svg.chart")
    row = page.locator("tr", has_text="Loading bay").first
    watched, rate = row.locator("td.watched").inner_text(), row.locator("td").last.inner_text()
    assert re.fullmatch(r"\d+ %", watched) and rate == "90 %", (watched, rate)
    assert page.locator("tr", has_text="Gate").first.locator("td.watched").inner_text() == "–"  # no record: not 100 %

    page.click("header nav >> text=Reports")
    page.wait_for_selector("table.reports")
    sent = page.locator('tr[data-report="weekly"]')
    assert sent.count() == 1 and " to " in sent.locator("td").nth(1).inner_text()
    page.screenshot(path=str(shots / "22-reports.png"), full_page=True)
    with page.expect_download() as got:
        sent.locator("text=PDF").click()
    pdf = got.value
    assert pdf.suggested_filename.startswith("maskwatch-weekly-") and pdf.suggested_filename.endswith(".pdf")
    assert open(pdf.path(), "rb").read(5) == b"%PDF-"
    with page.expect_download() as got:
        sent.locator("text=CSV").click()
    head = open(got.value.path()).read().splitlines()
    assert head[0] == "camera,name,people judged,violations,compliance,not judged,watched"
    assert head[4] == f"cam-long,{LONG_NAME},30,3,90.0%,0,50%"  # last week's numbers
