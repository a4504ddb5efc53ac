"""Skills as an LLM's tools: their schemas, the model's tool calls as SkillCalls, the
results as the next request's tool messages.

An agent's turn is three steps, each one method of :class:`Toolset`:

1. ``toolset.schemas(provider)``: the tool definitions for the request.
2. ``toolset.calls(response)`` (or ``toolset.calls_from_stream(stream)`` while the model
   still writes): one SkillCall per tool call, keyed by its id. Arguments are checked and
   coerced by pydantic here, before anything runs; a call the model got wrong (an unknown
   tool, arguments that are not JSON or do not fit) becomes a call that ends ``error``
   with a message telling the model what to fix, and the other calls run as usual.
3. ``toolset.replies(results, provider)``: the tool messages, in the order the model
   asked, one per call of the turn; ``calls.messages()`` is the assistant's turn before them.

The turn is a value, not state on the Toolset: what ``calls()`` returns (a list) and the
results' keys (the call ids, each knowing its turn) carry it, so one Toolset serves any
number of conversations at once.

The calls are ordinary SkillCalls: ``run()`` gives them their skills' timeouts, retries,
fallbacks and the run's cap and deadline.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import itertools
import json
import math
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import pydantic_core
from pydantic import BaseModel, ValidationError

from .._core._result import SkillResult, Status
from .._core._skill import Skill, SkillCall, SkillOptions, skill
from ._parse import StreamParser, ToolCallRequest, assistant_turn, requests_in
from ._plans import (
    INSTRUCTIONS,
    Plan,
    admit_references,
    find_references,
    input_failed_reply,
    planned,
    positions_in,
)
from ._inject import InjectionError, injected_values
from ._media import media_parts, render
from ._replies import clip as _clip
from ._replies import _as_text, reply_content
from ._schema import ArgsModel, from_signature, parse_docstring, strict_schema

if TYPE_CHECKING:
    from .._core._retry import Retry

__all__ = ["PROVIDERS", "Provider", "ToolCallError", "ToolCallStream", "ToolCalls", "Toolset", "sanitize_name"]

Provider = Literal["openai", "openai-responses", "anthropic", "mcp"]
PROVIDERS: tuple[str, ...] = ("openai", "openai-responses", "anthropic", "mcp")

_TURNS = itertools.count()


class ToolCallError(Exception):
    """Raised inside the run for a tool call the model got wrong: an unknown tool, arguments
    that are not a JSON object, or arguments that fail validation. Its message is written
    for the model, to send a corrected call; it is the call's ``error.message``."""


@dataclass(frozen=True)
class _Tool:
    name: str
    skill: Skill[Any, Any]
    args: ArgsModel
    description: str
    idempotent: bool
    remote: bool  # the skill takes the arguments as JSON data (MCP, LangChain)
    echo: Skill[Any, Any]  # stands in for a duplicate of an idempotent call
    recordable: bool  # runs here (on the loop or a thread): its reply is written as it returns
    strict_schema: dict[str, Any] | None = None  # OpenAI's strict form, once asked for


async def _echo(value: Any) -> Any:
    return value


async def _reject(message: str, error: type[Exception] = ToolCallError) -> NoReturn:
    raise error(message)


# What OpenAI (function names) and Anthropic (tool names) accept.
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
NameMap = Mapping[str, str] | Callable[[str], str] | Literal["sanitize"]


def sanitize_name(name: str) -> str:
    """``name`` as a tool name the providers take: each character other than a letter,
    a digit, ``_`` or ``-`` becomes ``_``; past 64 characters, the start and a hash.

    Examples:
        >>> sanitize_name("weather.get"), sanitize_name("<lambda>")
        ('weather_get', '_lambda_')
    """
    clean = re.sub(r"[^a-zA-Z0-9_-]", "_", name) or "_"
    if len(clean) <= 64:
        return clean
    import hashlib

    return f"{clean[:55]}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise ValueError(
            f"unknown provider {provider!r}; use one of " + ", ".join(repr(p) for p in PROVIDERS)
        )


