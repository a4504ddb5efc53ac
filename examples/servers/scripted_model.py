"""A scripted language model on 127.0.0.1 that speaks the OpenAI and Anthropic HTTP APIs.

The official ``openai`` and ``anthropic`` clients talk to it by ``base_url``, with no
network and no key: it answers Chat Completions (``POST /v1/chat/completions``), the
Responses API (``POST /v1/responses``) and Messages (``POST /v1/messages``), whole or
streamed as server-sent events, from a script of :class:`Turn`s. Each scripted tool call
finishes streaming its arguments at a set time (``done_at``, seconds after the request),
so the examples, tests and benchmarks know when a call became complete.

Usage::

    model = ScriptedModel([Turn(calls=[ScriptedCall("call_1", "get_weather", {"city": "Paris"}, done_at=0.2)])])
    async with model.serve() as base_url:   # "http://127.0.0.1:PORT"
        client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="local")
        ...
    model.requests  # every request body, in order
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["ScriptedCall", "ScriptedModel", "Turn"]


@dataclass
class ScriptedCall:
    """One tool call the model makes.

    Attributes:
        id: the call's id.
        name: the tool's name.
        arguments: a dict (sent as JSON) or text sent as it is (even if not JSON).
        done_at: seconds after the request when its last argument piece is sent
            (streamed responses only); the call's pieces start after the previous one's.
    """

    id: str
    name: str
    arguments: dict[str, Any] | str
    done_at: float = 0.0

    @property
    def text(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass
class Turn:
    """One answer: some text, then tool calls; ``tail`` seconds of stream after the last
    call (the model still writing: usage, a closing sentence)."""

    text: str = ""
    calls: list[ScriptedCall] = field(default_factory=list)
    tail: float = 0.0
    pieces: int = 3
    """How many deltas each call's arguments are cut into."""
    reasoning: str = ""
    """Reasoning before the text: an Anthropic ``thinking`` block (signed), a Responses
    ``reasoning`` item (its summary, and an ``encrypted_content``); none in Chat."""


Responder = Callable[[str, dict[str, Any]], Turn]


@dataclass
class StreamTimes:
    """When (``time.perf_counter()``) the server began and ended one streamed answer, and
    when it was about to send each call's last argument piece."""

    started: float
    ended: float | None = None
    call_done: dict[str, float] = field(default_factory=dict)


