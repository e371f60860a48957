"""What differs between deployed stages, in one place."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageSettings:
    """One deployed stage (a Chalice stage in .chalice/config.json of the same name)."""

    name: str
    # Keep data when the stack (or a table) is deleted, and refuse DeleteTable.
    protect_data: bool
    # API Gateway stage throttle: steady requests/s and burst, across all routes.
    api_rate_limit: int
    api_burst_limit: int
    # The most concurrent queue consumers: Discord allows 50 requests/s per bot,
    # so a larger fleet only earns 429s.
    queue_max_concurrency: int
    log_retention_days: int
    # Alarm when more than this fraction of API requests answer 5xx (5-minute average).
    api_5xx_rate: float

    @property
    def stack_name(self) -> str:
        return f"coinhall-{self.name}"

    @property
    def table_prefix(self) -> str:
        # The app derives every table name from COINS_TABLE_PREFIX (config.py's default for a stage).
        return f"coinhall-{self.name}-"

    @property
    def queue_name(self) -> str:
        return f"coinhall-{self.name}-work"

    @property
    def secret_name(self) -> str:
        return f"coinhall/{self.name}/app"


STAGES = {
    "dev": StageSettings(
        name="dev", protect_data=False, api_rate_limit=50, api_burst_limit=100, queue_max_concurrency=5,
        log_retention_days=14, api_5xx_rate=0.05,
    ),
    "prod": StageSettings(
        name="prod", protect_data=True, api_rate_limit=1000, api_burst_limit=2000, queue_max_concurrency=20,
        log_retention_days=90, api_5xx_rate=0.01,
    ),
}


def stage_settings(name: str) -> StageSettings:
    """The settings of stage ``name``; raises KeyError naming the known stages."""
    try:
        return STAGES[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; known: {', '.join(sorted(STAGES))}") from None