class Toolset:
    """Skills offered to a model as tools. A skill's tool name is its name.

    The schema of each tool is made by pydantic from the skill's signature (types,
    defaults, ``Literal`` as an enum, ``Annotated[..., Field(description=...)]``, pydantic
    models as arguments); its description is the docstring's text (Google, NumPy or
    Sphinx style, read by griffe) without its sections for Python callers, and each
    argument's its entry in the docstring's parameters.

    A parameter annotated :class:`ToolContext` or ``Annotated[T, Injected]`` is the
    application's: in no schema, filled per turn (``calls(response, context=...,
    inject={...})``). A tool may return images and files as :class:`Media`; each
    provider's reply carries them as its own blocks (see :meth:`replies`).

    Examples:
        >>> @skill(timeout=10)
        ... async def get_weather(city: str, units: Literal["c", "f"] = "c") -> dict:
        ...     '''The weather in a city today.
        ...
        ...     Args:
        ...         city: the city's name.
        ...     '''
        ...     return {"city": city, "high": 24}
        >>> tools = Toolset([get_weather])
        >>> tools.schemas("openai")[0]["function"]["parameters"]["properties"]["units"]
        {'default': 'c', 'enum': ['c', 'f'], 'type': 'string'}
        >>> async def turn(client, messages):
        ...     response = await client.chat.completions.create(
        ...         model="m", messages=messages, tools=tools.schemas("openai"))
        ...     message = response.choices[0].message
        ...     results = await run(tools.calls(message)).collect()
        ...     return [message, *tools.replies(results, "openai")]

    Args:
        skills: the tools: skills, plain functions (made skills with default options),
            or LangChain tools (``BaseTool``, through :meth:`skill_from_langchain`).
        strict: OpenAI's strict mode for every schema (see :meth:`schemas`), and
            validation as strict schemas say: a call must give every property, nested
            ones too (``null`` for an optional one means its default). ``False`` by
            default: schemas keep their defaults and optional arguments as they were,
            and a free-form ``dict`` or ``Any`` parameter, which has no strict form,
            still works.
        validation: ``"lax"`` (the default): pydantic's lax mode, ``"20"`` is 20;
            ``"strict"``: pydantic's strict mode on the JSON data, ``"20"`` is refused
            (dates, enums and UUIDs still come as strings).
        names: the names the model sees, when a skill's name is not one the providers
            take (``^[a-zA-Z0-9_-]{1,64}$``): a mapping from skill name to tool name, a
            function of the skill name, or ``"sanitize"`` (``weather.get`` becomes
            ``weather_get``). Schemas use these names and
            :meth:`calls` finds the tool by them.
        references: let a call of a response take the result of an earlier call of the
            same response: ``{"result_of": 1, "path": "population"}`` in place of a
            value. The schemas admit it, :meth:`calls` and :meth:`calls_from_stream`
            start such a call the moment the calls it takes have values, and
            :meth:`reference_instructions` tells the model how (see the guide's
            "Plans").

    Raises:
        ValueError: two tools have the same name; a tool name the providers refuse;
            with ``strict=True``, a parameter with no strict form (a
            ``StrictSchemaError`` naming the tool and the parameter).
        TypeError: a tool takes ``*args``/``**kwargs``, or its annotations cannot be
            resolved.
    """

    def __init__(
        self,
        skills: Iterable[Skill[Any, Any] | Callable[..., Any]],
        *,
        strict: bool = False,
        validation: Literal["lax", "strict"] = "lax",
        names: NameMap | None = None,
        references: bool = False,
    ) -> None:
        if validation not in ("lax", "strict"):
            raise ValueError(f"validation is 'lax' or 'strict', not {validation!r}")
        tools: dict[str, _Tool] = {}
        for item in skills:
            made = self._as_skill(item)
            tool = _tool_of(made, _tool_name(made.name, names), strict, validation == "lax")
            if tool.name in tools:
                raise ValueError(
                    f"two tools are named {tool.name!r}; give one another name with "
                    "@skill(name=...)" + (" or names=" if names is not None else "")
                )
            tools[tool.name] = tool
        self._tools = tools
        self._strict = strict
        self._references = bool(references)
        self._ref_schemas: dict[tuple[str, bool], dict[str, Any]] = {}

    @staticmethod
    def _as_skill(item: Any) -> Skill[Any, Any]:
        if isinstance(item, Skill):
            return item
        if _is_langchain_tool(item):
            return Toolset.skill_from_langchain(item)
        if callable(item):
            made: Skill[Any, Any] = skill(item)
            return made
        raise TypeError(f"Toolset() takes skills, functions or LangChain tools; got {item!r}")

    # -- what the toolset holds --------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """The tools' names, in the order given."""
        return list(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __getitem__(self, name: str) -> Skill[Any, Any]:
        """The skill of the tool called ``name``."""
        return self._tools[name].skill

    def __repr__(self) -> str:
        return f"Toolset({', '.join(self._tools)})"

    # -- 1. the tool definitions -------------------------------------------------------------

    def schemas(self, provider: Provider | str, *, strict: bool | None = None) -> list[dict[str, Any]]:
        """The tool definitions to send with a request.

        Examples:
            >>> tools.schemas("anthropic")[0]
            {'name': 'get_weather', 'description': 'The weather in a city today.', 'input_schema': {...}}

        Args:
            provider: ``"openai"`` (Chat Completions ``tools=``), ``"openai-responses"``
                (Responses API ``tools=``), ``"anthropic"`` (Messages ``tools=``) or
                ``"mcp"`` (``tools/list`` entries).
            strict: OpenAI's strict mode (structured outputs): ``"strict": true``,
                every property required (an optional one is nullable: ``null`` means
                its default), ``additionalProperties: false`` on every object, no
                defaults, titles or keywords strict mode does not take. ``None``: the
                Toolset's ``strict``. A strict Toolset gives strict schemas to every
                provider (its calls must give every property); ``strict=True`` on a
                lax one gives strict schemas whose calls it still validates laxly (it
                takes everything they allow).

        Raises:
            ValueError: an unknown provider; ``strict=False`` on a strict Toolset.
            StrictSchemaError: (a ``ValueError``) a tool's arguments have no strict
                form; the message names the tool and the parameter.
        """
        _check_provider(provider)
        if strict is None:
            strict = self._strict
        elif self._strict and not strict:
            raise ValueError(
                "this Toolset is strict (its calls must give every property): its schemas "
                "are strict; make it with Toolset(..., strict=False) for others"
            )
        out: list[dict[str, Any]] = []
        for tool in self._tools.values():
            if self._references:
                source = self._ref_schema(tool, strict)
            else:
                source = _strict_of(tool) if strict else tool.args.schema
            schema = json.loads(json.dumps(source))  # the caller's own copy
            described: dict[str, Any] = {"description": tool.description} if tool.description else {}
            flag = {"strict": True} if strict else {}
            if provider == "openai":
                out.append({"type": "function", "function": {"name": tool.name, **described, "parameters": schema, **flag}})
            elif provider == "openai-responses":
                out.append({"type": "function", "name": tool.name, **described, "parameters": schema, "strict": strict})
            elif provider == "anthropic":
                out.append({"name": tool.name, **described, "input_schema": schema})
            else:
                out.append({"name": tool.name, **described, "inputSchema": schema})
        return out

    def _ref_schema(self, tool: _Tool, strict: bool) -> dict[str, Any]:
        made = self._ref_schemas.get((tool.name, strict))
        if made is None:
            made = admit_references(tool.args.schema)
            if strict:
                made = strict_schema(made, tool.name)
            self._ref_schemas[(tool.name, strict)] = made
        return made

    def reference_instructions(self) -> str:
        """What to tell the model (in the system prompt) so that it writes a whole plan
        in one response: how a call takes the result of an earlier call. For a Toolset
        made with ``references=True``.

        Examples:
            >>> tools = Toolset([get_population, divide], references=True)
            >>> system = "You answer questions with the tools. " + tools.reference_instructions()
        """
        return INSTRUCTIONS

    # -- 2. the model's calls ----------------------------------------------------------------

    def calls(
        self, response: Any, *, context: Any = None, inject: Mapping[str, Any] | None = None
    ) -> ToolCalls:
        """One SkillCall per tool call of a model's response, in the order the model
        wrote them, each keyed by the tool call's id (``result.key``).

        Arguments are validated and coerced before anything runs. An unknown tool,
        arguments that are not a JSON object, or arguments that fail validation give a
        call that ends ``error`` (``error.type == "ToolCallError"``) with a message for
        the model; the other calls are unaffected. Identical calls of an idempotent skill
        (``@skill(idempotent=True)``: same tool, same arguments once defaults are filled
        in) run once; each id still gets a result, and a reply.

        The list is this response's turn: its results' keys are the call ids, and know
        the turn they answer, so one Toolset serves any number of conversations at once
        (ids like ``call_0`` may repeat across them).

        Examples:
            >>> results = await run(tools.calls(completion.choices[0].message)).collect()
            >>> results["call_abc123"].value

        Args:
            response: an OpenAI ``ChatCompletion`` or ``ChatCompletionMessage`` (or its
                ``tool_calls``), a Responses API ``Response`` (or its ``output``), an
                Anthropic ``Message`` (or its ``content``), or the same as dicts.
            context: this turn's value for the tools' :class:`ToolContext` parameters
                (``ctx.context``): the conversation, the user, what the tools share.
            inject: this turn's values of the tools' ``Annotated[T, Injected]``
                parameters (and LangChain's injected arguments), by parameter name. A
                call whose tool needs one this does not give ends ``error``
                (``InjectionError``).

        Raises:
            TypeError: ``response`` is none of these.
        """
        requests = requests_in(response)
        turn = _Turn(lambda: [(r.position, r.id, r.name, True) for r in requests], context, inject)
        if self._references:
            turn.later = {r.position + 1: (r.name, positions_in(r.arguments)) for r in requests}
        seen: dict[tuple[str, str], SkillCall[Any]] = {}
        return ToolCalls([self._build(request, seen, turn) for request in requests], turn, response)

    def call(
        self, id: str, name: str, arguments: str | Mapping[str, Any] | None, *,
        context: Any = None, inject: Mapping[str, Any] | None = None,
    ) -> SkillCall[Any]:
        """One tool call from its parts, for formats :meth:`calls` does not read.

        Args:
            id: the call's id: the result's key.
            name: the tool's name.
            arguments: JSON text or a mapping.
            context: the value of its :class:`ToolContext` (as :meth:`calls` takes it).
            inject: its injected values by parameter name (as :meth:`calls` takes them).
        """
        return self._build(ToolCallRequest(id, name, arguments), None, None, (context, inject))

    def calls_from_stream(
        self,
        stream: AsyncIterable[Any] | Iterable[Any],
        *,
        on_text: Callable[[str], object] | None = None,
        context: Any = None,
        inject: Mapping[str, Any] | None = None,
    ) -> ToolCallStream:
        """The tool calls of a streamed response, each the moment it is complete, so that
        ``run(toolset.calls_from_stream(stream))`` starts tools while the model is still
        writing.

        An OpenAI call (Chat Completions chunks, Responses events) is complete when its
        arguments form a whole JSON object and the next event adds nothing to them (so
        that two objects in a row are refused as in a whole response); an Anthropic one
        at its ``content_block_stop``. Text deltas go to ``on_text`` as they arrive.

        The run pulls the next call only when it has a free slot: with
        ``max_concurrency`` below the number of calls, reading the stream waits for a
        slot (give it room, or ``None``).

        Examples:
            >>> stream = await client.chat.completions.create(..., stream=True)
            >>> calls = tools.calls_from_stream(stream, on_text=print)
            >>> results = await run(calls, max_concurrency=None).collect()
            >>> messages += calls.messages() + tools.replies(results, "openai")

        Args:
            stream: the openai SDK's chunks (Chat Completions) or events (Responses),
                the anthropic SDK's events (``messages.create(stream=True)`` or the
                ``messages.stream()`` helper), or the same as dicts.
            on_text: called with each text delta.
            context: this turn's :class:`ToolContext` value, as :meth:`calls` takes it.
            inject: this turn's injected values, as :meth:`calls` takes them.
        """
        return ToolCallStream(self, stream, on_text, context, inject)

    def _build(
        self,
        request: ToolCallRequest,
        seen: dict[tuple[str, str], SkillCall[Any]] | None,
        turn: _Turn | None,
        given: tuple[Any, Mapping[str, Any] | None] | None = None,
    ) -> SkillCall[Any]:
        if given is None:
            given = (turn.context, turn.inject) if turn is not None else (None, None)
        call = self._make(request, seen, turn, given)
        if self._references and turn is not None:
            turn.placed[request.position + 1] = (call, request.name)
        return call

    def _make(
        self,
        request: ToolCallRequest,
        seen: dict[tuple[str, str], SkillCall[Any]] | None,
        turn: _Turn | None,
        given: tuple[Any, Mapping[str, Any] | None],
    ) -> SkillCall[Any]:
        id = request.id or f"{request.name or 'tool'}#{request.position + 1}"
        key = turn.key(id) if turn is not None else _CallKey(id)
        tool = self._tools.get(request.name)
        key.tool = request.name or ""
        key.tool_description = tool.description if tool is not None else ""
        if tool is None:
            listed = ", ".join(self._tools) or "(none)"
            return self._rejected(
                key, request.name,
                f"Unknown tool {request.name!r}. The tools are: {listed}. "
                "Call one of them by its exact name.",
            )
        arguments = request.arguments
        if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
            data: Any = {}
        elif isinstance(arguments, str):
            try:
                data = json.loads(arguments)
            except ValueError as exc:
                return self._rejected(
                    key, tool.name,
                    f"The arguments of {tool.name!r} are not valid JSON ({exc}): "
                    f"{_clip(arguments, 200)}. Send one JSON object: {tool.args.describe()}.",
                )
        else:
            data = arguments
        if not isinstance(data, Mapping):
            return self._rejected(
                key, tool.name,
                f"The arguments of {tool.name!r} must be a JSON object, not "
                f"{_clip(json.dumps(data), 200)}. Send {tool.args.describe()}.",
            )
        extra: dict[str, Any] | None = None
        if tool.args.injected:
            found = injected_values(tool.args.injected, tool.name, str(key), *given)
            if isinstance(found, str):
                return self._rejected(key, tool.name, found, InjectionError)
            extra = found
        if self._references and turn is not None:
            refs = find_references(data)
            if refs:
                return planned(
                    tool, key, request.position + 1, data, refs, turn, self._rejected, ToolCallError, extra
                )
        try:
            validated = tool.args.validate(data)
        except ValidationError as exc:
            return self._rejected(key, tool.name, tool.args.explain(tool.name, exc))
        runs = tool.skill if turn is None or not tool.recordable else _recording(tool.skill, turn, key)
        if tool.remote:
            call: SkillCall[Any] = SkillCall(runs, (), {**tool.args.json_arguments(validated), **(extra or {})}, key=key)
        else:
            args, kwargs = tool.args.call_args(validated)
            call = SkillCall(runs, args, {**kwargs, **extra} if extra else kwargs, key=key)
        if extra:
            return call  # its own injected values: never one run standing for two calls
        if tool.idempotent and seen is not None:
            canonical = _canonical(validated)
            if canonical is not None:
                first = seen.get((tool.name, canonical))
                if first is not None:
                    if turn is not None:
                        turn.aliases[key] = first.key
                    # Depends on the first: one run, and this id's result the moment it ends.
                    return SkillCall(tool.echo, (first,), {}, key=key)
                seen[(tool.name, canonical)] = call
        return call

    def _rejected(
        self, key: str, name: str, message: str, error: type[Exception] = ToolCallError
    ) -> SkillCall[Any]:
        rejecting: Skill[Any, Any] = Skill(_reject, SkillOptions(name=name or "unnamed tool"))
        return SkillCall(rejecting, (message, error), {}, key=key)

    # -- 3. the replies ----------------------------------------------------------------------

    def replies(
        self,
        results: Iterable[SkillResult],
        provider: Provider | str,
        *,
        calls: ToolCalls | ToolCallStream | None = None,
    ) -> list[dict[str, Any]]:
        """The tool messages for the next request: one per tool call of the turns the
        results answer (each result knows its turn), in the order the model asked.

        Every call the assistant's turn lists gets exactly one reply: one with no result
        (its arguments were still streaming when the run's deadline came or the stream
        broke) gets an error reply, ``Not run: ...``. A value's reply is its JSON as
        the tool returned it (written when the call ended, not when replies are made).

        Values are sent as JSON (pydantic models, dataclasses, dates included; a string
        as it is), errors, timeouts and skipped calls as short text. A value that is a
        :class:`Media`, or a list holding some, goes as the provider's blocks: Anthropic
        ``image``/``document`` blocks in the ``tool_result``, Responses ``input_image``/
        ``input_file`` items as the ``output``, MCP ``image``/``resource`` content; Chat
        Completions tool messages take text only, so there the text says what the tool
        returned. Always a list, so
        ``messages.extend(toolset.replies(results, provider))`` fits every provider.

        Examples:
            >>> toolset.replies(results, "openai")
            [{'role': 'tool', 'tool_call_id': 'call_1', 'content': '{"high":24}'}]
            >>> toolset.replies(results, "anthropic")
            [{'role': 'user', 'content': [{'type': 'tool_result', 'tool_use_id': 'toolu_1', 'content': '{"high":24}'}]}]

        Args:
            results: the results of the calls (any order; a ``Results`` or a list).
            calls: the turn (what :meth:`calls` or :meth:`calls_from_stream` returned),
                for when ``results`` may be empty: the run ended before any call of it
                was complete, and its listed calls still need their replies.
            provider: ``"openai"``: one ``{"role": "tool", "tool_call_id", "content"}``
                per call; ``"openai-responses"``: one ``function_call_output`` item per
                call; ``"anthropic"``: one user message with a ``tool_result`` block per
                call, ``is_error`` on failures; ``"mcp"``: a ``CallToolResult`` per call.

        Raises:
            ValueError: an unknown provider.
        """
        _check_provider(provider)
        answered: dict[_Turn, dict[str, SkillResult]] = {}
        loose: dict[str, SkillResult] = {}  # results of no turn (Toolset.call(), a journal)
        given = calls._turn if calls is not None else None
        if given is not None:
            answered[given] = {}
        for result in results:
            turn: _Turn | None = getattr(result.key, "turn", None)
            if turn is None and given is not None and result.key in given.keys:
                turn = given
            if turn is None:
                loose[result.key] = result
            else:
                answered.setdefault(turn, {})[result.key] = result
        made: list[tuple[str, str | list[Any], bool]] = []
        for turn in sorted(answered, key=lambda t: t.seq):
            made.extend(turn.replies(answered[turn]))
        for result in sorted(loose.values(), key=lambda r: r.index):
            made.append((result.key, *_content(result)))
        # Images and files: the provider's blocks (text, for Chat Completions).
        texts: list[tuple[str, Any, bool]] = [
            (key, render(provider, text, _as_text) if isinstance(text, list) else text, is_error)
            for key, text, is_error in made
        ]
        if provider == "openai":
            return [{"role": "tool", "tool_call_id": key, "content": text} for key, text, _ in texts]
        if provider == "openai-responses":
            return [{"type": "function_call_output", "call_id": key, "output": text} for key, text, _ in texts]
        if provider == "anthropic":
            if not texts:
                return []
            blocks = []
            for key, text, is_error in texts:
                block: dict[str, Any] = {"type": "tool_result", "tool_use_id": key, "content": text}
                if is_error:
                    block["is_error"] = True
                blocks.append(block)
            return [{"role": "user", "content": blocks}]
        return [
            {"content": text if isinstance(text, list) else [{"type": "text", "text": text}], "isError": is_error}
            for _, text, is_error in texts
        ]

    # -- other sources of tools --------------------------------------------------------------

    @classmethod
    async def from_mcp(
        cls, session: Any, *, timeout: float | None = None, retry: Retry | None = None,
        names: NameMap | None = None, references: bool = False,
        needs_approval: bool | Collection[str] = False,
    ) -> Toolset:
        """The tools of an MCP server, as skills whose calls go through
        ``session.call_tool``; each validated against the server's input schema (which
        :meth:`schemas` sends unchanged).

        A tool's value is its structured content if it has some, else its text; a result
        with ``isError`` is an ``error`` result (type ``MCPToolError``).

        Examples:
            >>> async with ClientSession(read, write) as session:
            ...     await session.initialize()
            ...     tools = await Toolset.from_mcp(session, timeout=30)

        Args:
            session: an initialized ``mcp.ClientSession``.
            timeout: each call's timeout in seconds; ``None``: none.
            retry: each call's retry policy; ``None``: one attempt.
            names: tool names for the model, as :class:`Toolset` takes them (an MCP
                server's tool may be named ``weather.get``; the model calls
                ``weather_get`` with ``names="sanitize"``).
            references: calls that take earlier calls' results, as :class:`Toolset` takes it.
            needs_approval: ``True`` holds every tool's calls for a person's decision,
                or the server's names of the tools whose calls wait (see
                ``@skill(needs_approval=...)``); default none.

        Raises:
            ValueError: if ``needs_approval`` names a tool the server does not have.
        """
        from ._mcp import skills_from_session

        return cls(await skills_from_session(session, timeout, retry, needs_approval), names=names,
                   references=references)

    def mcp_server(self, name: str, **settings: Any) -> Any:
        """An MCP server (the ``mcp`` package's ``MCPServer``, ``FastMCP`` before mcp 2)
        offering these tools; each call runs through skillstream (the skill's timeout,
        retry and fallback), and one that ends without a value is an ``isError`` result
        with the text :meth:`replies` would send. It lists :meth:`schemas` ``("mcp")``
        and checks each call as :meth:`calls` does (unknown tools and arguments refused,
        with the same message for the model).

        Examples:
            >>> tools.mcp_server("weather").run("stdio")

        Args:
            name: the server's name.
            settings: passed to the server's constructor.

        Raises:
            ImportError: the ``mcp`` package is missing (``pip install 'skillstream[mcp]'``).
        """
        from ._mcp import serve

        return serve(self, name, settings)

    @staticmethod
    def skill_from_langchain(
        tool: Any, *, timeout: float | None = None, retry: Retry | None = None
    ) -> Skill[Any, Any]:
        """A LangChain tool (``langchain_core.tools.BaseTool``) as a skill: its calls go
        through ``tool.ainvoke``, its arguments are checked against its
        ``tool_call_schema``. ``Toolset([...])`` takes LangChain tools through this.

        Examples:
            >>> tools = Toolset([get_weather, Toolset.skill_from_langchain(search_tool)])
        """
        from ._langchain import skill_from_langchain

        return skill_from_langchain(tool, timeout=timeout, retry=retry)


class ToolCallStream:
    """The SkillCalls of a streamed response, each as soon as it is complete; made by
    :meth:`Toolset.calls_from_stream`. Read it once (``run()`` does).

    While and after it is read: ``text`` is the model's text so far, ``finish_reason``
    why it stopped, and :meth:`messages` the assistant's turn for the next request.
    Leaving early (the run's deadline, ``break``) closes the model's stream too; a call
    cut short is still in :meth:`messages`, and :meth:`Toolset.replies` gives it an
    error reply.
    """

    def __init__(
        self,
        toolset: Toolset,
        source: AsyncIterable[Any] | Iterable[Any],
        on_text: Callable[[str], object] | None,
        context: Any = None,
        inject: Mapping[str, Any] | None = None,
    ) -> None:
        self._toolset = toolset
        self._source = source
        parser = self._parser = StreamParser(on_text)
        self._turn = _Turn(parser.listed, context, inject)
        self._state = "new"
        self.calls: list[SkillCall[Any]] = []
        """The calls yielded so far."""

    @property
    def text(self) -> str:
        """The text the model has written so far."""
        return self._parser.text

    @property
    def finish_reason(self) -> str | None:
        """``finish_reason`` (OpenAI), ``status`` (Responses) or ``stop_reason`` (Anthropic)."""
        return self._parser.finish_reason

    @property
    def provider(self) -> str | None:
        """The provider the events came from, once one has arrived."""
        return self._parser.provider

    def messages(self) -> list[dict[str, Any]]:
        """The assistant's turn, to put in the next request before the tool replies:
        OpenAI an assistant message with its ``tool_calls``, Responses the
        ``function_call`` items, Anthropic an assistant message with its ``text`` and
        ``tool_use`` blocks."""
        return self._parser.messages()

    def __aiter__(self) -> AsyncIterator[SkillCall[Any]]:
        if self._state != "new":
            raise RuntimeError("a ToolCallStream is read once; call calls_from_stream() again")
        self._state = "reading"
        return self._read()

    async def _read(self) -> AsyncIterator[SkillCall[Any]]:
        seen: dict[tuple[str, str], SkillCall[Any]] = {}
        parser, build, turn = self._parser, self._toolset._build, self._turn
        finished = False
        try:
            if isinstance(self._source, AsyncIterable):
                async for event in self._source:
                    for request in parser.feed(event):
                        call = build(request, seen, turn)
                        self.calls.append(call)
                        yield call
            else:
                for event in self._source:
                    for request in parser.feed(event):
                        call = build(request, seen, turn)
                        self.calls.append(call)
                        yield call
            finished = True
            for request in parser.finish():
                call = build(request, seen, turn)
                self.calls.append(call)
                yield call
        finally:
            self._state = "done"
            if not finished:
                await _close(self._source)


async def _close(source: Any) -> None:
    closer = getattr(source, "aclose", None) or getattr(source, "close", None)
    if closer is None:
        return
    outcome = closer()
    if hasattr(outcome, "__await__"):
        await outcome


def _canonical(validated: BaseModel) -> str | None:
    try:
        data = validated.model_dump(mode="json", by_alias=True)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError, pydantic_core.PydanticSerializationError):
        return None  # arguments that have no JSON form are never taken as identical


