"""The official SDKs' clients for the scripted model server, as the tool tests make them:
no retries (a refusal is the answer), and every client closed after its test."""

from __future__ import annotations

from typing import Any

import anthropic
import openai

_OPEN: list[Any] = []  # every client made since close_clients() last ran


def openai_client(base_url: str) -> openai.AsyncOpenAI:
    client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="local", max_retries=0)
    _OPEN.append(client)
    return client


def anthropic_client(base_url: str) -> anthropic.AsyncAnthropic:
    client = anthropic.AsyncAnthropic(base_url=base_url, api_key="local", max_retries=0)
    _OPEN.append(client)
    return client


async def close_clients() -> None:
    """Close every client made since the last call (a test's autouse fixture calls it)."""
    while _OPEN:
        await _OPEN.pop().close()
