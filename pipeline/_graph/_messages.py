"""``add_messages``: LangGraph's reducer for a conversation held in the state."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from .._durable._codec import new_message_id

__all__ = ["REMOVE_ALL_MESSAGES", "MessagesState", "add_messages"]

REMOVE_ALL_MESSAGES = "__remove_all__"
"""The id of a ``RemoveMessage`` that clears the conversation: ``add_messages`` keeps only
what follows it in the update (LangGraph's name and value)."""


def add_messages(left: Any, right: Any) -> list[Any]:
    """Merge two message lists: append new messages, replace those with an id already seen.

    With ``langchain_core`` installed, every message becomes a LangChain message as in
    LangGraph: dicts (``{"role": "user", "content": ...}``), ``("user", "hi")`` tuples and
    strings, and message chunks become whole messages. Without it, a message is a dict with
    an ``"id"`` key or an object with an ``id`` attribute. Messages without an id get one
    (a uuid4 string, marked so that a journal's call identity leaves it out: the content
    and place of such a message say which it is), so a later update can replace them. A message whose class is named
    ``RemoveMessage`` removes the message with its id; one whose id is
    :data:`REMOVE_ALL_MESSAGES` clears the conversation (what follows it in the update is
    kept).

    Examples:
        >>> class State(TypedDict):
        ...     messages: Annotated[list, add_messages]
        >>> merged = add_messages([("user", "hi")], [{"role": "ai", "content": "hello", "id": "2"}])
        >>> [type(m).__name__ for m in merged]
        ['HumanMessage', 'AIMessage']

    Args:
        left: the messages so far (one message or a list).
        right: the update (one message or a list).

    Returns:
        A new list; neither argument is changed (dicts without an id are copied).

    Raises:
        ValueError: if a RemoveMessage names an id that is not in the list.
    """
    lhs = _normalize(left)
    rhs = _normalize(right)
    clear = [i for i, m in enumerate(rhs) if type(m).__name__ == "RemoveMessage" and _id(m) == REMOVE_ALL_MESSAGES]
    if clear:  # the last one counts: what follows it is the conversation
        return rhs[clear[-1] + 1 :]
    position = {_id(m): i for i, m in enumerate(lhs)}
    merged: list[Any] = list(lhs)
    removed: set[str] = set()
    for message in rhs:
        key = _id(message)
        if type(message).__name__ == "RemoveMessage":
            if key not in position:
                raise ValueError(f"Attempting to delete a message with an ID that doesn't exist ('{key}')")
            removed.add(key)
            continue
        removed.discard(key)
        if key in position:
            merged[position[key]] = message
        else:
            position[key] = len(merged)
            merged.append(message)
    return [m for m in merged if _id(m) not in removed] if removed else merged


def _normalize(messages: Any) -> list[Any]:
    if messages is None:
        return []
    if not isinstance(messages, list):
        messages = [messages]
    converted = messages
    try:
        from langchain_core.messages import BaseMessage, BaseMessageChunk  # the user's own classes
    except ImportError:
        pass
    else:
        if not all(isinstance(m, BaseMessage) and not isinstance(m, BaseMessageChunk) for m in messages):
            from langchain_core.messages import convert_to_messages, message_chunk_to_message

            converted = [message_chunk_to_message(m) for m in convert_to_messages(messages)]
    out = []
    for message in converted:
        if isinstance(message, dict):
            if message.get("id") is None:
                message = {**message, "id": new_message_id()}
        elif getattr(message, "id", "") is None:
            message.id = new_message_id()  # as LangGraph does: the id sticks to the message
        out.append(message)
    return out


def _id(message: Any) -> str:
    if isinstance(message, dict):
        return str(message.get("id"))
    return str(getattr(message, "id", id(message)))


class MessagesState(TypedDict):
    """A state holding one conversation, as LangGraph's ``MessagesState``.

    Examples:
        >>> class State(MessagesState):
        ...     summary: str
    """

    messages: Annotated[list[Any], add_messages]