def _is_langchain_tool(item: Any) -> bool:
    return any(
        cls.__name__ == "BaseTool" and cls.__module__.startswith("langchain_core")
        for cls in type(item).__mro__
    )


def _tool_name(name: str, names: NameMap | None) -> str:
    """The tool name of a skill named ``name``, checked against the providers' rule."""
    if names == "sanitize":
        public = sanitize_name(name)
    elif callable(names):
        public = names(name)
    elif names is not None:
        public = names.get(name, name)
    else:
        public = name
    if not isinstance(public, str) or not _NAME.match(public):
        given = f"{name!r}" if public == name else f"{name!r} (named {public!r})"
        raise ValueError(
            f"tool {given}: OpenAI and Anthropic take tool names of 1 to 64 letters, digits, "
            "'_' or '-' (^[a-zA-Z0-9_-]{1,64}$); give it another with @skill(name=...), "
            "Toolset(..., names={...}) or Toolset(..., names=\"sanitize\")"
        )
    return public


def _strict_of(tool: _Tool) -> dict[str, Any]:
    if tool.strict_schema is None:
        object.__setattr__(tool, "strict_schema", strict_schema(tool.args.schema, tool.name))
    assert tool.strict_schema is not None
    return tool.strict_schema


def _tool_of(made: Skill[Any, Any], name: str | None = None, strict: bool = False, lax: bool = True) -> _Tool:
    name = name or made.name
    spec: tuple[ArgsModel, str] | None = getattr(made, "_tool_spec", None)
    if spec is not None:  # an MCP or LangChain tool: its schema came with it
        args, description = spec
        remote = True
    else:
        description, arg_docs = parse_docstring(getattr(made.fn, "__doc__", None))
        args = from_signature(made.fn, name, arg_docs)
        remote = False
    if strict or not lax:
        args = dataclasses.replace(args, complete=strict, lax=lax)
    echo: Skill[Any, Any] = Skill(_echo, SkillOptions(name=made.name))
    idempotent = bool(getattr(made.options, "idempotent", False))
    recordable = (
        made.kind in ("async", "thread")
        and made.executor is None
        and not inspect.isgeneratorfunction(made.fn)
    )
    tool = _Tool(name, made, args, description, idempotent, remote, echo, recordable)
    if strict:
        _strict_of(tool)  # a signature with no strict form fails here, not at the request
    return tool


