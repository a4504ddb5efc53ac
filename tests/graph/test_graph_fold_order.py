"""StateGraph: the fold order of Sends does not depend on which run finishes first.

LangGraph folds a step's updates as: triggered nodes by name, then Sends in the order they
were sent, i.e. in the order of the writes that made them (their senders in this same
order; within a sender, its Commands' gotos before its routers, the routers as added, each
list in order). Skillstream's runs of a step finish in whatever order their tasks and
threads do; a Send's place used to be taken when it arrived, so two Sends of one step
folded either way (``test_langgraph_compat.py::test_send_sequences``, flaky on 3.13).
Here the slow sender comes first, so arrival order is the wrong one. The expected values
are LangGraph's (checked with langgraph 1.2). Timed tests run in virtual time.
"""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, Literal

from pipeline import START, Command, Send, StateGraph
from tests.support.vloop import vrun

Log = Annotated[list, operator.add]


async def leaf(arg: Any) -> list[str]:
    return [f"leaf|{arg}"]


def _fan_out(work: Any) -> Any:
    """START -> fan; fan sends ("a", slow) then ("b", fast) to ``work``."""
    builder: StateGraph[Any] = StateGraph(Log)

    async def fan(state: Any) -> list[str]:
        return ["fan"]

    builder.add_node("fan", fan)
    builder.add_node("work", work)
    builder.add_node("leaf", leaf)
    builder.add_edge(START, "fan")
    builder.add_conditional_edges("fan", lambda s: [Send("work", ("a", 1.0)), Send("work", ("b", 0.0))])
    return builder


def test_sends_of_a_command_fold_in_their_senders_order_not_as_they_finish() -> None:
    async def work(arg: Any) -> Any:
        await asyncio.sleep(arg[1])
        return Command(update=[f"work|{arg[0]}"], goto=Send("leaf", arg[0]))

    app = _fan_out(work).compile()
    state, _ = vrun(lambda: app.ainvoke(["0"]))
    assert state == ["0", "fan", "work|a", "work|b", "leaf|a", "leaf|b"]


def test_sends_of_a_router_fold_in_their_senders_order_not_as_they_finish() -> None:
    async def work(arg: Any) -> list[str]:
        await asyncio.sleep(arg[1])
        return [f"work|{arg[0]}"]

    builder = _fan_out(work)
    builder.add_conditional_edges("work", lambda s: Send("leaf", s[-1]))
    state, _ = vrun(lambda: builder.compile().ainvoke(["0"]))
    assert state == ["0", "fan", "work|a", "work|b", "leaf|work|a", "leaf|work|b"]


def test_sends_of_async_routers_fold_in_the_routers_order_not_as_they_decide() -> None:
    async def a(state: Any) -> list[str]:
        return ["a"]

    async def slow(state: Any) -> list[Send]:
        await asyncio.sleep(1.0)
        return [Send("leaf", "slow")]

    async def fast(state: Any) -> list[Send]:
        return [Send("leaf", "fast")]

    builder: StateGraph[Any] = StateGraph(Log)
    builder.add_node("a", a)
    builder.add_node("leaf", leaf)
    builder.add_edge(START, "a")
    builder.add_conditional_edges("a", slow)
    builder.add_conditional_edges("a", fast)
    state, _ = vrun(lambda: builder.compile().ainvoke(["0"]))
    assert state == ["0", "a", "leaf|slow", "leaf|fast"]


def test_a_commands_sends_fold_before_its_routers() -> None:
    async def a(state: Any) -> Command[Any]:
        return Command(update=["a"], goto=[Send("leaf", "goto1"), Send("leaf", "goto2")])

    builder: StateGraph[Any] = StateGraph(Log)
    builder.add_node("a", a)
    builder.add_node("leaf", leaf)
    builder.add_edge(START, "a")
    builder.add_conditional_edges("a", lambda s: Send("leaf", "branch"))
    state, _ = vrun(lambda: builder.compile().ainvoke(["0"]))
    assert state == ["0", "a", "leaf|goto1", "leaf|goto2", "leaf|branch"]


def test_send_sequences_is_the_same_every_time() -> None:
    # test_send_sequences' graph with sync nodes (threads, real time): the two runs of
    # "2" race; before the fix, 3.13 folded their Sends the wrong way in about 1 run in 15.
    class Node:
        def __init__(self, name: str) -> None:
            self.name = name
            self.__name__ = name

        def __call__(self, state: Any) -> Any:
            update = [self.name] if isinstance(state, list) else [f"{self.name}|{state}"]
            return [state, Command(update=update)] if isinstance(state, Command) else update

    def send_for_fun(state: Any) -> list[Any]:
        return [Send("2", Command(goto=Send("2", 3))), Send("2", Command(goto=Send("2", 4))), "3.1"]

    def route_to_three(state: Any) -> Literal["3"]:
        return "3"

    builder: StateGraph[Any] = StateGraph(Log)
    for name in ("1", "2", "3", "3.1"):
        builder.add_node(Node(name))
    builder.add_edge(START, "1")
    builder.add_conditional_edges("1", send_for_fun)
    builder.add_conditional_edges("2", route_to_three)
    graph = builder.compile()
    expected = [
        "0",
        "1",
        "3.1",
        "2|Command(goto=Send(node='2', arg=3))",
        "2|Command(goto=Send(node='2', arg=4))",
        "3",
        "2|3",
        "2|4",
        "3",
    ]
    for _ in range(60):
        assert graph.invoke(["0"]) == expected
