"""Plans: tool calls of one response that take the results of earlier calls of it.

A model that knows a later call needs an earlier one's result writes, in place of the
value, ``{"result_of": N}`` (N: the earlier call's place in the response, 1 for the first)
or ``{"result_of": N, "path": "population"}`` (a key, attribute or list index of that
result; dotted for deeper ones). The call then depends on call N: it starts the moment
call N has a value, which is checked against the parameter's type then.

Positions, not ids: a model writes its calls in order and knows their places, but the
ids are given by the API, after the model wrote the call. A key without ``$``: Anthropic
refuses property names other than ``^[a-zA-Z0-9_.-]{1,64}$`` in a tool's schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from .._core._result import SkillResult
from .._core._skill import Skill, SkillCall, SkillOptions
from ._replies import clip, reply_content
from ._schema import ArgsModel, expected_type

if TYPE_CHECKING:
    from .._core._retry import Retry

__all__ = [
    "INSTRUCTIONS", "Plan", "Reference", "admit_references", "find_references", "input_failed_reply",
    "planned", "positions_in", "resolve_path",
]

REF = "result_of"
PATH = "path"
_REF_DEF = "ResultOf"

INSTRUCTIONS = (
    "You may make several tool calls in one response even when one needs another's result. "
    "Where an argument (or an item of a list argument) needs the result of an earlier call "
    f'of the same response, write {{"{REF}": N}} in place of the value, N being that call\'s '
    "place among your calls in this response (1 for the first). To take a part of that "
    f'result, add "{PATH}": {{"{REF}": 1, "{PATH}": "population"}} takes the "population" '
    f'of call 1\'s result; "items.0.name" goes deeper (list items by number). A call may '
    "only take results of calls written before it. Each call starts as soon as the results "
    "it takes exist, so write the whole plan at once; you will see every result afterwards."
)


@dataclass(frozen=True)
class Reference:
    """One ``{"result_of": N, "path": ...}`` in a call's arguments."""

    loc: tuple[str | int, ...]  # where it stands in the arguments
    position: int  # 1-based place of the call it takes the result of
    path: str | None

    @property
    def where(self) -> str:
        return ".".join(str(part) for part in self.loc)


def _reference(value: Any) -> tuple[int, str | None] | None:
    if not isinstance(value, Mapping) or REF not in value or not set(value) <= {REF, PATH}:
        return None
    position, path = value[REF], value.get(PATH)
    if isinstance(position, bool) or not isinstance(position, (int, float)) or position != int(position):
        return None
    if path is not None and not isinstance(path, str):
        return None
    return int(position), (path or None)


def find_references(data: Any, loc: tuple[str | int, ...] = ()) -> list[Reference]:
    """Every reference in a call's arguments, in order."""
    found = _reference(data) if loc else None
    if found is not None:
        return [Reference(loc, *found)]
    out: list[Reference] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            out.extend(find_references(value, (*loc, str(key))))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out.extend(find_references(value, (*loc, i)))
    return out


def substitute(data: Any, values: Mapping[tuple[str | int, ...], Any], loc: tuple[str | int, ...] = ()) -> Any:
    """``data`` with the value of each reference in its place."""
    if loc in values:
        return values[loc]
    if isinstance(data, Mapping):
        return {key: substitute(value, values, (*loc, str(key))) for key, value in data.items()}
    if isinstance(data, list):
        return [substitute(value, values, (*loc, i)) for i, value in enumerate(data)]
    return data


class PathError(LookupError):
    pass


def resolve_path(value: Any, path: str | None) -> Any:
    """The part of ``value`` a dotted path names: keys of mappings, indexes of lists (from
    0, negative from the end), attributes of other objects (models, dataclasses).

    Raises:
        PathError: a step names nothing; the message says which and what there is.
    """
    if not path:
        return value
    done: list[str] = []
    for step in path.split("."):
        here = ".".join(done) or "the top"
        if isinstance(value, str):  # a JSON text (an MCP tool's text content): the data it holds
            try:
                value = json.loads(value)
            except ValueError:
                raise PathError(f"is text, with no {step!r} at {here}") from None
        if isinstance(value, Mapping):
            if step not in value:
                keys = ", ".join(repr(str(k)) for k in list(value)[:12]) or "none"
                raise PathError(f"has no key {step!r} at {here} (its keys: {keys})")
            value = value[step]
        elif isinstance(value, (list, tuple)):
            try:
                value = value[int(step)]
            except (ValueError, IndexError):
                raise PathError(f"has no item {step!r} at {here} (a list of {len(value)})") from None
        elif not step.startswith("_") and hasattr(value, step) and not callable(getattr(value, step)):
            value = getattr(value, step)
        else:
            raise PathError(f"has no {step!r} at {here} (a {type(value).__name__})")
        done.append(step)
    return value


