"""skillstream: run an agent's skills concurrently and stream their results.

Examples:
    >>> from pipeline import skill, run
    >>> @skill(timeout=10)
    ... async def fetch_stock(symbol: str) -> dict: ...
    >>> async def main():
    ...     async for result in run([fetch_stock("AAPL"), fetch_stock("MSFT")]):
    ...         print(result.key, result.status, result.value)

How the package is built (for contributors): private layers, each a subpackage whose
docstring says what it is. A layer imports only the layers below it, never one above or
beside it, and no import cycle runs inside a layer; ``tests/project/test_layers.py``
fails the suite when an import breaks the rule (``lint-imports`` reads it from
pyproject.toml)::

    pipeline.journal            the journal's command-line helpers (public module)
    _graph | _tools             StateGraph | Toolset: what users build on runs
    _stream                     run(), gather(), ResultStream, EventStream
    _durable                    the journal and its stores (a recorder for the engine)
    _engine                     one run: nodes, attempts, timeouts, the deadline, clean-up
    _admission | _executors     rate limits, breakers | where attempts run (loop,
      | _observing              threads, processes, hedging, Ray) | events, progress, tracing
    _core                       values and contracts: errors, results, policies, skill,
                                SkillCall, Executor, Instrument
    operators                   reactivex operators (a package of its own)

This module only gathers the public names.
"""

from ._core._approval import Approve as Approve
from ._core._approval import Decision as Decision
from ._core._approval import Reject as Reject
from ._core._errors import CircuitOpen as CircuitOpen
from ._core._errors import DeadlineExceeded as DeadlineExceeded
from ._core._errors import DependencyFailed as DependencyFailed
from ._core._errors import JournalError as JournalError
from ._core._errors import RetryAfter as RetryAfter
from ._core._errors import RunInProgress as RunInProgress
from ._core._errors import SkillCancelled as SkillCancelled
from ._core._errors import SkillError as SkillError
from ._core._errors import SkillTimeout as SkillTimeout
from ._core._executor import Executor as Executor
from ._core._instruments import Instrument as Instrument
from ._core._instruments import Phase as Phase
from ._core._policies import CircuitBreaker as CircuitBreaker
from ._core._policies import Hedge as Hedge
from ._core._policies import RateLimit as RateLimit
from ._core._result import ErrorInfo as ErrorInfo
from ._core._result import Results as Results
from ._core._result import SkillResult as SkillResult
from ._core._result import Status as Status
from ._core._retry import Retry as Retry
from ._core._skill import NO_FALLBACK as NO_FALLBACK
from ._core._skill import Skill as Skill
from ._core._skill import SkillCall as SkillCall
from ._core._skill import SkillOptions as SkillOptions
from ._core._skill import skill as skill
from ._durable._sqlite import Journal as Journal
from ._durable._store import JournalRecord as JournalRecord
from ._durable._store import JournalStore as JournalStore
from ._durable._store import RunInfo as RunInfo
from ._durable._threads import CheckpointTuple as CheckpointTuple
from ._durable._threads import InMemorySaver as InMemorySaver
from ._durable._threads import InMemorySaver as MemorySaver
from ._engine._cleanup import CANCEL_GRACE as CANCEL_GRACE
from ._executors._local import ProcessExecutor as ProcessExecutor
from ._executors._local import ThreadExecutor as ThreadExecutor
from ._executors._local import shutdown as shutdown
from ._graph._builder import Command as Command
from ._graph._builder import CompiledStateGraph as CompiledStateGraph
from ._graph._builder import END as END
from ._graph._builder import GraphError as GraphError
from ._graph._builder import GraphRecursionError as GraphRecursionError
from ._graph._builder import InvalidGraphError as InvalidGraphError
from ._graph._builder import InvalidUpdateError as InvalidUpdateError
from ._graph._builder import START as START
from ._graph._builder import Send as Send
from ._graph._builder import StateGraph as StateGraph
from ._graph._interrupt import Interrupt as Interrupt
from ._graph._interrupt import PregelTask as PregelTask
from ._graph._interrupt import StateSnapshot as StateSnapshot
from ._graph._interrupt import StateUpdate as StateUpdate
from ._graph._interrupt import interrupt as interrupt
from ._graph._invocation import get_stream_writer as get_stream_writer
from ._graph._messages import REMOVE_ALL_MESSAGES as REMOVE_ALL_MESSAGES
from ._graph._messages import MessagesState as MessagesState
from ._graph._messages import add_messages as add_messages
from ._graph._policies import CachePolicy as CachePolicy
from ._graph._policies import InMemoryCache as InMemoryCache
from ._graph._policies import RetryPolicy as RetryPolicy
from ._observing._events import DeadlineEvent as DeadlineEvent
from ._observing._events import Event as Event
from ._observing._events import FinishedEvent as FinishedEvent
from ._observing._events import PartialEvent as PartialEvent
from ._observing._events import RetryingEvent as RetryingEvent
from ._observing._events import SkippedEvent as SkippedEvent
from ._observing._events import StartedEvent as StartedEvent
from ._observing._progress import ProgressView as ProgressView
from ._observing._tracing import Tracing as Tracing
from ._stream._events import EventStream as EventStream
from ._stream._results import ResultStream as ResultStream
from ._stream._results import gather as gather
from ._stream._results import run as run
from ._tools._inject import Injected as Injected
from ._tools._inject import InjectionError as InjectionError
from ._tools._inject import ToolContext as ToolContext
from ._tools._media import Media as Media
from ._tools._toolnode import ToolNode as ToolNode
from ._tools._toolnode import tools_condition as tools_condition
from ._tools._toolnode import use_graph_interrupt as _use_graph_interrupt
from ._tools._toolset import Toolset as Toolset

