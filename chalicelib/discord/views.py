"""What players see: interaction responses, embeds and components.

Every player response is ephemeral (``flags: 64``): only the clicker sees it.
The only public messages are the ones ``/coins-setup`` posts in the hub,
``#leaderboard`` and ``#shop`` channels (``public_*`` builders).
Builders are pure: they take plain values and return Discord's JSON.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from chalicelib.core import keys
from chalicelib.core.wording import count

EPHEMERAL = 64

# Interaction response types
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL = 1, 4, 5, 9

# Colours
GOLD, GREEN, RED, BLUE, GREY = 0xF1C40F, 0x2ECC71, 0xE74C3C, 0x3498DB, 0x95A5A6

# Button styles
PRIMARY, SECONDARY, SUCCESS, DANGER, LINK = 1, 2, 3, 4, 5

# Custom ids of the hub buttons (also on My Card)
HUB_BUTTONS: Tuple[Tuple[str, str, int], ...] = (
    ("hub:card", "My Card", PRIMARY),
    ("hub:buy", "Buy Coins", SUCCESS),
    ("hub:quest", "Quests", SECONDARY),
    ("hub:daily", "Claim Daily", SUCCESS),
    ("hub:leaderboard", "Leaderboard", SECONDARY),
    ("hub:help", "Help", SECONDARY),
    ("hub:market", "Shop", SUCCESS),  # the rewards market (chalicelib/discord/market.py)
    ("hub:sell", "Sell", SECONDARY),
)


def coins(n: int) -> str:
    return count(n, "coin")


def when(moment: str) -> str:
    """An ISO time as a Discord timestamp (shown in the reader's time zone, relative)."""
    stamp = int(datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp())
    return f"<t:{stamp}:R>"


# --- responses ----------------------------------------------------------------


def pong() -> Dict[str, Any]:
    return {"type": PONG}


def ephemeral(content: Optional[str] = None, embeds: Sequence[Dict[str, Any]] = (),
              components: Sequence[Dict[str, Any]] = ()) -> Dict[str, Any]:
    return {"type": CHANNEL_MESSAGE, "data": message(content, embeds, components, ephemeral=True)}


def deferred() -> Dict[str, Any]:
    """"Coinhall is thinking...", only to the clicker; a worker edits it later."""
    return {"type": DEFERRED_CHANNEL_MESSAGE, "data": {"flags": EPHEMERAL}}


def modal(custom_id: str, title: str, inputs: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    return {"type": MODAL, "data": {"custom_id": custom_id, "title": title[:45],
                                    "components": [row([i]) for i in inputs]}}


def message(content: Optional[str] = None, embeds: Sequence[Dict[str, Any]] = (),
            components: Sequence[Dict[str, Any]] = (), *, ephemeral: bool = False) -> Dict[str, Any]:
    """A message body (for a response, a webhook edit or a channel post)."""
    data: Dict[str, Any] = {"content": content or "", "embeds": list(embeds), "components": list(components),
                            "allowed_mentions": {"parse": []}}  # mentions render, never ping
    if ephemeral:
        data["flags"] = EPHEMERAL
    return data


# --- components -----------------------------------------------------------------


def row(components: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    return {"type": 1, "components": list(components)}


def button(custom_id: str, label: str, style: int = SECONDARY, *, disabled: bool = False) -> Dict[str, Any]:
    return {"type": 2, "style": style, "label": label, "custom_id": custom_id, "disabled": disabled}


def link_button(url: str, label: str) -> Dict[str, Any]:
    return {"type": 2, "style": LINK, "label": label, "url": url}


def select(custom_id: str, placeholder: str, options: Sequence[Tuple[str, str, Optional[str]]]) -> Dict[str, Any]:
    return {
        "type": 3,
        "custom_id": custom_id,
        "placeholder": placeholder,
        "min_values": 1,
        "max_values": 1,
        "options": [
            {"label": label[:100], "value": value, **({"description": desc[:100]} if desc else {})}
            for value, label, desc in options[:25]
        ],
    }


def text_input(custom_id: str, label: str, *, paragraph: bool = True, max_length: int = 500) -> Dict[str, Any]:
    return {"type": 4, "custom_id": custom_id, "label": label, "style": 2 if paragraph else 1,
            "min_length": 1, "max_length": max_length, "required": True}


def hub_rows(skip: Iterable[str] = ()) -> List[Dict[str, Any]]:
    buttons = [button(cid, label, style) for cid, label, style in HUB_BUTTONS if cid not in set(skip)]
    return [row(buttons[i:i + 5]) for i in range(0, len(buttons), 5)]


def embed(title: str, description: str = "", colour: int = GOLD, fields: Sequence[Tuple[str, str, bool]] = (),
          footer: Optional[str] = None) -> Dict[str, Any]:
    data: Dict[str, Any] = {"title": title, "description": description, "color": colour,
                            "fields": [{"name": n, "value": v or "-", "inline": i} for n, v, i in fields]}
    if footer:
        data["footer"] = {"text": footer}
    return data


# --- player views -----------------------------------------------------------------


def error(message_text: str, title: str = "Not possible") -> Dict[str, Any]:
    return ephemeral(embeds=[embed(title, message_text, RED)])


def not_allowed() -> Dict[str, Any]:
    return error("You are not allowed to do that. Ask a server admin.", "Not allowed")


def card(user_id: str, wallet: Dict[str, int], streak: int, badges: Sequence[str], rank: Optional[int],
         players: int, recent: Sequence[Dict[str, Any]], frozen: bool = False) -> Dict[str, Any]:
    lines = [f"`{e['amount']:+,}` {e.get('reason') or e['type']} - {when(e['created_at'])}" for e in recent[:3]]
    rank_text = f"#{rank} of {players}" if rank else "not ranked yet"
    fields = [
        ("Available", coins(wallet.get("available", 0)), True),
        ("Held", coins(wallet.get("held", 0)), True),
        ("Earnings", coins(wallet.get("earnings", 0)), True),
        ("Streak", count(streak, "day"), True),
        ("Rank", rank_text, True),
        ("Badges", ", ".join(badge_label(b) for b in badges) or "none yet", True),
        ("Last transactions", "\n".join(lines) or "none yet", False),
    ]
    note = "This wallet is frozen: it cannot send coins." if frozen else ""
    return ephemeral(embeds=[embed("My Card", f"<@{user_id}>\n{note}".strip(), BLUE, fields)],
                     components=hub_rows(skip=("hub:card", "hub:help")))


def badge_label(name: str) -> str:
    labels = {"streak_7": "7-day streak", "streak_30": "30-day streak", "streak_100": "100-day streak"}
    return labels.get(name, name)


def daily_claimed(result: Dict[str, Any]) -> Dict[str, Any]:
    fields = [
        ("Reward", coins(result["amount"]), True),
        ("Streak", count(result["streak"], "day"), True),
        ("Balance", coins(result["balance"]["available"]), True),
    ]
    description = "Come back tomorrow to keep your streak going."
    if result.get("new_badges"):
        description = "New badge: " + ", ".join(badge_label(b) for b in result["new_badges"]) + "!\n" + description
    return ephemeral(embeds=[embed("Daily reward claimed", description, GREEN, fields,
                                   footer=f"Next claim opens {result['next_claim_at']}")])


def daily_already(next_claim_at: str, streak: int) -> Dict[str, Any]:
    return ephemeral(embeds=[embed(
        "Already claimed today",
        f"Your next daily reward opens {when(next_claim_at)} (midnight UTC).\nCurrent streak: {count(streak, 'day')}.",
        GREY)])  # the time once, as a Discord timestamp in the reader's own zone


def quest_question(question: str, choices: Sequence[Tuple[str, str]], custom_id: str,
                   reward: int) -> Dict[str, Any]:
    menu = select(custom_id, "Choose your answer", [(value, label, None) for value, label in choices])
    return ephemeral(embeds=[embed("Today's quest", f"**{question}**\n\nAnswer right to win {coins(reward)}. "
                                   "One answer a day.", BLUE)], components=[row([menu])])


def quest_won(result: Dict[str, Any]) -> Dict[str, Any]:
    return ephemeral(embeds=[embed("Correct!", f"You won {coins(result['amount'])}. Balance: "
                                   f"{coins(result['balance']['available'])}.", GREEN,
                                   footer=f"Next quest opens {result['next_quest_at']}")])


def quest_lost(answer: str, next_quest_at: str) -> Dict[str, Any]:
    return ephemeral(embeds=[embed("Not quite", f"The answer was **{answer}**. Try again with tomorrow's "
                                   f"question, {when(next_quest_at)}.", RED, footer=f"Next quest opens {next_quest_at}")])


def quest_done(next_quest_at: str, won: bool) -> Dict[str, Any]:
    result = "You answered it right." if won else "You already answered it."
    return ephemeral(embeds=[embed("Today's quest is done", f"{result} The next quest opens {when(next_quest_at)}.",
                                   GREY, footer=f"Next quest opens {next_quest_at}")])


def leaderboard_embed(rows: Sequence[Dict[str, Any]], players: int, computed_at: Optional[str]) -> Dict[str, Any]:
    medals = {1: "1.", 2: "2.", 3: "3."}
    lines = [f"{medals.get(r['rank'], str(r['rank']) + '.')} <@{r['user_id']}> - {coins(r['total'])}" for r in rows[:10]]
    footer = count(players, "player") + (f" - updated {computed_at}" if computed_at else "")
    return embed("Leaderboard", "\n".join(lines) or "Nobody holds coins yet.", GOLD, footer=footer)


def leaderboard(rows: Sequence[Dict[str, Any]], players: int, computed_at: Optional[str]) -> Dict[str, Any]:
    return ephemeral(embeds=[leaderboard_embed(rows, players, computed_at)],
                     components=[row([button("lb:me", "View yours", PRIMARY)])])


def buy_menu(packs: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    if not packs:
        return error("No coin packs are on sale here yet.", "Buy Coins")
    options = [(p["id"], f"{p['name']} - {_price(p['price'])}",
                f"{coins(p['total_coins'])}" + (f" (incl. {p['bonus_coins']:,} bonus)" if p["bonus_coins"] else ""))
               for p in packs]
    return ephemeral(embeds=[embed("Buy Coins", "Pick a pack; you will get a secure checkout link.", GOLD,
                                   [(p["name"], f"{coins(p['total_coins'])} for {_price(p['price'])}", True)
                                    for p in packs])],
                     components=[row([select("buy:pack", "Choose a pack", options)])])


def checkout_ready(purchase: Dict[str, Any], pack_name: str) -> Dict[str, Any]:
    return message(embeds=[embed("Checkout ready", f"**{pack_name}**: pay on the secure page. Your coins arrive "
                                 "as soon as the payment is confirmed.", GREEN,
                                 footer=f"Purchase {purchase['purchase_id']}")],
                   components=[row([link_button(purchase["checkout_url"], "Pay now")])], ephemeral=True)


def give_confirm(sender: str, recipient: str, amount: int, note: Optional[str], interaction_id: str) -> Dict[str, Any]:
    description = f"Send {coins(amount)} to <@{recipient}>?" + (f"\nNote: {note}" if note else "")
    return ephemeral(embeds=[embed("Confirm gift", description, BLUE, footer="This confirmation expires in 15 minutes.")],
                     components=[row([button(keys.join("give", "ok", interaction_id), "Confirm", SUCCESS),
                                      button(keys.join("give", "no", interaction_id), "Cancel", DANGER)])])


def give_done(result: Dict[str, Any]) -> Dict[str, Any]:
    return ephemeral(embeds=[embed("Coins sent", f"You sent {coins(result['amount'])} to <@{result['to_user_id']}>. "
                                   f"Your balance: {coins(result['balance']['available'])}.", GREEN)])


def give_cancelled() -> Dict[str, Any]:
    return ephemeral(embeds=[embed("Gift cancelled", "No coins moved.", GREY)])


def help_view(commands: Sequence[Tuple[str, str]], admin: Sequence[str]) -> Dict[str, Any]:
    """Every registered command (name, description): the players' as fields, the admins' in the footer."""
    fields = [(f"/{name}", text, False) for name, text in commands if name not in admin]
    return ephemeral(embeds=[embed("Coinhall help", "Everything here is private to you.", BLUE, fields,
                                   footer="Admins: " + ", ".join(f"/{name}" for name in admin))],
                     components=hub_rows(skip=("hub:help",)))


# --- public channel messages (posted by /coins-setup and the leaderboard job) ------------


def public_hub() -> Dict[str, Any]:
    return message(embeds=[embed("Coin Hub", "Claim your daily coins, answer quests, climb the leaderboard and buy "
                                 "coin packs. Everything you click here answers only you.", GOLD)],
                   components=hub_rows())


def public_shop(packs: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    fields = [(p["name"], f"{coins(p['total_coins'])} for {_price(p['price'])}", True) for p in packs]
    return message(embeds=[embed("Shop", "Coin packs on sale. Press Buy Coins for a private checkout link.", GOLD,
                                 fields)], components=[row([button("hub:buy", "Buy Coins", SUCCESS)])])


def public_leaderboard(rows: Sequence[Dict[str, Any]], players: int, computed_at: Optional[str]) -> Dict[str, Any]:
    return message(embeds=[leaderboard_embed(rows, players, computed_at)],
                   components=[row([button("lb:me", "View yours", PRIMARY)])])


def _price(price: Dict[str, Any]) -> str:
    return f"{price['amount'] / 100:,.2f} {price['currency'].upper()}"
