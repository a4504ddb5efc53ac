"""Reading tool calls out of model responses, whole or streamed, SDK objects or dicts.

Nothing here imports an SDK: their objects are read by attribute and dicts by key
(:func:`get`), so ``openai``, ``anthropic`` and plain JSON go through the same code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ToolCallRequest", "StreamParser", "assistant_turn", "get", "requests_in"]


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    """One tool call as the model wrote it, before any checking.

    Attributes:
        id: the call's id (OpenAI ``tool_call.id``, Responses ``call_id``, Anthropic
            ``tool_use.id``): the key of its result and its reply.
        name: the tool the model asked for.
        arguments: JSON text (OpenAI) or already a dict (Anthropic).
    """

    id: str
    name: str
    arguments: str | Mapping[str, Any] | None
    position: int = -1
    """Where the call is among the response's calls (0-based); -1: not known."""


def get(obj: Any, key: str, default: Any = None) -> Any:
    """``obj[key]`` for a mapping, ``obj.key`` for an SDK object; ``default`` if absent."""
    if type(obj) is dict:  # the common case, without the ABC check's cost
        return obj.get(key, default)
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _items(obj: Any) -> list[Any]:
    return list(obj) if isinstance(obj, (list, tuple)) else []


def requests_in(response: Any) -> list[ToolCallRequest]:
    """Every tool call of a response, in the order the model wrote them.

    Takes an OpenAI ``ChatCompletion``, its ``ChatCompletionMessage`` or that message's
    ``tool_calls``; a Responses API ``Response`` or its ``output``; an Anthropic
    ``Message`` or its ``content``; or the same as dicts.

    Raises:
        TypeError: nothing in ``response`` looks like any of these.
    """
    if isinstance(response, (list, tuple)):
        found = [r for item in response if (r := _request_of(item)) is not None]
        return [ToolCallRequest(r.id, r.name, r.arguments, i) for i, r in enumerate(found)]
    choices = get(response, "choices")
    if isinstance(choices, (list, tuple)):
        if not choices:
            return []
        return requests_in(get(choices[0], "message"))
    for key in ("tool_calls", "output", "content"):
        value = get(response, key)
        if isinstance(value, (list, tuple)):
            return requests_in(value)
    if _is_message(response):
        return []  # a message without tool calls
    raise TypeError(
        "calls() takes a model's response: an OpenAI ChatCompletion or ChatCompletionMessage, "
        "a Responses API Response (or its output), an Anthropic Message (or its content), "
        f"or the same as dicts; got {type(response).__name__}"
    )


def assistant_turn(response: Any) -> list[dict[str, Any]]:
    """The assistant's turn of a whole response, as the next request's messages (as
    dicts, everything kept: Responses' reasoning items, Anthropic's thinking blocks):
    Chat Completions one assistant message, Responses its output items, Anthropic one
    assistant message of its content blocks."""
    if isinstance(response, (list, tuple)):
        items = [_plain(item) for item in response]
        if any(get(item, "function") is not None for item in items):
            return [{"role": "assistant", "content": None, "tool_calls": items}]
        if any(item.get("type") in _ANTHROPIC_BLOCKS for item in items):
            return [{"role": "assistant", "content": items}]
        return items  # Responses output items
    choices = get(response, "choices")
    if isinstance(choices, (list, tuple)):
        return assistant_turn(get(choices[0], "message")) if choices else []
    output = get(response, "output")
    if isinstance(output, (list, tuple)):
        return [_plain(item) for item in output]
    content = get(response, "content")
    if get(response, "type") == "message" and isinstance(content, (list, tuple)):
        return [{"role": "assistant", "content": [_plain(block) for block in content]}]
    message = _plain(response)
    if not isinstance(message.get("tool_calls"), list):
        message.pop("tool_calls", None)
    return [message]


_ANTHROPIC_BLOCKS = frozenset(("text", "tool_use", "thinking", "redacted_thinking", "server_tool_use"))


def _plain(obj: Any) -> dict[str, Any]:
    """An SDK object as the dict the next request sends (unset fields left out)."""
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        data: dict[str, Any] = dump(exclude_none=True)
        return data
    return dict(obj) if isinstance(obj, Mapping) else {}


def _is_message(obj: Any) -> bool:
    return get(obj, "role") is not None or get(obj, "type") in ("message", "response")


