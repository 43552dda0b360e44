"""The `reports` section: compliance reports e-mailed on a schedule, and the SMTP server they go
through. Part of maskwatch.config's strict schema."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from maskwatch.strict import Strict, unique_names

EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


class SmtpConfig(Strict):
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = Field("starttls", description="none only on a trusted network")
    username: str | None = None
    password: str | None = Field(None, description="use ${ENV}")
    sender: str = Field(description="the From address")
    timeout_s: float = Field(20.0, gt=0, le=120)

    @field_validator("sender")
    @classmethod
    def _address(cls, v: str) -> str:
        if not EMAIL.match(v):
            raise ValueError(f"not an e-mail address: {v!r}")
        return v


class ReportConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    every: Literal["day", "week"] = Field("week", description="a day, or a week from Monday (the site's time zone)")
    at: str = Field("07:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="sent at this time the day after the "
                                                                             "period ends (site time)")
    to: list[str] = Field(default_factory=list, max_length=50,
                          description="e-mail addresses (through reports.smtp); the alert sinks with \"report\" in "
                                      "their kinds get it too")
    cameras: list[str] = Field(default_factory=list, description="only these cameras (empty: every camera)")
    attach: list[Literal["csv", "pdf"]] = Field(default_factory=lambda: ["csv", "pdf"], min_length=1)

    @field_validator("to")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if not EMAIL.match(a)]
        if bad:
            raise ValueError(f"not e-mail addresses: {bad}")
        return v


class ReportsConfig(Strict):
    smtp: SmtpConfig | None = None
    schedule: list[ReportConfig] = Field(default_factory=list)

    @field_validator("schedule")
    @classmethod
    def _unique(cls, v: list) -> list:
        return unique_names(v, "report")
