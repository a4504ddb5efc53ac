"""A graph's state: its schema (a TypedDict or a pydantic model), reducers, updates."""

from __future__ import annotations

import contextlib
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

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
        self.is_model = isinstance(state_type, type) and issubclass(state_type, BaseModel)
        if not self.is_model and not _is_typeddict(state_type):
            raise TypeError(
                f"StateGraph() takes a TypedDict or a pydantic model class, got {state_type!r}"
            )
        self.reducers: dict[str, Callable[[Any, Any], Any]] = {}
        self.empty: dict[str, Callable[[], Any]] = {}  # a reducer field's starting value
        self.adapters: dict[str, TypeAdapter[Any]] = {}
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
                reducer = _reducer_in(hint.__metadata__)
                if reducer is not None:
                    self.reducers[name] = reducer
                    # As LangGraph does: a reducer field starts from its type's empty
                    # value, so the first update is folded too (list() + [x]).
                    base = typing.get_origin(hint.__origin__) or hint.__origin__
                    if isinstance(base, type):
                        with contextlib.suppress(Exception):
                            base()
                            self.empty[name] = base

    def _inspect_model(self, state_type: type[BaseModel]) -> None:
        self.fields = tuple(state_type.model_fields)
        config = state_type.model_config
        adapter_config = ConfigDict(
            arbitrary_types_allowed=config.get("arbitrary_types_allowed", False),
            strict=config.get("strict", False),
        )
        for name, info in state_type.model_fields.items():
            reducer = _reducer_in(tuple(info.metadata))
            if reducer is not None:
                # A reducer's update need not have the field's type (append one item to
                # a list): it is not validated; the folded value is the reducer's affair.
                self.reducers[name] = reducer
                continue
            # One adapter per field, built once, so an update is validated field by field
            # without rebuilding the whole model after every node.
            with contextlib.suppress(Exception):
                self.adapters[name] = TypeAdapter(
                    Annotated[info.annotation, info],  # type: ignore[arg-type]
                    config=adapter_config,
                )

    def initial(self, value: Any) -> dict[str, Any]:
        """The running state for an invocation's input.

        Raises:
            pydantic.ValidationError: for a pydantic State, if the input does not validate.
            TypeError, ValueError: for a TypedDict State, if the input is not a mapping or
                has a key that is not a field.
        """
        if self.is_model:
            model = value if isinstance(value, self.type) else self.type.model_validate(value)
            return {name: getattr(model, name) for name in self.fields}
        if not isinstance(value, Mapping):
            raise TypeError(f"the input must be a mapping of {self.name} fields, got {value!r}")
        self._check_keys(value, "the input")
        values = {name: make() for name, make in self.empty.items()}
        self.apply(values, value)
        return values

    def _check_keys(self, update: Mapping[Any, Any], what: str) -> None:
        unknown = [k for k in update if k not in self.fields]
        if unknown:
            names = ", ".join(repr(k) for k in unknown)
            raise ValueError(
                f"{what} has {'an unknown field' if len(unknown) == 1 else 'unknown fields'} "
                f"{names}; {self.name} has {', '.join(map(repr, self.fields))}"
            )

    def check_update(self, node: str, value: Any) -> dict[str, Any] | None:
        """A node's return value as an update, validated; ``None`` for no change."""
        if value is None:
            return None
        if self.is_model and isinstance(value, self.type):
            value = {k: getattr(value, k) for k in value.model_fields_set}
        if not isinstance(value, Mapping):
            raise TypeError(
                f"node {node!r} returned {type(value).__name__} {_short(value)}; "
                f"a node returns a dict of {self.name} fields to update, or None"
            )
        self._check_keys(value, f"the update of node {node!r}")
        update = dict(value)
        for key, item in update.items():
            adapter = self.adapters.get(key)
            if adapter is not None:
                try:
                    update[key] = adapter.validate_python(item)
                except ValidationError as exc:
                    raise ValueError(
                        f"node {node!r} set {key!r} to an invalid value: "
                        f"{exc.errors(include_url=False)[0]['msg']} (got {_short(item)})"
                    ) from None
        return update

    def apply(self, values: dict[str, Any], update: Mapping[str, Any]) -> None:
        """Fold ``update`` into ``values``: reducer fields with their reducer, others set."""
        for key, item in update.items():
            reducer = self.reducers.get(key)
            if reducer is not None and key in values:
                values[key] = reducer(values[key], item)
            else:
                values[key] = item

    def view(self, values: dict[str, Any]) -> Any:
        """A snapshot of the running state, as the user's type: a dict, or a model."""
        if self.is_model:
            # Every value has been validated on its way in: no need to validate again.
            return self.type.model_construct(**values)
        return dict(values)


def _reducer_in(metadata: tuple[Any, ...]) -> Callable[[Any, Any], Any] | None:
    """The last two-argument callable in ``Annotated`` metadata, as LangGraph reads it."""
    for item in reversed(metadata):
        if callable(item) and not isinstance(item, type):
            try:
                signature = inspect.signature(item)
            except (TypeError, ValueError):  # some builtins have none: trust them
                return item  # type: ignore[no-any-return]
            params = list(signature.parameters.values())
            positional = [
                p
                for p in params
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            if len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params):
                return item  # type: ignore[no-any-return]
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


