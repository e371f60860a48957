"""Interaction responses as plain text: what a player would see, for the terminal.

Used by ``python -m scripts.discord_send`` and the README samples.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Dict, List

_TYPES = {1: "PONG", 4: "message", 5: "deferred (thinking...)", 6: "deferred update", 7: "update", 9: "modal"}


def _stamp(match: "re.Match[str]") -> str:
    return datetime.fromtimestamp(int(match.group(1)), tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _text(value: str) -> str:
    return re.sub(r"<t:(\d+)(?::\w)?>", _stamp, value or "")


def render_message(data: Dict[str, Any]) -> str:
    """A message body (content, embeds, components) as text."""
    lines: List[str] = []
    if data.get("flags", 0) & 64:
        lines.append("(only you can see this)")
    if data.get("content"):
        lines.append(_text(data["content"]))
    for embed in data.get("embeds") or []:
        title = embed.get("title", "")
        lines.append(f"+-- {title} " + "-" * max(3, 40 - len(title)))
        for line in _text(embed.get("description", "")).splitlines():
            lines.append(f"| {line}")
        for f in embed.get("fields") or []:
            value = _text(f.get("value", "")).splitlines() or [""]
            lines.append(f"| {f['name']}: {value[0]}")
            lines.extend(f"|   {v}" for v in value[1:])
        footer = (embed.get("footer") or {}).get("text")
        if footer:
            lines.append(f"| ({_text(footer)})")
        lines.append("+" + "-" * 44)
    for row in data.get("components") or []:
        items = []
        for c in row.get("components") or []:
            if c.get("type") == 2:
                target = c.get("url") or c.get("custom_id")
                items.append(f"[{c.get('label')}]({target})")
            elif c.get("type") == 3:
                options = ", ".join(f"{o['label']} = {o['value']}" for o in c.get("options") or [])
                items.append(f"<select {c.get('custom_id')}: {options}>")
            elif c.get("type") == 4:
                items.append(f"<text input {c.get('custom_id')}: {c.get('label')}>")
        if items:
            lines.append("  ".join(items))
    return "\n".join(lines)


def render_response(response: Dict[str, Any]) -> str:
    """An interaction response as text."""
    kind = response.get("type")
    head = f"[{_TYPES.get(kind, kind)}]"
    data = response.get("data") or {}
    if kind == 9:
        return f"{head} {data.get('title')} (submit with custom id {data.get('custom_id')})\n" + render_message(data)
    body = render_message(data)
    return f"{head}\n{body}" if body else head