def _request_of(item: Any) -> ToolCallRequest | None:
    kind = get(item, "type")
    function = get(item, "function")
    if function is not None and kind in (None, "function"):  # Chat Completions
        return ToolCallRequest(
            str(get(item, "id") or ""), str(get(function, "name") or ""), get(function, "arguments")
        )
    if kind == "function_call":  # Responses API
        call_id = get(item, "call_id") or get(item, "id") or ""
        return ToolCallRequest(str(call_id), str(get(item, "name") or ""), get(item, "arguments"))
    if kind == "tool_use":  # Anthropic
        return ToolCallRequest(str(get(item, "id") or ""), str(get(item, "name") or ""), get(item, "input"))
    return None


class _ObjectEnd:
    """Tells, one piece of text at a time, when a JSON object is complete: the moment its
    closing brace arrives (strings and escapes skipped), without parsing anything. Text
    after it (a second object) makes it no single object ("trailing")."""

    __slots__ = ("depth", "in_string", "escape", "state")

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escape = False
        self.state = "before"  # "before" -> "inside" -> "closed" -> "trailing" | "not-an-object"

    def feed(self, text: str) -> bool:
        """Whether the text so far is one whole object (whitespace after it allowed)."""
        if self.state in ("trailing", "not-an-object"):
            return False
        for ch in text:
            if self.state == "closed":
                if not ch.isspace():
                    self.state = "trailing"  # left to the end of the call, judged whole
                    return False
            elif self.in_string:
                if self.escape:
                    self.escape = False
                elif ch == "\\":
                    self.escape = True
                elif ch == '"':
                    self.in_string = False
            elif self.state == "before":
                if ch.isspace():
                    continue
                if ch != "{":
                    self.state = "not-an-object"  # left to the end of the stream
                    return False
                self.state, self.depth = "inside", 1
            elif ch == '"':
                self.in_string = True
            elif ch in "{[":
                self.depth += 1
            elif ch in "}]":
                self.depth -= 1
                if self.depth == 0:
                    self.state = "closed"
        return self.state == "closed"


@dataclass(eq=False)
class _Pending:
    position: int = 0
    id: str = ""
    name: str = ""
    parts: list[str] = field(default_factory=list)
    end: _ObjectEnd = field(default_factory=_ObjectEnd)
    emitted: bool = False
    output_index: int | None = None  # Responses: where the item is in the output
    whole: Mapping[str, Any] | None = None  # Anthropic's start block input, Responses' done

    def arguments(self) -> str | Mapping[str, Any]:
        text = "".join(self.parts)
        if text.strip():
            return text
        return self.whole if self.whole is not None else "{}"


_ANTHROPIC_EVENTS = frozenset(
    ("message_start", "message_delta", "message_stop", "content_block_start",
     "content_block_delta", "content_block_stop", "ping")
)


