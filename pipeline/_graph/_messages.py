"""``add_messages``: LangGraph's reducer for a conversation held in the state."""

from __future__ import annotations

from typing import Any

from .._durable._codec import new_message_id

__all__ = ["add_messages"]


def add_messages(left: Any, right: Any) -> list[Any]:
    """Merge two message lists: append new messages, replace those with an id already seen.

    A message is a dict (``{"role": ..., "content": ..., "id": ...}``) or an object with an
    ``id`` attribute (LangChain's messages). Messages without an id get one (a uuid4
    string, marked so that a journal's call identity leaves it out: the content and place
    of such a message say which it is), so a later update can replace them. A message whose class is named
    ``RemoveMessage`` removes the message with its id. With ``langchain_core`` installed,
    ``("user", "hi")`` tuples and strings become LangChain messages, as in LangGraph;
    dicts stay dicts (LangGraph would convert them too).

    Examples:
        >>> class State(TypedDict):
        ...     messages: Annotated[list, add_messages]
        >>> add_messages([{"id": "1", "content": "hi"}], [{"id": "1", "content": "hello"}])
        [{'id': '1', 'content': 'hello'}]

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
    if any(isinstance(m, (str, tuple)) for m in messages):
        try:
            from langchain_core.messages import convert_to_messages  # the user's own classes
        except ImportError:
            pass
        else:
            converted = [convert_to_messages([m])[0] if isinstance(m, (str, tuple)) else m for m in messages]
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
