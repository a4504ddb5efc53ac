"""A tool's arguments as a pydantic model: from a Python signature, or from a JSON Schema.

Both ways give the same thing, an :class:`ArgsModel`: a pydantic model that validates and
coerces a model's arguments, the JSON Schema sent to the model, and the words to say when
the arguments are wrong. Fields are named ``a0, a1, ...`` with the parameter's name as
their alias, so a parameter may be called ``schema``, ``json`` or ``_x`` without shadowing
anything of ``BaseModel``.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NoReturn, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ._inject import Kind, injected_kind

__all__ = [
    "ArgsModel", "StrictSchemaError", "from_json_schema", "from_signature", "parse_docstring",
    "strict_schema",
]

_PARAMETER_SECTIONS = ("parameters", "other parameters")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """A docstring's description for the model, and its parameters' descriptions.

    Google, NumPy and Sphinx styles are read by griffe's parsers (the style is
    detected). The description is the whole docstring but its sections for Python
    callers: every paragraph of text, and admonitions (``Note:``, ``Warning:``) as
    ``Note: ...`` paragraphs; the parameter sections go to the parameters, and
    ``Returns``, ``Raises``, ``Examples`` and the like are left out. A parameter's
    description has its lines joined (its paragraphs kept apart).

    Examples:
        >>> parse_docstring('''Get the weather.
        ...
        ... Args:
        ...     city: the city's name,
        ...         in English.
        ...     days (int): how many days.
        ... ''')
        ('Get the weather.', {'city': "the city's name, in English.", 'days': 'how many days.'})
    """
    if not doc or not doc.strip():
        return "", {}
    import griffe  # ~0.1 s to import: only once a tool is made from a function

    options: Any = {style: {"warnings": False} for style in ("google", "numpy", "sphinx")}
    sections = griffe.parse_auto(griffe.Docstring(inspect.cleandoc(doc)), per_style_options=options)
    texts: list[str] = []
    args: dict[str, str] = {}
    for section in sections:
        kind = section.kind.value.replace("-", " ")
        if kind == "text":
            texts.append(str(section.value).strip())
        elif kind == "admonition":
            title = section.title or "Note"
            texts.append(f"{title}: {_joined(str(section.value.description))}")
        elif kind in _PARAMETER_SECTIONS:
            for param in section.value:
                name = str(param.name).lstrip("*")
                if name and param.description:
                    args[name] = _joined(str(param.description))
    return "\n\n".join(t for t in texts if t), args


def _joined(text: str) -> str:
    """Lines joined by spaces, paragraphs kept apart."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


