"""What an operator watches all day, in headless Chromium against the real gunicorn dashboard
(support/browser.py has the site): the list that announces new violations, the camera wall and the
stats buckets. Screenshots go to the test artifacts."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from support.browser import LONG_NAME, artifacts
from support.dashboard import add_violations, make_violation

from maskwatch.storage.tables import Violation

NEW_IDS = (501, 502)


def _box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


@pytest.fixture
def new_rows(browser_site):
    """Violations the test adds while the page is open; removed afterwards."""
    sessions = browser_site.sessions()
    added: list[str] = []

    def add(n: int, camera: str = "cam-a") -> str:
        v = make_violation(n, camera, dt.datetime.now(dt.UTC).replace(microsecond=0), p=0.93,
                           store=browser_site.store)
        add_violations(sessions, [v])
        added.append(v.id)
        return v.id

    yield add
    with sessions() as s:
        s.execute(Violation.__table__.delete().where(Violation.id.in_(added)))
        s.commit()
    s.get_bind().dispose()


def test_the_list_announces_new_violations_without_moving_a_row(tab, new_rows):
    page = tab.page
    tab.login()
    assert page.locator("text=« Newest").count() == 0  # already the newest page
    page.check("[data-alert=sound]")
    page.check("[data-alert=notify]")
    first_id = page.locator("tbody tr[data-id]").first.get_attribute("data-id")
    before = _box(page, "tbody tr[data-id]")
    page.hover("tbody tr[data-id] >> nth=0")

    new_id = new_rows(NEW_IDS[0])
    page.wait_for_selector(".newbar:not([hidden])", timeout=20_000)
    assert page.inner_text(".newbar").strip() == "1 new violation · show"
    # the banner floats: the row under the mouse has not moved, and is still the same row
    assert _box(page, "tbody tr[data-id]") == before
    assert page.locator("tbody tr[data-id]").first.get_attribute("data-id") == first_id
    assert page.title().startswith("(1) ")
    assert page.evaluate("() => [document.body.dataset.sounded, document.body.dataset.notified]") == ["1", "1"]
    page.screenshot(path=str(artifacts() / "10-list-new.png"))

    new_rows(NEW_IDS[1], "cam-b")
    page.wait_for_function("() => document.querySelector('[data-new-count]').textContent === '2'", timeout=20_000)
    page.click(".newbar a")
    page.wait_for_selector("table.violations")
    assert page.locator("tbody tr[data-id]").first.get_attribute("data-id") != first_id
    assert new_id in [page.locator("tbody tr[data-id]").nth(i).get_attribute("data-id") for i in range(2)]
    assert page.locator(".newbar").is_hidden()
    page.click("a[rel=next]")
    page.wait_for_selector("text=« Newest")


def test_the_list_sorts_by_confidence_and_face_size(tab):
    page = tab.page
    tab.login()
    page.click("th.sortable >> text=p(violation)")
    page.wait_for_url("**sort=-p_no_mask**")
    values = [float(t) for t in page.locator("tbody tr[data-id] td.pv").all_inner_texts()]
    assert values == sorted(values, reverse=True) and values[0] >= 0.97
    assert page.get_attribute("th.sortable.on", "aria-sort") == "descending"
    page.click("th.sortable >> text=p(violation)")
    page.wait_for_url("**sort=p_no_mask**")
    values = [float(t) for t in page.locator("tbody tr[data-id] td.pv").all_inner_texts()]
    assert values == sorted(values)


def _labels_overlap(page, tile: str) -> bool:
    return page.evaluate("""(sel) => {
        const rs = [...document.querySelectorAll(sel + ' .face .label:not(.hidden)')]
            .map(l => l.getBoundingClientRect());
        return rs.some((a, i) => rs.some((b, j) => i < j && a.left < b.right && a.right > b.left
                                                   && a.top < b.bottom && a.bottom > b.top));
    }""", tile)


def test_the_camera_wall(tab, browser_site):
    page = tab.page
    browser_site.report_live()
    tab.login("viewer")
    page.click("header nav >> text=Wall")
    page.wait_for_selector(".wall.g3")  # 9 tiles by default, 4 cameras
    page.wait_for_function("() => [...document.querySelectorAll('.tile[data-online=\"1\"]')]"
                           ".every(t => Number(t.dataset.frames || 0) > 0)")
    page.screenshot(path=str(artifacts() / "11-wall.png"))
    assert page.locator(".tile").count() == 4

    gate = '.tile[data-cam="cam-a"]'
    assert page.locator(f"{gate} .face").count() == 3
    assert page.locator(f"{gate} .face.violation .label").inner_text() == "no mask 0.99"
    # labels are screen pixels: 12 px text however small the tile, and none covers another
    assert page.eval_on_selector(f"{gate} .face .label", "l => getComputedStyle(l).fontSize") == "12px"
    assert not _labels_overlap(page, gate)
    assert re.fullmatch(r"lag \d+\.\d s", page.inner_text(f"{gate} .lag"))

    offline = '.tile[data-cam="cam-c"]'
    assert "offline: cannot open rtsp://***@10.1.1.3/c: connection refused" in page.inner_text(offline)
    assert page.locator(f"{offline} .why").is_visible()
    page.wait_for_timeout(2500)  # a few refresh rounds: the offline camera is never asked for a frame
    assert not [u for u in tab.requests if "/cameras/cam-c/" in u]
    assert "secret" not in page.content()

    page.click(gate)
    page.wait_for_selector(f"{gate}.zoom")
    assert _box(page, f"{gate} .live")["width"] > 1000 and not _labels_overlap(page, gate)
    page.screenshot(path=str(artifacts() / "12-wall-zoom.png"))
    page.keyboard.press("Escape")
    page.wait_for_selector(f"{gate}:not(.zoom)")

    page.click(".wallbar >> text=16")
    page.wait_for_selector(".wall.g4")
    page.wait_for_function("() => Number(document.querySelector('.tile[data-cam=\"cam-b\"]').dataset.frames || 0) > 0")
    assert _box(page, ".tile .live")["width"] < 360 and not _labels_overlap(page, '.tile[data-cam="cam-b"]')
    assert page.eval_on_selector('.tile[data-cam="cam-b"] .face .label', "l => getComputedStyle(l).fontSize") == "12px"
    page.click(".wallbar >> text=1")
    page.wait_for_selector(".wall.g1")
    assert page.locator(".tile").count() == 1 and "page 1 of 4" in page.inner_text(".wallbar")


def _ticks_apart(page) -> bool:
    return page.evaluate("""() => {
        const rs = [...document.querySelectorAll('svg[data-bucket] .xtick')].map(t => t.getBoundingClientRect());
        return rs.every((r, i) => i === 0 || rs[i - 1].right + 4 <= r.left);
    }""")


@pytest.mark.parametrize(("days", "bucket"), [(1, "hour"), (7, "day"), (200, "week")])
def test_the_stats_buckets_fit_the_range(tab, days, bucket):
    page = tab.page
    tab.login("viewer")
    today = dt.datetime.now(dt.UTC).date()
    page.goto(f"{tab.base}/stats?from={today - dt.timedelta(days=days - 1)}&to={today}")
    chart = page.locator("svg[data-bucket]")
    assert chart.get_attribute("data-bucket") == bucket
    assert f"Violations per {bucket}" in page.inner_text("main")
    assert 2 <= page.locator("svg[data-bucket] .xtick").count() <= 12 and _ticks_apart(page)
    assert page.locator("ul.legend li").count() >= 3   # the rate legend and one entry per camera
    # the compliance chart: a target line, and the long camera name is not cut at the left edge
    assert page.locator("svg .target").count() == 1 and "target 95 %" in page.content()
    svg = _box(page, "svg[aria-label='compliance per camera']")
    label = page.locator("svg[aria-label='compliance per camera'] .hlabel", has_text="Loading bay north")
    assert label.bounding_box()["x"] >= svg["x"]
    assert label.locator("title").text_content() == LONG_NAME
    page.screenshot(path=str(artifacts() / f"13-stats-{bucket}.png"), full_page=True)


def test_the_cameras_page_shows_policy_zones_and_draws_a_new_one(tab, browser_site):
    page = tab.page
    browser_site.report_live()
    tab.login("viewer")
    page.goto(f"{tab.base}/cameras")
    card = 'section.cam[data-cam="cam-a"]'
    assert page.locator(f"{card} [data-zone-done]").is_hidden() and page.locator(f"{card} [data-zone-yaml]").is_hidden()
    assert page.locator(f"{card} svg.zones polygon.zone").count() == 1
    assert page.get_attribute(f"{card} svg.zones polygon", "points") == "0.1,0.5 0.6,0.5 0.6,1 0.1,1"
    page.click(f"{card} [data-draw-zone]")
    box = _box(page, f"{card} .live")
    for fx, fy in ((0.25, 0.25), (0.75, 0.25), (0.5, 0.75)):
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    page.click(f"{card} [data-zone-done]")
    yaml_text = page.inner_text(f"{card} [data-zone-yaml]")
    assert yaml_text.startswith("- name: zone-1\n  polygon: [[0.25, 0.25], [0.75, 0.25], [0.5, 0.75]]"), yaml_text
    page.screenshot(path=str(artifacts() / "14-zone.png"))
