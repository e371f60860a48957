"""Real signed Discord interactions for the tests, and the Discord API stand-in.

``Player`` builds interaction payloads the way Discord sends them (ids that
carry their creation time, member with roles and permissions, resolved users)
and signs them with a real Ed25519 key whose public half the app is given as
``DISCORD_PUBLIC_KEY``.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional

import pytest
from nacl.signing import SigningKey

from chalicelib.core import config
from scripts.discord_standin import DiscordStandIn, snowflake

SIGNING_KEY = SigningKey.generate()
PUBLIC_KEY = SIGNING_KEY.verify_key.encode().hex()
EPHEMERAL = 64
ADMINISTRATOR = str(1 << 3)
MANAGE_GUILD = str(1 << 5)


def sign(body: str, timestamp: Optional[str] = None, key: SigningKey = SIGNING_KEY) -> Dict[str, str]:
    ts = timestamp or str(int(time.time()))
    return {"X-Signature-Ed25519": key.sign(ts.encode() + body.encode()).signature.hex(), "X-Signature-Timestamp": ts}


def _option(name: str, value: Any) -> Dict[str, Any]:
    if isinstance(value, bool):
        kind = 5
    elif isinstance(value, int):
        kind = 4
    else:
        kind = 3
    return {"name": name, "type": kind, "value": value}


@dataclass
class Player:
    """One member of one guild, clicking and typing through the real endpoint."""

    api: Any
    guild_id: str
    user_id: str
    application_id: str
    permissions: str = "0"
    roles: List[str] = field(default_factory=list)
    last_token: Optional[str] = None
    last_id: Optional[str] = None

    def payload(self, type_: int, data: Dict[str, Any], **extra: Any) -> Dict[str, Any]:
        self.last_token, self.last_id = "tok_" + snowflake(), snowflake()
        return {
            "id": self.last_id, "application_id": self.application_id, "type": type_, "data": data,
            "guild_id": self.guild_id, "channel_id": snowflake(), "token": self.last_token, "version": 1,
            "member": {"user": {"id": self.user_id, "username": f"user{self.user_id[-4:]}"},
                       "roles": list(self.roles), "permissions": self.permissions},
            "locale": "en-US", **extra,
        }

    def send(self, payload: Dict[str, Any], headers: Optional[Dict[str, str]] = None) -> Any:
        body = json.dumps(payload)
        return self.api.post("/discord/interactions", raw=body, token="", headers=headers or sign(body))

    def command(self, name: str, options: Optional[Dict[str, Any]] = None, sub: Optional[str] = None,
                users: Iterable[Dict[str, Any]] = (), roles: Iterable[str] = ()) -> Any:
        opts = [_option(k, v) for k, v in (options or {}).items()]
        for o in opts:
            if o["name"] == "user":
                o["type"] = 6
            if o["name"] == "role":
                o["type"] = 8
        if sub:
            opts = [{"name": sub, "type": 1, "options": opts}]
        data: Dict[str, Any] = {"id": snowflake(), "name": name, "type": 1, "options": opts}
        resolved: Dict[str, Any] = {}
        if users:
            resolved["users"] = {u["id"]: u for u in users}
        if roles:
            resolved["roles"] = {r: {"id": r, "name": f"role{r[-3:]}"} for r in roles}
        if resolved:
            data["resolved"] = resolved
        return self.send(self.payload(2, data))

    def click(self, custom_id: str) -> Any:
        return self.send(self.payload(3, {"custom_id": custom_id, "component_type": 2}))

    def choose(self, custom_id: str, value: str) -> Any:
        return self.send(self.payload(3, {"custom_id": custom_id, "component_type": 3, "values": [value]}))

    def submit(self, custom_id: str, fields: Dict[str, str]) -> Any:
        rows = [{"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]} for k, v in fields.items()]
        return self.send(self.payload(5, {"custom_id": custom_id, "components": rows}))


def embed_text(resp: Any) -> str:
    """Everything a player would read in a response, as one string."""
    data = resp.body.get("data") or {}
    parts = [data.get("content") or ""]
    for e in data.get("embeds") or []:
        parts += [e.get("title", ""), e.get("description", "")]
        parts += [f"{f['name']}: {f['value']}" for f in e.get("fields") or []]
        parts.append((e.get("footer") or {}).get("text", ""))
    return "\n".join(parts)


def components(resp: Any) -> List[Dict[str, Any]]:
    data = resp.body.get("data") or {}
    return [c for row in data.get("components") or [] for c in row["components"]]


def custom_ids(resp: Any) -> List[str]:
    return [c.get("custom_id") for c in components(resp) if c.get("custom_id")]


def assert_ephemeral(resp: Any) -> None:
    assert resp.status == 200, resp.body
    assert resp.body["type"] in (4, 5), resp.body
    assert resp.body["data"]["flags"] & EPHEMERAL, resp.body


@dataclass
class DiscordWorld:
    """An economy linked to a fresh guild, and a way to make its members."""

    economy: Any
    guild_id: str
    application_id: str

    def player(self, user_id: Optional[str] = None, **kwargs: Any) -> Player:
        return Player(self.economy.api, self.guild_id, user_id or snowflake(), self.application_id, **kwargs)

    def admin(self, **kwargs: Any) -> Player:
        return self.player(permissions=ADMINISTRATOR, **kwargs)


def use_public_key(monkeypatch: pytest.MonkeyPatch, key: Optional[str] = PUBLIC_KEY) -> None:
    if key is None:
        monkeypatch.delenv("DISCORD_PUBLIC_KEY", raising=False)
    else:
        monkeypatch.setenv("DISCORD_PUBLIC_KEY", key)
    config.reset_settings()


@pytest.fixture
def discord(economy: Any, monkeypatch: pytest.MonkeyPatch) -> DiscordWorld:
    """A guild linked to the test's economy, with the app trusting our signing key."""
    from chalicelib.discord.guild_setup import link_guild

    use_public_key(monkeypatch)
    guild_id = snowflake()
    link_guild(guild_id, economy.id)
    return DiscordWorld(economy, guild_id, snowflake())


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[DiscordStandIn]:
    """Discord's REST API, played by a real local HTTP server."""
    with DiscordStandIn() as fake:
        monkeypatch.setenv("DISCORD_API_BASE", fake.api_base)
        monkeypatch.setenv("DISCORD_BOT_TOKEN", fake.bot_token)
        monkeypatch.setenv("DISCORD_APPLICATION_ID", fake.application_id)
        config.reset_settings()
        yield fake


def quest_answers(resp: Any, economy_id: str) -> Dict[str, str]:
    """The quest menu of ``resp``: {"menu": custom_id, "right": value, "wrong": value}, from the question set."""
    from chalicelib.rewards.quests import question_set

    menu = components(resp)[0]
    text = resp.body["data"]["embeds"][0]["description"]
    question = next(q for q in question_set(economy_id) if f"**{q.question}**" in text)
    options = {o["label"]: o["value"] for o in menu["options"]}
    wrong = next(v for label, v in options.items() if label != question.answer)
    return {"menu": menu["custom_id"], "right": options[question.answer], "wrong": wrong}
