"""The local dev key pair: what ``discord send`` signs with in the local stage.

``make run`` creates ``.local/discord-dev-key.json`` once (an Ed25519 seed and
its public key, hex) and exports the public key as ``DISCORD_PUBLIC_KEY``. It is
a development key: never use it for a real Discord application.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Tuple

KEY_FILE = Path(os.environ.get("DISCORD_DEV_KEY_FILE") or
                Path(__file__).resolve().parents[2] / ".local" / "discord-dev-key.json")


def load_or_create(path: Optional[Path] = None) -> Tuple[str, str]:
    """(signing key seed hex, public key hex), creating the file (mode 600) when missing."""
    from nacl.signing import SigningKey

    path = Path(path or KEY_FILE)
    if path.exists():
        data = json.loads(path.read_text())
        return data["private_key"], data["public_key"]
    key = SigningKey.generate()
    private_hex, public_hex = bytes(key).hex(), bytes(key.verify_key).hex()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return load_or_create(path)
    with os.fdopen(fd, "w") as handle:
        json.dump({"private_key": private_hex, "public_key": public_hex,
                   "note": "Local development only. Never use for a real Discord application."}, handle)
    return private_hex, public_hex


def load_public_key(path: Optional[Path] = None) -> Optional[str]:
    """The dev public key, or None when ``make run`` has not created it."""
    path = Path(path or KEY_FILE)
    try:
        return json.loads(path.read_text())["public_key"]
    except (OSError, ValueError, KeyError):
        return None
