"""A graph's state: its schema (a TypedDict or a pydantic model), reducers, updates."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
import typing
from collections import abc
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

ROOT = "__root__"  # the one field of a root State, as LangGraph names it

# -- the state's schema --------------------------------------------------------------------


def _is_typeddict(tp: Any) -> bool:
    # typing.is_typeddict is False for typing_extensions.TypedDict before 3.13, which
    # LangGraph's users (and pydantic < 3.12) use; typing_extensions knows both.
    try:
        import typing_extensions
    except ImportError:  # pydantic depends on it, but do not make it ours
        return typing.is_typeddict(tp)
    return typing_extensions.is_typeddict(tp) or typing.is_typeddict(tp)


class _Schema:
    """What the graph knows about its State type: fields, reducers, validators."""

    def __init__(self, state_type: type[Any], localns: Mapping[str, Any] | None = None) -> None:
        self.type = state_type
        self.name = getattr(state_type, "__name__", repr(state_type))
        # StateGraph(Annotated[list, operator.add]): the state is one value, not a dict.
        self.is_root = typing.get_origin(state_type) is Annotated
        if self.is_root:
            self.is_model = self.is_dataclass = False
            self.fields: tuple[str, ...] = (ROOT,)
            self.reducers: dict[str, Callable[[Any, Any], Any]] = {}
            self.empty: dict[str, Callable[[], Any]] = {}
            self.adapters: dict[str, TypeAdapter[Any]] = {}
            reducer = _reducer_in(state_type.__metadata__, ROOT)
            if reducer is not None:
                self.reducers[ROOT] = reducer
                base = _empty_maker(state_type.__origin__)
                if base is not None:
                    self.empty[ROOT] = base
            return
        self.is_model = isinstance(state_type, type) and issubclass(state_type, BaseModel)
        self.is_dataclass = isinstance(state_type, type) and dataclasses.is_dataclass(state_type)
        if not self.is_model and not self.is_dataclass and not _is_typeddict(state_type):
            raise TypeError(
                "StateGraph() takes a TypedDict, a pydantic model or a dataclass, "
                f"got {state_type!r}"
            )
        self.reducers = {}
        self.empty = {}  # a reducer field's starting value
        self.adapters = {}
        if self.is_model:
            self._inspect_model(state_type)
        else:
            self._inspect_typeddict(state_type, localns)

    def _inspect_typeddict(self, state_type: type[Any], localns: Mapping[str, Any] | None) -> None:
        try:
            hints = typing.get_type_hints(state_type, include_extras=True)
        except NameError:
            # A TypedDict defined in a function, under `from __future__ import annotations`,
            # names that function's locals: look there too, as pydantic does for models.
            try:
                hints = typing.get_type_hints(
                    state_type, localns=dict(localns or {}), include_extras=True
                )
            except Exception as exc:
                raise TypeError(f"cannot resolve the annotations of {self.name}: {exc}") from exc
        except Exception as exc:
            raise TypeError(f"cannot resolve the annotations of {self.name}: {exc}") from exc
        self.fields = tuple(hints)
        for name, hint in hints.items():
            if typing.get_origin(hint) is Annotated:
                reducer = _reducer_in(hint.__metadata__, name)
                if reducer is not None:
                    self.reducers[name] = reducer
                    # As LangGraph does: a reducer field starts from its type's empty
                    # value, so the first update is folded too (list() + [x]).
                    base = _empty_maker(hint.__origin__)
                    if base is not None:
                        self.empty[name] = base

    def _inspect_model(self, state_type: type[BaseModel]) -> None:
        self.fields = tuple(state_type.model_fields)
        config = state_type.model_config
        adapter_config = ConfigDict(
            arbitrary_types_allowed=config.get("arbitrary_types_allowed", False),
            strict=config.get("strict", False),
        )
        for name, info in state_type.model_fields.items():
            reducer = _reducer_in(tuple(info.metadata), name)
            if reducer is not None:
                # A reducer's update need not have the field's type (append one item to
                # a list): it is not validated; the folded value is the reducer's affair.
                self.reducers[name] = reducer
                empty = _empty_maker(info.annotation)
                if empty is not None:
                    self.empty[name] = empty
                continue
            # One adapter per field, built once, so an update is validated field by field
            # without rebuilding the whole model after every node.
            with contextlib.suppress(Exception):
                self.adapters[name] = TypeAdapter(
                    Annotated[info.annotation, info],  # type: ignore[arg-type]
                    config=adapter_config,
                )

    def with_channels(self, others: Sequence[_Schema]) -> _Schema:
        """This schema, updated by every field of ``others`` too (LangGraph's channels: a
        node's input schema, the graph's input and output schemas). Views and outputs stay
        this schema's own; a field of ``others`` keeps its own reducer and validator."""
        merged = copy.copy(self)
        fields = list(self.fields)
        merged.reducers, merged.empty, merged.adapters = dict(self.reducers), dict(self.empty), dict(self.adapters)
        for other in others:
            for name in other.fields:
                if name in fields:
                    continue
                fields.append(name)
                if name in other.reducers:
                    merged.reducers[name] = other.reducers[name]
                if name in other.empty:
                    merged.empty[name] = other.empty[name]
                if name in other.adapters:
                    merged.adapters[name] = other.adapters[name]
        merged.fields = tuple(fields)
        merged.__dict__.pop("field_set", None)
        return merged

    @functools.cached_property
    def field_set(self) -> frozenset[str]:
        return frozenset(self.fields)

    def initial(self, value: Any) -> dict[str, Any]:
        """The running state for an invocation's input.

        Raises:
            pydantic.ValidationError: for a pydantic State, if the input does not validate.
            TypeError, ValueError: for a TypedDict State, if the input is not a mapping or
                has a key that is not a field.
        """
        if self.is_root:
            values = {name: make() for name, make in self.empty.items()}
            if value is not None:
                self.apply(values, {ROOT: value})
            return values
        if self.is_model:
            # Validated now (a bad input fails here), but kept as given, as LangGraph keeps
            # it: each node validates its own fresh copy, and invoke returns what was set.
            if isinstance(value, self.type):
                return {name: getattr(value, name) for name in self.fields}
            self.type.model_validate(value)
            values = {name: make() for name, make in self.empty.items()}
            self.apply(values, self._known(value))
            return values
        if self.is_dataclass and isinstance(value, self.type):
            value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        if not isinstance(value, Mapping):
            raise TypeError(f"the input must be a mapping of {self.name} fields, got {value!r}")
        values = {name: make() for name, make in self.empty.items()}
        self.apply(values, self._known(value))
        return values

    def _known(self, update: Mapping[Any, Any]) -> dict[str, Any]:
        # As LangGraph does: a key that is not a field of the State is dropped, silently.
        fields = self.fields
        return {k: v for k, v in update.items() if k in fields}

    def check_update(self, node: str, value: Any) -> dict[str, Any] | None:
        """A node's return value as an update, validated; ``None`` for no change."""
        if value is None:
            return None
        if self.is_root:
            return {ROOT: value}
        if isinstance(value, BaseModel):
            # As LangGraph reads a model returned by a node: every field, but a None it
            # was not given and that is also its default (so a copy of the input with a
            # mutated default shows the mutation).
            fields = type(value).model_fields
            value = {
                k: getattr(value, k)
                for k in fields
                if getattr(value, k) is not None
                or k in value.model_fields_set
                or fields[k].default is not None
            }
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        elif isinstance(value, (list, tuple)) and all(
            isinstance(p, tuple) and len(p) == 2 for p in value
        ):
            value = dict(value)  # LangGraph takes [(key, value), ...] too
        if not isinstance(value, Mapping):
            from ._routing import InvalidUpdateError

            raise InvalidUpdateError(
                f"Expected dict, got {_short(value)}: node {node!r} returned "
                f"{type(value).__name__}; a node returns a dict of {self.name} fields to "
                f"update, a Command, or None"
            )
        update = self._known(value)
        for key, item in update.items():
            adapter = self.adapters.get(key)
            if adapter is not None:
                try:
                    adapter.validate_python(item)  # checked here; kept as given (LangGraph)
                except ValidationError as exc:
                    raise ValueError(
                        f"node {node!r} set {key!r} to an invalid value: "
                        f"{exc.errors(include_url=False)[0]['msg']} (got {_short(item)})"
                    ) from None
        return update

    def apply(self, values: dict[str, Any], update: Mapping[str, Any] | list[tuple[str, Any]]) -> None:
        """Fold ``update`` (a dict, or ``(key, value)`` writes) into ``values``: reducer
        fields with their reducer, others set."""
        for key, item in update.items() if isinstance(update, Mapping) else update:
            reducer = self.reducers.get(key)
            if reducer is not None and key in values:
                values[key] = reducer(values[key], item)
            else:
                values[key] = item

    def view(self, values: dict[str, Any]) -> Any:
        """What a node or router gets: a fresh dict, model or dataclass of the state.

        A model is validated anew (pydantic copies its lists and dicts), so a node that
        mutates its input changes nothing but its own copy, as in LangGraph.
        """
        if self.is_root:
            return values.get(ROOT)
        own = self._own(values)
        if self.is_model:
            return self.type.model_validate(own)
        if self.is_dataclass:
            return self.type(**own)
        return own

    def output(self, values: dict[str, Any]) -> Any:
        """What ``invoke`` returns: a dict of this schema's fields that are set, for every
        kind of State (LangGraph returns a dict for pydantic and dataclass States too); the
        value itself for a root State."""
        if self.is_root:
            return values.get(ROOT)
        return self._own(values)

    def _own(self, values: dict[str, Any]) -> dict[str, Any]:
        # The running state may hold other schemas' fields (private state, input and
        # output schemas): a view or an output shows this schema's own.
        fields = self.field_set
        if all(k in fields for k in values):
            return dict(values)
        return {k: v for k, v in values.items() if k in fields}

    def chunk(self, update: dict[str, Any] | None) -> Any:
        """An update as the "updates" stream mode shows it."""
        if self.is_root and update is not None:
            return update.get(ROOT)
        return update