@dataclass(frozen=True)
class ArgsModel:
    """How one tool's arguments are checked, described and handed to it.

    One rule for every object, top level or nested: a key the schema does not list is
    refused where the schema says ``additionalProperties: false`` (a function's
    arguments and the pydantic models, dataclasses and TypedDicts among them say so),
    and ``null`` for an optional value whose type has no null means its default.

    Attributes:
        model: validates the arguments and coerces them.
        schema: the JSON Schema of the arguments, as the model sees it.
        fields: ``(field name, argument name, positional only)`` of each argument.
        complete: every property, nested ones too, must be given (the promise of a
            strict schema: optional ones are sent as ``null``).
        lax: pydantic's lax mode (``"20"`` is 20); ``False``: its strict mode on the
            JSON data (``"20"`` is refused; dates, enums and UUIDs still come as
            strings).
    """

    model: type[BaseModel]
    schema: dict[str, Any]
    fields: tuple[tuple[str, str, bool], ...]
    complete: bool = False
    lax: bool = True
    injected: tuple[tuple[str, Kind], ...] = ()
    """``(parameter name, kind)`` of each argument the application fills in at call
    time (a :class:`ToolContext`, ``Annotated[T, Injected]``, a LangChain injected
    argument): in no schema, not validated, never taken from the model."""

    @property
    def defs(self) -> Mapping[str, Any]:
        """The schema's definitions (``$defs``, or the older ``definitions``)."""
        return {**self.schema.get("definitions", {}), **self.schema.get("$defs", {})}

    def validate(self, arguments: Mapping[str, Any]) -> BaseModel:
        """Raises:
        pydantic.ValidationError: the arguments do not fit."""
        problems: list[Any] = []
        walker = _Walker(self.defs, self.complete, problems)
        data = walker.value(arguments, self.schema, ())
        try:
            if self.lax:
                validated = self.model.model_validate(data)
            else:
                try:
                    text = json.dumps(data)
                except (TypeError, ValueError):  # not JSON data (call() with objects)
                    validated = self.model.model_validate(data, strict=True)
                else:
                    validated = self.model.model_validate_json(text, strict=True)
        except ValidationError as exc:
            if not problems:
                raise
            raise _merged(self.model.__name__, problems, exc, list(self.schema.get("properties", {}))) from None
        if problems:
            raise ValidationError.from_exception_data(self.model.__name__, problems)
        return validated

    def call_args(self, validated: BaseModel) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The positional and keyword arguments of the Python function."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        values = validated.__dict__
        for field, name, positional in self.fields:
            if positional:
                args.append(values[field])
            else:
                kwargs[name] = values[field]
        return tuple(args), kwargs

    def json_arguments(self, validated: BaseModel) -> dict[str, Any]:
        """The arguments as JSON data, only those the model gave (a remote tool applies
        its own defaults)."""
        data: dict[str, Any] = validated.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return data

    def describe(self) -> str:
        """A one-line summary of the arguments for an error message:
        ``{"city": string (required), "days": integer = 3}``."""
        props: dict[str, Any] = self.schema.get("properties", {})
        required = set(self.schema.get("required", ()))
        parts = []
        for name, prop in props.items():
            kind = expected_type(prop, self.schema.get("$defs", {}))
            if name in required:
                parts.append(f'"{name}": {kind} (required)')
            elif self.complete:  # a strict schema: given always, null for the default
                nullable = _Walker(self.defs, False, []).nullable(prop)
                kind = kind if nullable else f"{kind} or null"
                said = f"null means {_short(prop['default'])}" if prop.get("default") is not None else "may be null"
                parts.append(f'"{name}": {kind} (required, {said})')
            elif "default" in prop:
                parts.append(f'"{name}": {kind} = {json.dumps(prop["default"])}')
            else:
                parts.append(f'"{name}": {kind} (optional)')
        return "{" + ", ".join(parts) + "}"

    def explain(self, tool: str, error: ValidationError) -> str:
        """What was wrong, written for the model to send a corrected call."""
        defs = self.schema.get("$defs", {})
        props: dict[str, Any] = self.schema.get("properties", {})
        problems = []
        for err in error.errors(include_url=False):
            loc = ".".join(str(part) for part in err["loc"]) or "(arguments)"
            text = err["msg"]
            if err["type"] == "missing":
                text = "required, missing"
            elif err["type"] == "extra_forbidden":
                text = "not an argument of this tool" if len(err["loc"]) == 1 else "not a field of this object"
            else:
                text = f'{text} (got {_short(err.get("input"))})'
            top = str(err["loc"][0]) if err["loc"] else ""
            if top in props and err["type"] != "extra_forbidden":
                text += f"; expected {expected_type(props[top], defs)}" if len(err["loc"]) == 1 else ""
            problems.append(f"- {loc}: {text}")
        return (
            f"Invalid arguments for tool {tool!r}:\n" + "\n".join(problems)
            + f"\nCall {tool!r} again with arguments {self.describe()}."
        )


# -- what pydantic does not see: nested extras, null for a default, strict completeness ---


