"""``ToolNode`` and ``tools_condition``: LangGraph's prebuilt tool node, its calls run by
skillstream (one ``run()``: a cap, each skill's timeout, retries, rate limit, fallback).

It is a LangChain ``Runnable`` (``invoke``/``ainvoke``), so LangGraph's own ``StateGraph``
calls it as it calls its own ``ToolNode``; skillstream's ``StateGraph`` calls it as an
async function of ``(state, config)``. ``langchain_core`` (the ``langchain`` extra) is
imported when the first node is made, never by ``import pipeline``.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import functools
import inspect
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from types import UnionType
from typing import Any, Literal, Self, Union, get_args, get_origin, get_type_hints

import pydantic_core

from .._core._approval import Approve, Decision, Reject
from .._core._errors import SkillError, SkillTimeout
from .._core._instruments import Instrument
from .._core._result import SkillResult, Status
from .._core._skill import Skill, SkillCall, SkillOptions, skill
from .._stream._results import run
from ._lc_calls import Prepared, prepare
from ._replies import reply_content
from ._toolset import ToolCallError, Toolset

__all__ = ["ToolNode", "tools_condition"]

# LangGraph's texts (langgraph.prebuilt.tool_node), so that the model reads the same.
INVALID_TOOL_NAME_ERROR_TEMPLATE = "Error: {requested_tool} is not a valid tool, try one of [{available_tools}]."
TOOL_CALL_ERROR_TEMPLATE = "Error: {error}\n Please fix your mistakes."
_BLOCK_TYPES = ("text", "image_url", "image", "json", "search_result", "custom_tool_call_output", "document", "file")

ErrorHandling = bool | str | Callable[..., str] | type[Exception] | tuple[type[Exception], ...]

# The attempt's (exceptions by call key, call key): set by the node's instrument, read by
# the wrapped tool functions, so that the node has each call's exception itself (its type,
# for handle_tool_errors; to raise it, with handle_tool_errors=False).
_SLOT: contextvars.ContextVar[tuple[dict[str, BaseException | None], str] | None] = contextvars.ContextVar(
    "skillstream_toolnode_slot", default=None
)


class _Catch(Instrument):
    """Gives each attempt the place its exception is kept."""

    def __init__(self) -> None:
        self.errors: dict[str, BaseException | None] = {}

    def call_context(self, call: SkillCall[Any], index: int, attempt: int) -> None:
        self.errors[call.key] = None  # an earlier attempt's error is not this one's
        _SLOT.set((self.errors, call.key))


def _keep(exc: BaseException) -> None:
    slot = _SLOT.get()
    if slot is not None:
        slot[0][slot[1]] = exc


def _catching(made: Skill[Any, Any]) -> Skill[Any, Any]:
    """``made`` with a function that keeps its exception (the same options: its timeout,
    retry, rate limit and fallback). Process, Ray and custom-executor skills are kept as
    they are: their errors come back as ``error.type`` and ``error.message`` only."""
    if made.kind not in ("async", "thread") or made.executor is not None:
        return made
    fn = made.fn
    if made.kind == "async":

        @functools.wraps(fn)
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                _keep(exc)
                raise

    else:

        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                _keep(exc)
                raise

    copy: Skill[Any, Any] = Skill(wrapped, made.options)
    spec = getattr(made, "_tool_spec", None)
    if spec is not None:
        copy._tool_spec = spec  # type: ignore[attr-defined]
    return copy


def _langchain() -> Any:
    try:
        from langchain_core import messages
    except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
        raise ImportError(
            "ToolNode makes LangChain messages (ToolMessage): pip install 'skillstream[langchain]'"
        ) from exc
    return messages


def _is_langchain_tool(item: Any) -> bool:
    return any(
        cls.__name__ == "BaseTool" and cls.__module__.startswith("langchain_core")
        for cls in type(item).__mro__
    )


def _is_command(value: Any) -> bool:
    return type(value).__name__ == "Command" and hasattr(value, "goto") and hasattr(value, "update")


def _is_ai(message: Any) -> bool:
    return getattr(message, "type", None) == "ai" or (
        isinstance(message, dict) and message.get("role", message.get("type")) in ("assistant", "ai")
    )


def _messages_of(state: Any, key: str) -> list[Any]:
    if isinstance(state, list):
        return state
    if isinstance(state, dict):
        messages = state.get(key)
    else:
        messages = getattr(state, key, None)
    return list(messages or [])


def _tool_calls_of(message: Any) -> list[dict[str, Any]]:
    calls = message.get("tool_calls") if isinstance(message, dict) else getattr(message, "tool_calls", None)
    return list(calls or [])


def tools_condition(state: Any, messages_key: str = "messages") -> Literal["tools", "__end__"]:
    """Where to go after the model's node: ``"tools"`` when the last message is an AI
    message with tool calls, else ``"__end__"`` (``END``), as LangGraph's
    ``tools_condition``.

    Examples:
        >>> graph.add_conditional_edges("agent", tools_condition)

    Args:
        state: a dict or object holding the messages under ``messages_key``, or the
            list of messages.
        messages_key: where the messages are.

    Raises:
        ValueError: the state has no messages.
    """
    messages = _messages_of(state, messages_key)
    if not messages:
        raise ValueError(f"No messages found in input state to tool_edge: {state}")
    last = messages[-1]
    return "tools" if _tool_calls_of(last) else "__end__"


def _content(value: Any) -> Any:
    """A tool's value as a ToolMessage's content, as LangGraph makes it: a string or a
    list of content blocks as it is, anything else as JSON (pydantic models and
    dataclasses too), else ``str()``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(x, dict) and x.get("type") in _BLOCK_TYPES for x in value):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except Exception:  # noqa: BLE001 - any value a tool returns has some text
        try:
            return pydantic_core.to_json(value, fallback=str).decode()
        except Exception:  # noqa: BLE001
            return str(value)


