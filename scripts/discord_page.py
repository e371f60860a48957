"""``/local/discord`` on the Discord stand-in: every channel and interaction reply, as a person would see them.

Embeds are drawn as cards (title, description, fields, footer, colour bar),
buttons as buttons (a link button is a real link), selects with their
options. Read-only: pressing a button is `discord send --click <custom id>`,
shown on each one. The page is built from what the stand-in holds; nothing
here talks to the app.
"""
from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from typing import Any, Dict, List

_STYLE = """
body{font-family:system-ui,sans-serif;background:#313338;color:#dbdee1;margin:0;padding:1.5rem}
h1{font-size:1.2rem;color:#fff}h2{font-size:1rem;color:#fff;margin:2rem 0 .5rem}
.guild{color:#949ba4;font-size:.8rem}.msg{background:#2b2d31;border-radius:8px;padding:.7rem 1rem;margin:.5rem 0;
max-width:44rem}.meta{color:#949ba4;font-size:.75rem;margin-bottom:.3rem}.pin{color:#f0b232}
.embed{border-left:4px solid #5865f2;background:#232428;border-radius:4px;padding:.5rem .8rem;margin:.4rem 0}
.embed .title{font-weight:600;color:#fff}.field{margin-top:.3rem}.field b{color:#fff}
.footer{color:#949ba4;font-size:.75rem;margin-top:.4rem}.row{margin-top:.4rem}
.btn{display:inline-block;padding:.3rem .8rem;border-radius:4px;margin:.2rem .3rem 0 0;font-size:.85rem;
color:#fff;background:#4e5058;text-decoration:none}.s1{background:#5865f2}.s3{background:#248046}
.s4{background:#da373c}.s5{background:#4e5058;text-decoration:underline}.dis{opacity:.5}
select{background:#1e1f22;color:#dbdee1;border:1px solid #111;padding:.3rem;border-radius:4px}
.hint{color:#949ba4;font-size:.7rem}.eph{color:#949ba4;font-size:.75rem;font-style:italic}
pre{white-space:pre-wrap;margin:0;font-family:inherit}
"""


def _stamp(match: "re.Match[str]") -> str:
    return datetime.fromtimestamp(int(match.group(1)), tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _text(value: Any) -> str:
    """Discord markdown-ish text: timestamps shown as dates, **bold**; everything else escaped."""
    escaped = html.escape(re.sub(r"<t:(\d+)(?::\w)?>", _stamp, str(value or "")))
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)


def _embed(embed: Dict[str, Any]) -> str:
    colour = embed.get("color")
    style = f" style='border-left-color:#{int(colour):06x}'" if isinstance(colour, int) else ""
    parts = [f"<div class='embed'{style}>"]
    if embed.get("title"):
        parts.append(f"<div class='title'>{_text(embed['title'])}</div>")
    if embed.get("description"):
        parts.append(f"<pre>{_text(embed['description'])}</pre>")
    for field in embed.get("fields") or []:
        parts.append(f"<div class='field'><b>{_text(field.get('name'))}</b><pre>{_text(field.get('value'))}</pre></div>")
    footer = (embed.get("footer") or {}).get("text")
    if footer:
        parts.append(f"<div class='footer'>{_text(footer)}</div>")
    parts.append("</div>")
    return "".join(parts)


def _component(c: Dict[str, Any]) -> str:
    disabled = " dis" if c.get("disabled") else ""
    if c.get("type") == 2:
        label = _text(c.get("label") or (c.get("emoji") or {}).get("name") or "")
        if c.get("url"):
            return f"<a class='btn s5{disabled}' href='{html.escape(c['url'], quote=True)}'>{label} ↗</a>"
        hint = html.escape(f"discord send --click {c.get('custom_id')}", quote=True)
        return f"<span class='btn s{int(c.get('style') or 2)}{disabled}' title='{hint}'>{label}</span>"
    if c.get("type") == 3:
        options = "".join(f"<option>{_text(o.get('label'))}</option>" for o in c.get("options") or [])
        hint = html.escape(f"discord send --select {c.get('custom_id')} --value ...", quote=True)
        placeholder = _text(c.get("placeholder") or "")
        return f"<select title='{hint}'><option>{placeholder}</option>{options}</select>"
    return ""


def render_message(message: Dict[str, Any], meta: str) -> str:
    parts = [f"<div class='msg'><div class='meta'>{meta}</div>"]
    if (message.get("flags") or 0) & 64:
        parts.append("<div class='eph'>Only you can see this</div>")
    if message.get("content"):
        parts.append(f"<pre>{_text(message['content'])}</pre>")
    parts.extend(_embed(e) for e in message.get("embeds") or [])
    for row in message.get("components") or []:
        parts.append("<div class='row'>" + "".join(_component(c) for c in row.get("components") or []) + "</div>")
    parts.append("</div>")
    return "".join(parts)


def render_page(channels: List[Dict[str, Any]], messages: Dict[str, Dict[str, Dict[str, Any]]],
                replies: List[Dict[str, Any]]) -> str:
    """The whole page: each guild channel's messages (oldest first), then the interaction replies (newest first)."""
    body = ["<h1>Discord, locally</h1><p class='hint'>What the bot posted and replied, as members see it. "
            "Reload for news; press buttons with <code>discord send --click &lt;custom id&gt;</code> "
            "(hover a button for its command).</p>"]
    for channel in sorted(channels, key=lambda c: (c["guild_id"], c["name"])):
        body.append(f"<h2>#{html.escape(channel['name'])} <span class='guild'>guild {html.escape(channel['guild_id'])}"
                    "</span></h2>")
        posted = sorted((messages.get(channel["id"]) or {}).values(), key=lambda m: int(m["id"]))
        if not posted:
            body.append("<p class='hint'>(no messages)</p>")
        for message in posted:
            pin = " <span class='pin'>📌 pinned</span>" if message.get("pinned") else ""
            body.append(render_message(message, f"message {html.escape(message['id'])}{pin}"))
    body.append("<h2>Interaction replies</h2>")
    if not replies:
        body.append("<p class='hint'>(none yet: try <code>discord send \"/coins\" --user alice --guild demo</code>)"
                    "</p>")
    for reply in replies:
        body.append(render_message(reply["message"], html.escape(reply["what"])))
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Discord, locally</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")