class _Walker:
    """Prepares the arguments along the schema before pydantic validates them: drops a
    ``null`` that stands for a default, refuses keys an ``additionalProperties: false``
    object does not list and, when ``complete``, properties left out."""

    def __init__(self, defs: Mapping[str, Any], complete: bool, problems: list[Any]) -> None:
        self.defs = defs
        self.complete = complete
        self.problems = problems

    def resolve(self, node: Any) -> Mapping[str, Any]:
        for _ in range(32):
            if not isinstance(node, Mapping) or "$ref" not in node:
                break
            node = self.defs.get(str(node["$ref"]).rsplit("/", 1)[-1], {})
        return node if isinstance(node, Mapping) else {}

    def value(self, value: Any, node: Any, loc: tuple[str | int, ...]) -> Any:
        node = self.resolve(node)
        if isinstance(value, Mapping) and "properties" in node:
            return self.object(value, node, loc)
        if isinstance(value, list) and isinstance(node.get("items"), Mapping):
            return [self.value(v, node["items"], (*loc, i)) for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            branches = [
                b for b in (self.resolve(b) for b in node.get("anyOf", node.get("oneOf", ())))
                if "properties" in b
            ]
            if len(branches) == 1:  # Optional[Model]: the one object it can be
                return self.object(value, branches[0], loc)
        return value

    def object(self, value: Mapping[str, Any], node: Mapping[str, Any], loc: tuple[str | int, ...]) -> Any:
        props: Mapping[str, Any] = node.get("properties", {})
        required = set(node.get("required", ()))
        closed = node.get("additionalProperties") is False
        out: dict[str, Any] = {}
        for key, item in value.items():
            prop = props.get(key)
            if prop is None:
                if closed:
                    self.problems.append({"type": "extra_forbidden", "loc": (*loc, key), "input": item})
                else:
                    out[key] = item
            elif item is None and key not in required and not self.nullable(prop):
                continue  # null: the default
            else:
                out[key] = self.value(item, prop, (*loc, key))
        if self.complete:
            for key in props:
                if key not in value and key not in required:  # pydantic says the others
                    self.problems.append({"type": "missing", "loc": (*loc, key), "input": dict(value)})
        return out

    def nullable(self, prop: Any) -> bool:
        node = self.resolve(prop)
        kind = node.get("type")
        if kind == "null" or (isinstance(kind, list) and "null" in kind):
            return True
        if None in node.get("enum", ()) or ("const" in node and node["const"] is None):
            return True
        branches = node.get("anyOf", node.get("oneOf"))
        if isinstance(branches, list):
            return any(self.nullable(b) for b in branches)
        return not kind and not any(k in node for k in ("enum", "const", "properties", "items", "allOf"))


def _merged(title: str, problems: list[Any], error: ValidationError, order: list[str]) -> ValidationError:
    """Ours and pydantic's problems, in the order of the arguments."""
    seen = {(p["type"], tuple(p["loc"])) for p in problems}
    details = list(problems)
    for err in error.errors(include_url=False):
        if (err["type"], tuple(err["loc"])) in seen:
            continue
        detail: dict[str, Any] = {"type": err["type"], "loc": err["loc"], "input": err.get("input")}
        if "ctx" in err:
            detail["ctx"] = err["ctx"]
        details.append(detail)
    rank = {name: i for i, name in enumerate(order)}
    details.sort(key=lambda d: rank.get(str(d["loc"][0]), len(rank)) if d["loc"] else -1)
    try:
        return ValidationError.from_exception_data(title, details)
    except Exception:  # a custom error type pydantic cannot rebuild: ours, then
        return ValidationError.from_exception_data(title, problems)


def _short(value: Any, limit: int = 80) -> str:
    try:
        text = json.dumps(value, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def expected_type(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    """A JSON Schema in a few words: ``string``, ``"c" | "f"``, ``array of integer``."""
    if "$ref" in prop:
        name = str(prop["$ref"]).rsplit("/", 1)[-1]
        target = defs.get(name, {})
        if "enum" in target or "const" in target:  # an Enum: its values say it
            return expected_type(target, defs)
        keys = ", ".join(target.get("properties", {}))
        return f"object {name} {{{keys}}}" if keys else f"object {name}"
    if "enum" in prop:
        return " | ".join(json.dumps(v) for v in prop["enum"])
    if "const" in prop:
        return json.dumps(prop["const"])
    for union in ("anyOf", "oneOf"):
        if union in prop:
            return " or ".join(expected_type(p, defs) for p in prop[union])
    kind = prop.get("type")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind == "array" and isinstance(prop.get("items"), Mapping):
        return f"array of {expected_type(prop['items'], defs)}"
    if kind == "object" and prop.get("properties"):
        return "object {" + ", ".join(prop["properties"]) + "}"
    return str(kind) if kind else "any value"


_DATA_KEYS = frozenset({"default", "enum", "const", "examples", "example"})


def _clean(schema: Any, in_map: bool = False) -> Any:
    """Drop pydantic's generated ``title``s: they cost the model tokens and say nothing
    the property names do not (a property *named* title stays)."""
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "title" and not in_map and isinstance(value, str):
                continue
            if key in _DATA_KEYS and not in_map:  # values, not schemas: kept whole
                out[key] = value
                continue
            out[key] = _clean(value, in_map=key in ("properties", "$defs", "definitions") and not in_map)
        return out
    if isinstance(schema, list):
        return [_clean(item) for item in schema]
    return schema


_FORBID = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


def from_signature(fn: Callable[..., Any], tool: str, arg_docs: Mapping[str, str]) -> ArgsModel:
    """The arguments of a Python function.

    Raises:
        TypeError: the function takes ``*args`` or ``**kwargs`` (a model can only send
            named arguments), or its annotations cannot be resolved.
    """
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise TypeError(f"tool {tool!r}: cannot resolve the annotations of {fn!r}: {exc}") from exc
    definitions: dict[str, Any] = {}
    fields: list[tuple[str, str, bool]] = []
    injected: list[tuple[str, Kind]] = []
    for i, (name, param) in enumerate(signature.parameters.items()):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            stars = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise TypeError(
                f"tool {tool!r}: a model sends named arguments, so {stars}{name} cannot be filled; "
                "give the function named parameters"
            )
        annotation = hints.get(name, Any)
        kind = injected_kind(annotation)
        if kind is not None:  # the application's, not the model's: no field, no schema
            if param.kind is param.POSITIONAL_ONLY:
                raise TypeError(
                    f"tool {tool!r}: the injected parameter {name!r} is filled by name; "
                    "make it a keyword parameter (not before /)"
                )
            injected.append((name, kind))
            continue
        default = param.default
        extra: list[Any] = []
        if isinstance(default, FieldInfo):  # def f(x: int = Field(3, description=...))
            extra.append(default)
            default = default.default
        has_description = _has_description(annotation) or any(
            isinstance(e, FieldInfo) and e.description for e in extra
        )
        description = None if has_description else arg_docs.get(name)
        # The model's name for it: the parameter's, or an alias where Python has no such
        # name (``from_: Annotated[str, Field(alias="from")]``).
        alias = _alias(annotation, extra) or name
        if default is None and not _admits_none(annotation):
            annotation = Optional[annotation]  # x: str = None: the schema says null too
        field = f"a{i}"
        # description=None would erase one given in Annotated[..., Field(description=)].
        options: dict[str, Any] = {"description": description} if description else {}
        options["default"] = PydanticUndefined if default is inspect.Parameter.empty else default
        info = Field(alias=alias, **options)
        definitions[field] = (Annotated[(annotation, *extra)] if extra else annotation, info)
        fields.append((field, name, param.kind is param.POSITIONAL_ONLY))
    model = create_model(f"{tool}_arguments", __config__=_FORBID, **definitions)
    schema = _closed(_clean(model.model_json_schema(by_alias=True)))
    schema.setdefault("properties", {})
    return ArgsModel(model, schema, tuple(fields), injected=tuple(injected))


def _admits_none(annotation: Any) -> bool:
    if typing.get_origin(annotation) is Annotated:
        return _admits_none(typing.get_args(annotation)[0])
    if annotation in (Any, None, type(None), object):
        return True
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return any(_admits_none(a) for a in typing.get_args(annotation))
    if origin is Literal:
        return None in typing.get_args(annotation)
    return False


def _closed(schema: Any) -> Any:
    """``additionalProperties: false`` on every object with properties that does not say
    otherwise (a pydantic model with ``extra="allow"`` says ``true``): unknown keys are
    refused at every level, as the schema then says."""
    if isinstance(schema, dict):
        out = {k: (v if k in _DATA_KEYS else _closed(v)) for k, v in schema.items()}
        if "properties" in out and isinstance(out["properties"], dict):
            out["properties"] = {k: _closed(v) for k, v in schema["properties"].items()}
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


def _alias(annotation: Any, extra: list[Any]) -> str | None:
    metadata = list(extra)
    if typing.get_origin(annotation) is Annotated:
        metadata += annotation.__metadata__
    return next((m.alias for m in metadata if isinstance(m, FieldInfo) and isinstance(m.alias, str)), None)


def _has_description(annotation: Any) -> bool:
    if typing.get_origin(annotation) is Annotated:
        return any(
            isinstance(m, FieldInfo) and m.description for m in annotation.__metadata__
        )
    return False


# -- OpenAI's strict mode (structured outputs) -------------------------------------------

# What OpenAI's structured outputs take: other keywords are dropped (validation still
# checks them, and says so to the model when a call breaks one).
_STRICT_KEYS = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "enum", "const",
    "anyOf", "$ref", "$defs", "description", "pattern", "format", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
})
_STRICT_FORMATS = frozenset({
    "date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid",
})


class StrictSchemaError(ValueError):
    """A tool's arguments cannot be written as an OpenAI strict schema."""


def strict_schema(schema: Mapping[str, Any], tool: str) -> dict[str, Any]:
    """``schema`` under the rules of OpenAI's strict mode: every property required (an
    optional one is nullable instead: ``null`` stands for its default),
    ``additionalProperties: false`` on every object, ``anyOf`` for ``oneOf``, no
    defaults, titles or keywords strict mode does not take.

    Raises:
        StrictSchemaError: a parameter has no strict form (a free-form ``dict``, ``Any``,
            a tuple, an object that allows unknown keys); the message names the tool and
            the parameter.
    """
    return _Strict(schema, tool).root()


class _Strict:
    def __init__(self, schema: Mapping[str, Any], tool: str) -> None:
        self.schema = schema
        self.tool = tool
        self.defs: Mapping[str, Any] = {**schema.get("definitions", {}), **schema.get("$defs", {})}
        self.done: dict[str, Any] = {}

    def fail(self, path: str, why: str) -> NoReturn:
        raise StrictSchemaError(
            f"tool {self.tool!r}: parameter {path!r} cannot be written in OpenAI's strict mode: "
            f"{why}; give it a fixed shape (a pydantic model, a list, a scalar, a Literal), "
            "or use strict=False"
        )

    def root(self) -> dict[str, Any]:
        out = self.object(self.schema, "")
        if self.done:
            out["$defs"] = self.done
        return out

    def node(self, node: Any, path: str) -> dict[str, Any]:
        if not isinstance(node, Mapping):
            self.fail(path, "its schema is not an object")
        if "$ref" in node:
            name = str(node["$ref"]).rsplit("/", 1)[-1]
            if name not in self.defs:
                self.fail(path, f"it refers to {node['$ref']!r}, which the schema does not define")
            siblings = {k: v for k, v in node.items() if k != "$ref" and k in _STRICT_KEYS}
            if siblings:  # strict mode takes no keyword beside $ref: the target, inlined
                return self.node({**self.defs[name], **siblings}, path)
            if name not in self.done:
                self.done[name] = {}  # a recursive model refers to itself: fine
                self.done[name] = self.node(self.defs[name], path)
            return {"$ref": f"#/$defs/{name}"}
        if "allOf" in node:
            parts = node["allOf"]
            if not isinstance(parts, list) or len(parts) != 1:
                self.fail(path, "strict mode takes no allOf")
            return self.node({**{k: v for k, v in node.items() if k != "allOf"}, **parts[0]}, path)
        if "prefixItems" in node:
            self.fail(path, "a tuple (prefixItems) has no strict form; use a list or a model")
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key not in _STRICT_KEYS or key in ("$defs", "properties", "required", "additionalProperties"):
                continue
            if key == "format" and value not in _STRICT_FORMATS:
                continue
            out[key] = value
        for union in ("anyOf", "oneOf"):
            if union in node:
                out["anyOf"] = [self.node(b, path) for b in node[union]]
        kind = node.get("type")
        if kind == "object" or "properties" in node:
            out.update(self.object(node, path))
        elif isinstance(node.get("items"), Mapping):
            out["items"] = self.node(node["items"], f"{path}[]")
        elif kind == "array":
            self.fail(path, "a list of anything (no item type)")
        if not any(k in out for k in ("type", "anyOf", "enum", "const", "$ref")):
            self.fail(path, "it takes any value (Any or no annotation)")
        return out

    def object(self, node: Mapping[str, Any], path: str) -> dict[str, Any]:
        props: Mapping[str, Any] = node.get("properties", {})
        extra = node.get("additionalProperties", False)
        if path and not props:
            self.fail(path, "a free-form object (a dict) has no strict form; use a pydantic model")
        if extra is not False:
            self.fail(path or "(arguments)", "it allows keys the schema does not list")
        required = set(node.get("required", ()))
        out: dict[str, Any] = {"type": "object"}
        if node.get("description"):
            out["description"] = node["description"]
        properties: dict[str, Any] = {}
        for name, prop in props.items():
            where = f"{path}.{name}" if path else name
            strict = self.node(prop, where)
            if name not in required and not _Walker(self.defs, False, []).nullable(prop):
                strict = _with_null(strict)
                if isinstance(prop, Mapping) and "default" in prop:  # dropped: say it
                    said = f"null means {_short(prop['default'])}"
                    text = strict.get("description")
                    strict["description"] = f"{text} ({said})" if text else said.capitalize()
            properties[name] = strict
        out["properties"] = properties
        out["required"] = list(properties)
        out["additionalProperties"] = False
        return out


def _with_null(node: dict[str, Any]) -> dict[str, Any]:
    kind = node.get("type")
    if isinstance(kind, str) and "anyOf" not in node:
        out = {**node, "type": [kind, "null"]}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "const" in out:
            out["enum"] = [out.pop("const"), None]
        return out
    if "anyOf" in node:
        return {**node, "anyOf": [*node["anyOf"], {"type": "null"}]}
    described = {"description": node["description"]} if "description" in node else {}
    bare = {k: v for k, v in node.items() if k != "description"}
    return {"anyOf": [bare, {"type": "null"}], **described}


# -- JSON Schema to pydantic (MCP tools, LangChain tools with dict schemas) ------------------

_SIMPLE: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "null": type(None),
}


