"""``/coins-admin adjust|freeze|unfreeze|role|lookup|history|note``: operator actions from Discord.

Who may do what is ``roles.py``. adjust/freeze/unfreeze first open a modal
that asks for the reason (the command's own interaction id travels in the
modal's custom id and keys the adjustment, so a resubmitted modal cannot credit
twice); the submit re-checks the member's roles, then calls the same
``chalicelib.operations.admin`` functions as the admin API, which write the audit row
(before and after) in the same transaction. The actor is ``discord:<user id>``.
Freezing adds the ``operator`` reason; unfreezing lifts it and only the other
reasons the operator types into the modal's optional "Also lift" field.
lookup, history and note (the support desk's) are ``support.py``; note's text
modal travels the same way as the reason modals here. Every audit row a submit
writes names the member's strongest app role (``audit.acting``), as the API's do.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from chalicelib.core import errors, keys
from chalicelib.discord import roles, support, views
from chalicelib.discord.hub import log_transaction
from chalicelib.discord.interaction import Interaction
from chalicelib.tenancy.guilds import Guild, set_role, valid_snowflake
from chalicelib.ledger.accounts import MAX_AMOUNT
from chalicelib.ledger.wallets import get_wallet
from chalicelib.operations import admin
from chalicelib.tenancy.audit import acting

ACTIONS = ("adjust", "freeze", "unfreeze", "role", "lookup", "history", "note")
FORMS = ("adjust", "freeze", "unfreeze", "note")  # the actions that open a modal


def command(ix: Interaction, guild: Guild) -> Dict[str, Any]:
    action = ix.subcommand
    if action not in ACTIONS:
        return views.error("Unknown admin action.")
    if not roles.may(action, ix.permissions, ix.role_ids, guild.role_map):
        return views.not_allowed()
    options = ix.options
    if action == "role":
        app_role = str(options.get("app_role") or "")
        result = set_role(guild.guild_id, str(options.get("role") or ""), None if app_role == "NONE" else app_role,
                          actor=keys.tag("discord", ix.user_id))
        mapped = result["app_role"] or "nothing"
        return views.ephemeral(embeds=[views.embed("Role mapped", f"<@&{result['role_id']}> now maps to **{mapped}** "
                                                   f"(was {result['before'] or 'nothing'}).", views.GREEN)])
    target = str(options.get("user") or "")
    if not valid_snowflake(target) or ix.resolved_user(target).get("bot"):
        raise errors.InvalidRecipientError("Pick a member (not a bot).")
    if action == "lookup":
        return support.lookup(ix, guild, target)
    if action == "history":
        return support.history(ix, guild, target)
    if action == "note":
        get_wallet(guild.economy, target)  # user_not_found now, not after the note was typed
        return support.note_form(form_id(action, ix.id, target))
    amount = None
    if action == "adjust":
        amount = options.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0 or abs(amount) > MAX_AMOUNT:
            raise errors.ValidationFailedError("The amount must be a non-zero whole number of coins.", field="amount")
    custom_id = form_id(action, ix.id, target, amount)
    title = {"adjust": "Adjust coins", "freeze": "Freeze wallet", "unfreeze": "Unfreeze wallet"}[action]
    inputs = [views.text_input("reason", "Reason (kept in the audit trail)")]
    if action == "unfreeze":
        # Only the operators' own freeze lifts unless other reasons are named here.
        inputs.append({**views.text_input("lift", "Also lift (e.g. dispute_lost), optional", paragraph=False,
                                          max_length=300), "min_length": 0, "required": False})
    return views.modal(custom_id, title, inputs)


def form_id(action: str, command_id: str, target: str, amount: Optional[int] = None) -> str:
    """The reason modal's custom id: ``admin:<action>:<command id>:<target>[:<amount>]``, ids escaped."""
    parts = ("admin", action, command_id, target) + (() if amount is None else (str(amount),))
    return keys.join(*parts)


def parse_form_id(custom_id: str) -> Optional[Tuple[str, str, str, Optional[int]]]:
    """(action, command id, target, amount) of a ``form_id``; None for anything else."""
    try:
        parts = keys.split(custom_id)
    except ValueError:
        return None
    if parts[0] != "admin" or len(parts) not in (4, 5) or parts[1] not in FORMS:
        return None
    # A note's id is made from its command id's time, and notes are only about members.
    if parts[1] == "note" and not (valid_snowflake(parts[2]) and valid_snowflake(parts[3])):
        return None
    if (len(parts) == 5) != (parts[1] == "adjust"):
        return None
    amount = None
    if len(parts) == 5:
        try:
            amount = int(parts[4])
        except ValueError:
            return None
    return parts[1], parts[2], parts[3], amount


def submit(ix: Interaction, guild: Guild) -> Dict[str, Any]:
    form = parse_form_id(ix.custom_id)
    if form is None:
        return views.error("Unknown admin form.")
    action, command_id, target, amount = form
    # Roles may have changed while the modal was open: check again.
    if not roles.may(action, ix.permissions, ix.role_ids, guild.role_map):
        return views.not_allowed()
    with acting(roles.strongest(ix.permissions, ix.role_ids, guild.role_map), None):
        return _submit(ix, guild, action, command_id, target, amount)


def _submit(ix: Interaction, guild: Guild, action: str, command_id: str, target: str,
            amount: Optional[int]) -> Dict[str, Any]:
    actor = keys.tag("discord", ix.user_id)
    if action == "note":
        return support.add_note(ix, guild, command_id, target, actor)
    reason = ix.modal_fields.get("reason", "").strip()
    if not reason:
        raise errors.ValidationFailedError("A reason is required.", field="reason")
    if action == "adjust":
        assert amount is not None  # parse_form_id gives adjust forms an amount
        outcome = admin.adjust(guild.economy, target, amount, reason, actor, keys.tag("discord", command_id))
        result = outcome.result
        # On a replay too (the first try may have died before queueing it); posted once per transaction id.
        log_transaction(guild, f"`{amount:+,}` adjustment to <@{target}> by <@{ix.user_id}>: {reason}",
                        result["transaction_id"])
        return views.ephemeral(embeds=[views.embed(
            "Adjusted", f"<@{target}>: {views.count(amount, 'coin', sign=True)}. "
                        f"Available now {views.coins(result['balance']['available'])}.",
            views.GREEN, [("Reason", reason, False)], footer=f"Transaction {result['transaction_id']}")])
    if action == "freeze":
        result = admin.freeze(guild.economy, target, reason, actor)
    else:
        lift = [name for name in ix.modal_fields.get("lift", "").replace(",", " ").split() if name]
        result = admin.unfreeze(guild.economy, target, reason, actor, lift)
    state = "frozen" if result["frozen"] else "not frozen"
    if result["freeze_reasons"]:
        state += f" ({', '.join(result['freeze_reasons'])})"
    if result["changed"]:
        log_transaction(guild, f"<@{target}> {action} by <@{ix.user_id}>: {reason}", keys.join(action, command_id))
    title = "Wallet frozen" if action == "freeze" else ("Wallet still frozen" if result["frozen"] else "Wallet unfrozen")
    return views.ephemeral(embeds=[views.embed(
        title,
        f"<@{target}> is {state}" + ("" if result["changed"] else " (no change)") + ".", views.GREEN,
        [("Reason", reason, False)])])