class _CallKey(str):
    """A tool call's id as its SkillCall's key, and so its result's: equal to the id (a
    ``str``), and knowing the turn it belongs to (none for :meth:`Toolset.call`) and the
    tool called, which tracing reads (``gen_ai.tool.name``, ``gen_ai.tool.description``)."""

    turn: _Turn
    tool: str = ""
    tool_description: str = ""

    def __reduce__(self) -> tuple[Any, ...]:
        return (str, (str(self),))  # copied, pickled or journaled: the id alone


class _Turn:
    """What belongs to one model response: its calls in the model's order (as the
    assistant's turn lists them), the duplicates standing for another call, and each
    value's reply text, written when its call returned."""

    def __init__(
        self,
        listed: Callable[[], list[tuple[int, str, str, bool]]],
        context: Any = None,
        inject: Mapping[str, Any] | None = None,
    ) -> None:
        self.seq = next(_TURNS)
        self.context = context  # the turn's injected values: the calls' own, not the Toolset's
        self.inject = inject
        self.listed = listed  # (position, id, name, complete) of each call listed
        self.keys: dict[str, _CallKey] = {}
        self.aliases: dict[str, str] = {}  # a duplicate's id -> the id of the call that runs
        self.recorded: dict[str, tuple[Any, str | list[Any]]] = {}  # id -> (value, its reply)
        # With references: the calls so far by position (1-based), the plans of the calls
        # that take results, and (a whole response) the positions each call refers to.
        self.placed: dict[int, tuple[SkillCall[Any], str]] = {}
        self.plans: dict[str, Plan] = {}
        self.later: dict[int, tuple[str, list[int]]] | None = None

    def key(self, id: str) -> _CallKey:
        key = self.keys.get(id)
        if key is None:
            key = self.keys[id] = _CallKey(id)
            key.turn = self
        return key

    def record(self, id: str, value: Any) -> None:
        """The reply text of a value, made as its call returns (on its thread, for a
        thread skill): a tool that returns a live object says what it held then."""
        try:
            parts = media_parts(value)
            text: str | list[Any] = _as_text(value) if parts is None else parts
        except Exception:  # replies() will say what it can
            return
        self.recorded.setdefault(id, (value, text))

    def replies(self, results: Mapping[str, SkillResult]) -> list[tuple[str, str | list[Any], bool]]:
        out: list[tuple[str, str | list[Any], bool]] = []
        listed: set[str] = set()
        for position, id, name, complete in self.listed():
            key = id or f"{name or 'tool'}#{position + 1}"
            listed.add(key)
            result = results.get(key)
            if result is not None:
                out.append((key, *self._reply(key, result, results)))
            elif not complete:
                out.append((key, f"Not run: the response ended before the arguments of {name!r} "
                                 "were complete. Call it again if it is still needed.", True))
            else:
                out.append((key, "Not run: the run ended before this call had a result.", True))
        for key, result in results.items():  # not listed: a call made outside the turn
            if key not in listed:
                out.append((key, *self._reply(key, result, results)))
        return out

    def _reply(
        self, key: str, result: SkillResult, results: Mapping[str, SkillResult]
    ) -> tuple[str | list[Any], bool]:
        plan = self.plans.get(key) if self.plans else None
        if plan is not None and result.status is Status.SKIPPED:
            said = input_failed_reply(plan, results)
            if said is not None:
                return said, True
        first = self.aliases.get(key)
        if first is not None:
            stood_for = results.get(first)
            if not result.has_value and stood_for is not None:
                return self._reply(first, stood_for, results)  # what the call it stood for got
            key = first  # its value is the first's: so is its text
        if result.has_value and not result.fallback_used:
            recorded = self.recorded.get(key)
            if recorded is not None and recorded[0] is result.value:
                return recorded[1], False
        return _content(result)