class ScriptedModel:
    """The server's state: the script, the requests it got, and its streams' timings.

    Args:
        script: turns answered in order, each a :class:`Turn` or a function of the path
            and request body returning one; past the end it answers ``"done"``.
    """

    def __init__(self, script: list[Turn | Responder]) -> None:
        self.script: deque[Turn | Responder] = deque(script)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.streams: list[StreamTimes] = []
        self._ids = itertools.count(1)

    def _next_turn(self, path: str, body: dict[str, Any]) -> Turn:
        if not self.script:
            return Turn(text="done")
        step = self.script.popleft()
        return step(path, body) if callable(step) else step

    # -- the app -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        for prefix in ("", "/v1"):
            app.router.add_post(f"{prefix}/chat/completions", self._chat)
            app.router.add_post(f"{prefix}/responses", self._responses)
            app.router.add_post(f"{prefix}/messages", self._messages)
        return app

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """Serve on 127.0.0.1 on a free port; yields the base URL."""
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()

    async def _begin(self, request: web.Request) -> tuple[dict[str, Any], Turn]:
        body = await request.json()
        self.requests.append((request.path, body))
        unanswered = _unanswered(request.path, body)
        if unanswered:
            # As the real APIs do: every tool call sent back needs its result.
            message = f"tool calls without a result: {', '.join(unanswered)}"
            raise web.HTTPBadRequest(
                text=json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": message}}),
                content_type="application/json",
            )
        malformed = _malformed_results(request.path, body)
        if malformed:
            # As the real APIs do: a tool result of a shape the API does not take is refused.
            raise web.HTTPBadRequest(
                text=json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": malformed}}),
                content_type="application/json",
            )
        return body, self._next_turn(request.path, body)

    async def _sse(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        return response

    async def _play(
        self,
        turn: Turn,
        send: Callable[[Any], Any],
        text_events: Callable[[str], list[Any]],
        call_events: Callable[[int, ScriptedCall, list[str]], list[list[Any]]],
        times: StreamTimes,
        after_calls: Sequence[Any] = (),
    ) -> None:
        """Send the text at once, then each call's pieces spread over its window: from the
        previous call's ``done_at`` to its own, the last piece at ``done_at``; then
        ``after_calls`` at once, then ``tail`` seconds."""
        for event in text_events(turn.text):
            await send(event)
        previous = 0.0
        for i, call in enumerate(turn.calls):
            text = call.text
            size = max(1, -(-len(text) // max(1, turn.pieces)))
            pieces = [text[j : j + size] for j in range(0, len(text), size)] or [""]
            steps = call_events(i, call, pieces)
            for k, events in enumerate(steps):
                if k:
                    target = times.started + previous + (call.done_at - previous) * k / (len(steps) - 1)
                    await asyncio.sleep(max(0.0, target - time.perf_counter()))
                if k == len(steps) - 1:
                    # Stamped before the write: the client (maybe on this same loop) may
                    # read the piece and start the tool before the write returns.
                    times.call_done[call.id] = time.perf_counter()
                for event in events:
                    await send(event)
            previous = max(previous, call.done_at)
        for event in after_calls:
            await send(event)
        if turn.tail:
            await asyncio.sleep(turn.tail)

    # -- Chat Completions --------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, turn = await self._begin(request)
        model = body.get("model", "scripted")
        base = {"id": f"chatcmpl-{next(self._ids)}", "created": int(time.time()), "model": model}
        reason = "tool_calls" if turn.calls else "stop"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
            if turn.calls:
                message["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.text}}
                    for c in turn.calls
                ]
            return web.json_response({
                **base, "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": reason, "logprobs": None}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            })
        response = await self._sse(request)
        times = StreamTimes(time.perf_counter())
        self.streams.append(times)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        async def send(data: Any) -> None:
            await response.write(f"data: {json.dumps(data)}\n\n".encode())

        def text_events(text: str) -> list[Any]:
            out = [chunk({"role": "assistant", "content": ""})]
            out += [chunk({"content": word}) for word in _words(text)]
            return out

        def call_events(i: int, call: ScriptedCall, pieces: list[str]) -> list[list[Any]]:
            head = chunk({"tool_calls": [{"index": i, "id": call.id, "type": "function",
                                          "function": {"name": call.name, "arguments": ""}}]})
            return [[head]] + [
                [chunk({"tool_calls": [{"index": i, "function": {"arguments": p}}]})] for p in pieces
            ]

        # As OpenAI does: finish_reason right after the last call, then (the tail) the
        # usage chunk, whose choices are empty.
        await self._play(turn, send, text_events, call_events, times, [chunk({}, reason)])
        times.ended = time.perf_counter()  # before the last writes, as call_done
        await send({**base, "object": "chat.completion.chunk", "choices": [],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    # -- Responses API -----------------------------------------------------------------------

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body, turn = await self._begin(request)
        rid = f"resp_{next(self._ids)}"
        output: list[dict[str, Any]] = []
        reasoning = {"type": "reasoning", "id": f"rs_{rid}",
                     "summary": [{"type": "summary_text", "text": turn.reasoning}],
                     "encrypted_content": f"enc:{turn.reasoning[::-1]}"}
        if turn.reasoning:
            output.append(reasoning)
        if turn.text:
            output.append({"type": "message", "id": f"msg_{rid}", "status": "completed", "role": "assistant",
                           "content": [{"type": "output_text", "text": turn.text, "annotations": []}]})
        for c in turn.calls:
            output.append({"type": "function_call", "id": f"fc_{c.id}", "call_id": c.id, "name": c.name,
                           "arguments": c.text, "status": "completed"})
        whole = {"id": rid, "object": "response", "created_at": int(time.time()), "model": body.get("model"),
                 "status": "completed", "output": output, "parallel_tool_calls": True, "tool_choice": "auto",
                 "tools": body.get("tools", [])}
        if not body.get("stream"):
            return web.json_response(whole)
        response = await self._sse(request)
        times = StreamTimes(time.perf_counter())
        self.streams.append(times)
        sequence = itertools.count()

        async def send(data: dict[str, Any]) -> None:
            data = {**data, "sequence_number": next(sequence)}
            await response.write(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode())

        def text_events(text: str) -> list[Any]:
            out: list[Any] = [{"type": "response.created", "response": {**whole, "status": "in_progress", "output": []}}]
            if turn.reasoning:
                out += [
                    {"type": "response.output_item.added", "output_index": 0,
                     "item": {"type": "reasoning", "id": reasoning["id"], "summary": []}},
                    {"type": "response.output_item.done", "output_index": 0, "item": reasoning},
                ]
            at = 1 if turn.reasoning else 0
            if text:
                out.append({"type": "response.output_item.added", "output_index": at, "item": {
                    "type": "message", "id": f"msg_{rid}", "status": "in_progress", "role": "assistant", "content": []}})
                out += [{"type": "response.output_text.delta", "item_id": f"msg_{rid}", "output_index": at,
                         "content_index": 0, "delta": w} for w in _words(text)]
            return out

        offset = (1 if turn.text else 0) + (1 if turn.reasoning else 0)

        def call_events(i: int, call: ScriptedCall, pieces: list[str]) -> list[list[Any]]:
            item = {"type": "function_call", "id": f"fc_{call.id}", "call_id": call.id, "name": call.name,
                    "status": "in_progress"}
            index = i + offset
            steps: list[list[Any]] = [[{"type": "response.output_item.added", "output_index": index,
                                        "item": {**item, "arguments": ""}}]]
            steps += [[{"type": "response.function_call_arguments.delta", "item_id": item["id"],
                        "output_index": index, "delta": p}] for p in pieces]
            steps[-1] += [
                {"type": "response.function_call_arguments.done", "item_id": item["id"], "output_index": index,
                 "arguments": call.text, "name": call.name},
                {"type": "response.output_item.done", "output_index": index,
                 "item": {**item, "arguments": call.text, "status": "completed"}},
            ]
            return steps

        await self._play(turn, send, text_events, call_events, times)
        times.ended = time.perf_counter()
        await send({"type": "response.completed", "response": whole})
        await response.write_eof()
        return response

    # -- Anthropic Messages ------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body, turn = await self._begin(request)
        mid = f"msg_{next(self._ids)}"
        reason = "tool_use" if turn.calls else "end_turn"
        usage = {"input_tokens": 1, "output_tokens": 1}
        content: list[dict[str, Any]] = []
        signature = f"sig:{turn.reasoning[::-1]}"
        if turn.reasoning:
            content.append({"type": "thinking", "thinking": turn.reasoning, "signature": signature})
        if turn.text:
            content.append({"type": "text", "text": turn.text})
        for c in turn.calls:
            content.append({"type": "tool_use", "id": c.id, "name": c.name,
                            "input": c.arguments if isinstance(c.arguments, dict) else {}})
        message = {"id": mid, "type": "message", "role": "assistant", "model": body.get("model"),
                   "content": content, "stop_reason": reason, "stop_sequence": None, "usage": usage}
        if not body.get("stream"):
            return web.json_response(message)
        response = await self._sse(request)
        times = StreamTimes(time.perf_counter())
        self.streams.append(times)

        async def send(data: dict[str, Any]) -> None:
            await response.write(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode())

        offset = (1 if turn.text else 0) + (1 if turn.reasoning else 0)

        def text_events(text: str) -> list[Any]:
            out: list[Any] = [{"type": "message_start", "message": {**message, "content": [], "stop_reason": None}}]
            if turn.reasoning:
                out.append({"type": "content_block_start", "index": 0,
                            "content_block": {"type": "thinking", "thinking": "", "signature": ""}})
                out += [{"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": w}}
                        for w in _words(turn.reasoning)]
                out.append({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "signature_delta", "signature": signature}})
                out.append({"type": "content_block_stop", "index": 0})
            at = 1 if turn.reasoning else 0
            if text:
                out.append({"type": "content_block_start", "index": at, "content_block": {"type": "text", "text": ""}})
                out += [{"type": "content_block_delta", "index": at, "delta": {"type": "text_delta", "text": w}}
                        for w in _words(text)]
                out.append({"type": "content_block_stop", "index": at})
            return out

        def call_events(i: int, call: ScriptedCall, pieces: list[str]) -> list[list[Any]]:
            index = i + offset
            steps: list[list[Any]] = [[{"type": "content_block_start", "index": index, "content_block": {
                "type": "tool_use", "id": call.id, "name": call.name, "input": {}}}]]
            steps += [[{"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": p}}] for p in pieces]
            steps[-1].append({"type": "content_block_stop", "index": index})
            return steps

        await self._play(turn, send, text_events, call_events, times)
        times.ended = time.perf_counter()
        await send({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
                    "usage": {"output_tokens": 1}})
        await send({"type": "message_stop"})
        await response.write_eof()
        return response


def _unanswered(path: str, body: dict[str, Any]) -> list[str]:
    """The ids of the tool calls in a request's history that have no result after them."""
    asked: list[str] = []
    answered: set[str] = set()
    if path.endswith("/responses"):
        items = body.get("input")
        for item in items if isinstance(items, list) else ():
            if item.get("type") == "function_call":
                asked.append(item.get("call_id", ""))
            elif item.get("type") == "function_call_output":
                answered.add(item.get("call_id", ""))
        return [i for i in asked if i not in answered]
    for message in body.get("messages", []):
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        if path.endswith("/messages"):
            asked += [b.get("id", "") for b in blocks if b.get("type") == "tool_use"]
            answered |= {b.get("tool_use_id", "") for b in blocks if b.get("type") == "tool_result"}
        else:
            asked += [c.get("id", "") for c in message.get("tool_calls") or ()]
            if message.get("role") == "tool":
                answered.add(message.get("tool_call_id", ""))
    return [i for i in asked if i not in answered]


_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def _base64(data: Any) -> bool:
    import base64
    import binascii

    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, TypeError, ValueError):
        return False
    return isinstance(data, str) and bool(data)