def from_json_schema(schema: Mapping[str, Any], tool: str) -> ArgsModel:
    """The arguments described by a JSON Schema (an MCP server's ``inputSchema``).

    The schema is sent to the model unchanged; validation covers what pydantic can say
    of it (types, required, enums, consts, defaults, nested objects and arrays, unions,
    ``$ref``); a construct it does not know is accepted as any value and left to the
    tool's own checks.
    """
    schema = dict(schema)
    defs: Mapping[str, Any] = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    converter = _Converter(defs, tool)
    props: Mapping[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    definitions: dict[str, Any] = {}
    fields = []
    for i, (name, prop) in enumerate(props.items()):
        field = f"a{i}"
        definitions[field] = converter.field(name, prop, name in required)
        fields.append((field, name, False))
    # A schema that says nothing of extra arguments gets them refused too: a misspelt
    # argument would otherwise pass silently. Only one that allows them keeps them.
    allowed = schema.get("additionalProperties", False)
    extra: Literal["allow", "forbid"] = "allow" if allowed is True or isinstance(allowed, Mapping) else "forbid"
    model = create_model(
        f"{tool}_arguments", __config__=ConfigDict(extra=extra), **definitions
    )
    out = dict(schema)
    out.setdefault("type", "object")
    out.setdefault("properties", {})
    return ArgsModel(model, out, tuple(fields))


class _Converter:
    def __init__(self, defs: Mapping[str, Any], tool: str) -> None:
        self.defs = defs
        self.tool = tool
        self.made: dict[str, Any] = {}
        self.depth = 0

    def field(self, name: str, prop: Mapping[str, Any], required: bool) -> tuple[Any, Any]:
        annotation = self.type_of(prop)
        default: Any = PydanticUndefined if required else prop.get("default", None)
        options: dict[str, Any] = {"description": prop["description"]} if prop.get("description") else {}
        return annotation, Field(default=default, alias=name, **options)

    def type_of(self, prop: Any) -> Any:
        if not isinstance(prop, Mapping):
            return Any
        self.depth += 1
        try:
            if self.depth > 32:  # a recursive $ref: stop describing, accept anything
                return Any
            return self._type_of(prop)
        finally:
            self.depth -= 1

    def _type_of(self, prop: Mapping[str, Any]) -> Any:
        if "$ref" in prop:
            name = str(prop["$ref"]).rsplit("/", 1)[-1]
            return self.type_of(self.defs.get(name, {}))
        try:
            if "const" in prop:
                return Literal[prop["const"]]
            if "enum" in prop and prop["enum"]:
                return Literal[tuple(prop["enum"])]
        except TypeError:  # an object or array among the values: Literal cannot hold it
            return Any
        for key in ("anyOf", "oneOf"):
            if key in prop:
                options = tuple(self.type_of(p) for p in prop[key])
                return Union[options] if options else Any
        kind = prop.get("type")
        if isinstance(kind, list):
            options = tuple(self.type_of({**prop, "type": k}) for k in kind)
            return Union[options] if options else Any
        if kind in _SIMPLE:
            return _SIMPLE[kind]
        if kind == "array":
            return list[self.type_of(prop.get("items", {}))]  # type: ignore[misc]
        if kind == "object" or "properties" in prop:
            props: Mapping[str, Any] = prop.get("properties", {})
            if not props:
                return dict[str, Any]
            required = set(prop.get("required", ()))
            definitions: dict[str, Any] = {
                f"a{i}": self.field(name, sub, name in required)
                for i, (name, sub) in enumerate(props.items())
            }
            extra: Literal["allow", "forbid"] = "forbid" if prop.get("additionalProperties") is False else "allow"
            return create_model(
                f"{self.tool}_object", __config__=ConfigDict(extra=extra), **definitions
            )
        return Any
