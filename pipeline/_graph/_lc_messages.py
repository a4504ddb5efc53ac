"""The LangChain callback handler behind ``stream_mode="messages"`` (imported only then).

As LangGraph's ``StreamMessagesHandler``: being a streaming handler, it makes a chat model
called with ``invoke`` stream; each token chunk is streamed with the model run's metadata
(the node run's, plus what LangChain adds: ``ls_provider``, ``ls_model_type``, ...), and a
model's final message is streamed unless its chunks were (by id).
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, LLMResult
from langchain_core.runnables.config import var_child_runnable_config
from pydantic import BaseModel

from ._routing import Command

if TYPE_CHECKING:
    from ._stream_modes import _Extra

NOSTREAM = "nostream"  # LangGraph's TAG_NOSTREAM: a model with this tag is not streamed

RUNNABLE_CONFIG: contextvars.ContextVar[Any] = var_child_runnable_config
"""LangChain's config of the runnable running now: a node run's, while it runs, so that a
chat model called without ``config`` inherits the handler (as in a LangGraph node)."""


class MessagesHandler(BaseCallbackHandler):
    """Streams chat model tokens and a node run's messages as "messages" chunks.

    Its ``tap_output_*`` methods make it a streaming handler (LangChain checks for them),
    so a chat model called with ``invoke`` streams its tokens to it.
    """

    run_inline = True  # called where the model runs, in order (not in an executor)

    def __init__(self, extra: _Extra) -> None:
        self.extra = extra
        self.runs: dict[UUID, tuple[str, dict[str, Any]]] = {}  # model run -> (namespace, metadata)
        self.seen: set[str] = set()

    def saw(self, value: Any) -> None:
        """A node run starts with ``value``: its messages are not its to stream."""
        self.seen.update(_input_message_ids(value))

    @staticmethod
    def messages_in(value: Any) -> list[BaseMessage]:
        """The messages a node's return value writes, where LangGraph looks for them: the
        value itself, a list, or the fields of an update (a Command's ``update``)."""
        if isinstance(value, Command):
            return _messages_of(value.update)
        if isinstance(value, Sequence) and any(isinstance(v, Command) for v in value):
            found: list[BaseMessage] = []
            for item in value:
                found.extend(_messages_of(item.update if isinstance(item, Command) else item))
            return found
        return _messages_of(value)

    def emit(self, metadata: dict[str, Any], message: Any, *, dedupe: bool = False) -> None:
        if dedupe and message.id in self.seen:
            return
        if message.id is None:
            message.id = str(uuid4())
        self.seen.add(message.id)
        self.extra.message(str(metadata.get("langgraph_checkpoint_ns", "")), message, metadata)

    # The iterator taps of LangChain's streaming handler protocol: nothing to tap.
    def tap_output_aiter(self, run_id: UUID, output: Any) -> Any:
        return output

    def tap_output_iter(self, run_id: UUID, output: Any) -> Any:
        return output

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        if not metadata or (tags and NOSTREAM in tags):
            return
        namespace = str(metadata.get("langgraph_checkpoint_ns", ""))
        if not self.extra.owns(namespace):
            return
        user_tags = [t for t in tags or () if not t.startswith("seq:step")]
        if user_tags:
            metadata["tags"] = user_tags
        self.runs[run_id] = (namespace, metadata)

    def on_llm_new_token(
        self,
        token: str | list[str | dict[str, Any]],
        *,
        chunk: Any = None,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        if not isinstance(chunk, ChatGenerationChunk):
            return
        found = self.runs.get(run_id)
        if found is not None:
            self.emit(found[1], chunk.message)

    def on_llm_end(
        self,
        response: LLMResult,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> Any:
        found = self.runs.pop(run_id, None)
        if found is not None and response.generations and response.generations[0]:
            generation = response.generations[0][0]
            if isinstance(generation, ChatGeneration):
                self.emit(found[1], generation.message, dedupe=True)

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> Any:
        self.runs.pop(run_id, None)


def _state_values(obj: Any) -> Sequence[Any]:
    if isinstance(obj, dict):
        return list(obj.values())
    if isinstance(obj, BaseModel):
        return [getattr(obj, k) for k in type(obj).model_fields]
    if is_dataclass(obj) and not isinstance(obj, type):
        return [getattr(obj, f.name) for f in fields(obj)]
    return ()


def _messages_of(value: Any) -> list[BaseMessage]:
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [v for v in value if isinstance(v, BaseMessage)]
    found: list[BaseMessage] = []
    for field in _state_values(value):
        if isinstance(field, BaseMessage):
            found.append(field)
        elif isinstance(field, Sequence) and not isinstance(field, str):
            found.extend(v for v in field if isinstance(v, BaseMessage))
    return found


def _input_message_ids(value: Any) -> list[str]:
    """The ids of the messages in a node's input (they are not the node's to stream)."""
    ids: list[str] = []
    for field in _state_values(value):
        if isinstance(field, BaseMessage):
            if field.id is not None:
                ids.append(field.id)
        elif isinstance(field, Sequence) and not isinstance(field, str):
            ids.extend(v.id for v in field if isinstance(v, BaseMessage) and v.id is not None)
    return ids
