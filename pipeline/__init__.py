"""skillstream: run an agent's skills concurrently and stream their results.

Examples:
    >>> from pipeline import skill, run
    >>> @skill(timeout=10)
    ... async def fetch_stock(symbol: str) -> dict: ...
    >>> async def main():
    ...     async for result in run([fetch_stock("AAPL"), fetch_stock("MSFT")]):
    ...         print(result.key, result.status, result.value)
"""

from ._breaker import CircuitBreaker as CircuitBreaker
from ._cleanup import CANCEL_GRACE as CANCEL_GRACE
from ._errors import CircuitOpen as CircuitOpen
from ._errors import DeadlineExceeded as DeadlineExceeded
from ._errors import DependencyFailed as DependencyFailed
from ._errors import JournalError as JournalError
from ._errors import RunInProgress as RunInProgress
from ._errors import RetryAfter as RetryAfter
from ._errors import SkillError as SkillError
from ._errors import SkillTimeout as SkillTimeout
from ._events import DeadlineEvent as DeadlineEvent
from ._events import Event as Event
from ._events import EventStream as EventStream
from ._events import FinishedEvent as FinishedEvent
from ._events import PartialEvent as PartialEvent
from ._events import RetryingEvent as RetryingEvent
from ._events import SkippedEvent as SkippedEvent
from ._events import StartedEvent as StartedEvent
from ._executors import Executor as Executor
from ._executors import ProcessExecutor as ProcessExecutor
from ._executors import ThreadExecutor as ThreadExecutor
from ._executors import shutdown as shutdown
from ._graph import END as END
from ._graph import START as START
from ._graph import CompiledStateGraph as CompiledStateGraph
from ._graph import GraphError as GraphError
from ._graph import InvalidGraphError as InvalidGraphError
from ._graph import Send as Send
from ._graph import StateGraph as StateGraph
from ._graph import Command as Command
from ._graph import GraphRecursionError as GraphRecursionError
from ._graph import InvalidUpdateError as InvalidUpdateError
from ._graph_invocation import get_stream_writer as get_stream_writer
from ._graph_messages import add_messages as add_messages
from ._hedge import Hedge as Hedge
from ._instruments import Instrument as Instrument
from ._instruments import Phase as Phase
from ._journal import Journal as Journal
from ._journal import JournalRecord as JournalRecord
from ._journal import JournalStore as JournalStore
from ._journal import RunInfo as RunInfo
from ._progress import ProgressView as ProgressView
from ._ratelimit import RateLimit as RateLimit
from ._result import ErrorInfo as ErrorInfo
from ._result import Results as Results
from ._result import SkillResult as SkillResult
from ._result import Status as Status
from ._retry import Retry as Retry
from ._stream import ResultStream as ResultStream
from ._tracing import Tracing as Tracing
from ._stream import gather as gather
from ._stream import run as run
from ._skill import NO_FALLBACK as NO_FALLBACK
from ._skill import Skill as Skill
from ._skill import SkillCall as SkillCall
from ._skill import SkillOptions as SkillOptions
from ._skill import skill as skill
from ._tools import Toolset as Toolset

__all__ = [
    "CANCEL_GRACE",
    "END",
    "NO_FALLBACK",
    "START",
    "CircuitBreaker",
    "CircuitOpen",
    "Command",
    "CompiledStateGraph",
    "DeadlineEvent",
    "DeadlineExceeded",
    "DependencyFailed",
    "ErrorInfo",
    "Event",
    "EventStream",
    "Executor",
    "FinishedEvent",
    "GraphError",
    "GraphRecursionError",
    "Hedge",
    "Instrument",
    "InvalidGraphError",
    "InvalidUpdateError",
    "Journal",
    "JournalError",
    "JournalRecord",
    "JournalStore",
    "PartialEvent",
    "ResultStream",
    "Results",
    "Retry",
    "Phase",
    "ProcessExecutor",
    "ProgressView",
    "RateLimit",
    "RetryAfter",
    "RetryingEvent",
    "RunInProgress",
    "RunInfo",
    "Send",
    "Skill",
    "SkillCall",
    "SkillError",
    "SkillOptions",
    "SkillResult",
    "SkillTimeout",
    "SkippedEvent",
    "StartedEvent",
    "StateGraph",
    "Status",
    "ThreadExecutor",
    "Toolset",
    "Tracing",
    "add_messages",
    "gather",
    "get_stream_writer",
    "run",
    "shutdown",
    "skill",
]

# Users see pipeline.SkillResult, not pipeline._result.SkillResult (trio, httpx).
for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and getattr(_obj, "__module__", "").startswith("pipeline."):
        try:
            _obj.__module__ = "pipeline"
        except (AttributeError, TypeError):
            pass
del _name, _obj