def _empty_maker(tp: Any) -> Callable[[], Any] | None:
    """What a reducer field starts from, as LangGraph's BinaryOperatorAggregate: its type's
    empty value (``list()``; a list for ``Sequence``, a dict for ``Mapping``)."""
    base = typing.get_origin(tp) or tp
    base = {
        abc.Sequence: list,
        abc.MutableSequence: list,
        abc.Mapping: dict,
        abc.MutableMapping: dict,
        abc.Set: set,
        abc.MutableSet: set,
    }.get(base, base)
    if isinstance(base, type):
        try:
            base()
        except Exception:
            return None
        return base
    return None


def _reducer_in(metadata: tuple[Any, ...], field: str) -> Callable[[Any, Any], Any] | None:
    """The reducer in ``Annotated`` metadata, as LangGraph reads it: the last item, if it
    is a function; one that does not take two arguments is an error, not a plain field.

    Raises:
        ValueError: if the last item is a function that does not take ``(a, b)``.
    """
    if not metadata:
        return None
    item = metadata[-1]
    if not callable(item) or isinstance(item, type):
        return None
    try:
        signature = inspect.signature(item)
    except (TypeError, ValueError):  # some builtins have none: trust them
        return item  # type: ignore[no-any-return]
    params = list(signature.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) == 2 or (len(positional) < 2 and any(p.kind is p.VAR_POSITIONAL for p in params)):
        return item  # type: ignore[no-any-return]
    raise ValueError(
        f"Invalid reducer signature. Expected (a, b) -> c. Got {signature} "
        f"(the reducer of field {field!r})"
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


