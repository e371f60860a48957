"""``/coins-admin adjust|freeze|unfreeze|role``: operator actions from Discord.

Who may do what is ``roles.py``. adjust/freeze/unfreeze first open a modal
that asks for the reason (the command's own interaction id travels in the
modal's custom id and keys the adjustment, so a resubmitted modal cannot credit
twice); the submit re-checks the member's roles, then calls the same
``chalicelib.admin`` functions as the admin API, which write the audit row
(before and after) in the same transaction. The actor is ``discord:<user id>``.
Freezing adds the ``operator`` reason; unfreezing lifts it and only the other
reasons the operator types into the modal's optional "Also lift" field.
"""
from __future__ import annotations

from typing import Any, Dict

from chalicelib import errors
from chalicelib.discord import roles, views
from chalicelib.discord.hub import log_transaction
from chalicelib.discord.interaction import Interaction
from chalicelib.guilds import Guild, set_role, valid_snowflake
from chalicelib.ledger.accounts import MAX_AMOUNT

ACTIONS = ("adjust", "freeze", "unfreeze", "role")


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
                          actor=f"discord:{ix.user_id}")
        mapped = result["app_role"] or "nothing"
        return views.ephemeral(embeds=[views.embed("Role mapped", f"<@&{result['role_id']}> now maps to **{mapped}** "
                                                   f"(was {result['before'] or 'nothing'}).", views.GREEN)])
    target = str(options.get("user") or "")
    if not valid_snowflake(target) or ix.resolved_user(target).get("bot"):
        raise errors.InvalidRecipientError("Pick a member (not a bot).")
    custom_id = f"admin:{action}:{ix.id}:{target}"
    if action == "adjust":
        amount = options.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0 or abs(amount) > MAX_AMOUNT:
            raise errors.ValidationFailedError("The amount must be a non-zero whole number of coins.", field="amount")
        custom_id += f":{amount}"
    title = {"adjust": "Adjust coins", "freeze": "Freeze wallet", "unfreeze": "Unfreeze wallet"}[action]
    inputs = [views.text_input("reason", "Reason (kept in the audit trail)")]
    if action == "unfreeze":
        # Only the operators' own freeze lifts unless other reasons are named here.
        inputs.append({**views.text_input("lift", "Also lift (e.g. dispute_lost), optional", paragraph=False,
                                          max_length=300), "min_length": 0, "required": False})
    return views.modal(custom_id, title, inputs)


def submit(ix: Interaction, guild: Guild) -> Dict[str, Any]:
    from chalicelib import admin

    parts = ix.custom_id.split(":")
    if len(parts) not in (4, 5) or parts[1] not in ("adjust", "freeze", "unfreeze"):
        return views.error("Unknown admin form.")
    action, command_id, target = parts[1], parts[2], parts[3]
    # Roles may have changed while the modal was open: check again.
    if not roles.may(action, ix.permissions, ix.role_ids, guild.role_map):
        return views.not_allowed()
    reason = ix.modal_fields.get("reason", "").strip()
    if not reason:
        raise errors.ValidationFailedError("A reason is required.", field="reason")
    actor = f"discord:{ix.user_id}"
    if action == "adjust":
        try:
            amount = int(parts[4])
        except (IndexError, ValueError):
            return views.error("Unknown admin form.")
        outcome = admin.adjust(guild.economy, target, amount, reason, actor, f"discord:{command_id}")
        result = outcome.result
        if not outcome.replayed:
            log_transaction(guild, f"`{amount:+,}` adjustment to <@{target}> by <@{ix.user_id}>: {reason}",
                            result["transaction_id"])
        return views.ephemeral(embeds=[views.embed(
            "Adjusted", f"<@{target}>: {amount:+,} coins. Available now {views.coins(result['balance']['available'])}.",
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
        log_transaction(guild, f"<@{target}> {action} by <@{ix.user_id}>: {reason}", f"{action}:{command_id}")
    title = "Wallet frozen" if action == "freeze" else ("Wallet still frozen" if result["frozen"] else "Wallet unfrozen")
    return views.ephemeral(embeds=[views.embed(
        title,
        f"<@{target}> is {state}" + ("" if result["changed"] else " (no change)") + ".", views.GREEN,
        [("Reason", reason, False)])])
