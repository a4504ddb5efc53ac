"""A person's decisions on calls that need approval: :class:`Approve` and :class:`Reject`.

A skill defined with ``needs_approval`` (``True``, or a predicate on a call's arguments)
does not run a call that needs approval until the run is given a decision for it: the run
reports the call at once as ``pending`` (its ``value`` holds the arguments), the other
calls go on, and a later run with ``decisions={key: Approve() | Reject(reason)}`` runs or
rejects it. With a journal the later run may be another process: what finished replays.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._skill import SkillCall

__all__ = ["Approve", "Decision", "Reject", "arguments_of", "check_decisions", "edited_call"]


class Decision:
    """A person's decision on a call that needs approval: :class:`Approve` or
    :class:`Reject`, given to ``run(..., decisions={key: decision})``."""

    __slots__ = ()


@dataclass(frozen=True)
class Approve(Decision):
    """Run the pending call, with its own arguments or with some of them replaced.

    Examples:
        >>> Approve()
        Approve(arguments=None)
        >>> Approve(arguments={"amount": 50})   # the other arguments stay as the call had them
        Approve(arguments={'amount': 50})

    Args:
        arguments: parameter name -> new value, for the arguments the person changed;
            ``None`` runs the call as it was made. A name the skill does not take ends
            the run with a ``ValueError``.
    """

    arguments: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.arguments is not None and not isinstance(self.arguments, Mapping):
            raise TypeError(f"Approve(arguments=...) takes a mapping of parameter names, got {self.arguments!r}")


@dataclass(frozen=True)
class Reject(Decision):
    """Do not run the pending call: its result is an ``error`` whose ``error.type`` is
    ``"Rejected"`` and whose message is ``reason``; its fallback is not used (a person's
    no is not a failure to paper over), and its dependents are skipped. A Toolset's reply
    tells the model the call was rejected, and why.

    Examples:
        >>> Reject("over the daily limit")
        Reject(reason='over the daily limit')

    Args:
        reason: why, in words the model (or the user) reads.
    """

    reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.reason, str):
            raise TypeError(f"Reject(reason) takes a str, got {self.reason!r}")


def check_decisions(decisions: Any) -> dict[str, Decision] | None:
    """``decisions`` as given to ``run()``, checked: ``None`` or a mapping of keys to
    :class:`Approve` / :class:`Reject`."""
    if decisions is None:
        return None
    if not isinstance(decisions, Mapping):
        raise TypeError(f"decisions must be a mapping of call keys to Approve() or Reject(...), got {decisions!r}")
    out: dict[str, Decision] = {}
    for key, decision in decisions.items():
        if not isinstance(key, str):
            raise TypeError(f"decisions: keys are call keys (str), got {key!r}")
        if not isinstance(decision, (Approve, Reject)):
            raise TypeError(
                f"decisions[{key!r}] must be Approve() or Reject(reason), got {decision!r}"
            )
        out[str(key)] = decision
    return out


def arguments_of(call: SkillCall[Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments by parameter name (what a person reads to decide)."""
    try:
        bound = inspect.signature(call.skill.fn).bind(*args, **kwargs)
    except (TypeError, ValueError):  # no signature to read: positions stand for names
        return {**{f"arg{i}": a for i, a in enumerate(args)}, **kwargs}
    out = dict(bound.arguments)
    for name, param in bound.signature.parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD and name in out:
            out.update(out.pop(name))  # **kwargs: each by its own name
    return out


def edited_call(
    call: SkillCall[Any], args: tuple[Any, ...], kwargs: dict[str, Any], changes: Mapping[str, Any]
) -> SkillCall[Any]:
    """A copy of ``call`` that runs with ``args``/``kwargs`` (its inputs' values already in
    place) and the parameters named in ``changes`` replaced.

    Raises:
        ValueError: if the skill takes no parameter of a name in ``changes``.
    """
    from ._skill import SkillCall

    signature = inspect.signature(call.skill.fn)
    bound = signature.bind_partial(*args, **kwargs)
    params = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for name, value in changes.items():
        param = params.get(name)
        if param is None or param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            if not takes_any:
                known = ", ".join(n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
                raise ValueError(
                    f"Approve(arguments=...) for call {call.key!r}: skill "
                    f"{call.skill.options.name!r} takes no argument {name!r} (it takes: {known})"
                )
            var = next(n for n, p in params.items() if p.kind is inspect.Parameter.VAR_KEYWORD)
            bound.arguments.setdefault(var, {})[name] = value
        else:
            bound.arguments[name] = value
    edited: SkillCall[Any] = SkillCall(call.skill, bound.args, bound.kwargs, key=call.key, options=call.options)
    edited._opaque = True  # values now: nothing in them is an input to wait for
    return edited
