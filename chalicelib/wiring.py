"""The edge's wiring: which function consumes each queue topic, and which runs each job.

``runtime/`` holds only the mechanism (a queue of named topics, a registry of
jobs); the names of the features that do the work are said here, once, at the
top of the house, so no lower layer names an upper one. Importing this module
registers everything; the targets are ``"module:function"`` strings imported
only when a message or a job runs, so loading this costs nothing at cold start.

Loaded before use by every process that enqueues, consumes or schedules:
``app.py`` (HTTP, the SQS consumer, the schedules), ``python -m chalicelib.cli``
(``jobs run|list|serve``), ``infra/`` and the tests' ``conftest.py``.
Topic and job names are public (queued messages and EventBridge rule names
carry them): keep them.
"""
from __future__ import annotations

import os

from chalicelib.runtime import jobs, queue

# --- Queue topics -> consumer (payload: dict, dedupe_id: str) ------------------
queue.register("discord.followup", "chalicelib.discord.worker:handle_followup")
queue.register("discord.log", "chalicelib.discord.hub:post_log_line")
queue.register("leaderboard.updated", "chalicelib.discord.hub:on_leaderboard_updated")
queue.register("fulfilment.minecraft", "chalicelib.market.fulfilment.consumer:handle")
queue.register("market.log", "chalicelib.discord.notices:post_event")
queue.register("market.notify", "chalicelib.discord.notices:notify_buyer")
queue.register("market.shop", "chalicelib.discord.notices:post_listing")

# --- Jobs (name, target, schedule, description[, item budget]) ----------------
jobs.register("expire-holds", "chalicelib.spending.holds:expire_due_holds", "rate(1 minute)", "Release active holds past their expires_at (due index, bounded).")
jobs.register("release-escrows", "chalicelib.spending.escrows:release_due_escrows", "rate(1 minute)", "Pay the freelancer of job escrows past their auto-release deadline.")
# Schedule from LEADERBOARD_CRON (read here, at import, because Chalice fixes schedules at deploy time).
jobs.register("leaderboard", "chalicelib.operations.leaderboard:refresh_leaderboards", os.environ.get("LEADERBOARD_CRON") or "rate(15 minutes)", "Refresh due guilds' leaderboard snapshots and #leaderboard messages (due index).")
jobs.register("expire-orders", "chalicelib.market.settlement:expire_due_orders", "rate(1 minute)", "Refund market orders (API delivery) not fulfilled within ESCROW_TIMEOUT_MIN (due index, bounded).")
jobs.register("expire-vouchers", "chalicelib.market.settlement:expire_due_vouchers", "rate(5 minutes)", "Refund voucher orders not redeemed within VOUCHER_TIMEOUT_H (due index, bounded).")
jobs.register("expire-listings", "chalicelib.market.listings:expire_due_listings", "rate(1 minute)", "Close player listings past their expiry; unsold units return to the seller (due index, bounded).")
jobs.register("pricing-rollup", "chalicelib.market.pricing:rollup_prices", "rate(5 minutes)", "Write each SKU's 7-day median/average and 24-hour volume from new sales (sparse indexes, bounded).")
jobs.register("expire-purchases", "chalicelib.purchases.expiry:expire_due_purchases", "rate(1 minute)", "Mark pending purchases past their checkout expiry expired; credit paid ones never credited (due index, bounded).")
jobs.register("reconcile", "chalicelib.operations.reconcile.job:reconcile", "rate(1 hour)", "Check accounts changed since the last run against their entries, zero-sum, purchase credits; repair overdue expiries; alert.", max_items=200_000)
jobs.register("reconcile-full", "chalicelib.operations.reconcile.job:reconcile_full", "cron(30 3 * * ? *)", "Nightly: check every account of every economy from its first entry, and every purchase credit.", max_items=1_000_000)
jobs.register("digest", "chalicelib.operations.digest:daily_digests", "cron(10 0 * * ? *)", "Yesterday's summary per economy (bought, spent, granted, held, fees, active users, top earners); posted to #coin-transactions.")