def _handled_types(flag: Any) -> tuple[type[BaseException], ...]:
    if isinstance(flag, type) and issubclass(flag, Exception):
        return (flag,)
    if isinstance(flag, tuple):
        return flag
    if callable(flag) and not isinstance(flag, type):
        return _infer_handled_types(flag)
    return (Exception,)


def _infer_handled_types(handler: Callable[..., str]) -> tuple[type[BaseException], ...]:
    """The exception types a handler's first parameter is annotated with (``Exception``
    when it has none), as LangGraph reads them."""
    try:
        params = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):
        return (Exception,)
    if not params:
        return (Exception,)
    first = params[1] if params[0].name in ("self", "cls") and len(params) == 2 else params[0]
    try:
        hints = get_type_hints(handler)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: every type
        return (Exception,)
    hint = hints.get(first.name)
    if hint is None:
        return (Exception,)
    if get_origin(hint) in (Union, UnionType):
        types = get_args(hint)
    else:
        types = (hint,)
    if not all(isinstance(t, type) and issubclass(t, BaseException) for t in types):
        raise ValueError(
            "handle_tool_errors: annotate the handler's error with an Exception type or a "
            f"union of them, e.g. `def handler(e: ValueError) -> str`; got {hint!r}"
        )
    return tuple(types)


def _error_text(exc: BaseException, flag: Any) -> str:
    if isinstance(exc, ToolCallError) and not isinstance(flag, str) and not _is_handler(flag):
        return str(exc)  # written for the model: what to fix, and the arguments to send
    if isinstance(flag, (bool, tuple)) or (isinstance(flag, type) and issubclass(flag, Exception)):
        return TOOL_CALL_ERROR_TEMPLATE.format(error=repr(exc))
    if isinstance(flag, str):
        return flag
    if callable(flag):
        return str(flag(exc))
    raise ValueError(f"handle_tool_errors is a bool, a str, a callable or exception types; got {flag!r}")


def _is_handler(flag: Any) -> bool:
    return callable(flag) and not isinstance(flag, type)


