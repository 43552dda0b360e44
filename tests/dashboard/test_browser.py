"""End to end: the dashboard under real gunicorn (PostgreSQL, Redis) driven by Debian's headless Chromium.

Logs in, finds a violation the site was seeded with, filters to it, opens it, marks it a false
positive, and looks at the stats and cameras pages (support/browser.py has the site).
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from support.browser import TARGET, artifacts
from support.dashboard import PASSWORD

from maskwatch.storage.tables import ReviewLabel, ReviewStatus, Violation


def _loaded(page, selector: str) -> bool:
    return page.eval_on_selector(selector, "img => img.complete && img.naturalWidth > 0")


def test_operator_reviews_a_violation_in_chromium(tab, browser_site):
    _walk(tab.page, tab.base, artifacts())
    sessions = browser_site.sessions()
    with sessions() as s:
        v = s.scalar(select(Violation).where(Violation.id == TARGET))
    s.get_bind().dispose()
    assert (v.review_status, v.review_note, v.reviewed_by) == (ReviewStatus.false_positive, "poster", "operator")
    assert v.review_label is ReviewLabel.not_a_face  # the operator said what it was: a label to retrain on


def _walk(page, base: str, shots: Path) -> None:
    page.goto(f"{base}/")
    assert "/login" in page.url
    page.screenshot(path=str(shots / "01-login.png"))
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("table.violations")
    assert page.locator("tbody tr[data-id]").count() == 5  # page_size
    page.screenshot(path=str(shots / "02-violations.png"), full_page=True)

    page.select_option("select[name=camera]", "cam-b")
    page.fill("input[name=min_conf]", "0.9")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**camera=cam-b**")
    rows = page.locator("tbody tr[data-id]")
    assert rows.count() == 1 and rows.first.get_attribute("data-id") == TARGET
    assert _loaded(page, f'tr[data-id="{TARGET}"] img')
    page.screenshot(path=str(shots / "03-filtered.png"), full_page=True)

    rows.first.locator("td a").nth(1).click()
    page.wait_for_url(f"**/violations/{TARGET}?**")
    page.wait_for_selector("img.crop")
    assert "Loading bay" in page.inner_text(".detail") and _loaded(page, "img.crop")
    # the clip: Chromium fetches it by ranges, decodes its H.264 and plays it to the end
    page.eval_on_selector("video.clip", "v => v.play()")
    page.wait_for_function("() => { const v = document.querySelector('video.clip'); return v.ended; }", timeout=15_000)
    played = page.eval_on_selector("video.clip", "v => [v.videoWidth, v.videoHeight, v.duration, v.error]")
    assert played[:2] == [320, 180] and 1.7 <= played[2] <= 2.1 and played[3] is None, played
    page.fill("textarea[name=note]", "poster")
    page.click("button[value='false_positive/not_a_face']")
    page.wait_for_selector(".flash.ok")
    assert "Marked false positive." in page.inner_text(".flash.ok")
    assert page.inner_text(".detail .badge") == "false positive"
    page.screenshot(path=str(shots / "04-reviewed.png"), full_page=True)
    page.click("text=Back to the list")
    page.wait_for_url("**camera=cam-b**")

    page.click("header nav >> text=Stats")
    page.wait_for_selector("svg.chart")
    assert page.locator("svg.chart").count() == 2 and "96.0 %" in page.content()
    page.screenshot(path=str(shots / "05-stats.png"), full_page=True)

    page.click("header nav >> text=Cameras")
    page.wait_for_selector("section.cam")
    page.wait_for_function("() => [...document.querySelectorAll('.tile[data-online=\"1\"]')]"
                           ".every(t => Number(t.dataset.frames || 0) > 0)")
    assert page.locator("section.cam .badge.online").count() == 3
    assert "secret" not in page.content()
    page.screenshot(path=str(shots / "06-cameras.png"), full_page=True)
