"""Fixtures shared by the integration tests (the economy and its kit are in tests/conftest.py)."""
from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def shop(economy: Any) -> Any:
    """The economy with the default coin packs on sale (``seed_packs``)."""
    from chalicelib.purchases.packs import seed_packs

    seed_packs(economy.id)
    return economy