def _data_url(url: Any) -> bool:
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        return False
    return _base64(url.split(";base64,", 1)[1])


def _anthropic_block(block: Any) -> str | None:
    """What is wrong with one block of a ``tool_result``'s content, as the Messages API
    takes them (text, base64 images of four types, PDF and plain-text documents)."""
    kind = block.get("type") if isinstance(block, dict) else None
    source = block.get("source") if isinstance(block, dict) else None
    if kind == "text":
        return None if isinstance(block.get("text"), str) else "a text block needs its text"
    if kind == "image":
        if not isinstance(source, dict) or source.get("type") != "base64":
            return "an image block needs a base64 source"
        if source.get("media_type") not in _IMAGE_TYPES:
            return f"image media_type must be one of {', '.join(_IMAGE_TYPES)}"
        return None if _base64(source.get("data")) else "image data must be base64"
    if kind == "document":
        if isinstance(source, dict) and source.get("type") == "base64" and source.get("media_type") == "application/pdf":
            return None if _base64(source.get("data")) else "document data must be base64"
        if isinstance(source, dict) and source.get("type") == "text" and source.get("media_type") == "text/plain":
            return None if isinstance(source.get("data"), str) else "a text document needs its data"
        return "a document block needs a base64 PDF or a text/plain source"
    return f"tool_result content blocks are text, image or document, not {kind!r}"


