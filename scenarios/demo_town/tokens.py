"""Deterministic record tokens: the same name always gets the same token, on every machine."""

from __future__ import annotations

import hashlib
import uuid


def table_token(*parts: object) -> str:
    """32 lowercase hex digits, like nuScenes table tokens, from the md5 of the joined parts."""
    return hashlib.md5("/".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def map_token(*parts: object) -> str:
    """A UUID-formatted token, like nuScenes map-expansion tokens, from the md5 of the parts."""
    return str(uuid.UUID(table_token("map", *parts)))
