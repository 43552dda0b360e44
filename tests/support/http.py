"""A browser-like client for a running dashboard: cookies, the login form's CSRF token."""
from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request


class Browser:
    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def login(self, user: str, password: str) -> int:
        """The login form as a person fills it; the status of the answer (200 after the redirect home)."""
        page = self.opener.open(f"{self.base}/login", timeout=10).read().decode()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"csrf_token": token, "username": user, "password": password}).encode()
        try:
            return self.opener.open(f"{self.base}/login", data=form, timeout=10).status
        except urllib.error.HTTPError as e:
            return e.code

    def get_json(self, path: str):
        with self.opener.open(f"{self.base}{path}", timeout=10) as r:
            return json.loads(r.read())

    def get_text(self, path: str) -> str:
        with self.opener.open(f"{self.base}{path}", timeout=10) as r:
            return r.read().decode()
