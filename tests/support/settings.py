"""Where the tests find things: the repository, the bundled scenes, the test Redis (one
environment variable per test server; PostgreSQL's are in support/databases.py)."""
from __future__ import annotations

import os
from pathlib import Path

from maskwatch.paths import demo_scenes

ROOT = Path(__file__).resolve().parents[2]
DEMO_SCENES = demo_scenes()  # through the product's own resolver
REDIS_URL = os.environ.get("MASKWATCH_TEST_REDIS", "redis://127.0.0.1:6379/0")