def _responses_item(item: Any) -> str | None:
    """What is wrong with one item of a ``function_call_output``'s output list."""
    kind = item.get("type") if isinstance(item, dict) else None
    if kind == "input_text":
        return None if isinstance(item.get("text"), str) else "input_text needs its text"
    if kind == "input_image":
        return None if _data_url(item.get("image_url")) or item.get("file_id") else "input_image needs an image_url (a base64 data URL) or a file_id"
    if kind == "input_file":
        return None if _data_url(item.get("file_data")) or item.get("file_id") else "input_file needs file_data (a base64 data URL) or a file_id"
    return f"function_call_output items are input_text, input_image or input_file, not {kind!r}"


def _malformed_results(path: str, body: dict[str, Any]) -> str | None:
    """Why the tool results of a request have a shape the API refuses, if they do."""
    if path.endswith("/responses"):
        items = body.get("input")
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and item.get("type") == "function_call_output":
                output = item.get("output")
                if isinstance(output, list):
                    problem = next(filter(None, map(_responses_item, output)), None)
                    if problem:
                        return problem
                elif not isinstance(output, str):
                    return "function_call_output output is a string or a list of input items"
        return None
    for message in body.get("messages", []):
        content = message.get("content")
        if path.endswith("/messages"):
            for block in content if isinstance(content, list) else ():
                if isinstance(block, dict) and block.get("type") == "tool_result" and isinstance(block.get("content"), list):
                    problem = next(filter(None, map(_anthropic_block, block["content"])), None)
                    if problem:
                        return problem
        elif message.get("role") == "tool":
            parts = content if isinstance(content, list) else []
            if not isinstance(content, (str, list)) or any(not isinstance(p, dict) or p.get("type") != "text" for p in parts):
                return "a tool message's content is text (a string or text parts) only"
    return None


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words) if w or i < len(words) - 1]


async def _demo() -> None:
    """Stream one scripted answer to itself and print when each event arrived."""
    import aiohttp

    model = ScriptedModel([Turn(text="Checking.", calls=[
        ScriptedCall("call_1", "get_weather", {"city": "Paris"}, done_at=0.1),
        ScriptedCall("call_2", "get_weather", {"city": "Rome"}, done_at=0.2),
    ])])
    async with model.serve() as base_url, aiohttp.ClientSession() as session:
        begun = time.perf_counter()
        body = {"model": "scripted", "stream": True, "messages": []}
        async with session.post(f"{base_url}/v1/messages", json=body) as response:
            async for line in response.content:
                if line.startswith(b"event: "):
                    print(f"{time.perf_counter() - begun:.3f}s  {line[7:].decode().strip()}")


if __name__ == "__main__":  # a demo: the examples, tests and benchmarks import this module
    asyncio.run(_demo())