def _content(result: SkillResult) -> tuple[str | list[Any], bool]:
    """What the model reads of a result: the parts of a value holding images or files,
    else its text."""
    if result.has_value:
        parts = media_parts(result.value)
        if parts is not None:
            return parts, False
    return reply_content(result)


def _recording(made: Skill[Any, Any], turn: _Turn, key: str) -> Skill[Any, Any]:
    """``made`` for one call: its reply text is written the moment it returns."""
    fn = made.fn
    wrapper: Callable[..., Any]
    if made.kind == "async":

        @functools.wraps(fn)  # its signature stays the tool's (approval reads the arguments by name)
        async def recorded_async(*args: Any, **kwargs: Any) -> Any:
            value = await fn(*args, **kwargs)
            turn.record(key, value)
            return value

        wrapper = recorded_async
    else:

        @functools.wraps(fn)
        def recorded_sync(*args: Any, **kwargs: Any) -> Any:
            value = fn(*args, **kwargs)
            turn.record(key, value)
            return value

        wrapper = recorded_sync
    copy: Skill[Any, Any] = object.__new__(type(made))
    copy.__dict__.update(made.__dict__)
    copy.fn = wrapper
    return copy


class ToolCalls(list[SkillCall[Any]]):
    """The SkillCalls of one model response, in the model's order (a list: give it to
    ``run()``); made by :meth:`Toolset.calls`. It is the response's turn: the results of
    its calls know it, and :meth:`Toolset.replies` answers each of its calls."""

    def __init__(self, calls: Iterable[SkillCall[Any]], turn: _Turn, response: Any) -> None:
        super().__init__(calls)
        self._turn = turn
        self._response = response

    def messages(self) -> list[dict[str, Any]]:
        """The assistant's turn, to put in the next request before the tool replies, as
        dicts: Chat Completions the assistant message, Responses the output items
        (reasoning included), Anthropic an assistant message of the content blocks
        (thinking included)."""
        return assistant_turn(self._response)
