"""The base of every config section: unknown keys are errors, defaults are validated, values frozen.

A module of its own so that the sections kept outside maskwatch.config (alerts, policies, motion),
which config imports, share it without importing config back."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)