# -- schemas ----------------------------------------------------------------------------------


def _ref_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The result of an earlier call of this response, in place of a value.",
        "properties": {
            REF: {"type": "integer", "minimum": 1,
                  "description": "The earlier call's place among this response's calls (1 for the first)."},
            PATH: {"type": "string",
                   "description": "A part of that result: a key, or a dotted path (list items by number)."},
        },
        "required": [REF],
        "additionalProperties": False,
    }


def admit_references(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` (a tool's arguments) where each argument, and each item of a list
    argument, may also be a reference."""
    out: dict[str, Any] = json.loads(json.dumps(schema))
    defs = out.setdefault("$defs", {})
    name = _REF_DEF
    while name in defs or name in out.get("definitions", {}):
        name += "_"
    defs[name] = _ref_schema()
    ref = {"$ref": f"#/$defs/{name}"}
    props: dict[str, Any] = out.get("properties", {})
    for key, prop in list(props.items()):
        if not isinstance(prop, dict):
            continue
        outer = {k: prop.pop(k) for k in ("description", "default") if k in prop}
        items = prop.get("items")
        if prop.get("type") == "array" and isinstance(items, dict):
            prop["items"] = {"anyOf": [items, ref]}
        props[key] = {"anyOf": [prop, ref], **outer} if prop else {"anyOf": [{}, ref], **outer}
    return out


# -- checking arguments before and after the references have values ---------------------------


def validate_around(args: ArgsModel, data: Mapping[str, Any], refs: Sequence[Reference]) -> ValidationError | None:
    """What is wrong with the arguments other than where references stand (those are
    checked when their values arrive); ``None``: nothing."""
    try:
        args.validate(data)
    except ValidationError as exc:
        spots = [ref.loc for ref in refs]
        left = [
            e for e in exc.errors(include_url=False)
            if not any(tuple(e["loc"][: len(spot)]) == spot for spot in spots)
        ]
        if not left:
            return None
        details: list[Any] = []
        for e in left:
            detail: dict[str, Any] = {"type": e["type"], "loc": e["loc"], "input": e.get("input")}
            if "ctx" in e:
                detail["ctx"] = e["ctx"]
            details.append(detail)
        try:
            return ValidationError.from_exception_data(exc.title, details)
        except (TypeError, ValueError, KeyError):  # an error type pydantic cannot rebuild: all, then
            return exc
    return None


@dataclass(frozen=True)
class Source:
    """A call a reference takes the result of."""

    position: int
    key: str
    name: str
    call: SkillCall[Any]

    def said(self) -> str:
        return f"call {self.position} ({self.name!r}, id {self.key!r})"


@dataclass(frozen=True)
class Plan:
    """What a dependent call takes: its references and the calls they point to."""

    key: str
    name: str
    position: int
    data: Mapping[str, Any]
    refs: tuple[Reference, ...]
    sources: tuple[Source, ...]  # one per distinct position, the order of the call's arguments

    def source(self, position: int) -> Source:
        return next(s for s in self.sources if s.position == position)


def bind(plan: Plan, args: ArgsModel, values: Sequence[Any], error: type[Exception]) -> BaseModel:
    """The arguments, validated, once the sources' ``values`` (in ``plan.sources``'
    order) have arrived.

    Raises:
        error: a path names nothing, or a value does not fit its parameter; the message
            names both calls.
    """
    by_position = {s.position: v for s, v in zip(plan.sources, values)}
    filled: dict[tuple[str | int, ...], Any] = {}
    for ref in plan.refs:
        source = plan.source(ref.position)
        try:
            filled[ref.loc] = resolve_path(by_position[ref.position], ref.path)
        except PathError as exc:
            raise error(
                f"Argument {ref.where!r} of call {plan.position} ({plan.name!r}) takes "
                f"{ref.path!r} of the result of {source.said()}, but that result {exc}. "
                f"Call {plan.name!r} again with a value, or a path that exists."
            ) from None
    data = substitute(plan.data, filled)
    try:
        return args.validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors(include_url=False):
            loc = tuple(e["loc"])
            hit = next((r for r in plan.refs if loc[: len(r.loc)] == r.loc), None)
            at = ".".join(str(p) for p in loc) or "(arguments)"
            if hit is None:
                problems.append(f"- {at}: {e['msg']}")
                continue
            source = plan.source(hit.position)
            part = f"{hit.path!r} of the result of " if hit.path else "the result of "
            prop = args.schema.get("properties", {}).get(str(hit.loc[0]), {})
            want = f"; expected {expected_type(prop, args.defs)}" if len(hit.loc) == 1 and prop else ""
            problems.append(
                f"- {at}: {part}{source.said()} does not fit: {e['msg']} "
                f"(got {clip(_short(e.get('input')), 80)}){want}"
            )
        raise error(
            f"The results call {plan.position} ({plan.name!r}, id {plan.key!r}) takes do not fit "
            f"its arguments:\n" + "\n".join(problems)
            + f"\nCall {plan.name!r} again with arguments {args.describe()}."
        ) from None


def _short(value: Any) -> str:
    try:
        return json.dumps(value, default=repr)
    except (TypeError, ValueError):
        return repr(value)


def bound_skill(made: Skill[Any, Any], fill: Callable[[tuple[Any, ...]], tuple[tuple[Any, ...], dict[str, Any]]],
                after: Callable[[Any], None] | None) -> Skill[Any, Any]:
    """``made`` taking the sources' values: ``fill`` turns them into its arguments (and
    raises for values that do not fit), then ``made``'s function runs as usual, on the
    loop or its thread; ``after`` gets the value it returned."""
    fn = made.fn
    wrapper: Callable[..., Any]
    if made.kind == "async":

        async def planned_async(*values: Any) -> Any:
            args, kwargs = fill(values)
            value = await fn(*args, **kwargs)
            if after is not None:
                after(value)
            return value

        wrapper = planned_async
    else:

        def planned_sync(*values: Any) -> Any:
            args, kwargs = fill(values)
            value = fn(*args, **kwargs)
            if after is not None:
                after(value)
            return value

        wrapper = planned_sync
    copy: Skill[Any, Any] = object.__new__(type(made))
    copy.__dict__.update(made.__dict__)
    copy.fn = wrapper
    return copy


def nested_skill(made: Skill[Any, Any], fill: Callable[[tuple[Any, ...]], tuple[tuple[Any, ...], dict[str, Any]]],
                 key: str) -> Skill[Any, Any]:
    """For a skill that runs elsewhere (a process, Ray, a generator): the arguments are
    made here, then the skill's own call runs with all its options."""

    async def planned_elsewhere(*values: Any) -> Any:
        args, kwargs = fill(values)
        return await SkillCall(made, args, kwargs, key=key)

    return Skill(planned_elsewhere, SkillOptions(name=made.options.name))


def not_retrying(retry: Retry | None, error: type[Exception]) -> Retry | None:
    """``retry``, except for a result that does not fit: trying again changes nothing."""
    if retry is None:
        return None
    matches = retry.matches
    return retry.model_copy(update={"on": lambda exc: not isinstance(exc, error) and matches(exc)})


# -- checking the plan itself ------------------------------------------------------------------


def plan_problem(
    position: int,
    name: str,
    refs: Sequence[Reference],
    placed: Mapping[int, tuple[str, str]],
    later: Mapping[int, tuple[str, list[int]]] | None,
) -> str | None:
    """Why the references of call ``position`` (1-based) cannot be followed, or ``None``.

    Args:
        placed: the calls before it: position -> (key, name).
        later: for a whole response, the calls after it: position -> (name, the
            positions they refer to), to tell a cycle from a mere later call.
    """
    for ref in refs:
        target = ref.position
        head = f"Argument {ref.where!r} of call {position} ({name!r}) takes the result of call {target}"
        if target == position:
            return f"{head}, which is itself: a cycle. Give {ref.where!r} a value, or the result of an earlier call."
        if target in placed:
            continue
        if target > position and later is not None and target in later:
            cycle = _cycle(position, target, later)
            if cycle is not None:
                chain = " -> ".join(f"call {p}" for p in cycle)
                return (f"{head}, and the calls form a cycle ({chain}); no call of it can start. "
                        "Take results of calls written before, or give values.")
            return (f"{head} ({later[target][0]!r}), which comes after it; a call can take only the "
                    f"results of calls written before it. Write call {target} first, or call "
                    f"{name!r} again once you have its result.")
        if target > position and later is None:
            return (f"{head}, which is not among the calls before it; a call can take only the "
                    f"results of calls written before it (1 to {position - 1}).")
        if later is None and 1 <= target < position:
            return (f"{head}, whose arguments were not complete when this call's were; call "
                    f"{name!r} again once call {target} has a result.")
        if later is None:
            return f"{head}, but no call {target} comes before it (they are numbered from 1)."
        return (f"{head}, but this response has no call {target} (its calls are numbered 1 to "
                f"{position + len(later)}, in the order written).")
    return None


def _cycle(start: int, target: int, later: Mapping[int, tuple[str, list[int]]]) -> list[int] | None:
    path = [start, target]
    seen = {target}
    stack = [(target, iter(later.get(target, ("", []))[1]))]
    while stack:
        _, edges = stack[-1]
        nxt = next(edges, None)
        if nxt is None:
            stack.pop()
            path.pop()
            continue
        if nxt == start:
            return [*path, start]
        if nxt in later and nxt not in seen and nxt > start:
            seen.add(nxt)
            path.append(nxt)
            stack.append((nxt, iter(later[nxt][1])))
    return None


# -- the reply of a call whose input failed ---------------------------------------------------


def input_failed_reply(plan: Plan, results: Mapping[str, SkillResult]) -> str | None:
    """Which input of ``plan``'s call had no value, as the call's reply; ``None`` if all
    had one (it was skipped for another reason)."""
    for ref in plan.refs:
        source = plan.source(ref.position)
        got = results.get(source.key)
        if got is None or got.has_value:
            continue
        text, _ = reply_content(got)
        return (
            f"Not run: argument {ref.where!r} takes the result of {source.said()}, which failed: "
            f"{clip(text, 600)} Call {plan.name!r} again once that input is corrected."
        )
    return None


# -- a call that takes results, as a SkillCall ------------------------------------------------


def positions_in(arguments: Any) -> list[int]:
    """The positions a call's raw arguments (JSON text or a mapping) refer to."""
    data = arguments
    if isinstance(arguments, str):
        try:
            data = json.loads(arguments)
        except ValueError:
            return []
    return [ref.position for ref in find_references(data)] if isinstance(data, Mapping) else []


def planned(
    tool: Any,
    key: str,
    position: int,
    data: Mapping[str, Any],
    refs: Sequence[Reference],
    turn: Any,
    reject: Callable[[str, str, str], SkillCall[Any]],
    error: type[Exception],
    extra: Mapping[str, Any] | None = None,
) -> SkillCall[Any]:
    """The SkillCall of tool call ``position`` of a turn, whose arguments hold ``refs``:
    it depends on the calls they point to, and its arguments are made and checked when
    their values arrive. A plan that cannot be followed, or arguments wrong apart from
    the references, give a rejected call (``reject(key, name, message)``)."""
    placed: dict[int, tuple[SkillCall[Any], str]] = turn.placed
    later = turn.later
    ahead = None if later is None else {p: v for p, v in later.items() if p > position}
    problem = plan_problem(position, tool.name, refs, {p: (str(c.key), n) for p, (c, n) in placed.items()}, ahead)
    if problem is not None:
        return reject(key, tool.name, problem)
    invalid = validate_around(tool.args, data, refs)
    if invalid is not None:
        return reject(key, tool.name, tool.args.explain(tool.name, invalid))
    sources = tuple(
        Source(p, str(placed[p][0].key), placed[p][1], placed[p][0])
        for p in sorted({ref.position for ref in refs})
    )
    plan = Plan(key, tool.name, position, data, tuple(refs), sources)
    turn.plans[key] = plan
    args: ArgsModel = tool.args

    def fill(values: tuple[Any, ...]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        validated = bind(plan, args, values, error)
        if tool.remote:
            return (), {**args.json_arguments(validated), **(extra or {})}
        positional, named = args.call_args(validated)
        return positional, {**named, **extra} if extra else named

    made: Skill[Any, Any] = tool.skill
    inputs = tuple(source.call for source in sources)
    if not tool.recordable:
        return SkillCall(nested_skill(made, fill, key), inputs, {}, key=key)
    bound = bound_skill(made, fill, lambda value: turn.record(key, value))
    options = made.options
    if options.retry is not None:
        options = options.model_copy(update={"retry": not_retrying(options.retry, error)})
    return SkillCall(bound, inputs, {}, key=key, options=options)