class StreamParser:
    """Reads a streamed response event by event and tells which tool calls are complete.

    OpenAI chunks and Responses events: a call is complete once its arguments form a
    whole JSON object and the next event adds nothing to them (the model moved on: the
    next call, its text, ``finish_reason``; Responses' ``arguments.done``), so that text
    after the object (a second object) is seen before the call runs, and judged as a
    whole response's would be. A call whose arguments are no object is complete at its
    end (the next call at its index, the stream's end). Anthropic events: at the call's
    ``content_block_stop``. Text deltas go to ``on_text`` as they come.
    """

    def __init__(self, on_text: Callable[[str], object] | None = None) -> None:
        self.on_text = on_text
        self.provider: str | None = None
        self.text_parts: list[str] = []
        self.pending: dict[Any, _Pending] = {}
        self.order: list[_Pending] = []
        self.finish_reason: str | None = None
        self.blocks: dict[int, dict[str, Any]] = {}  # Anthropic content, for messages()
        self.reasoning: dict[int, dict[str, Any]] = {}  # Responses' reasoning items, by output index
        self.text_index: int | None = None  # Responses: the output index of the first message
        self.ready: list[_Pending] = []  # whole objects, run at the next event unless it adds to them
        self.touched: set[int] = set()  # positions of the calls this event added to

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def _text(self, delta: Any) -> None:
        if isinstance(delta, str) and delta:
            self.text_parts.append(delta)
            if self.on_text is not None:
                self.on_text(delta)

    def _open(self, key: Any) -> _Pending:
        pending = self.pending.get(key)
        if pending is None:
            pending = self._new(key)
        return pending

    def _new(self, key: Any) -> _Pending:
        pending = self.pending[key] = _Pending(len(self.order))
        self.order.append(pending)
        return pending

    def _emit(self, pending: _Pending) -> list[ToolCallRequest]:
        if pending.emitted:
            return []
        pending.emitted = True
        return [ToolCallRequest(pending.id, pending.name, pending.arguments(), pending.position)]

    def _feed_args(self, pending: _Pending, delta: Any) -> list[ToolCallRequest]:
        if not isinstance(delta, str) or not delta or pending.emitted:
            return []
        pending.parts.append(delta)
        self.touched.add(pending.position)
        if pending.end.feed(delta) and pending not in self.ready:
            self.ready.append(pending)
        return []

    def feed(self, event: Any) -> list[ToolCallRequest]:
        """The tool calls this event completes (usually none, sometimes one)."""
        waiting = self.ready
        if not waiting:
            return self._dispatch(event)
        self.ready, self.touched = [], set()
        out = self._dispatch(event)
        released: list[ToolCallRequest] = []
        for pending in waiting:
            if pending.emitted:
                continue
            if pending.position in self.touched:  # it went on (whitespace, or a second object)
                if pending.end.state == "closed":
                    self.ready.append(pending)
                continue
            released.extend(self._emit(pending))
        return released + out

    def listed(self) -> list[tuple[int, str, str, bool]]:
        """The calls :meth:`messages` lists, in order: ``(position, id, name, complete)``;
        a call not complete was cut short (the stream ended or was left)."""
        return [(p.position, p.id, p.name, p.emitted) for p in self._listed()]

    def _listed(self) -> list[_Pending]:
        return [p for p in self.order if p.emitted or p.parts or p.whole is not None]

    def _dispatch(self, event: Any) -> list[ToolCallRequest]:
        choices = get(event, "choices")
        if choices is not None:
            self.provider = "openai"
            return self._chat_chunk(choices)
        kind = get(event, "type")
        if isinstance(kind, str) and kind.startswith("response."):
            self.provider = "openai-responses"
            return self._responses_event(kind, event)
        if kind in _ANTHROPIC_EVENTS:
            self.provider = "anthropic"
            return self._anthropic_event(kind, event)
        return []  # the anthropic helper's derived events (text, input_json), keep-alives

    def finish(self) -> list[ToolCallRequest]:
        """The calls never completed by the end of the stream (arguments that are not a
        JSON object, or cut short): they are checked now, and fail as invalid JSON."""
        out: list[ToolCallRequest] = []
        for pending in self.order:
            out.extend(self._emit(pending))
        return out

    # -- OpenAI Chat Completions -------------------------------------------------------------

    def _chat_chunk(self, choices: Iterable[Any]) -> list[ToolCallRequest]:
        out: list[ToolCallRequest] = []
        for choice in choices:
            if (get(choice, "index") or 0) != 0:
                continue  # n > 1: the first choice is the one the agent acts on
            delta = get(choice, "delta")
            if delta is not None:
                self._text(get(delta, "content"))
                for part in get(delta, "tool_calls") or ():
                    index = get(part, "index") or 0
                    pending = self.pending.get(index)
                    new_id = get(part, "id")
                    if pending is None:
                        pending = self._new(index)
                    elif new_id and pending.id and str(new_id) != pending.id:
                        # Another call at the same index (or with none): the first is over.
                        out.extend(self._emit(pending))
                        pending = self._new(index)
                    if new_id:
                        pending.id = str(new_id)
                    function = get(part, "function")
                    if function is not None:
                        if get(function, "name"):
                            pending.name += str(get(function, "name"))
                        out.extend(self._feed_args(pending, get(function, "arguments")))
            if get(choice, "finish_reason"):
                self.finish_reason = str(get(choice, "finish_reason"))
        return out

    # -- OpenAI Responses API ----------------------------------------------------------------

    def _responses_event(self, kind: str, event: Any) -> list[ToolCallRequest]:
        if kind == "response.output_text.delta":
            self._text(get(event, "delta"))
            return []
        if kind in ("response.output_item.added", "response.output_item.done"):
            item = get(event, "item")
            itype, at = get(item, "type"), get(event, "output_index")
            if itype == "reasoning" and isinstance(at, int):
                self.reasoning[at] = _plain(item)  # the done item (encrypted_content too) wins
            elif itype == "message" and isinstance(at, int):
                self.text_index = at if self.text_index is None else min(self.text_index, at)
            if itype != "function_call":
                return []
            pending = self._open(get(item, "id") or at)
            if isinstance(at, int):
                pending.output_index = at
            pending.id = str(get(item, "call_id") or get(item, "id") or pending.id)
            pending.name = str(get(item, "name") or pending.name)
            if kind == "response.output_item.done":
                return self._done(pending, get(item, "arguments"))
            return self._feed_args(pending, get(item, "arguments"))
        if kind == "response.function_call_arguments.delta":
            pending = self._open(get(event, "item_id") or get(event, "output_index"))
            return self._feed_args(pending, get(event, "delta"))
        if kind == "response.function_call_arguments.done":
            pending = self._open(get(event, "item_id") or get(event, "output_index"))
            return self._done(pending, get(event, "arguments"))
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            status = get(get(event, "response"), "status")
            self.finish_reason = str(status) if status else kind.rsplit(".", 1)[-1]
        return []

    def _done(self, pending: _Pending, arguments: Any) -> list[ToolCallRequest]:
        if not pending.emitted and isinstance(arguments, str):
            pending.parts = [arguments]  # the whole text: it wins over the deltas
        return self._emit(pending)

    # -- Anthropic Messages ------------------------------------------------------------------

    def _anthropic_event(self, kind: str, event: Any) -> list[ToolCallRequest]:
        if kind == "content_block_start":
            index = get(event, "index") or 0
            block = get(event, "content_block")
            btype = get(block, "type")
            if btype == "tool_use":
                pending = self._open(index)
                pending.id = str(get(block, "id") or "")
                pending.name = str(get(block, "name") or "")
                start_input = get(block, "input")
                pending.whole = start_input if isinstance(start_input, Mapping) else None
                self.blocks[index] = {"type": "tool_use", "id": pending.id, "name": pending.name}
            elif btype == "text":
                self.blocks[index] = {"type": "text", "text": ""}
                self._anthropic_text(index, get(block, "text"))
            elif btype == "thinking":  # kept whole: the next request sends it back, signed
                self.blocks[index] = {"type": "thinking", "thinking": str(get(block, "thinking") or ""),
                                      "signature": str(get(block, "signature") or "")}
            elif btype == "redacted_thinking":
                self.blocks[index] = {"type": "redacted_thinking", "data": str(get(block, "data") or "")}
            return []
        if kind == "content_block_delta":
            index = get(event, "index") or 0
            delta = get(event, "delta")
            dtype = get(delta, "type")
            if dtype == "text_delta":
                self._anthropic_text(index, get(delta, "text"))
            elif dtype in ("thinking_delta", "signature_delta") and index in self.blocks:
                field = "thinking" if dtype == "thinking_delta" else "signature"
                piece = get(delta, field)
                if isinstance(piece, str) and self.blocks[index]["type"] == "thinking":
                    self.blocks[index][field] += piece
            elif dtype == "input_json_delta" and index in self.pending:
                part = get(delta, "partial_json")
                if isinstance(part, str) and part:
                    self.pending[index].parts.append(part)
            return []
        if kind == "content_block_stop":
            stopped = self.pending.get(get(event, "index") or 0)
            return self._emit(stopped) if stopped is not None else []
        if kind == "message_delta":
            reason = get(get(event, "delta"), "stop_reason")
            if reason:
                self.finish_reason = str(reason)
        return []

    def _anthropic_text(self, index: int, text: Any) -> None:
        if isinstance(text, str) and text:
            block = self.blocks.get(index)
            if block is not None and block["type"] == "text":
                block["text"] += text
            self._text(text)

    # -- the assistant's turn, to send back ---------------------------------------------------

    def messages(self) -> list[dict[str, Any]]:
        """The assistant's turn as the next request's messages (before the tool replies)."""
        calls = self._listed()
        if self.provider == "anthropic":
            content: list[dict[str, Any]] = []
            for index in sorted(self.blocks):
                block = dict(self.blocks[index])
                if block["type"] == "text":
                    if block["text"]:
                        content.append(block)
                    continue
                if block["type"] == "tool_use":
                    pending = self.pending.get(index)
                    block["input"] = _as_object(pending.arguments()) if pending is not None else {}
                content.append(block)  # thinking blocks too, with their signatures
            return [{"role": "assistant", "content": content}]
        if self.provider == "openai-responses":
            # In output order: reasoning items (their encrypted_content kept), the text, the calls.
            placed: list[tuple[float, int, dict[str, Any]]] = [
                (index, 0, dict(item)) for index, item in self.reasoning.items()
            ]
            if self.text:
                text_at = -1 if self.text_index is None else self.text_index
                placed.append((text_at, 0, {"role": "assistant", "content": self.text}))
            for p in calls:
                args = p.arguments()
                call_at = math.inf if p.output_index is None else p.output_index
                placed.append((call_at, p.position, {
                    "type": "function_call", "call_id": p.id, "name": p.name,
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                }))
            return [item for _, _, item in sorted(placed, key=lambda e: (e[0], e[1]))]
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if calls:
            message["tool_calls"] = [
                {"id": p.id, "type": "function", "function": {"name": p.name, "arguments": "".join(p.parts)}}
                for p in calls
            ]
        return [message]


def _as_object(arguments: str | Mapping[str, Any]) -> Any:
    if isinstance(arguments, Mapping):
        return dict(arguments)
    try:
        value = json.loads(arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