def _exception_of(result: SkillResult, kept: BaseException | None) -> BaseException:
    """The exception a call without a value ended with: its own when the node kept it;
    else one made from the result (a timeout, a skipped call, a rejected call)."""
    if kept is not None:
        return kept
    error = result.error
    message = error.message if error is not None else ""
    if result.status is Status.TIMEOUT:
        return SkillTimeout(message or f"tool {result.name!r} timed out")
    if error is not None and error.type == "ToolCallError":
        return ToolCallError(message)
    return SkillError(f"{error.type}: {message}" if error is not None else message, result=result)


def _run_sync(make: Callable[[], Any]) -> Any:
    """``asyncio.run(make())``, in a thread of its own when this thread runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    box: dict[str, Any] = {}
    # The caller's context goes along: the graph's config and interrupt scratch are in it.
    context = contextvars.copy_context()

    def work() -> None:
        try:
            box["value"] = context.run(asyncio.run, make())
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=work, name="skillstream-toolnode")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class ToolNode:
    """LangGraph's ``ToolNode``, its tool calls run by skillstream: a node that takes the
    last AI message's ``tool_calls``, runs them concurrently in one ``run()`` and returns
    ``{"messages": [ToolMessage, ...]}`` in the order the model asked.

    A drop-in for ``langgraph.prebuilt.ToolNode`` in LangGraph's ``StateGraph`` (it is a
    LangChain ``Runnable``: ``invoke``, ``ainvoke``) and in skillstream's. The tools'
    own options apply: a ``@skill``'s timeout, retries, rate limit and fallback; the
    node adds a cap on calls in flight and a deadline for them all.

    Examples:
        >>> @skill(timeout=10, retry=Retry(attempts=3), fallback="no forecast")
        ... async def get_weather(city: str) -> str:
        ...     '''The weather in a city.'''
        >>> graph.add_node("tools", ToolNode([get_weather, search]))
        >>> graph.add_conditional_edges("agent", tools_condition)

    Args:
        tools: skills, plain functions (made skills with default options) or LangChain
            tools (``BaseTool``; called with the tool call, as LangGraph calls them).
        name: the node's name.
        handle_tool_errors: what a call that ends without a value gives, as LangGraph's:
            ``True`` (the default): a ToolMessage with ``status="error"`` and
            ``"Error: {repr(exception)}\\n Please fix your mistakes."``; a str: that
            text; exception types (one or a tuple): those handled, others raised; a
            callable ``(exception) -> str``: its text, for the types its first
            parameter is annotated with; ``False``: the exception is raised. A timeout
            is a :class:`SkillTimeout`, arguments that do not fit a ``ToolCallError``
            whose text tells the model what to fix; a call of an unknown tool always
            gets LangGraph's "not a valid tool" message.
        messages_key: the state's key (or attribute) holding the messages; the update
            uses the same key.
        max_concurrency: most tool calls in flight; ``None`` (the default): all of
            them at once, as LangGraph runs them.
        timeout: seconds for all of the node's calls; at it, calls in flight end
            ``timeout`` and calls not started ``skipped`` (error messages, or raised,
            as ``handle_tool_errors`` says).

    Calls that need approval (a skill's ``needs_approval``): when the model's message
    has one, the node pauses the graph before any of its calls runs, with
    ``interrupt(pending)`` (LangGraph's inside LangGraph's graph, skillstream's in
    skillstream's; the graph needs a checkpointer). ``pending`` lists those calls as
    ``{"name": ..., "args": {...}, "id": ...}``. Resume with
    ``Command(resume={tool_call_id: decision, ...})``, one decision per listed call:

    - ``{"type": "accept"}`` (or ``"accept"``, or ``Approve()``): it runs as asked;
    - ``{"type": "edit", "args": {...}}`` (or ``Approve(arguments={...})``): it runs
      with those arguments replaced, checked as the model's are (arguments that do not
      fit get the same error message);
    - ``{"type": "reject", "reason": "..."}`` (or ``"reject"``, or ``Reject(reason)``):
      it does not run; its ToolMessage (``status="error"``) tells the model the user did
      not allow it, and why.

    Then every call of the message runs, and each gets its ToolMessage in the model's
    order. A listed call with no decision is a ``ValueError``, a resume value that is not
    a mapping a ``TypeError``.

        >>> state = app.invoke({"messages": [...]}, config)
        >>> state["__interrupt__"][0].value
        [{'name': 'transfer', 'args': {'to': 'bob', 'amount': 500}, 'id': 'call_1'}]
        >>> app.invoke(Command(resume={"call_1": {"type": "edit", "args": {"amount": 90}}}), config)

    Raises:
        ImportError: ``langchain_core`` is missing (``pip install 'skillstream[langchain]'``).
    """

    name: str | None = "tools"

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        # A Runnable for LangGraph: the class is made with langchain_core, on first use.
        target = cls if _RUNNABLE_BASE in cls.__mro__[1:] else _runnable_class(cls)
        made: Self = object.__new__(target)
        return made

    def __init__(
        self,
        tools: Sequence[Any],
        *,
        name: str = "tools",
        handle_tool_errors: ErrorHandling = True,
        messages_key: str = "messages",
        max_concurrency: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self._messages = _langchain()
        self.name = name
        self._handle_tool_errors = handle_tool_errors
        self._messages_key = messages_key
        self._max_concurrency = max_concurrency
        self._timeout = timeout
        self._langchain_tools: dict[str, Any] = {}
        self._langchain_skills: dict[str, Skill[Any, Any]] = {}
        self._langchain_prepared: dict[str, Prepared | None] = {}
        self._injected: dict[str, tuple[dict[str, str | None], str | None]] = {}
        skills: list[Skill[Any, Any]] = []
        for item in tools:
            if _is_langchain_tool(item):
                self._langchain_tools[item.name] = item
                self._langchain_prepared[item.name] = prepared = prepare(item)
                self._langchain_skills[item.name] = _langchain_skill(item, prepared)
            elif isinstance(item, Skill):
                skills.append(_catching(item))
            elif callable(item):
                skills.append(_catching(skill(item)))
            else:
                raise TypeError(f"ToolNode() takes skills, functions or LangChain tools; got {item!r}")
        self._toolset = Toolset(skills)
        both = set(self._toolset.names) & set(self._langchain_tools)
        if both:
            raise ValueError(f"two tools are named {min(both)!r}")
        self._names = [*self._toolset.names, *self._langchain_tools]
        if handle_tool_errors and not isinstance(handle_tool_errors, (bool, str)):
            self._handled = _handled_types(handle_tool_errors)
        else:
            self._handled = (Exception,)

    @property
    def tools_by_name(self) -> dict[str, Any]:
        """Each tool's skill (or LangChain tool), by its name."""
        out: dict[str, Any] = {name: self._toolset[name] for name in self._toolset.names}
        out.update(self._langchain_tools)
        return out

    def __repr__(self) -> str:
        return f"ToolNode({', '.join(self._names)})"

    # -- how graphs call it ---------------------------------------------------------------

    async def __call__(self, state: Any, config: Any = None) -> Any:
        """The node as skillstream's StateGraph calls it (an async function)."""
        return await self._arun(state, config)

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        """Run the tool calls from sync code (LangGraph's sync ``invoke``)."""
        return _run_sync(lambda: self._arun(input, config))

    async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        """Run the tool calls (LangGraph's ``ainvoke``)."""
        return await self._arun(input, config)

    # -- one turn -------------------------------------------------------------------------

    def _parse(self, input: Any) -> tuple[list[dict[str, Any]], str]:
        if isinstance(input, list) and input and isinstance(input[-1], dict) and input[-1].get("type") == "tool_call":
            return list(input), "tool_calls"
        if isinstance(input, dict) and input.get("__type") == "tool_call_with_context":
            return [input["tool_call"]], "tool_calls"
        kind = "list" if isinstance(input, list) else "dict"
        messages = _messages_of(input, self._messages_key)
        if not messages:
            raise ValueError("No message found in input")
        for message in reversed(messages):
            if _is_ai(message):
                return _tool_calls_of(message), kind
        raise ValueError("No AIMessage found in input")

    async def _arun(self, input: Any, config: Any) -> Any:
        tool_calls, kind = self._parse(input)
        ToolMessage = self._messages.ToolMessage
        outputs: list[Any] = [None] * len(tool_calls)
        calls: list[SkillCall[Any]] = []
        where: dict[str, tuple[int, dict[str, Any]]] = {}
        turn: _Turn | None = None
        for i, call in enumerate(tool_calls):
            name, call_id = call.get("name"), call.get("id")
            if name not in self._toolset and name not in self._langchain_tools:
                outputs[i] = ToolMessage(
                    INVALID_TOOL_NAME_ERROR_TEMPLATE.format(
                        requested_tool=name, available_tools=", ".join(self._names)
                    ),
                    name=name,
                    tool_call_id=call_id,
                    status="error",
                )
                continue
            key = str(call_id) if call_id is not None and str(call_id) not in where else f"{call_id}#{i}"
            if name in self._langchain_tools:
                # A state or store the graph does not have raises, as LangGraph's node does.
                call_dict = self._with_injected(name, {**call, "type": "tool_call"}, input, config)
                if turn is None:
                    turn = _Turn(config)
                prepared = self._langchain_prepared[name]
                if prepared is not None:
                    # made here, in the node's context (its config and tracing context), as
                    # ainvoke makes them in the context the node gave its calls
                    turn.manager(prepared)
                lc_call = SkillCall(self._langchain_skills[name], (call_dict, turn), {}, key=key)
                lc_call._opaque = True  # a tool call and the turn: nothing in them to wait for
                calls.append(lc_call)
            else:
                calls.append(self._toolset.call(key, str(name), call.get("args") or {}, context=input))
            where[key] = (i, call)
        decisions = self._decide(calls, where, input, config) if calls else None
        if calls:
            catch = _Catch()
            results = await run(
                calls, max_concurrency=self._max_concurrency, timeout=self._timeout, instruments=(catch,),
                decisions=decisions,
            ).collect()
            for result in results:
                i, call = where[result.key]
                outputs[i] = self._output(result, call, catch.errors.get(result.key), kind)
        return self._combine(outputs, kind)

    def _decide(
        self, calls: list[SkillCall[Any]], where: dict[str, tuple[int, dict[str, Any]]], input: Any, config: Any
    ) -> dict[str, Decision] | None:
        """The decisions on the calls that need approval: the graph pauses (``interrupt``)
        with the list of them, and the resume's answer decides each one. ``None``: no call
        needs approval. An edited call is made again from the edited arguments (checked
        as the model's are) and replaces its call in ``calls``."""
        held = [i for i, call in enumerate(calls) if _needs_approval(call)]
        if not held:
            return None
        asked = [
            {"name": tc.get("name"), "args": dict(tc.get("args") or {}), "id": tc.get("id")}
            for tc in (where[calls[i].key][1] for i in held)
        ]
        answer = _pause(asked, config)
        if not isinstance(answer, Mapping):
            raise TypeError(
                "ToolNode: resume with Command(resume={tool_call_id: decision, ...}), a decision "
                f"for each call listed in the interrupt; got {answer!r}"
            )
        decisions: dict[str, Decision] = {}
        for i in held:
            call = calls[i]
            tool_call = where[call.key][1]
            call_id = tool_call.get("id")
            if call_id in answer:
                given = answer[call_id]
            elif str(call_id) in answer:
                given = answer[str(call_id)]
            else:
                raise ValueError(
                    f"ToolNode: Command(resume=...) has no decision for tool call {call_id!r} "
                    f"({tool_call.get('name')}); give one for each call listed in the interrupt: "
                    f"{{{call_id!r}: {{'type': 'accept'}}}}, or 'edit' with 'args', or 'reject' "
                    "with a 'reason'"
                )
            decision = _decision(given, call_id)
            if isinstance(decision, Approve) and decision.arguments is not None:
                # edited arguments are checked as the model's: a call of them anew
                args = {**(tool_call.get("args") or {}), **decision.arguments}
                call = calls[i] = self._toolset.call(call.key, str(tool_call.get("name")), args, context=input)
                if not _needs_approval(call):
                    continue  # arguments that do not fit (or need no approval): it runs as it is
                decision = Approve()
            decisions[call.key] = decision
        return decisions

    def _with_injected(self, name: str, call: dict[str, Any], state: Any, config: Any) -> dict[str, Any]:
        """The tool call with the graph's state and store in the arguments a LangChain
        tool marks ``InjectedState`` and ``InjectedStore``, as LangGraph's node fills them
        (what the model sent for them is dropped)."""
        wanted = self._injected.get(name)
        if wanted is None:
            wanted = self._injected[name] = _graph_injected(self._langchain_tools[name])
        states, store_arg = wanted
        if not states and store_arg is None:
            return call
        args = {k: v for k, v in (call.get("args") or {}).items() if k not in states and k != store_arg}
        if states and isinstance(state, list):
            fields = set(states.values())
            if fields - {None, self._messages_key}:
                raise ValueError(f"Invalid input to ToolNode. Tool {name} requires graph state dict as input.")
            state = {self._messages_key: state}
        for arg, field in states.items():
            if not field:
                args[arg] = state
            elif isinstance(state, dict):
                args[arg] = state[field]
            else:
                args[arg] = getattr(state, field)
        if store_arg is not None:
            store = _store_of(config)
            if store is None:
                raise ValueError(
                    "Cannot inject store into tools with InjectedStore annotations - "
                    "please compile your graph with a store."
                )
            args[store_arg] = store
        return {**call, "args": args}

    def _checked(self, command: Any, call: dict[str, Any], kind: str) -> Any:
        """A tool's Command as LangGraph takes it: its update's ToolMessage for this call
        named after the tool; one is required when the Command updates this graph."""
        update = command.update
        if isinstance(update, dict):
            if kind == "list":
                raise ValueError(
                    f"tool {call.get('name')!r}: a Command's update is a dict only when the "
                    f"node's input is a dict with {self._messages_key!r}; got {update!r}"
                )
            command = copy.deepcopy(command)
            messages = command.update.get(self._messages_key, [])
        elif isinstance(update, list):
            if kind != "list":
                raise ValueError(
                    f"tool {call.get('name')!r}: a Command's update is a list of messages "
                    f"only when the node's input is a list of messages; got {update!r}"
                )
            command = copy.deepcopy(command)
            messages = command.update
        else:
            return command
        messages = self._messages.convert_to_messages(messages)
        if [getattr(m, "id", None) for m in messages] == ["__remove_all__"]:
            return command
        matched = False
        for message in messages:
            if isinstance(message, self._messages.ToolMessage) and message.tool_call_id == call.get("id"):
                message.name = call.get("name")
                matched = True
        if command.graph is None and not matched:
            raise ValueError(
                f"Expected to have a matching ToolMessage in Command.update for tool "
                f"{call.get('name')!r}, got: {messages}. Every tool call must have a "
                "ToolMessage: return Command(update={'messages': [ToolMessage(..., "
                "tool_call_id=tool_call_id)]})."
            )
        if isinstance(command.update, dict):
            command.update[self._messages_key] = messages
        else:
            command = replace(command, update=messages)
        return command

    def _output(self, result: SkillResult, call: dict[str, Any], kept: BaseException | None, kind: str) -> Any:
        ToolMessage = self._messages.ToolMessage
        name, call_id = call.get("name"), call.get("id")
        if result.has_value:
            value = result.value
            if isinstance(value, ToolMessage):
                value.content = _content(value.content)  # as LangGraph: JSON for a list of values
                return value
            if _is_command(value):
                return self._checked(value, call, kind)
            if isinstance(value, list) and value and all(
                isinstance(v, ToolMessage) or _is_command(v) for v in value
            ):
                return [self._checked(v, call, kind) if _is_command(v) else v for v in value]
            return ToolMessage(content=_content(value), name=name, tool_call_id=call_id)
        if result.error is not None and result.error.type == "Rejected" and result.status is Status.ERROR:
            # a person's decision, not a failure: the model reads why, whatever handle_tool_errors
            return ToolMessage(
                content=reply_content(result)[0], name=name, tool_call_id=call_id, status="error"
            )
        exc = _exception_of(result, kept)
        flag = self._handle_tool_errors
        if _is_bubble_up(exc) or not flag or not isinstance(exc, self._handled):
            raise exc
        return ToolMessage(content=_error_text(exc, flag), name=name, tool_call_id=call_id, status="error")

    def _combine(self, outputs: list[Any], kind: str) -> Any:
        flat: list[Any] = []
        for output in outputs:
            flat.extend(output if isinstance(output, list) else [output])
        if not any(_is_command(o) for o in flat):
            return flat if kind == "list" else {self._messages_key: flat}
        # As LangGraph: Commands as they are, each message in an update of its own, and
        # the Sends of every Command to the parent graph in one Command.
        combined: list[Any] = []
        parent: Any = None
        for output in flat:
            if _is_command(output):
                goto = output.goto
                if (
                    output.graph == "__parent__"
                    and isinstance(goto, list)
                    and all(type(g).__name__ == "Send" for g in goto)
                ):
                    parent = (
                        replace(parent, goto=list(parent.goto) + goto)
                        if parent is not None
                        else type(output)(graph=output.graph, goto=goto)
                    )
                else:
                    combined.append(output)
            else:
                combined.append([output] if kind == "list" else {self._messages_key: [output]})
        if parent is not None:
            combined.append(parent)
        return combined


class _Turn:
    """What a node's LangChain tool calls share in one run: the config, ensured once, and
    one callback manager per tool (each call still opens a tool run of its own)."""

    __slots__ = ("_ensured", "_managers", "_run_id", "config")

    def __init__(self, config: Any) -> None:
        self.config = config
        self._ensured: dict[str, Any] | None = None
        self._managers: dict[str, Any] = {}
        self._run_id: Any = None

    def ensured(self) -> dict[str, Any]:
        if self._ensured is None:
            from langchain_core.runnables.config import ensure_config

            ensured: dict[str, Any] = dict(ensure_config(self.config))
            # A run id given for the node goes to its first tool run, as LangGraph's
            # node gives it (the others get their own).
            self._run_id = ensured.pop("run_id", None)
            self._ensured = ensured
        return self._ensured

    def run_id(self) -> Any:
        run_id, self._run_id = self._run_id, None
        return run_id

    def manager(self, prepared: Prepared) -> Any:
        made = self._managers.get(prepared.name)
        if made is None:
            made = self._managers[prepared.name] = prepared.manager(self.ensured())
        return made


def _langchain_skill(tool: Any, prepared: Prepared | None) -> Skill[Any, Any]:
    """The skill calling a LangChain tool with a whole tool call, as LangGraph's node calls
    it: prepared once (see ``_lc_calls``), else with ``tool.ainvoke``."""
    name = tool.name

    async def invoke(tool_call: dict[str, Any], turn: _Turn) -> Any:
        try:
            if prepared is None:
                return await tool.ainvoke(tool_call, turn.config)
            config = turn.ensured()
            return await prepared.call(tool_call, config, turn.manager(prepared), turn.run_id())
        except Exception as exc:
            _keep(exc)
            raise

    invoke.__name__ = invoke.__qualname__ = name
    return Skill(invoke, SkillOptions(name=name))


def _needs_approval(call: SkillCall[Any]) -> bool:
    """Whether the run would hold ``call`` for a person (its skill's ``needs_approval``
    on its arguments). A predicate that raises: no, and the run ends the call with its
    error, as it does without a ToolNode."""
    need = call.options.needs_approval
    if need is False or need is True:
        return bool(need)
    try:
        return bool(need(*call.args, **call.kwargs))
    except Exception:  # noqa: BLE001 - the run reports it as the call's error
        return False


def _decision(given: Any, call_id: Any) -> Decision:
    """One resume decision as pipeline's Approve / Reject (see ToolNode's docstring)."""
    if isinstance(given, (Approve, Reject)):
        return given
    if isinstance(given, str):
        given = {"type": given}
    kind = given.get("type") if isinstance(given, Mapping) else None
    if kind == "accept":
        return Approve()
    if kind == "edit" and isinstance(given.get("args"), Mapping):
        return Approve(arguments=dict(given["args"]))
    if kind == "reject":
        reason = given.get("reason", "")
        if isinstance(reason, str):
            return Reject(reason)
    raise ValueError(
        f"ToolNode: the decision for tool call {call_id!r} is {{'type': 'accept'}}, "
        "{'type': 'edit', 'args': {...}}, {'type': 'reject', 'reason': '...'}, 'accept', "
        f"'reject', Approve(...) or Reject(...); got {given!r}"
    )


_GRAPH_INTERRUPT: Callable[[Any], Any] | None = None  # skillstream's, set by ``pipeline``


def use_graph_interrupt(interrupt: Callable[[Any], Any]) -> None:
    """Give the tool node skillstream's ``interrupt`` (the package does, on import: the
    graph's layer is not this one's to import)."""
    global _GRAPH_INTERRUPT
    _GRAPH_INTERRUPT = interrupt


def _pause(value: Any, config: Any) -> Any:
    """``interrupt(value)`` of the graph the node runs in: LangGraph's inside LangGraph's
    graph (its config carries its scratchpad), else skillstream's."""
    configurable = config.get("configurable") if isinstance(config, Mapping) else None
    if isinstance(configurable, Mapping) and "__pregel_scratchpad" in configurable:
        from langgraph.types import interrupt

        return interrupt(value)
    if _GRAPH_INTERRUPT is None:  # pragma: no cover - importing pipeline sets it
        raise RuntimeError("ToolNode: import pipeline first")
    try:
        return _GRAPH_INTERRUPT(value)
    except RuntimeError as exc:
        names = ", ".join(sorted({str(v["name"]) for v in value}))
        raise RuntimeError(
            f"ToolNode: {names} need a person's approval: run the node in a graph compiled "
            "with a checkpointer (compile(checkpointer=InMemorySaver())), where the calls "
            "pause the graph until Command(resume={tool_call_id: decision})"
        ) from exc


def _graph_injected(tool: Any) -> tuple[dict[str, str | None], str | None]:
    """A LangChain tool's arguments marked with LangGraph's ``InjectedState`` (each with
    its state field, ``None`` for the whole state) and ``InjectedStore``; read by class
    name, so that LangGraph need not be installed."""
    fields = tool.get_input_schema().model_fields
    states: dict[str, str | None] = {}
    store: str | None = None
    for arg, info in fields.items():
        for mark in info.metadata:
            names = {c.__name__ for c in (mark.__mro__ if isinstance(mark, type) else type(mark).__mro__)}
            if "InjectedState" in names:
                states[arg] = None if isinstance(mark, type) else getattr(mark, "field", None)
            elif "InjectedStore" in names:
                store = arg
    return states, store


def _store_of(config: Any) -> Any:
    """The graph's store, where LangGraph puts it in a node's config."""
    configurable = (config or {}).get("configurable", {}) if isinstance(config, dict) else {}
    runtime = configurable.get("__pregel_runtime")
    store = getattr(runtime, "store", None)
    return store if store is not None else configurable.get("__pregel_store")


def _is_bubble_up(exc: BaseException) -> bool:
    """LangGraph's interrupts (``GraphBubbleUp``) always propagate, as in its ToolNode."""
    return any(cls.__name__ == "GraphBubbleUp" for cls in type(exc).__mro__)


_RUNNABLE_BASE: Any = object()  # langchain_core's Runnable, once a node has been made
_CLASSES: dict[type, type] = {}


def _runnable_class(cls: type) -> type:
    global _RUNNABLE_BASE
    made = _CLASSES.get(cls)
    if made is None:
        _langchain()
        from langchain_core.runnables import Runnable

        _RUNNABLE_BASE = Runnable
        made = type(cls.__name__, (cls, Runnable), {"__module__": cls.__module__, "__qualname__": cls.__qualname__})
        _CLASSES[cls] = made
    return made
