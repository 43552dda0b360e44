"""The README is a front door and the rest is a documentation site that builds strictly: broken
links and anchors fail; the README's layout table and the site's navigation match the tree."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import yaml
from support.settings import ROOT

README = (ROOT / "README.md").read_text()
# the layout table's rows: | `folder/` | what |
LAYOUT_ROW = re.compile(r"^\| `([\w./-]+)` \|", re.M)


def _nav_pages(nav) -> set[str]:
    pages: set[str] = set()
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages |= _nav_pages(value) if isinstance(value, list) else {value}
    return pages


def _tracked_dirs() -> set[str]:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {f.split("/")[0] + "/" for f in files.split() if "/" in f and not f.startswith(".")}


def test_the_readme_is_a_front_door():
    assert len(README.splitlines()) <= 220
    for heading in ("## Set up on a fresh machine", "### Your first hour, step by step", "## Layout"):
        assert heading in README
    commands = re.findall(r"^make (\w+)", README, re.M)
    assert commands[:2] == ["demo", "test"]


def test_the_layout_table_matches_the_tree():
    listed = set(LAYOUT_ROW.findall(README.split("## Layout", 1)[1]))
    missing = {d for d in _tracked_dirs() if d not in listed}
    assert not missing, f"top-level folders the README's layout table does not name: {sorted(missing)}"
    gone = sorted(p for p in listed if not (ROOT / p).exists())
    assert not gone, f"the layout table names what is not in the tree: {gone}"


def test_every_page_is_in_the_navigation():
    site = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = _nav_pages(site["nav"])
    snippets = {line.strip() for line in site.get("exclude_docs", "").splitlines() if line.strip().endswith(".md")}
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")} - snippets
    assert pages == nav, f"pages outside the navigation: {sorted(pages - nav)}; missing: {sorted(nav - pages)}"


def test_the_site_builds_strictly(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stderr[-4000:]
    assert (tmp_path / "site" / "architecture" / "index.html").is_file()