_use_graph_interrupt(interrupt)  # a ToolNode's calls that need approval pause the graph

__all__ = [
    "CANCEL_GRACE",
    "END",
    "NO_FALLBACK",
    "REMOVE_ALL_MESSAGES",
    "START",
    "Approve",
    "CachePolicy",
    "CircuitBreaker",
    "CircuitOpen",
    "Command",
    "CompiledStateGraph",
    "DeadlineEvent",
    "DeadlineExceeded",
    "Decision",
    "DependencyFailed",
    "ErrorInfo",
    "Event",
    "EventStream",
    "Executor",
    "FinishedEvent",
    "GraphError",
    "GraphRecursionError",
    "Hedge",
    "InMemoryCache",
    "InMemorySaver",
    "CheckpointTuple",
    "Injected",
    "InjectionError",
    "Instrument",
    "Interrupt",
    "InvalidGraphError",
    "InvalidUpdateError",
    "Journal",
    "JournalError",
    "JournalRecord",
    "JournalStore",
    "MemorySaver",
    "Media",
    "MessagesState",
    "PartialEvent",
    "ResultStream",
    "Results",
    "Retry",
    "Phase",
    "PregelTask",
    "ProcessExecutor",
    "ProgressView",
    "RateLimit",
    "Reject",
    "RetryAfter",
    "RetryingEvent",
    "RetryPolicy",
    "RunInProgress",
    "RunInfo",
    "Send",
    "Skill",
    "SkillCall",
    "SkillCancelled",
    "SkillError",
    "SkillOptions",
    "SkillResult",
    "SkillTimeout",
    "SkippedEvent",
    "StartedEvent",
    "StateGraph",
    "StateSnapshot",
    "StateUpdate",
    "Status",
    "ThreadExecutor",
    "ToolContext",
    "ToolNode",
    "Toolset",
    "Tracing",
    "add_messages",
    "gather",
    "get_stream_writer",
    "interrupt",
    "run",
    "shutdown",
    "skill",
    "tools_condition",
]

# Users see pipeline.SkillResult, not pipeline._core._result.SkillResult (trio, httpx).
for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and getattr(_obj, "__module__", "").startswith("pipeline."):
        try:
            _obj.__module__ = "pipeline"
        except (AttributeError, TypeError):
            pass
del _name, _obj
