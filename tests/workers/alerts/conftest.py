"""The alert sinks' receivers."""
from __future__ import annotations

import pytest
from support.receivers import Webhook


@pytest.fixture
def target():
    """A webhook receiver on a free loopback port."""
    hook = Webhook().start()
    yield hook
    hook.stop()
