"""The policy values a skill is given: frozen, hashable, validated where they are written.

``RateLimit`` and ``CircuitBreaker`` name an API by ``key``: skills giving one key share
one state (a bucket, a circuit) for the life of the process, so a key has one policy, and
a second, different one under the same key is refused where it is written. The state
itself lives in ``pipeline._admission``; ``Hedge`` is carried out by the executors.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ADMISSION", "CircuitBreaker", "Hedge", "RateLimit", "check_key"]

# The SkillOptions fields that are admission policies, in the order an attempt asks them
# (a breaker that refuses takes no rate-limit token).
ADMISSION = ("circuit_breaker", "rate_limit")


class RateLimit(BaseModel):
    """At most ``rate`` attempts per ``per`` seconds (``burst`` of them at once), and at
    most ``max_concurrency`` in flight, across every run in the process.

    Skills whose RateLimit has the same ``key`` share one bucket and one concurrency limit
    (one API, several skills); without a key the limit is the skill's own. Each attempt
    (retries included) takes a permit. Permits go a little (10%) wider apart than ``rate``
    says, so that network jitter cannot bring two requests closer than a strict server
    (one that checks the spacing of every arrival, as nginx's ``limit_req`` does) allows.

    With ``adaptive=True`` the limit learns the API's real rate: the rate drops
    multiplicatively when the API pushes back (429/503, ``RetryAfter``, a timeout; once
    per round of push-backs) and probes back up additively after successes, never above
    ``rate``. With ``max_concurrency`` too, the concurrency limit also moves between 1
    and ``max_concurrency``: up by one after as many successes as the limit, halved on
    push-back.

    Examples:
        >>> OPENAI = RateLimit(rate=50, per=1.0, burst=5, key="openai", max_concurrency=8)
        >>> @skill(rate_limit=OPENAI)  # doctest: +SKIP
        ... async def complete(prompt: str) -> str: ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate: float = Field(gt=0)
    """Attempts allowed per ``per`` seconds."""
    per: float = Field(default=1.0, gt=0)
    """The period of ``rate``, in seconds. Default 1."""
    burst: int = Field(default=1, ge=1)
    """Attempts that may start at once after a quiet spell. Default 1 (evenly spaced)."""
    key: str | None = Field(default=None, min_length=1)
    """The API's name: skills with the same key share the limit. Default: the skill's own."""
    max_concurrency: int | None = Field(default=None, ge=1)
    """Most attempts in flight under this limit at once (every run together)."""
    adaptive: bool = False
    """Adapt the rate (at most ``rate``), and the concurrency limit if ``max_concurrency`` is
    given (at most that), to the API's push-back (AIMD)."""

    @property
    def interval(self) -> float:
        """Seconds between two permits at the steady rate."""
        return self.per / self.rate


class CircuitBreaker(BaseModel):
    """After ``failures`` consecutive failed attempts, fail fast for ``reset_after`` seconds.

    Examples:
        >>> PAYMENTS = CircuitBreaker(failures=5, reset_after=30, key="payments")
        >>> @skill(circuit_breaker=PAYMENTS, fallback=None)  # doctest: +SKIP
        ... async def charge(order_id: str) -> dict: ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    failures: int = Field(default=5, ge=1)
    """Consecutive failed attempts that open the circuit. Default 5."""
    reset_after: float = Field(default=30.0, gt=0)
    """Seconds the circuit stays open before one trial attempt. Default 30."""
    key: str | None = Field(default=None, min_length=1)
    """The API's name: skills with the same key share the circuit. Default: the skill's own."""


class Hedge(BaseModel):
    """Start another copy of an attempt that has not answered after ``after`` seconds.

    Only for skills declared ``idempotent=True`` (a copy may do the work twice), running
    where a losing copy can be stopped (async, process and Ray skills; not threads).

    ``budget`` bounds the extra requests whatever the latencies do: with
    ``budget=0.05`` a skill starts at most one extra copy per twenty attempts. Without it,
    the extra requests are the share of attempts slower than ``after``, which moves with
    the load (``after`` set to the p95 latency hedges 5% of attempts on a calm day, more on
    a busy one).

    Examples:
        >>> @skill(hedge=Hedge(after=0.2), idempotent=True, timeout=5)  # doctest: +SKIP
        ... async def lookup(key: str) -> dict: ...
        >>> Hedge(after=0.2, budget=0.05)  # at most 5% extra requests
        Hedge(after=0.2, max_extra=1, budget=0.05)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    after: float = Field(gt=0)
    """Seconds without an answer before the next copy starts (e.g. the p95 latency)."""
    max_extra: int = Field(default=1, ge=1)
    """Copies started at most beyond the first. Default 1."""
    budget: float | None = Field(default=None, gt=0)
    """Extra copies at most this fraction of the skill's attempts; ``None`` (the default):
    no bound. Each attempt earns ``budget`` of a copy and each extra copy spends one, so a
    skill's extra copies never outnumber ``budget`` times its attempts (its first extra
    copy comes after ``1/budget`` attempts). An attempt whose copy is not earned yet goes on
    and asks again ``after`` seconds later: the credit goes to the attempts still waiting,
    not to the ones about to answer. A skill saves at most ten copies' worth, so a quiet
    spell does not pay for a burst."""


# A key names one API: the policy first given under it, per kind of policy.
_KEYS: dict[tuple[type[BaseModel], str], BaseModel] = {}
_WHAT = {"RateLimit": "rate limit", "CircuitBreaker": "circuit breaker"}


def check_key(policy: RateLimit | CircuitBreaker) -> None:
    """Register ``policy``'s key, or refuse it if the key already has another policy."""
    key = policy.key
    if key is None:
        return
    kind = type(policy)
    existing = _KEYS.setdefault((kind, key), policy)
    if existing != policy:
        what = _WHAT[kind.__name__]
        raise ValueError(
            f"{what} key {key!r} is already {existing!r}; a key names one API and "
            f"has one {what}: use the same {kind.__name__} (or another key), not {policy!r}"
        )
