"""``/give user amount note?``: a confirmed transfer between two members.

The command only stores the pending gift (15 minutes) and asks for a
confirmation; the Confirm click moves the coins (``spending.transfers``) in one
ledger operation keyed by the ``/give`` interaction's id, so clicking Confirm
twice (or Discord retrying) sends once. No gifts to yourself or to bots; a frozen sender is refused by the
ledger.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Dict

from chalicelib.core import errors, keys
from chalicelib.core.ids import utc_now
from chalicelib.discord import store, views
from chalicelib.discord.hub import log_transaction
from chalicelib.discord.interaction import Interaction
from chalicelib.ledger import MAX_AMOUNT
from chalicelib.ledger.wallets import find_wallet
from chalicelib.spending.transfers import transfer
from chalicelib.tenancy.guilds import Guild, valid_snowflake

PENDING_SECONDS = 15 * 60
MAX_NOTE = 200


def start(ix: Interaction, guild: Guild) -> Dict[str, Any]:
    options = ix.options
    recipient, amount, note = str(options.get("user") or ""), options.get("amount"), options.get("note")
    if not valid_snowflake(recipient):
        raise errors.InvalidRecipientError("Pick a member to send coins to.")
    if recipient == ix.user_id:
        raise errors.SelfPaymentError("You cannot send coins to yourself.")
    if ix.resolved_user(recipient).get("bot"):
        raise errors.InvalidRecipientError("Bots cannot hold coins.")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT:
        raise errors.ValidationFailedError("The amount must be a whole number of coins above zero.", field="amount")
    if note is not None:
        note = str(note).strip()[:MAX_NOTE] or None
    wallet = find_wallet(guild.economy, ix.user_id)
    available = wallet.available if wallet else 0
    if available < amount:  # refused before asking; Confirm checks again, the balance may change meanwhile
        raise errors.InsufficientFundsError(user_id=ix.user_id, bucket="available", balance=available,
                                            required=amount)
    store.put_gift(ix.id, guild.economy, ix.user_id, {"to": recipient, "amount": amount, "note": note})
    return views.give_confirm(ix.user_id, recipient, amount, note, ix.id)


def confirm(ix: Interaction, guild: Guild, give_id: str) -> Dict[str, Any]:
    data = _pending(ix, guild, give_id).data
    amount = int(data["amount"])
    done = store.gift_done(give_id, errors.InteractionExpiredError("This gift was cancelled."))
    outcome = transfer(guild.economy, ix.user_id, data["to"], amount, data.get("note"),
                       keys.tag("discord", keys.join("give", give_id)), [done])
    # On a replay too: the first attempt may have committed and died before queueing its line (a lost commit
    # answer, a crash). The line is keyed by the transaction id and claimed once, so it never posts twice.
    log_transaction(guild, f"`{amount:,}` from <@{ix.user_id}> to <@{data['to']}>"
                           + (f" - {data['note']}" if data.get("note") else ""), outcome.result["transaction_id"])
    return views.give_done(outcome.result)


def cancel(ix: Interaction, guild: Guild, give_id: str) -> Dict[str, Any]:
    pending = _pending(ix, guild, give_id)
    if pending.status == "done":
        raise errors.InteractionExpiredError("These coins were already sent.")
    if not store.set_gift_status(give_id, "cancelled"):  # a Confirm committed between our read and now
        raise errors.InteractionExpiredError("These coins were already sent.")
    return views.give_cancelled()


def _pending(ix: Interaction, guild: Guild, give_id: str) -> store.Gift:
    pending = store.find_gift(give_id)
    if pending is None or pending.economy != guild.economy:
        raise errors.InteractionExpiredError()
    if pending.sender != ix.user_id:  # someone else clicked the giver's buttons: the gift stays as it is
        raise errors.InteractionExpiredError("This is not your confirmation.")
    if pending.status == "cancelled":
        raise errors.InteractionExpiredError("This gift was cancelled.")
    # created_at is the app clock's, so the window is measured on it too (wall time would
    # disagree with any clock a test sets). Exactly PENDING_SECONDS after is still inside.
    deadline = _moment(pending.created_at) + timedelta(seconds=PENDING_SECONDS)
    if pending.status == "pending" and utc_now() > deadline:
        raise errors.InteractionExpiredError()
    return pending


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
