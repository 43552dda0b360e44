"""The base of every config section: unknown keys are errors, defaults are validated, values frozen.

A module of its own so that the sections kept outside maskwatch.config (alerts, policies, motion),
which config imports, share it without importing config back."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)


def unique_names(items: list, what: str) -> list:
    """A field validator's body: the items' `name`s must be unique (which ones are not, named)."""
    names = [i.name for i in items]
    if len(set(names)) != len(names):
        raise ValueError(f"{what} names must be unique: {sorted({n for n in names if names.count(n) > 1})}")
    return items
