"""LangGraph's own StateGraph tests, run against skillstream (issue 16).

Each test below is copied from langchain-ai/langgraph ``libs/langgraph/tests`` (file and
test named in the comment above it), assertions unchanged. Only the import differs: with
``SKILLSTREAM_COMPAT=langgraph`` in the environment the same file runs against LangGraph
itself, which shows the assertions are LangGraph's. Assertions about drawing the graph
(JSON schemas, ``to_json``) are left out: that is not in scope; ``get_graph().draw_mermaid()``
is compared with LangGraph's stored snapshots.

Tests that fail here because they assert LangGraph's superstep ordering, which
start-when-ready deliberately improves on, are kept as strict xfails (they must keep
failing for that reason), each listed in the README as an intended difference.
"""
# ruff: noqa
# mypy: ignore-errors


import asyncio
import enum
import gc
import re
from collections import deque
from enum import Enum
from time import perf_counter
from typing import Optional
import operator
import os
import threading
import uuid
import ipaddress
import decimal
import pathlib
import datetime
from uuid import UUID
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ByteSize, NonNegativeFloat, PositiveInt, SecretStr, confloat, conint, conlist, constr, field_validator, model_validator
from typing_extensions import NotRequired, TypedDict

ON_LANGGRAPH = os.environ.get("SKILLSTREAM_COMPAT") == "langgraph"
if ON_LANGGRAPH:
    from langgraph.errors import GraphRecursionError, InvalidUpdateError
    from langgraph.graph import END, START, StateGraph
    from langgraph.graph.message import add_messages
    from langgraph.types import Command, Send
else:
    from pipeline import (
        END,
        START,
        Command,
        GraphRecursionError,
        InvalidUpdateError,
        Send,
        StateGraph,
        add_messages,
    )

import langchain_core  # noqa: E402,F401  (in the test extra: LangGraph's tests use its messages)
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, RemoveMessage, ToolMessage


# LangGraph's superstep-order tests run under both schedules: under the default
# (start-when-ready) they are an intended difference, strict xfail; under
# compile(schedule="supersteps"), LangGraph's model, they pass. On LangGraph itself both
# parameters run the same graphs.
SUPERSTEP_ORDER = "intended difference: superstep order. retriever_one starts as soon as analyzer_one is done, so it streams before the slow retriever_two (same final state)"


@pytest.fixture(params=[
    pytest.param("ready", marks=pytest.mark.xfail(not ON_LANGGRAPH, strict=True, reason=SUPERSTEP_ORDER)),
    "supersteps",
])
def schedule(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "supersteps" and not ON_LANGGRAPH:
        compile_ = StateGraph.compile

        def compile_in_supersteps(self: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("schedule", "supersteps")
            return compile_(self, *args, **kwargs)

        monkeypatch.setattr(StateGraph, "compile", compile_in_supersteps)
    return request.param


# From LangGraph's tests/any_str.py and tests/messages.py (helpers, unchanged).
class AnyStr(str):
    def __init__(self, prefix: str | re.Pattern = "") -> None:
        super().__init__()
        self.prefix = prefix

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and (
            other.startswith(self.prefix)
            if isinstance(self.prefix, str)
            else bool(self.prefix.match(other))
        )

    def __hash__(self) -> int:
        return hash((str(self), self.prefix))


def _AnyIdHumanMessage(**kwargs: Any) -> HumanMessage:
    """Create a human message with an any id field."""
    message = HumanMessage(**kwargs)
    message.id = AnyStr()
    return message

pytestmark = pytest.mark.filterwarnings("ignore")

# test_pregel.py::test_graph_validation (line 104)
def test_graph_validation() -> None:

    class State(TypedDict):
        hello: str
    graph = StateGraph(State)
    graph.add_node('start', lambda x: x)
    graph.add_edge('__start__', 'start')
    graph.add_edge('unknown', 'start')
    graph.add_edge('start', '__end__')
    with pytest.raises(ValueError, match='Found edge starting at unknown node '):
        graph.compile()

    def bad_reducer(a):
        ...

    class BadReducerState(TypedDict):
        hello: Annotated[str, bad_reducer]
    with pytest.raises(ValueError, match='Invalid reducer'):
        StateGraph(BadReducerState)

    def node_b(state: State) -> State:
        return {'hello': 'world'}
    builder = StateGraph(State)
    builder.add_node('a', node_b)
    builder.add_node('b', node_b)
    builder.add_node('c', node_b)
    builder.set_entry_point('a')
    builder.add_edge('a', 'b')
    builder.add_edge('a', 'c')
    graph = builder.compile()
    with pytest.raises(InvalidUpdateError, match="At key 'hello'"):
        graph.invoke({'hello': 'there'})


# test_pregel.py::test_graph_validation_with_command (line 178)
def test_graph_validation_with_command() -> None:

    class State(TypedDict):
        foo: str
        bar: str

    def node_a(state: State):
        return Command(goto='b', update={'foo': 'bar'})

    def node_b(state: State):
        return Command(goto=END, update={'bar': 'baz'})
    builder = StateGraph(State)
    builder.add_node('a', node_a)
    builder.add_node('b', node_b)
    builder.add_edge(START, 'a')
    graph = builder.compile()
    assert graph.invoke({'foo': ''}) == {'foo': 'bar', 'bar': 'baz'}


# test_pregel.py::test_reducer_before_first_node (line 386)
def test_reducer_before_first_node() -> None:

    class State(TypedDict):
        hello: str
        messages: Annotated[list[str], add_messages]

    def node_a(state: State) -> State:
        assert state == {'hello': 'there', 'messages': [_AnyIdHumanMessage(content='hello')]}
    builder = StateGraph(State)
    builder.add_node('a', node_a)
    builder.set_entry_point('a')
    builder.set_finish_point('a')
    graph = builder.compile()
    assert graph.invoke({'hello': 'there', 'messages': 'hello'}) == {'hello': 'there', 'messages': [_AnyIdHumanMessage(content='hello')]}

    class State(TypedDict):
        hello: str
        messages: Annotated[list[str], add_messages]

    def node_a(state: State) -> State:
        assert state == {'hello': 'there', 'messages': [_AnyIdHumanMessage(content='hello')]}
    builder = StateGraph(State)
    builder.add_node('a', node_a)
    builder.set_entry_point('a')
    builder.set_finish_point('a')
    graph = builder.compile()
    assert graph.invoke({'hello': 'there', 'messages': 'hello'}) == {'hello': 'there', 'messages': [_AnyIdHumanMessage(content='hello')]}

    class State(TypedDict):
        hello: str
        messages: Annotated[Sequence[str], add_messages]

    def node_a(state: State) -> State:
        assert state == {'hello': 'there', 'messages': [_AnyIdHumanMessage(content='hello')]}
    builder = StateGraph(State)
    builder.add_node('a', node_a)
    builder.set_entry_point('a')
    builder.set_finish_point('a')
    graph = builder.compile()
    assert graph.invoke({'hello': 'there', 'messages': 'hello'}) == {'hello': 'there', 'messages': [_AnyIdHumanMessage(content='hello')]}


# test_pregel.py::test_cond_edge_after_send (line 1147)
def test_cond_edge_after_send() -> None:

    class Node:

        def __init__(self, name: str):
            self.name = name
            setattr(self, '__name__', name)

        def __call__(self, state):
            return [self.name]

    def send_for_fun(state):
        return [Send('2', state), Send('2', state)]

    def route_to_three(state) -> Literal['3']:
        return '3'
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node(Node('1'))
    builder.add_node(Node('2'))
    builder.add_node(Node('3'))
    builder.add_edge(START, '1')
    builder.add_conditional_edges('1', send_for_fun)
    builder.add_conditional_edges('2', route_to_three)
    graph = builder.compile()
    assert graph.invoke(['0']) == ['0', '1', '2', '2', '3']


# test_pregel.py::test_concurrent_emit_sends (line 1173)
def test_concurrent_emit_sends() -> None:

    class Node:

        def __init__(self, name: str):
            self.name = name
            setattr(self, '__name__', name)

        def __call__(self, state):
            return [self.name] if isinstance(state, list) else ['|'.join((self.name, str(state)))]

    def send_for_fun(state):
        return [Send('2', 1), Send('2', 2), '3.1']

    def send_for_profit(state):
        return [Send('2', 3), Send('2', 4)]

    def route_to_three(state) -> Literal['3']:
        return '3'
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node(Node('1'))
    builder.add_node(Node('1.1'))
    builder.add_node(Node('2'))
    builder.add_node(Node('3'))
    builder.add_node(Node('3.1'))
    builder.add_edge(START, '1')
    builder.add_edge(START, '1.1')
    builder.add_conditional_edges('1', send_for_fun)
    builder.add_conditional_edges('1.1', send_for_profit)
    builder.add_conditional_edges('2', route_to_three)
    graph = builder.compile()
    assert graph.invoke(['0']) == ['0', '1', '1.1', '3.1', '2|1', '2|2', '2|3', '2|4', '3']


# test_pregel.py::test_send_sequences (line 1220)
def test_send_sequences() -> None:

    class Node:

        def __init__(self, name: str):
            self.name = name
            setattr(self, '__name__', name)

        def __call__(self, state):
            update = [self.name] if isinstance(state, list) else ['|'.join((self.name, str(state)))]
            if isinstance(state, Command):
                return [state, Command(update=update)]
            else:
                return update

    def send_for_fun(state):
        return [Send('2', Command(goto=Send('2', 3))), Send('2', Command(goto=Send('2', 4))), '3.1']

    def route_to_three(state) -> Literal['3']:
        return '3'
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node(Node('1'))
    builder.add_node(Node('2'))
    builder.add_node(Node('3'))
    builder.add_node(Node('3.1'))
    builder.add_edge(START, '1')
    builder.add_conditional_edges('1', send_for_fun)
    builder.add_conditional_edges('2', route_to_three)
    graph = builder.compile()
    assert graph.invoke(['0']) == ['0', '1', '3.1', "2|Command(goto=Send(node='2', arg=3))", "2|Command(goto=Send(node='2', arg=4))", '3', '2|3', '2|4', '3']


# test_pregel.py::test_conditional_state_graph_with_list_edge_inputs (line 1767)
def test_conditional_state_graph_with_list_edge_inputs():

    class State(TypedDict):
        foo: Annotated[list[str], operator.add]
    graph_builder = StateGraph(State)
    graph_builder.add_node('A', lambda x: {'foo': ['A']})
    graph_builder.add_node('B', lambda x: {'foo': ['B']})
    graph_builder.add_edge(START, 'A')
    graph_builder.add_edge(START, 'B')
    graph_builder.add_edge(['A', 'B'], END)
    app = graph_builder.compile()
    assert app.invoke({'foo': []}) == {'foo': ['A', 'B']}


# test_pregel.py::test_callable_in_conditional_edges_with_no_path_map (line 2924)
def test_callable_in_conditional_edges_with_no_path_map() -> None:

    class State(TypedDict, total=False):
        query: str

    def rewrite(data: State) -> State:
        return {'query': f"query: {data['query']}"}

    def analyze(data: State) -> State:
        return {'query': f"analyzed: {data['query']}"}

    class ChooseAnalyzer:

        def __call__(self, data: State) -> str:
            return 'analyzer'
    workflow = StateGraph(State)
    workflow.add_node('rewriter', rewrite)
    workflow.add_node('analyzer', analyze)
    workflow.add_conditional_edges('rewriter', ChooseAnalyzer())
    workflow.set_entry_point('rewriter')
    app = workflow.compile()
    assert app.invoke({'query': 'what is weather in sf'}) == {'query': 'analyzed: query: what is weather in sf'}


# test_pregel.py::test_function_in_conditional_edges_with_no_path_map (line 2950)
def test_function_in_conditional_edges_with_no_path_map() -> None:

    class State(TypedDict, total=False):
        query: str

    def rewrite(data: State) -> State:
        return {'query': f"query: {data['query']}"}

    def analyze(data: State) -> State:
        return {'query': f"analyzed: {data['query']}"}

    def choose_analyzer(data: State) -> str:
        return 'analyzer'
    workflow = StateGraph(State)
    workflow.add_node('rewriter', rewrite)
    workflow.add_node('analyzer', analyze)
    workflow.add_conditional_edges('rewriter', choose_analyzer)
    workflow.set_entry_point('rewriter')
    app = workflow.compile()
    assert app.invoke({'query': 'what is weather in sf'}) == {'query': 'analyzed: query: what is weather in sf'}


# test_pregel.py::test_in_one_fan_out_state_graph_waiting_edge_multiple_cond_edge (line 2975)
@pytest.mark.usefixtures("schedule")
def test_in_one_fan_out_state_graph_waiting_edge_multiple_cond_edge() -> None:

    def sorted_add(x: list[str], y: list[str] | list[tuple[str, str]]) -> list[str]:
        if isinstance(y[0], tuple):
            for rem, _ in y:
                x.remove(rem)
            y = [t[1] for t in y]
        return sorted(operator.add(x, y))

    class State(TypedDict, total=False):
        query: str
        answer: str
        docs: Annotated[list[str], sorted_add]

    def rewrite_query(data: State) -> State:
        return {'query': f"query: {data['query']}"}

    def retriever_picker(data: State) -> list[str]:
        return ['analyzer_one', 'retriever_two']

    def analyzer_one(data: State) -> State:
        return {'query': f"analyzed: {data['query']}"}

    def retriever_one(data: State) -> State:
        return {'docs': ['doc1', 'doc2']}

    def retriever_two(data: State) -> State:
        time.sleep(0.1)
        return {'docs': ['doc3', 'doc4']}

    def qa(data: State) -> State:
        return {'answer': ','.join(data['docs'])}

    def decider(data: State) -> None:
        return None

    def decider_cond(data: State) -> str:
        if data['query'].count('analyzed') > 1:
            return 'qa'
        else:
            return 'rewrite_query'
    workflow = StateGraph(State)
    workflow.add_node('rewrite_query', rewrite_query)
    workflow.add_node('analyzer_one', analyzer_one)
    workflow.add_node('retriever_one', retriever_one)
    workflow.add_node('retriever_two', retriever_two)
    workflow.add_node('decider', decider)
    workflow.add_node('qa', qa)
    workflow.set_entry_point('rewrite_query')
    workflow.add_conditional_edges('rewrite_query', retriever_picker)
    workflow.add_edge('analyzer_one', 'retriever_one')
    workflow.add_edge(['retriever_one', 'retriever_two'], 'decider')
    workflow.add_conditional_edges('decider', decider_cond)
    workflow.set_finish_point('qa')
    app = workflow.compile()
    assert app.invoke({'query': 'what is weather in sf'}) == {'query': 'analyzed: query: analyzed: query: what is weather in sf', 'answer': 'doc1,doc1,doc2,doc2,doc3,doc3,doc4,doc4', 'docs': ['doc1', 'doc1', 'doc2', 'doc2', 'doc3', 'doc3', 'doc4', 'doc4']}
    assert [*app.stream({'query': 'what is weather in sf'})] == [{'rewrite_query': {'query': 'query: what is weather in sf'}}, {'analyzer_one': {'query': 'analyzed: query: what is weather in sf'}}, {'retriever_two': {'docs': ['doc3', 'doc4']}}, {'retriever_one': {'docs': ['doc1', 'doc2']}}, {'decider': None}, {'rewrite_query': {'query': 'query: analyzed: query: what is weather in sf'}}, {'analyzer_one': {'query': 'analyzed: query: analyzed: query: what is weather in sf'}}, {'retriever_two': {'docs': ['doc3', 'doc4']}}, {'retriever_one': {'docs': ['doc1', 'doc2']}}, {'decider': None}, {'qa': {'answer': 'doc1,doc1,doc2,doc2,doc3,doc3,doc4,doc4'}}]


# test_pregel.py::test_simple_multi_edge (line 3059)
def test_simple_multi_edge() -> None:

    class State(TypedDict):
        my_key: Annotated[str, operator.add]

    def up(state: State):
        pass

    def side(state: State):
        pass

    def other(state: State):
        return {'my_key': '_more'}

    def down(state: State):
        pass
    graph = StateGraph(State)
    graph.add_node('up', up)
    graph.add_node('side', side)
    graph.add_node('other', other)
    graph.add_node('down', down)
    graph.set_entry_point('up')
    graph.add_edge('up', 'side')
    graph.add_edge('up', 'other')
    graph.add_edge(['up', 'side'], 'down')
    graph.set_finish_point('down')
    app = graph.compile()
    assert app.invoke({'my_key': 'my_value'}) == {'my_key': 'my_value_more'}
    assert [*app.stream({'my_key': 'my_value'})] in ([{'up': None}, {'side': None}, {'other': {'my_key': '_more'}}, {'down': None}], [{'up': None}, {'other': {'my_key': '_more'}}, {'side': None}, {'down': None}])


# test_pregel.py::test_repeat_condition (line 3734)
def test_repeat_condition() -> None:

    class AgentState(TypedDict):
        hello: str

    def router(state: AgentState) -> str:
        return 'hmm'
    workflow = StateGraph(AgentState)
    workflow.add_node('Researcher', lambda x: x)
    workflow.add_node('Chart Generator', lambda x: x)
    workflow.add_node('Call Tool', lambda x: x)
    workflow.add_conditional_edges('Researcher', router, {'redo': 'Researcher', 'continue': 'Chart Generator', 'call_tool': 'Call Tool', 'end': END})
    workflow.add_conditional_edges('Chart Generator', router, {'continue': 'Researcher', 'call_tool': 'Call Tool', 'end': END})
    workflow.add_conditional_edges('Call Tool', lambda x: x['sender'], {'Researcher': 'Researcher', 'Chart Generator': 'Chart Generator'})
    workflow.set_entry_point('Researcher')
    app = workflow.compile()


# test_pregel.py::test_remove_message_from_node (line 3979)
def test_remove_message_from_node():
    workflow = StateGraph(state_schema=Annotated[list[AnyMessage], add_messages])
    workflow.add_node('chatbot', lambda state: [AIMessage(content='Hello!'), AIMessage(content='How can I help you?')])
    workflow.add_node('delete_messages', lambda state: [RemoveMessage(id=state[-2].id)])
    workflow.set_entry_point('chatbot')
    workflow.add_edge('chatbot', 'delete_messages')
    workflow.add_edge('delete_messages', END)
    app = workflow.compile()
    output = app.invoke([HumanMessage(content='Hi')])
    assert len(output) == 2
    assert output[-1].content == 'How can I help you?'


# test_pregel.py::test_enum_node_names (line 4329)
def test_enum_node_names():

    class NodeName(str, enum.Enum):
        BAZ = 'baz'

    class State(TypedDict):
        foo: str
        bar: str

    def baz(state: State):
        return {'bar': state['foo'] + '!'}
    graph = StateGraph(State)
    graph.add_node(NodeName.BAZ, baz)
    graph.add_edge(START, NodeName.BAZ)
    graph.add_edge(NodeName.BAZ, END)
    graph = graph.compile()
    assert graph.invoke({'foo': 'hello'}) == {'foo': 'hello', 'bar': 'hello!'}


# test_pregel.py::test_add_sequence (line 4594)
def test_add_sequence():

    class State(TypedDict):
        foo: Annotated[list[str], operator.add]
        bar: str

    def step1(state: State):
        return {'foo': ['step1'], 'bar': 'baz'}

    def step2(state: State):
        return {'foo': ['step2']}
    with pytest.raises(ValueError):
        StateGraph(State).add_sequence([])
    with pytest.raises(ValueError):
        StateGraph(State).add_sequence([step1, step1])
    with pytest.raises(ValueError):
        StateGraph(State).add_sequence([('foo', step1), ('foo', step1)])
    builder = StateGraph(State)
    builder.add_sequence([step1, step2])
    builder.add_edge(START, 'step1')
    graph = builder.compile()
    result = graph.invoke({'foo': []})
    assert result == {'foo': ['step1', 'step2'], 'bar': 'baz'}
    stream_chunks = list(graph.stream({'foo': []}))
    assert stream_chunks == [{'step1': {'foo': ['step1'], 'bar': 'baz'}}, {'step2': {'foo': ['step2']}}]
    builder_named_steps = StateGraph(State)
    builder_named_steps.add_sequence([('meow1', step1), ('meow2', step2)])
    builder_named_steps.add_edge(START, 'meow1')
    graph_named_steps = builder_named_steps.compile()
    result = graph_named_steps.invoke({'foo': []})
    stream_chunks = list(graph_named_steps.stream({'foo': []}))
    assert result == {'foo': ['step1', 'step2'], 'bar': 'baz'}
    assert stream_chunks == [{'meow1': {'foo': ['step1'], 'bar': 'baz'}}, {'meow2': {'foo': ['step2']}}]
    builder_named_steps = StateGraph(State)
    builder_named_steps.add_sequence([('meow1', lambda state: {'foo': ['foo']}), ('meow2', lambda state: {'bar': state['foo'][0] + 'bar'})])
    builder_named_steps.add_edge(START, 'meow1')
    graph_named_steps = builder_named_steps.compile()
    result = graph_named_steps.invoke({'foo': []})
    stream_chunks = list(graph_named_steps.stream({'foo': []}))
    assert result == {'bar': 'foobar', 'foo': ['foo']}
    assert stream_chunks == [{'meow1': {'foo': ['foo']}}, {'meow2': {'bar': 'foobar'}}]

    def a(state: State):
        return {'foo': ['a']}

    def b(state: State):
        return {'foo': ['b']}
    builder_two_sequences = StateGraph(State)
    builder_two_sequences.add_sequence([a])
    builder_two_sequences.add_sequence([b])
    builder_two_sequences.add_edge(START, 'a')
    builder_two_sequences.add_edge('a', 'b')
    graph_two_sequences = builder_two_sequences.compile()
    result = graph_two_sequences.invoke({'foo': []})
    assert result == {'foo': ['a', 'b']}
    stream_chunks = list(graph_two_sequences.stream({'foo': []}))
    assert stream_chunks == [{'a': {'foo': ['a']}}, {'b': {'foo': ['b']}}]

    def c(state: State):
        return {'foo': ['c']}

    def d(state: State):
        return {'foo': ['d']}

    def e(state: State):
        return {'foo': ['e']}

    def foo(state: State):
        if state['foo'][0] == 'a':
            return 'd'
        else:
            return 'c'
    builder_complex = StateGraph(State)
    builder_complex.add_sequence([a, b])
    builder_complex.add_conditional_edges('b', foo)
    builder_complex.add_node(c)
    builder_complex.add_sequence([d, e])
    builder_complex.add_edge(START, 'a')
    graph_complex = builder_complex.compile()
    result = graph_complex.invoke({'foo': []})
    assert result == {'foo': ['a', 'b', 'd', 'e']}
    result = graph_complex.invoke({'foo': ['start']})
    assert result == {'foo': ['start', 'a', 'b', 'c']}
    stream_chunks = list(graph_complex.stream({'foo': []}))
    assert stream_chunks == [{'a': {'foo': ['a']}}, {'b': {'foo': ['b']}}, {'d': {'foo': ['d']}}, {'e': {'foo': ['e']}}]


# test_pregel.py::test_root_mixed_return (line 5075)
def test_root_mixed_return() -> None:

    def my_node(state: list[str]):
        return [Command(update=['a']), ['b']]
    graph = StateGraph(Annotated[list[str], operator.add])
    graph.add_node(my_node)
    graph.add_edge(START, 'my_node')
    graph = graph.compile()
    assert graph.invoke([]) == ['a', 'b']


# test_pregel.py::test_dict_mixed_return (line 5088)
def test_dict_mixed_return() -> None:

    class State(TypedDict):
        foo: Annotated[str, operator.add]

    def my_node(state: State):
        return [Command(update={'foo': 'a'}), {'foo': 'b'}]
    graph = StateGraph(State)
    graph.add_node(my_node)
    graph.add_edge(START, 'my_node')
    graph = graph.compile()
    assert graph.invoke({'foo': ''}) == {'foo': 'ab'}


# test_pregel.py::test_command_pydantic_dataclass (line 5103)
def test_command_pydantic_dataclass() -> None:

    class PydanticState(BaseModel):
        foo: str

    @dataclass
    class DataclassState:
        foo: str
    for State in (PydanticState, DataclassState):

        def node_a(state) -> Command[Literal['node_b']]:
            return Command(update=State(foo='foo'), goto='node_b')

        def node_b(state):
            return {'foo': state.foo + 'bar'}
        builder = StateGraph(State)
        builder.add_edge(START, 'node_a')
        builder.add_node(node_a)
        builder.add_node(node_b)
        graph = builder.compile()
        assert graph.invoke(State(foo='')) == {'foo': 'foobar'}


# test_pregel.py::test_parallel_node_execution (line 5258)
def test_parallel_node_execution():
    """Test that parallel nodes execute concurrently."""

    class State(TypedDict):
        results: Annotated[list[str], operator.add]

    def slow_node(state: State):
        time.sleep(1)
        return {'results': ['slow']}

    def fast_node(state: State):
        time.sleep(2)
        return {'results': ['fast']}
    builder = StateGraph(State)
    builder.add_node('slow', slow_node)
    builder.add_node('fast', fast_node)
    builder.add_edge(START, 'slow')
    builder.add_edge(START, 'fast')
    graph = builder.compile()
    start = time.perf_counter()
    result = graph.invoke({'results': []})
    duration = time.perf_counter() - start
    assert 'fast' in result['results'][0]
    assert duration < 3.0


# test_pregel.py::test_concurrent_execution_thread_safety (line 5334)
def test_concurrent_execution_thread_safety():
    """Test thread safety during concurrent execution."""

    class State(TypedDict):
        counter: Annotated[int, operator.add]
    results = deque()
    threads: list[threading.Thread] = []

    def slow_node(state: State):
        time.sleep(0.1)
        return {'counter': 1}
    builder = StateGraph(State)
    builder.add_node('node', slow_node)
    builder.add_edge(START, 'node')
    graph = builder.compile()

    def run_graph():
        result = graph.invoke({'counter': 0})
        results.append(result)
    for _ in range(10):
        thread = threading.Thread(target=run_graph)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    assert len(results) == 10
    for result in results:
        assert result['counter'] == 1


# test_pregel.py::test_multiple_updates_root (line 5435)
def test_multiple_updates_root() -> None:

    def node_a(state):
        return [Command(update='a1'), Command(update='a2')]

    def node_b(state):
        return 'b'
    graph = StateGraph(Annotated[str, operator.add]).add_sequence([node_a, node_b]).add_edge(START, 'node_a').compile()
    assert graph.invoke('') == 'a1a2b'
    assert [c for c in graph.stream('', stream_mode='updates')] == [{'node_a': ['a1', 'a2']}, {'node_b': 'b'}]


# test_pregel.py::test_multiple_updates (line 5458)
def test_multiple_updates() -> None:

    class State(TypedDict):
        foo: Annotated[str, operator.add]

    def node_a(state):
        return [Command(update={'foo': 'a1'}), Command(update={'foo': 'a2'})]

    def node_b(state):
        return {'foo': 'b'}
    graph = StateGraph(State).add_sequence([node_a, node_b]).add_edge(START, 'node_a').compile()
    assert graph.invoke({'foo': ''}) == {'foo': 'a1a2b'}
    assert [c for c in graph.stream({'foo': ''}, stream_mode='updates')] == [{'node_a': [{'foo': 'a1'}, {'foo': 'a2'}]}, {'node_b': {'foo': 'b'}}]


# test_pregel.py::test_pydantic_none_state_update (line 7102)
def test_pydantic_none_state_update() -> None:

    class State(BaseModel):
        foo: str | None

    def node_a(state: State) -> State:
        return State(foo=None)
    graph = StateGraph(State).add_node(node_a).add_edge(START, 'node_a').compile()
    assert graph.invoke({'foo': ''}) == {'foo': None}


# test_pregel.py::test_pydantic_state_update_command (line 7113)
def test_pydantic_state_update_command() -> None:

    class State(BaseModel):
        foo: str | None

    def node_a(state: State) -> State:
        return Command(update=State(foo=None))
    graph = StateGraph(State).add_node(node_a).add_edge(START, 'node_a').compile()
    assert graph.invoke({'foo': ''}) == {'foo': None}

    class State(BaseModel):
        foo: str | None = None
        bar: str | None = None

    def node_a(state: State):
        return State(foo='foo')

    def node_b(state: State):
        return Command(update=State(bar='bar'))
    builder = StateGraph(State)
    builder.add_node(node_a)
    builder.add_node(node_b)
    builder.add_edge(START, 'node_a')
    builder.add_edge('node_a', 'node_b')
    builder.add_edge('node_b', END)
    graph = builder.compile()
    assert graph.invoke(State()) == {'foo': 'foo', 'bar': 'bar'}


# test_pregel.py::test_pydantic_state_mutation (line 7144)
def test_pydantic_state_mutation() -> None:

    class Inner(BaseModel):
        a: int = 0

    class State(BaseModel):
        inner: Inner = Inner()
        outer: int = 0

    def my_node(state: State) -> State:
        state.inner.a = 5
        state.outer = 10
        return state
    graph = StateGraph(State).add_node(my_node).add_edge(START, 'my_node').compile()
    assert graph.invoke({'outer': 1}) == {'outer': 10, 'inner': Inner(a=5)}

    class State(BaseModel):
        inner: Inner = Field(default_factory=Inner)
        outer: int = 0

    def my_node(state: State) -> State:
        state.inner.a = 5
        state.outer = 10
        return state
    graph = StateGraph(State).add_node(my_node).add_edge(START, 'my_node').compile()
    assert graph.invoke({'outer': 1}) == {'outer': 10, 'inner': Inner(a=5)}


# test_pregel.py::test_pydantic_state_mutation_command (line 7176)
def test_pydantic_state_mutation_command() -> None:

    class Inner(BaseModel):
        a: int = 0

    class State(BaseModel):
        inner: Inner = Inner()
        outer: int = 0

    def my_node(state: State) -> State:
        state.inner.a = 5
        state.outer = 10
        return Command(update=state)
    graph = StateGraph(State).add_node(my_node).add_edge(START, 'my_node').compile()
    assert graph.invoke({'outer': 1}) == {'outer': 10, 'inner': Inner(a=5)}

    class State(BaseModel):
        inner: Inner = Field(default_factory=Inner)
        outer: int = 0

    def my_node(state: State) -> State:
        state.inner.a = 5
        state.outer = 10
        return Command(update=state)
    graph = StateGraph(State).add_node(my_node).add_edge(START, 'my_node').compile()
    assert graph.invoke({'outer': 1}) == {'outer': 10, 'inner': Inner(a=5)}


# test_pregel.py::test_empty_invoke (line 7529)
def test_empty_invoke() -> None:

    def reducer_merge_dicts(dict1: dict[Any, Any], dict2: dict[Any, Any]) -> dict[Any, Any]:
        merged = {**dict1, **dict2}
        return merged

    class SimpleGraphState(BaseModel):
        x1: Annotated[list[str], operator.add] = []
        x2: Annotated[dict[str, Any], reducer_merge_dicts] = {}

    def update_x1_1(state: SimpleGraphState):
        print(state)
        return {'x1': ['111']}

    def update_x1_2(state: SimpleGraphState):
        print(state)
        state.x1.append('222')
        return {'x1': ['222']}

    def update_x2_1(state: SimpleGraphState):
        print(state)
        return {'x2': {'111': 111}}

    def update_x2_2(state: SimpleGraphState):
        print(state)
        return {'x2': {'222': 222}}
    graph = StateGraph(SimpleGraphState)
    graph.add_node('x1_1_node', update_x1_1)
    graph.add_node('x1_2_node', update_x1_2)
    graph.add_node('x2_1_node', update_x2_1)
    graph.add_node('x2_2_node', update_x2_2)
    graph.add_edge('x1_1_node', 'x1_2_node')
    graph.add_edge('x1_2_node', 'x2_1_node')
    graph.add_edge('x2_1_node', 'x2_2_node')
    graph.add_edge(START, 'x1_1_node')
    graph.add_edge('x2_2_node', END)
    compiled = graph.compile()
    assert compiled.invoke(SimpleGraphState()).get('x2') == {'111': 111, '222': 222}


# test_pregel_async.py::test_node_cancellation_on_external_cancel (line 528)
async def test_node_cancellation_on_external_cancel() -> None:
    inner_task_cancelled = False

    async def awhile(input: Any) -> None:
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            nonlocal inner_task_cancelled
            inner_task_cancelled = True
            raise

    class State(TypedDict):
        hello: str
    builder = StateGraph(State)
    builder.add_node('agent', awhile)
    builder.set_entry_point('agent')
    builder.set_finish_point('agent')
    graph = builder.compile()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(graph.ainvoke({'hello': 'world'}), 0.5)
    assert inner_task_cancelled


# test_pregel_async.py::test_node_cancellation_on_other_node_exception (line 555)
@pytest.mark.xfail(not ON_LANGGRAPH, strict=True, reason="intended difference: failure isolation. A failing node does not cancel its siblings; they finish, then the node's own exception is raised with the partial state")
async def test_node_cancellation_on_other_node_exception() -> None:
    inner_task_cancelled = False

    async def awhile(input: Any) -> None:
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            nonlocal inner_task_cancelled
            inner_task_cancelled = True
            raise

    async def iambad(input: Any) -> None:
        raise ValueError('I am bad')

    class State(TypedDict):
        hello: str
    builder = StateGraph(State)
    builder.add_node('agent', awhile)
    builder.add_node('bad', iambad)
    builder.set_conditional_entry_point(lambda _: ['agent', 'bad'])
    graph = builder.compile()
    with pytest.raises(ValueError, match='I am bad'):
        await asyncio.wait_for(graph.ainvoke({'hello': 'world'}), 0.5)
    assert inner_task_cancelled


# test_pregel_async.py::test_node_cancellation_on_other_node_exception_two (line 586)
async def test_node_cancellation_on_other_node_exception_two() -> None:

    async def awhile(input: Any) -> None:
        await asyncio.sleep(1)

    async def iambad(input: Any) -> None:
        raise ValueError('I am bad')

    class State(TypedDict):
        hello: str
    builder = StateGraph(State)
    builder.add_node('agent', awhile)
    builder.add_node('bad', iambad)
    builder.set_conditional_entry_point(lambda _: ['agent', 'bad'])
    graph = builder.compile()
    with pytest.raises(ValueError, match='I am bad'):
        await graph.ainvoke({'hello': 'world'})


# test_pregel_async.py::test_cond_edge_after_send (line 2144)
async def test_cond_edge_after_send_async_file() -> None:

    class Node:

        def __init__(self, name: str):
            self.name = name
            setattr(self, '__name__', name)

        async def __call__(self, state):
            return [self.name]

    async def send_for_fun(state):
        return [Send('2', state), Send('2', state)]

    async def route_to_three(state) -> Literal['3']:
        return '3'
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node(Node('1'))
    builder.add_node(Node('2'))
    builder.add_node(Node('3'))
    builder.add_edge(START, '1')
    builder.add_conditional_edges('1', send_for_fun)
    builder.add_conditional_edges('2', route_to_three)
    graph = builder.compile()
    assert await graph.ainvoke(['0']) == ['0', '1', '2', '2', '3']


# test_pregel_async.py::test_concurrent_emit_sends (line 2171)
async def test_concurrent_emit_sends_async_file() -> None:

    class Node:

        def __init__(self, name: str):
            self.name = name
            setattr(self, '__name__', name)

        async def __call__(self, state):
            return [self.name] if isinstance(state, list) else ['|'.join((self.name, str(state)))]

    async def send_for_fun(state):
        return [Send('2', 1), Send('2', 2), '3.1']

    async def send_for_profit(state):
        return [Send('2', 3), Send('2', 4)]

    async def route_to_three(state) -> Literal['3']:
        return '3'
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node(Node('1'))
    builder.add_node(Node('1.1'))
    builder.add_node(Node('2'))
    builder.add_node(Node('3'))
    builder.add_node(Node('3.1'))
    builder.add_edge(START, '1')
    builder.add_edge(START, '1.1')
    builder.add_conditional_edges('1', send_for_fun)
    builder.add_conditional_edges('1.1', send_for_profit)
    builder.add_conditional_edges('2', route_to_three)
    graph = builder.compile()
    assert await graph.ainvoke(['0']) == ['0', '1', '1.1', '3.1', '2|1', '2|2', '2|3', '2|4', '3']


# test_pregel_async.py::test_nested_pydantic_models (line 4153)
async def test_nested_pydantic_models() -> None:
    """Test that nested Pydantic models are properly constructed from leaf nodes up."""

    class NestedModel(BaseModel):
        value: int
        name: str
        something: str | None = None

    class RecursiveModel(BaseModel):
        value: str
        child: Optional['RecursiveModel'] = None

    class Cat(BaseModel):
        pet_type: Literal['cat']
        meow: str

    class Dog(BaseModel):
        pet_type: Literal['dog']
        bark: str

    class Person(BaseModel):
        id: str
        name: str
        friends: list[str] = Field(default_factory=list)

    class MyEnum(enum.Enum):
        A = 1
        B = 2

    class MyTypedDict(TypedDict):
        x: int
        my_enum: MyEnum

    class State(BaseModel):
        top_level: str
        nested: NestedModel
        optional_nested: NestedModel | None = None
        dict_nested: dict[str, NestedModel]
        my_set: set[int]
        another_set: set
        my_enum: MyEnum
        list_nested: Annotated[dict | list[dict[str, NestedModel]], lambda x, y: (x or []) + [y]]
        list_nested_reversed: Annotated[list[dict[str, NestedModel]] | NestedModel | dict | list, lambda x, y: (x or []) + [y]]
        tuple_nested: tuple[str, NestedModel]
        tuple_list_nested: list[tuple[int, NestedModel]]
        complex_tuple: tuple[str, dict[str, tuple[int, NestedModel]]]
        my_typed_dict: MyTypedDict
        recursive: RecursiveModel
        pet: Cat | Dog
        people: dict[str, Person]
    inputs = {'top_level': 'initial', 'nested': {'value': 42, 'name': 'test'}, 'optional_nested': {'value': 10, 'name': 'optional'}, 'my_set': [1, 2, 7], 'another_set': ['foo', 3], 'my_enum': MyEnum.B, 'my_typed_dict': {'x': 1, 'my_enum': MyEnum.A}, 'dict_nested': {'a': {'value': 5, 'name': 'a'}}, 'list_nested': [{'a': {'value': 6, 'name': 'b'}}], 'list_nested_reversed': ['foo', 'bar'], 'tuple_nested': ['tuple-key', {'value': 7, 'name': 'tuple-value'}], 'tuple_list_nested': [[1, {'value': 8, 'name': 'tuple-in-list'}]], 'complex_tuple': ['complex', {'nested': [9, {'value': 10, 'name': 'deep'}]}], 'recursive': {'value': 'parent', 'child': {'value': 'child', 'child': None}}, 'pet': {'pet_type': 'cat', 'meow': 'meow!'}, 'people': {'1': {'id': '1', 'name': 'Alice', 'friends': ['2', '3']}, '2': {'id': '2', 'name': 'Bob', 'friends': ['1']}, '3': {'id': '3', 'name': 'Charlie', 'friends': ['1', '2']}}}
    update = {'top_level': 'updated', 'nested': {'value': 100, 'name': 'updated'}}

    async def node_fn(state: State) -> dict:
        assert state == State(**inputs)
        return update
    builder = StateGraph(State)
    builder.add_node('process', node_fn)
    builder.set_entry_point('process')
    builder.set_finish_point('process')
    graph = builder.compile()
    result = await graph.ainvoke(inputs.copy())
    assert result == {**inputs, **update}


# test_pregel_async.py::test_in_one_fan_out_state_graph_waiting_edge_multiple_cond_edge (line 4767)
@pytest.mark.usefixtures("schedule")
async def test_in_one_fan_out_state_graph_waiting_edge_multiple_cond_edge_async_file() -> None:

    def sorted_add(x: list[str], y: list[str] | list[tuple[str, str]]) -> list[str]:
        if isinstance(y[0], tuple):
            for rem, _ in y:
                x.remove(rem)
            y = [t[1] for t in y]
        return sorted(operator.add(x, y))

    class State(TypedDict, total=False):
        query: str
        answer: str
        docs: Annotated[list[str], sorted_add]

    async def rewrite_query(data: State) -> State:
        return {'query': f"query: {data['query']}"}

    async def retriever_picker(data: State) -> list[str]:
        return ['analyzer_one', 'retriever_two']

    async def analyzer_one(data: State) -> State:
        return {'query': f"analyzed: {data['query']}"}

    async def retriever_one(data: State) -> State:
        return {'docs': ['doc1', 'doc2']}

    async def retriever_two(data: State) -> State:
        await asyncio.sleep(0.1)
        return {'docs': ['doc3', 'doc4']}

    async def qa(data: State) -> State:
        return {'answer': ','.join(data['docs'])}

    async def decider(data: State) -> None:
        return None

    def decider_cond(data: State) -> str:
        if data['query'].count('analyzed') > 1:
            return 'qa'
        else:
            return 'rewrite_query'
    workflow = StateGraph(State)
    workflow.add_node('rewrite_query', rewrite_query)
    workflow.add_node('analyzer_one', analyzer_one)
    workflow.add_node('retriever_one', retriever_one)
    workflow.add_node('retriever_two', retriever_two)
    workflow.add_node('decider', decider)
    workflow.add_node('qa', qa)
    workflow.set_entry_point('rewrite_query')
    workflow.add_conditional_edges('rewrite_query', retriever_picker)
    workflow.add_edge('analyzer_one', 'retriever_one')
    workflow.add_edge(['retriever_one', 'retriever_two'], 'decider')
    workflow.add_conditional_edges('decider', decider_cond)
    workflow.set_finish_point('qa')
    app = workflow.compile()
    assert await app.ainvoke({'query': 'what is weather in sf'}) == {'query': 'analyzed: query: analyzed: query: what is weather in sf', 'answer': 'doc1,doc1,doc2,doc2,doc3,doc3,doc4,doc4', 'docs': ['doc1', 'doc1', 'doc2', 'doc2', 'doc3', 'doc3', 'doc4', 'doc4']}
    assert [c async for c in app.astream({'query': 'what is weather in sf'})] == [{'rewrite_query': {'query': 'query: what is weather in sf'}}, {'analyzer_one': {'query': 'analyzed: query: what is weather in sf'}}, {'retriever_two': {'docs': ['doc3', 'doc4']}}, {'retriever_one': {'docs': ['doc1', 'doc2']}}, {'decider': None}, {'rewrite_query': {'query': 'query: analyzed: query: what is weather in sf'}}, {'analyzer_one': {'query': 'analyzed: query: analyzed: query: what is weather in sf'}}, {'retriever_two': {'docs': ['doc3', 'doc4']}}, {'retriever_one': {'docs': ['doc1', 'doc2']}}, {'decider': None}, {'qa': {'answer': 'doc1,doc1,doc2,doc2,doc3,doc3,doc4,doc4'}}]


# test_pregel_async.py::test_parallel_node_execution (line 6514)
async def test_parallel_node_execution_async_file():
    """Test that parallel nodes execute concurrently."""

    class State(TypedDict):
        results: Annotated[list[str], operator.add]

    async def slow_node(state: State):
        await asyncio.sleep(1)
        return {'results': ['slow']}

    async def fast_node(state: State):
        await asyncio.sleep(2)
        return {'results': ['fast']}
    builder = StateGraph(State)
    builder.add_node('slow', slow_node)
    builder.add_node('fast', fast_node)
    builder.add_edge(START, 'slow')
    builder.add_edge(START, 'fast')
    graph = builder.compile()
    start = perf_counter()
    result = await graph.ainvoke({'results': []})
    duration = perf_counter() - start
    assert 'fast' in result['results'][0]
    assert duration < 3.0


# test_pregel_async.py::test_concurrent_execution (line 6591)
async def test_concurrent_execution():
    """Test concurrent execution with async nodes."""

    class State(TypedDict):
        counter: Annotated[int, operator.add]
    results = deque()

    async def slow_node(state: State):
        await asyncio.sleep(0.1)
        return {'counter': 1}
    builder = StateGraph(State)
    builder.add_node('node', slow_node)
    builder.add_edge(START, 'node')
    graph = builder.compile()

    async def run_graph():
        result = await graph.ainvoke({'counter': 0})
        results.append(result)
    tasks = [run_graph() for _ in range(10)]
    await asyncio.gather(*tasks)
    assert len(results) == 10
    for result in results:
        assert result['counter'] == 1


# test_pregel_async.py::test_multiple_updates_root (line 6683)
async def test_multiple_updates_root_async_file() -> None:

    def node_a(state):
        return [Command(update='a1'), Command(update='a2')]

    def node_b(state):
        return 'b'
    graph = StateGraph(Annotated[str, operator.add]).add_sequence([node_a, node_b]).add_edge(START, 'node_a').compile()
    assert await graph.ainvoke('') == 'a1a2b'
    assert [c async for c in graph.astream('', stream_mode='updates')] == [{'node_a': ['a1', 'a2']}, {'node_b': 'b'}]


# test_pregel_async.py::test_multiple_updates (line 6706)
async def test_multiple_updates_async_file() -> None:

    class State(TypedDict):
        foo: Annotated[str, operator.add]

    def node_a(state):
        return [Command(update={'foo': 'a1'}), Command(update={'foo': 'a2'})]

    def node_b(state):
        return {'foo': 'b'}
    graph = StateGraph(State).add_sequence([node_a, node_b]).add_edge(START, 'node_a').compile()
    assert await graph.ainvoke({'foo': ''}) == {'foo': 'a1a2b'}
    assert [c async for c in graph.astream({'foo': ''}, stream_mode='updates')] == [{'node_a': [{'foo': 'a1'}, {'foo': 'a2'}]}, {'node_b': {'foo': 'b'}}]


# test_pydantic.py::test_nested_pydantic_models (line 63)
def test_nested_pydantic_models_async_file() -> None:
    """Test that nested Pydantic models are properly constructed from leaf nodes up."""

    class NestedModel(BaseModel):
        value: int
        name: str
    PositiveInt = Annotated[int, Field(gt=0)]
    NonNegativeFloat = Annotated[float, Field(ge=0)]

    class UserRole(Enum):
        ADMIN = 'admin'
        USER = 'user'
        GUEST = 'guest'

    class RecursiveModel(BaseModel):
        value: str
        child: Optional['RecursiveModel'] = None

    class Cat(BaseModel):
        pet_type: Literal['cat']
        meow: str

    class Dog(BaseModel):
        pet_type: Literal['dog']
        bark: str

    class Person(BaseModel):
        id: str
        name: str
        friends: list[str] = Field(default_factory=list)
    conlist_type = conlist(item_type=int, min_length=2, max_length=5)

    class State(BaseModel):
        top_level: str
        auuid: uuid.UUID
        nested: NestedModel
        optional_nested: Annotated[NestedModel | None, lambda x, y: y, 'Foo']
        dict_nested: dict[str, NestedModel]
        simple_str_list: list[str]
        list_nested: Annotated[dict | list[dict[str, NestedModel]], lambda x, y: (x or []) + [y]]
        tuple_nested: tuple[str, NestedModel]
        tuple_list_nested: list[tuple[int, NestedModel]]
        complex_tuple: tuple[str, dict[str, tuple[int, NestedModel]]]
        recursive: RecursiveModel
        pet: Cat | Dog
        people: dict[str, Person]
        ip_address: ipaddress.IPv4Address
        ip_address_v6: ipaddress.IPv6Address
        amount: decimal.Decimal
        file_path: pathlib.Path
        timestamp: datetime.datetime
        date_only: datetime.date
        time_only: datetime.time
        duration: datetime.timedelta
        immutable_set: frozenset[int]
        binary_data: bytes
        pattern: re.Pattern
        secret: SecretStr
        file_size: ByteSize
        positive_value: PositiveInt
        non_negative: NonNegativeFloat
        limited_string: constr(min_length=3, max_length=10)
        bounded_int: conint(ge=10, le=100)
        restricted_float: confloat(gt=0, lt=1)
        required_list: conlist_type
        role: UserRole
        status: Literal['active', 'inactive', 'pending']
        validated_age: Annotated[int, Field(gt=0, lt=120)]
        decimal_list: list[decimal.Decimal]
        id_tuple: tuple[uuid.UUID, uuid.UUID]
    inputs = {'top_level': 'initial', 'auuid': str(uuid.uuid4()), 'nested': {'value': 42, 'name': 'test'}, 'optional_nested': {'value': 10, 'name': 'optional'}, 'dict_nested': {'a': {'value': 5, 'name': 'a'}}, 'list_nested': [{'a': {'value': 6, 'name': 'b'}}], 'tuple_nested': ['tuple-key', {'value': 7, 'name': 'tuple-value'}], 'tuple_list_nested': [[1, {'value': 8, 'name': 'tuple-in-list'}]], 'simple_str_list': ['siss', 'boom', 'bah'], 'complex_tuple': ['complex', {'nested': [9, {'value': 10, 'name': 'deep'}]}], 'recursive': {'value': 'parent', 'child': {'value': 'child', 'child': None}}, 'pet': {'pet_type': 'cat', 'meow': 'meow!'}, 'people': {'1': {'id': '1', 'name': 'Alice', 'friends': ['2', '3']}, '2': {'id': '2', 'name': 'Bob', 'friends': ['1']}, '3': {'id': '3', 'name': 'Charlie', 'friends': ['1', '2']}}, 'ip_address': '192.168.1.1', 'ip_address_v6': '2001:db8::1', 'amount': '123.45', 'file_path': '/tmp/test.txt', 'timestamp': '2025-04-07T10:58:04', 'date_only': '2025-04-07', 'time_only': '10:58:04', 'duration': 3600, 'immutable_set': [1, 2, 3, 4], 'binary_data': b'hello world', 'pattern': '^test$', 'secret': 'password123', 'file_size': 1024, 'positive_value': 42, 'non_negative': 0.0, 'limited_string': 'test', 'bounded_int': 50, 'restricted_float': 0.5, 'required_list': [10, 20, 30], 'role': 'admin', 'status': 'active', 'validated_age': 30, 'decimal_list': ['10.5', '20.75', '30.25'], 'id_tuple': [str(uuid.uuid4()), str(uuid.uuid4())]}
    update = {'top_level': 'updated', 'nested': {'value': 100, 'name': 'updated'}}
    expected = State(**inputs)

    def node_fn(state: State) -> dict:
        assert isinstance(state.auuid, uuid.UUID)
        assert state == expected
        assert isinstance(state.ip_address, ipaddress.IPv4Address)
        assert isinstance(state.ip_address_v6, ipaddress.IPv6Address)
        assert isinstance(state.amount, decimal.Decimal)
        assert isinstance(state.file_path, pathlib.Path)
        assert isinstance(state.timestamp, datetime.datetime)
        assert isinstance(state.date_only, datetime.date)
        assert isinstance(state.time_only, datetime.time)
        assert isinstance(state.duration, datetime.timedelta)
        assert isinstance(state.immutable_set, frozenset)
        assert isinstance(state.binary_data, bytes)
        assert isinstance(state.pattern, re.Pattern)
        assert state.positive_value > 0
        assert state.non_negative >= 0
        assert 3 <= len(state.limited_string) <= 10
        assert 10 <= state.bounded_int <= 100
        assert 0 < state.restricted_float < 1
        assert 2 <= len(state.required_list) <= 5
        assert state.role == UserRole.ADMIN
        assert state.status == 'active'
        assert 0 < state.validated_age < 120
        assert len(state.decimal_list) == 3
        assert len(state.id_tuple) == 2
        return update
    builder = StateGraph(State)
    builder.add_node('process', node_fn)
    builder.set_entry_point('process')
    builder.set_finish_point('process')
    graph = builder.compile()
    result = graph.invoke(inputs.copy())
    assert result == {**inputs, **update}
    new_inputs = inputs.copy()
    new_inputs['list_nested'] = {'foo': 'bar'}
    expected = State(**new_inputs)
    assert {**new_inputs, **update} == graph.invoke(new_inputs.copy())


# test_pydantic.py::test_pydantic_state_field_validator (line 287)
def test_pydantic_state_field_validator():

    class State(BaseModel):
        name: str
        text: str = ''
        only_root: int = 13

        @field_validator('name', mode='after')
        @classmethod
        def validate_name(cls, value):
            if value[0].islower():
                raise ValueError('Name must start with a capital letter')
            return 'Validated ' + value

        @model_validator(mode='before')
        @classmethod
        def validate_amodel(cls, values: 'State'):
            return values | {'only_root': 392}
    input_state = {'name': 'John'}

    def process_node(state: State):
        assert State.model_validate(input_state) == state
        return {'text': 'Hello, ' + state.name + '!'}
    builder = StateGraph(state_schema=State)
    builder.add_node('process', process_node)
    builder.add_edge(START, 'process')
    builder.add_edge('process', END)
    g = builder.compile()
    res = g.invoke(input_state)
    assert res['text'] == 'Hello, Validated John!'


# -- Node policies and drawing: RetryPolicy, CachePolicy, get_graph --------------------------

if ON_LANGGRAPH:
    from langgraph.cache.base import BaseCache
    from langgraph.cache.memory import InMemoryCache
    from langgraph.pregel._retry import _should_retry_on
    from langgraph.types import CachePolicy, RetryPolicy
else:
    from pipeline import CachePolicy, InMemoryCache, RetryPolicy
    from pipeline._graph._policies import _should_retry_on

    BaseCache = Any
from unittest.mock import Mock, patch  # noqa: E402

import httpx  # noqa: E402
import requests  # noqa: E402

# An exception class LangGraph's default retry_on is checked against: the same class in
# both runs (skillstream's node timeout, SkillTimeout, is retried by default too).
from langgraph.errors import NodeTimeoutError  # noqa: E402


@pytest.fixture
def cache() -> Any:
    return InMemoryCache()


# LangGraph's stored snapshots (tests/__snapshots__/test_pregel.ambr) of the tests below
# that compare with `snapshot`, in the order compared.
_SNAPSHOTS = {
    "test_simple_multi_edge": [
        "graph TD;\n"
        "\t__start__ --> up;\n"
        "\tside --> down;\n"
        "\tup --> down;\n"
        "\tup --> other;\n"
        "\tup --> side;\n"
        "\tdown --> __end__;\n"
        "\tother --> __end__;\n"
    ],
    "test_repeat_condition": [
        "graph TD;\n"
        "\tCall\\20Tool -.-> Chart\\20Generator;\n"
        "\tCall\\20Tool -.-> Researcher;\n"
        "\tChart\\20Generator -. &nbsp;call_tool&nbsp; .-> Call\\20Tool;\n"
        "\tChart\\20Generator -. &nbsp;continue&nbsp; .-> Researcher;\n"
        "\tChart\\20Generator -. &nbsp;end&nbsp; .-> __end__;\n"
        "\tResearcher -. &nbsp;call_tool&nbsp; .-> Call\\20Tool;\n"
        "\tResearcher -. &nbsp;continue&nbsp; .-> Chart\\20Generator;\n"
        "\tResearcher -. &nbsp;end&nbsp; .-> __end__;\n"
        "\t__start__ --> Researcher;\n"
        "\tResearcher -. &nbsp;redo&nbsp; .-> Researcher;\n"
    ],
}


class _Snapshot:
    """syrupy's ``snapshot`` for these tests: each comparison is with the next stored value."""

    def __init__(self, values: list[str]) -> None:
        self.values = list(values)

    def __eq__(self, other: object) -> bool:
        return other == self.values.pop(0)

    __hash__ = None


SnapshotAssertion = _Snapshot


@pytest.fixture
def snapshot(request: Any) -> _Snapshot:
    return _Snapshot(_SNAPSHOTS[request.node.originalname])


# test_retry.py::test_should_retry_on_single_exception (line 89)
def test_should_retry_on_single_exception():
    """Test retry with a single exception type."""
    policy = RetryPolicy(retry_on=ValueError)

    # Should retry on ValueError
    assert _should_retry_on(policy, ValueError("test error")) is True

    # Should not retry on other exceptions
    assert _should_retry_on(policy, TypeError("test error")) is False
    assert _should_retry_on(policy, Exception("test error")) is False



# test_retry.py::test_should_retry_on_sequence_of_exceptions (line 101)
def test_should_retry_on_sequence_of_exceptions():
    """Test retry with a sequence of exception types."""
    policy = RetryPolicy(retry_on=(ValueError, KeyError))

    # Should retry on listed exceptions
    assert _should_retry_on(policy, ValueError("test error")) is True
    assert _should_retry_on(policy, KeyError("test error")) is True

    # Should not retry on other exceptions
    assert _should_retry_on(policy, TypeError("test error")) is False
    assert _should_retry_on(policy, Exception("test error")) is False



# test_retry.py::test_should_retry_on_subclass_of_exception (line 114)
def test_should_retry_on_subclass_of_exception():
    """Test retry on subclass of specified exception."""

    class CustomError(ValueError):
        pass

    policy = RetryPolicy(retry_on=ValueError)

    # Should retry on subclass of specified exception
    assert _should_retry_on(policy, CustomError("test error")) is True



# test_retry.py::test_should_retry_on_callable (line 126)
def test_should_retry_on_callable():
    """Test retry with a callable predicate."""

    # Only retry on ValueError with message containing 'retry'
    def should_retry(exc: Exception) -> bool:
        return isinstance(exc, ValueError) and "retry" in str(exc)

    policy = RetryPolicy(retry_on=should_retry)

    # Should retry when predicate returns True
    assert _should_retry_on(policy, ValueError("please retry this")) is True

    # Should not retry when predicate returns False
    assert _should_retry_on(policy, ValueError("other error")) is False
    assert _should_retry_on(policy, TypeError("please retry this")) is False



# test_retry.py::test_should_retry_on_invalid_type (line 143)
def test_should_retry_on_invalid_type():
    """Test retry with an invalid retry_on type."""
    policy = RetryPolicy(retry_on=123)  # type: ignore

    with pytest.raises(TypeError, match="retry_on must be an Exception class"):
        _should_retry_on(policy, ValueError("test error"))



# test_retry.py::test_should_retry_on_empty_sequence (line 151)
def test_should_retry_on_empty_sequence():
    """Test retry with an empty sequence."""
    policy = RetryPolicy(retry_on=())

    # Should not retry when sequence is empty
    assert _should_retry_on(policy, ValueError("test error")) is False



# test_retry.py::test_should_retry_default_retry_on (line 175)
def test_should_retry_default_retry_on():
    """Test the default retry_on function."""

    # Create a RetryPolicy with default_retry_on
    policy = RetryPolicy()

    # Should retry on ConnectionError
    assert _should_retry_on(policy, ConnectionError("connection refused")) is True

    # Should not retry on common programming errors
    assert _should_retry_on(policy, ValueError("invalid value")) is False
    assert _should_retry_on(policy, TypeError("invalid type")) is False
    assert _should_retry_on(policy, ArithmeticError("division by zero")) is False
    assert _should_retry_on(policy, ImportError("module not found")) is False
    assert _should_retry_on(policy, LookupError("key not found")) is False
    assert _should_retry_on(policy, NameError("name not defined")) is False
    assert _should_retry_on(policy, SyntaxError("invalid syntax")) is False
    assert _should_retry_on(policy, RuntimeError("runtime error")) is False
    assert _should_retry_on(policy, ReferenceError("weak reference")) is False
    assert _should_retry_on(policy, StopIteration()) is False
    assert _should_retry_on(policy, StopAsyncIteration()) is False
    assert _should_retry_on(policy, OSError("file not found")) is False

    # Should retry on httpx.HTTPStatusError with 5xx status code
    response_5xx = Mock()
    response_5xx.status_code = 503
    http_error_5xx = httpx.HTTPStatusError(
        "server error", request=Mock(), response=response_5xx
    )
    assert _should_retry_on(policy, http_error_5xx) is True

    # Should not retry on httpx.HTTPStatusError with 4xx status code
    response_4xx = Mock()
    response_4xx.status_code = 404
    http_error_4xx = httpx.HTTPStatusError(
        "not found", request=Mock(), response=response_4xx
    )
    assert _should_retry_on(policy, http_error_4xx) is False

    # Should retry on requests.HTTPError with 5xx status code
    response_req_5xx = Mock()
    response_req_5xx.status_code = 502
    req_error_5xx = requests.HTTPError("bad gateway")
    req_error_5xx.response = response_req_5xx
    assert _should_retry_on(policy, req_error_5xx) is True

    # Should not retry on requests.HTTPError with 4xx status code
    response_req_4xx = Mock()
    response_req_4xx.status_code = 400
    req_error_4xx = requests.HTTPError("bad request")
    req_error_4xx.response = response_req_4xx
    assert _should_retry_on(policy, req_error_4xx) is False

    # Should retry on requests.HTTPError with no response
    req_error_no_resp = requests.HTTPError("connection error")
    req_error_no_resp.response = None
    assert _should_retry_on(policy, req_error_no_resp) is True

    # NodeTimeoutError should be retryable by default
    assert (
        _should_retry_on(
            policy,
            NodeTimeoutError("node", 1.0, kind="run", run_timeout=0.5),
        )
        is True
    )

    # Should retry on other exceptions by default
    class CustomException(Exception):
        pass

    assert _should_retry_on(policy, CustomException("custom error")) is True



# test_retry.py::test_graph_with_jitter_retry_policy (line 332)
@pytest.mark.xfail(not ON_LANGGRAPH, strict=True, reason='intended difference: a retry waits on an event-loop timer, never in time.sleep (nor with random.uniform), so patching them observes nothing')
def test_graph_with_jitter_retry_policy():
    """Test a graph with a RetryPolicy that uses jitter."""

    class State(TypedDict):
        foo: str

    attempt_count = 0

    def failing_node(state):
        nonlocal attempt_count
        attempt_count += 1
        if attempt_count < 2:  # Fail the first attempt
            raise ValueError("Intentional failure")
        return {"foo": "success"}

    # Create a retry policy with jitter enabled
    retry_policy = RetryPolicy(
        max_attempts=3,
        initial_interval=0.01,
        jitter=True,  # Enable jitter for randomized backoff
        retry_on=ValueError,
    )

    # Create and compile the graph
    graph = (
        StateGraph(State)
        .add_node("failing_node", failing_node, retry_policy=retry_policy)
        .add_edge(START, "failing_node")
        .compile()
    )

    # Test graph execution with mocked random and sleep
    with (
        patch("random.uniform", return_value=0.05) as mock_random,
        patch("time.sleep") as mock_sleep,
    ):
        result = graph.invoke({"foo": ""})

    # Verify retry behavior
    assert attempt_count == 2  # The node should have been tried twice
    assert result["foo"] == "success"

    # Verify jitter was applied
    mock_random.assert_called_with(0, 1)  # Jitter should use random.uniform(0, 1)
    mock_sleep.assert_called_with(0.01 + 0.05)  # Sleep should include jitter



# test_retry.py::test_graph_with_multiple_retry_policies (line 379)
def test_graph_with_multiple_retry_policies():
    """Test a graph with multiple retry policies for a node."""

    class State(TypedDict):
        foo: str
        error_type: str

    attempt_counts = {"value_error": 0, "key_error": 0}

    def failing_node(state):
        error_type = state["error_type"]

        if error_type == "value_error":
            attempt_counts["value_error"] += 1
            if attempt_counts["value_error"] < 2:
                raise ValueError("Value error")
        elif error_type == "key_error":
            attempt_counts["key_error"] += 1
            if attempt_counts["key_error"] < 3:
                raise KeyError("Key error")

        return {"foo": f"recovered_from_{error_type}"}

    # Create multiple retry policies
    value_error_policy = RetryPolicy(
        max_attempts=2,
        initial_interval=0.01,
        jitter=False,
        retry_on=ValueError,
    )

    key_error_policy = RetryPolicy(
        max_attempts=3,
        initial_interval=0.02,
        jitter=False,
        retry_on=KeyError,
    )

    # Create and compile the graph with a list of retry policies
    graph = (
        StateGraph(State)
        .add_node(
            "failing_node",
            failing_node,
            retry_policy=(value_error_policy, key_error_policy),
        )
        .add_edge(START, "failing_node")
        .compile()
    )

    # Test ValueError scenario
    with patch("time.sleep"):
        result_value_error = graph.invoke({"foo": "", "error_type": "value_error"})

    assert attempt_counts["value_error"] == 2
    assert result_value_error["foo"] == "recovered_from_value_error"

    # Reset attempt counts
    attempt_counts = {"value_error": 0, "key_error": 0}

    # Test KeyError scenario
    with patch("time.sleep"):
        result_key_error = graph.invoke({"foo": "", "error_type": "key_error"})

    assert attempt_counts["key_error"] == 3
    assert result_key_error["foo"] == "recovered_from_key_error"



# test_retry.py::test_graph_with_max_attempts_exceeded (line 447)
@pytest.mark.xfail(not ON_LANGGRAPH, strict=True, reason='intended difference: a retry waits on an event-loop timer, never in time.sleep (nor with random.uniform), so patching them observes nothing')
def test_graph_with_max_attempts_exceeded():
    """Test a graph where max_attempts is exceeded."""

    class State(TypedDict):
        foo: str

    def always_failing_node(state):
        raise ValueError("Always fails")

    # Create a retry policy with limited attempts
    retry_policy = RetryPolicy(
        max_attempts=2,
        initial_interval=0.01,
        jitter=False,
        retry_on=ValueError,
    )

    # Create and compile the graph
    graph = (
        StateGraph(State)
        .add_node("always_failing", always_failing_node, retry_policy=retry_policy)
        .add_edge(START, "always_failing")
        .compile()
    )

    # Test graph execution
    with (
        patch("time.sleep") as mock_sleep,
        pytest.raises(ValueError, match="Always fails"),
    ):
        graph.invoke({"foo": ""})

    mock_sleep.assert_called_with(0.01)



# test_pregel.py::test_simple_multi_edge (line 3059)
def test_simple_multi_edge(snapshot: SnapshotAssertion) -> None:
    class State(TypedDict):
        my_key: Annotated[str, operator.add]

    def up(state: State):
        pass

    def side(state: State):
        pass

    def other(state: State):
        return {"my_key": "_more"}

    def down(state: State):
        pass

    graph = StateGraph(State)

    graph.add_node("up", up)
    graph.add_node("side", side)
    graph.add_node("other", other)
    graph.add_node("down", down)

    graph.set_entry_point("up")
    graph.add_edge("up", "side")
    graph.add_edge("up", "other")
    graph.add_edge(["up", "side"], "down")
    graph.set_finish_point("down")

    app = graph.compile()

    assert app.get_graph().draw_mermaid(with_styles=False) == snapshot
    assert app.invoke({"my_key": "my_value"}) == {"my_key": "my_value_more"}
    assert [*app.stream({"my_key": "my_value"})] in (
        [
            {"up": None},
            {"side": None},
            {"other": {"my_key": "_more"}},
            {"down": None},
        ],
        [
            {"up": None},
            {"other": {"my_key": "_more"}},
            {"side": None},
            {"down": None},
        ],
    )



# test_pregel.py::test_repeat_condition (line 3734)
def test_repeat_condition(snapshot: SnapshotAssertion) -> None:
    class AgentState(TypedDict):
        hello: str

    def router(state: AgentState) -> str:
        return "hmm"

    workflow = StateGraph(AgentState)
    workflow.add_node("Researcher", lambda x: x)
    workflow.add_node("Chart Generator", lambda x: x)
    workflow.add_node("Call Tool", lambda x: x)
    workflow.add_conditional_edges(
        "Researcher",
        router,
        {
            "redo": "Researcher",
            "continue": "Chart Generator",
            "call_tool": "Call Tool",
            "end": END,
        },
    )
    workflow.add_conditional_edges(
        "Chart Generator",
        router,
        {"continue": "Researcher", "call_tool": "Call Tool", "end": END},
    )
    workflow.add_conditional_edges(
        "Call Tool",
        # Each agent node updates the 'sender' field
        # the tool calling node does not, meaning
        # this edge will route back to the original agent
        # who invoked the tool
        lambda x: x["sender"],
        {
            "Researcher": "Researcher",
            "Chart Generator": "Chart Generator",
        },
    )
    workflow.set_entry_point("Researcher")

    app = workflow.compile()
    assert app.get_graph().draw_mermaid(with_styles=False) == snapshot



# test_pregel.py::test_in_one_fan_out_state_graph_waiting_edge_multiple (line 2808)
@pytest.mark.usefixtures("schedule")
@pytest.mark.parametrize("with_cache", [True, False])
def test_in_one_fan_out_state_graph_waiting_edge_multiple(
    with_cache: bool, cache: BaseCache
) -> None:
    def sorted_add(x: list[str], y: list[str] | list[tuple[str, str]]) -> list[str]:
        if isinstance(y[0], tuple):
            for rem, _ in y:
                x.remove(rem)
            y = [t[1] for t in y]
        return sorted(operator.add(x, y))

    class State(TypedDict, total=False):
        query: str
        answer: str
        docs: Annotated[list[str], sorted_add]

    rewrite_query_count = 0

    def rewrite_query(data: State) -> State:
        nonlocal rewrite_query_count
        rewrite_query_count += 1
        return {"query": f"query: {data['query']}"}

    def analyzer_one(data: State) -> State:
        return {"query": f"analyzed: {data['query']}"}

    def retriever_one(data: State) -> State:
        return {"docs": ["doc1", "doc2"]}

    def retriever_two(data: State) -> State:
        time.sleep(0.1)
        return {"docs": ["doc3", "doc4"]}

    def qa(data: State) -> State:
        return {"answer": ",".join(data["docs"])}

    def decider(data: State) -> None:
        return None

    def decider_cond(data: State) -> str:
        if data["query"].count("analyzed") > 1:
            return "qa"
        else:
            return "rewrite_query"

    workflow = StateGraph(State)

    workflow.add_node(
        "rewrite_query",
        rewrite_query,
        cache_policy=CachePolicy() if with_cache else None,
    )
    workflow.add_node("analyzer_one", analyzer_one)
    workflow.add_node("retriever_one", retriever_one)
    workflow.add_node("retriever_two", retriever_two)
    workflow.add_node("decider", decider)
    workflow.add_node("qa", qa)

    workflow.set_entry_point("rewrite_query")
    workflow.add_edge("rewrite_query", "analyzer_one")
    workflow.add_edge("analyzer_one", "retriever_one")
    workflow.add_edge("rewrite_query", "retriever_two")
    workflow.add_edge(["retriever_one", "retriever_two"], "decider")
    workflow.add_conditional_edges("decider", decider_cond)
    workflow.set_finish_point("qa")

    app = workflow.compile(cache=cache)

    assert app.invoke({"query": "what is weather in sf"}) == {
        "query": "analyzed: query: analyzed: query: what is weather in sf",
        "answer": "doc1,doc1,doc2,doc2,doc3,doc3,doc4,doc4",
        "docs": ["doc1", "doc1", "doc2", "doc2", "doc3", "doc3", "doc4", "doc4"],
    }

    assert [*app.stream({"query": "what is weather in sf"})] == [
        {
            "rewrite_query": {"query": "query: what is weather in sf"},
            "__metadata__": {"cached": True},
        }
        if with_cache
        else {"rewrite_query": {"query": "query: what is weather in sf"}},
        {"analyzer_one": {"query": "analyzed: query: what is weather in sf"}},
        {"retriever_two": {"docs": ["doc3", "doc4"]}},
        {"retriever_one": {"docs": ["doc1", "doc2"]}},
        {"decider": None},
        {
            "rewrite_query": {"query": "query: analyzed: query: what is weather in sf"},
            "__metadata__": {"cached": True},
        }
        if with_cache
        else {
            "rewrite_query": {"query": "query: analyzed: query: what is weather in sf"}
        },
        {
            "analyzer_one": {
                "query": "analyzed: query: analyzed: query: what is weather in sf"
            }
        },
        {"retriever_two": {"docs": ["doc3", "doc4"]}},
        {"retriever_one": {"docs": ["doc1", "doc2"]}},
        {"decider": None},
        {"qa": {"answer": "doc1,doc1,doc2,doc2,doc3,doc3,doc4,doc4"}},
    ]
    assert rewrite_query_count == 2 if with_cache else 4

    # clear the cache
    if with_cache:
        app.clear_cache()

        assert app.invoke({"query": "what is weather in sf"}) == {
            "query": "analyzed: query: analyzed: query: what is weather in sf",
            "answer": "doc1,doc1,doc2,doc2,doc3,doc3,doc4,doc4",
            "docs": ["doc1", "doc1", "doc2", "doc2", "doc3", "doc3", "doc4", "doc4"],
        }
        assert rewrite_query_count == 4



# -- stream_mode "messages", "tasks" and "debug" ----------------------------------------------
# LangGraph's tests of these modes that need no subgraphs, checkpoint history or prebuilt
# agents. The "messages" tests pass under both schedules; "values" is streamed after each
# node run under the default schedule, so a test asserting it once per superstep is a
# strict xfail there and passes under compile(schedule="supersteps").

from langchain_core.language_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessageChunk  # noqa: E402
from langchain_core.runnables import RunnableConfig  # noqa: E402
from langchain_core.version import VERSION as LANGCHAIN_CORE_VERSION  # noqa: E402

if ON_LANGGRAPH:
    from langgraph.graph import MessagesState
else:
    from pipeline import MessagesState


# From LangGraph's tests/messages.py (helper, unchanged).
def _AnyIdAIMessageChunk(**kwargs: Any) -> AIMessageChunk:
    """Create ai message with an any id field."""
    message = AIMessageChunk(**kwargs)
    message.id = AnyStr()
    return message


VALUES_PER_STEP = (
    'intended difference: under the default schedule "values" is streamed after each node '
    "run, not once per superstep (compile(schedule=\"supersteps\") streams it as LangGraph)"
)


def _compile_in(schedule: str, monkeypatch: pytest.MonkeyPatch) -> str:
    if schedule == "supersteps" and not ON_LANGGRAPH:
        compile_ = StateGraph.compile

        def compile_in_supersteps(self: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("schedule", "supersteps")
            return compile_(self, *args, **kwargs)

        monkeypatch.setattr(StateGraph, "compile", compile_in_supersteps)
    return schedule


@pytest.fixture(params=["ready", "supersteps"])
def any_schedule(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both schedules, each expected to pass."""
    return _compile_in(request.param, monkeypatch)


@pytest.fixture(params=[
    pytest.param("ready", marks=pytest.mark.xfail(not ON_LANGGRAPH, strict=True, reason=VALUES_PER_STEP)),
    "supersteps",
])
def schedule_values(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return _compile_in(request.param, monkeypatch)


# test_pregel.py::test_tags_stream_mode_messages (line 6881)
@pytest.mark.usefixtures("any_schedule")
def test_tags_stream_mode_messages() -> None:
    model = GenericFakeChatModel(messages=iter(["foo"]), tags=["meow"])
    graph = (
        StateGraph(MessagesState)
        .add_node(
            "call_model", lambda state: {"messages": model.invoke(state["messages"])}
        )
        .add_edge(START, "call_model")
        .compile()
    )
    assert list(
        graph.stream(
            {
                "messages": "hi",
            },
            stream_mode="messages",
        )
    ) == [
        (
            _AnyIdAIMessageChunk(content="foo", chunk_position="last"),
            {
                "langgraph_step": 1,
                "langgraph_node": "call_model",
                "langgraph_triggers": ("branch:to:call_model",),
                "langgraph_path": ("__pregel_pull", "call_model"),
                "langgraph_checkpoint_ns": AnyStr("call_model:"),
                "checkpoint_ns": AnyStr("call_model:"),
                "ls_provider": "genericfakechatmodel",
                "ls_model_type": "chat",
                "ls_integration": "langchain_chat_model",
                "lc_versions": {"langchain-core": LANGCHAIN_CORE_VERSION},
                "tags": ["meow"],
            },
        )
    ]


# test_pregel.py::test_configurable_propagates_to_stream_metadata (line 6918)
@pytest.mark.usefixtures("any_schedule")
def test_configurable_propagates_to_stream_metadata() -> None:
    """Regression: thread_id, run_id, assistant_id, graph_id,
    and langgraph_auth_user_id from configurable must appear
    in stream_mode='messages' metadata."""

    def my_node(state):
        return {"messages": HumanMessage(content="hello")}

    graph = (
        StateGraph(MessagesState)
        .add_node("my_node", my_node)
        .add_edge(START, "my_node")
        .compile()
    )

    config = {
        "configurable": {
            "thread_id": "th-123",
            "checkpoint_id": "ckpt-1",
            "checkpoint_ns": "ns-1",
            "task_id": "task-1",
            "run_id": "run-456",
            "assistant_id": "asst-789",
            "graph_id": "graph-0",
            "model": "gpt-4o",
            "user_id": "uid-1",
            "cron_id": "cron-1",
            "langgraph_auth_user_id": "user-1",
            # these should NOT be propagated into metadata
            "some_api_key": "secret",
            "custom_setting": {"nested": True},
        },
    }
    results = list(graph.stream({"messages": []}, config, stream_mode="messages"))
    assert len(results) == 1
    _, metadata = results[0]
    # propagated keys
    assert metadata["thread_id"] == "th-123"
    assert metadata["checkpoint_id"] == "ckpt-1"
    assert metadata["checkpoint_ns"] == "ns-1"
    assert metadata["task_id"] == "task-1"
    assert metadata["run_id"] == "run-456"
    assert metadata["assistant_id"] == "asst-789"
    assert metadata["graph_id"] == "graph-0"
    # These are only present in trace metadata by default as of langgraph 1.2
    # assert metadata["model"] == "gpt-4o"
    # assert metadata["user_id"] == "uid-1"
    # assert metadata["cron_id"] == "cron-1"
    # assert metadata["langgraph_auth_user_id"] == "user-1"
    # non-allowlisted keys must not appear
    assert "some_api_key" not in metadata
    assert "custom_setting" not in metadata


# test_pregel.py::test_stream_mode_messages_command (line 6972)
@pytest.mark.usefixtures("any_schedule")
def test_stream_mode_messages_command() -> None:

    def my_node(state):
        return {"messages": HumanMessage(content="foo")}

    def my_other_node(state):
        return Command(update={"messages": HumanMessage(content="bar")})

    def my_last_node(state):
        return [Command(update={"messages": HumanMessage(content="baz")})]

    graph = (
        StateGraph(MessagesState)
        .add_sequence([my_node, my_other_node, my_last_node])
        .add_edge(START, "my_node")
        .compile()
    )
    assert list(
        graph.stream(
            {
                "messages": [],
            },
            stream_mode="messages",
        )
    ) == [
        (
            _AnyIdHumanMessage(content="foo"),
            {
                "ls_integration": "langgraph",
                "langgraph_step": 1,
                "langgraph_node": "my_node",
                "langgraph_triggers": ("branch:to:my_node",),
                "langgraph_path": ("__pregel_pull", "my_node"),
                "langgraph_checkpoint_ns": AnyStr("my_node:"),
            },
        ),
        (
            _AnyIdHumanMessage(content="bar"),
            {
                "ls_integration": "langgraph",
                "langgraph_step": 2,
                "langgraph_node": "my_other_node",
                "langgraph_triggers": ("branch:to:my_other_node",),
                "langgraph_path": ("__pregel_pull", "my_other_node"),
                "langgraph_checkpoint_ns": AnyStr("my_other_node:"),
            },
        ),
        (
            _AnyIdHumanMessage(content="baz"),
            {
                "ls_integration": "langgraph",
                "langgraph_step": 3,
                "langgraph_node": "my_last_node",
                "langgraph_triggers": ("branch:to:my_last_node",),
                "langgraph_path": ("__pregel_pull", "my_last_node"),
                "langgraph_checkpoint_ns": AnyStr("my_last_node:"),
            },
        ),
    ]


# test_pregel.py::test_subgraph_streaming_sync (line 8815)
@pytest.mark.usefixtures("any_schedule")
def test_subgraph_streaming_sync() -> None:
    """Test subgraph streaming when used as a node in sync version"""

    # Create a fake chat model that returns a simple response
    model = GenericFakeChatModel(messages=iter(["The weather is sunny today."]))

    # Create a subgraph that uses the fake chat model
    def call_model_node(state: MessagesState, config: RunnableConfig) -> MessagesState:
        """Node that calls the model with the last message."""
        messages = state["messages"]
        last_message = messages[-1].content if messages else ""
        response = model.invoke([("user", last_message)], config)
        return {"messages": [response]}

    # Build the subgraph
    subgraph = StateGraph(MessagesState)
    subgraph.add_node("call_model", call_model_node)
    subgraph.add_edge(START, "call_model")
    compiled_subgraph = subgraph.compile()

    class SomeCustomState(TypedDict):
        last_chunk: NotRequired[str]
        num_chunks: NotRequired[int]

    # Will invoke a subgraph as a function
    def parent_node(state: SomeCustomState, config: RunnableConfig) -> dict:
        """Node that runs the subgraph."""
        msgs = {"messages": [("user", "What is the weather in Tokyo?")]}
        events = []
        for event in compiled_subgraph.stream(msgs, config, stream_mode="messages"):
            events.append(event)
        ai_msg_chunks = [ai_msg_chunk for ai_msg_chunk, _ in events]
        return {
            "last_chunk": ai_msg_chunks[-1],
            "num_chunks": len(ai_msg_chunks),
        }

    # Build the main workflow
    workflow = StateGraph(SomeCustomState)
    workflow.add_node("subgraph", parent_node)
    workflow.add_edge(START, "subgraph")
    compiled_workflow = workflow.compile()

    # Test the basic functionality
    result = compiled_workflow.invoke({})

    assert result["last_chunk"].content == "today."
    assert result["num_chunks"] == 9


# test_pregel_async.py::test_tags_stream_mode_messages (line 7571)
@pytest.mark.usefixtures("any_schedule")
async def test_tags_stream_mode_messages_async_file() -> None:
    model = GenericFakeChatModel(messages=iter(["foo"]), tags=["meow"])

    async def call_model(state, config):
        return {"messages": await model.ainvoke(state["messages"], config)}

    graph = (
        StateGraph(MessagesState)
        .add_node(call_model)
        .add_edge(START, "call_model")
        .compile()
    )
    assert [
        c
        async for c in graph.astream(
            {
                "messages": "hi",
            },
            stream_mode="messages",
        )
    ] == [
        (
            _AnyIdAIMessageChunk(content="foo", chunk_position="last"),
            {
                "langgraph_step": 1,
                "langgraph_node": "call_model",
                "langgraph_triggers": ("branch:to:call_model",),
                "langgraph_path": ("__pregel_pull", "call_model"),
                "langgraph_checkpoint_ns": AnyStr("call_model:"),
                "checkpoint_ns": AnyStr("call_model:"),
                "ls_provider": "genericfakechatmodel",
                "ls_model_type": "chat",
                "ls_integration": "langchain_chat_model",
                "lc_versions": {"langchain-core": LANGCHAIN_CORE_VERSION},
                "tags": ["meow"],
            },
        )
    ]


# test_pregel_async.py::test_configurable_propagates_to_stream_metadata (line 7611)
@pytest.mark.usefixtures("any_schedule")
async def test_configurable_propagates_to_stream_metadata_async_file() -> None:
    """Regression: thread_id, run_id, assistant_id, graph_id,
    and langgraph_auth_user_id from configurable must appear
    in stream_mode='messages' metadata."""

    def my_node(state):
        return {"messages": HumanMessage(content="hello")}

    graph = (
        StateGraph(MessagesState)
        .add_node("my_node", my_node)
        .add_edge(START, "my_node")
        .compile()
    )

    config = {
        "configurable": {
            "thread_id": "th-123",
            "checkpoint_id": "ckpt-1",
            "checkpoint_ns": "ns-1",
            "task_id": "task-1",
            "run_id": "run-456",
            "assistant_id": "asst-789",
            "graph_id": "graph-0",
            "model": "gpt-4o",
            "user_id": "uid-1",
            "cron_id": "cron-1",
            "langgraph_auth_user_id": "user-1",
            # these should NOT be propagated into metadata
            "some_api_key": "secret",
            "custom_setting": {"nested": True},
        },
    }
    results = [
        chunk
        async for chunk in graph.astream(
            {"messages": []}, config, stream_mode="messages"
        )
    ]
    assert len(results) == 1
    _, metadata = results[0]
    # propagated keys
    assert metadata["thread_id"] == "th-123"
    assert metadata["checkpoint_id"] == "ckpt-1"
    assert metadata["checkpoint_ns"] == "ns-1"
    assert metadata["task_id"] == "task-1"
    assert metadata["run_id"] == "run-456"
    assert metadata["assistant_id"] == "asst-789"
    assert metadata["graph_id"] == "graph-0"

    # These will only be traced as of langgraph 1.2 and not present by default in
    # metadata
    # assert metadata["model"] == "gpt-4o"
    # assert metadata["user_id"] == "uid-1"
    # assert metadata["cron_id"] == "cron-1"
    # assert metadata["langgraph_auth_user_id"] == "user-1"
    # non-allowlisted keys must not appear
    assert "some_api_key" not in metadata
    assert "custom_setting" not in metadata


# test_pregel_async.py::test_stream_mode_messages_command (line 7672)
@pytest.mark.usefixtures("any_schedule")
async def test_stream_mode_messages_command_async_file() -> None:

    async def my_node(state):
        return {"messages": HumanMessage(content="foo")}

    async def my_other_node(state):
        return Command(update={"messages": HumanMessage(content="bar")})

    graph = (
        StateGraph(MessagesState)
        .add_sequence([my_node, my_other_node])
        .add_edge(START, "my_node")
        .compile()
    )
    assert [
        c
        async for c in graph.astream(
            {
                "messages": [],
            },
            stream_mode="messages",
        )
    ] == [
        (
            _AnyIdHumanMessage(content="foo"),
            {
                "ls_integration": "langgraph",
                "langgraph_step": 1,
                "langgraph_node": "my_node",
                "langgraph_triggers": ("branch:to:my_node",),
                "langgraph_path": ("__pregel_pull", "my_node"),
                "langgraph_checkpoint_ns": AnyStr("my_node:"),
            },
        ),
        (
            _AnyIdHumanMessage(content="bar"),
            {
                "ls_integration": "langgraph",
                "langgraph_step": 2,
                "langgraph_node": "my_other_node",
                "langgraph_triggers": ("branch:to:my_other_node",),
                "langgraph_path": ("__pregel_pull", "my_other_node"),
                "langgraph_checkpoint_ns": AnyStr("my_other_node:"),
            },
        ),
    ]


# test_pregel_async.py::test_subgraph_streaming_async (line 9290)
@pytest.mark.usefixtures("any_schedule")
async def test_subgraph_streaming_async_async_file() -> None:
    """Test subgraph streaming when used as a node in async version"""

    # Create a fake chat model that returns a simple response
    model = GenericFakeChatModel(messages=iter(["The weather is sunny today."]))

    # Create a subgraph that uses the fake chat model
    async def call_model_node(
        state: MessagesState, config: RunnableConfig
    ) -> MessagesState:
        """Node that calls the model with the last message."""
        messages = state["messages"]
        last_message = messages[-1].content if messages else ""
        response = await model.ainvoke([("user", last_message)], config)
        return {"messages": [response]}

    # Build the subgraph
    subgraph = StateGraph(MessagesState)
    subgraph.add_node("call_model", call_model_node)
    subgraph.add_edge(START, "call_model")
    compiled_subgraph = subgraph.compile()

    class SomeCustomState(TypedDict):
        last_chunk: NotRequired[str]
        num_chunks: NotRequired[int]

    # Will invoke a subgraph as a function
    async def parent_node(state: SomeCustomState, config: RunnableConfig) -> dict:
        """Node that runs the subgraph."""
        msgs = {"messages": [("user", "What is the weather in Tokyo?")]}
        events = []
        async for event in compiled_subgraph.astream(
            msgs, config, stream_mode="messages"
        ):
            events.append(event)
        ai_msg_chunks = [ai_msg_chunk for ai_msg_chunk, _ in events]
        return {
            "last_chunk": ai_msg_chunks[-1],
            "num_chunks": len(ai_msg_chunks),
        }

    # Build the main workflow
    workflow = StateGraph(SomeCustomState)
    workflow.add_node("subgraph", parent_node)
    workflow.add_edge(START, "subgraph")
    compiled_workflow = workflow.compile()

    # Test the basic functionality
    result = await compiled_workflow.ainvoke({})

    assert result["last_chunk"].content == "today."
    assert result["num_chunks"] == 9


# test_large_cases.py::test_in_one_fan_out_out_one_graph_state (line 3915)
@pytest.mark.usefixtures("schedule_values")
def test_in_one_fan_out_out_one_graph_state() -> None:
    def sorted_add(x: list[str], y: list[str]) -> list[str]:
        return sorted(operator.add(x, y))

    class State(TypedDict, total=False):
        query: str
        answer: str
        docs: Annotated[list[str], sorted_add]

    def rewrite_query(data: State) -> State:
        return {"query": f"query: {data['query']}"}

    def retriever_one(data: State) -> State:
        # timer ensures stream output order is stable
        # also, it confirms that the update order is not dependent on finishing order
        # instead being defined by the order of the nodes/edges in the graph definition
        # ie. stable between invocations
        time.sleep(0.1)
        return {"docs": ["doc1", "doc2"]}

    def retriever_two(data: State) -> State:
        return {"docs": ["doc3", "doc4"]}

    def qa(data: State) -> State:
        return {"answer": ",".join(data["docs"])}

    workflow = StateGraph(State)

    workflow.add_node("rewrite_query", rewrite_query)
    workflow.add_node("retriever_one", retriever_one)
    workflow.add_node("retriever_two", retriever_two)
    workflow.add_node("qa", qa)

    workflow.set_entry_point("rewrite_query")
    workflow.add_edge("rewrite_query", "retriever_one")
    workflow.add_edge("rewrite_query", "retriever_two")
    workflow.add_edge("retriever_one", "qa")
    workflow.add_edge("retriever_two", "qa")
    workflow.set_finish_point("qa")

    app = workflow.compile()

    assert app.invoke({"query": "what is weather in sf"}) == {
        "query": "query: what is weather in sf",
        "docs": ["doc1", "doc2", "doc3", "doc4"],
        "answer": "doc1,doc2,doc3,doc4",
    }

    assert [*app.stream({"query": "what is weather in sf"})] == [
        {"rewrite_query": {"query": "query: what is weather in sf"}},
        {"retriever_two": {"docs": ["doc3", "doc4"]}},
        {"retriever_one": {"docs": ["doc1", "doc2"]}},
        {"qa": {"answer": "doc1,doc2,doc3,doc4"}},
    ]

    assert [*app.stream({"query": "what is weather in sf"}, stream_mode="values")] == [
        {"query": "what is weather in sf", "docs": []},
        {"query": "query: what is weather in sf", "docs": []},
        {
            "query": "query: what is weather in sf",
            "docs": ["doc1", "doc2", "doc3", "doc4"],
        },
        {
            "query": "query: what is weather in sf",
            "docs": ["doc1", "doc2", "doc3", "doc4"],
            "answer": "doc1,doc2,doc3,doc4",
        },
    ]

    assert [
        *app.stream(
            {"query": "what is weather in sf"},
            stream_mode=["values", "updates", "debug"],
        )
    ] == [
        ("values", {"query": "what is weather in sf", "docs": []}),
        (
            "debug",
            {
                "type": "task",
                "timestamp": AnyStr(),
                "step": 1,
                "payload": {
                    "id": AnyStr(),
                    "name": "rewrite_query",
                    "input": {"query": "what is weather in sf", "docs": []},
                    "triggers": ("branch:to:rewrite_query",),
                },
            },
        ),
        ("updates", {"rewrite_query": {"query": "query: what is weather in sf"}}),
        (
            "debug",
            {
                "type": "task_result",
                "timestamp": AnyStr(),
                "step": 1,
                "payload": {
                    "id": AnyStr(),
                    "name": "rewrite_query",
                    "result": {
                        "query": "query: what is weather in sf",
                    },
                    "error": None,
                    "interrupts": [],
                },
            },
        ),
        ("values", {"query": "query: what is weather in sf", "docs": []}),
        (
            "debug",
            {
                "type": "task",
                "timestamp": AnyStr(),
                "step": 2,
                "payload": {
                    "id": AnyStr(),
                    "name": "retriever_one",
                    "input": {"query": "query: what is weather in sf", "docs": []},
                    "triggers": ("branch:to:retriever_one",),
                },
            },
        ),
        (
            "debug",
            {
                "type": "task",
                "timestamp": AnyStr(),
                "step": 2,
                "payload": {
                    "id": AnyStr(),
                    "name": "retriever_two",
                    "input": {"query": "query: what is weather in sf", "docs": []},
                    "triggers": ("branch:to:retriever_two",),
                },
            },
        ),
        (
            "updates",
            {"retriever_two": {"docs": ["doc3", "doc4"]}},
        ),
        (
            "debug",
            {
                "type": "task_result",
                "timestamp": AnyStr(),
                "step": 2,
                "payload": {
                    "id": AnyStr(),
                    "name": "retriever_two",
                    "result": {
                        "docs": ["doc3", "doc4"],
                    },
                    "error": None,
                    "interrupts": [],
                },
            },
        ),
        (
            "updates",
            {"retriever_one": {"docs": ["doc1", "doc2"]}},
        ),
        (
            "debug",
            {
                "type": "task_result",
                "timestamp": AnyStr(),
                "step": 2,
                "payload": {
                    "id": AnyStr(),
                    "name": "retriever_one",
                    "result": {
                        "docs": ["doc1", "doc2"],
                    },
                    "error": None,
                    "interrupts": [],
                },
            },
        ),
        (
            "values",
            {
                "query": "query: what is weather in sf",
                "docs": ["doc1", "doc2", "doc3", "doc4"],
            },
        ),
        (
            "debug",
            {
                "type": "task",
                "timestamp": AnyStr(),
                "step": 3,
                "payload": {
                    "id": AnyStr(),
                    "name": "qa",
                    "input": {
                        "query": "query: what is weather in sf",
                        "docs": ["doc1", "doc2", "doc3", "doc4"],
                    },
                    "triggers": ("branch:to:qa",),
                },
            },
        ),
        ("updates", {"qa": {"answer": "doc1,doc2,doc3,doc4"}}),
        (
            "debug",
            {
                "type": "task_result",
                "timestamp": AnyStr(),
                "step": 3,
                "payload": {
                    "id": AnyStr(),
                    "name": "qa",
                    "result": {
                        "answer": "doc1,doc2,doc3,doc4",
                    },
                    "error": None,
                    "interrupts": [],
                },
            },
        ),
        (
            "values",
            {
                "query": "query: what is weather in sf",
                "answer": "doc1,doc2,doc3,doc4",
                "docs": ["doc1", "doc2", "doc3", "doc4"],
            },
        ),
    ]


# test_large_cases_async.py::test_in_one_fan_out_out_one_graph_state (line 2473)
@pytest.mark.usefixtures("schedule_values")
async def test_in_one_fan_out_out_one_graph_state_async_file() -> None:
    def sorted_add(x: list[str], y: list[str]) -> list[str]:
        return sorted(operator.add(x, y))

    class State(TypedDict, total=False):
        query: str
        answer: str
        docs: Annotated[list[str], operator.add]

    async def rewrite_query(data: State) -> State:
        return {"query": f"query: {data['query']}"}

    async def retriever_one(data: State) -> State:
        await asyncio.sleep(0.1)
        return {"docs": ["doc1", "doc2"]}

    async def retriever_two(data: State) -> State:
        return {"docs": ["doc3", "doc4"]}

    async def qa(data: State) -> State:
        return {"answer": ",".join(data["docs"])}

    workflow = StateGraph(State)

    workflow.add_node("rewrite_query", rewrite_query)
    workflow.add_node("retriever_one", retriever_one)
    workflow.add_node("retriever_two", retriever_two)
    workflow.add_node("qa", qa)

    workflow.set_entry_point("rewrite_query")
    workflow.add_edge("rewrite_query", "retriever_one")
    workflow.add_edge("rewrite_query", "retriever_two")
    workflow.add_edge("retriever_one", "qa")
    workflow.add_edge("retriever_two", "qa")
    workflow.set_finish_point("qa")

    app = workflow.compile()

    assert await app.ainvoke({"query": "what is weather in sf"}) == {
        "query": "query: what is weather in sf",
        "docs": ["doc1", "doc2", "doc3", "doc4"],
        "answer": "doc1,doc2,doc3,doc4",
    }

    assert [c async for c in app.astream({"query": "what is weather in sf"})] == [
        {"rewrite_query": {"query": "query: what is weather in sf"}},
        {"retriever_two": {"docs": ["doc3", "doc4"]}},
        {"retriever_one": {"docs": ["doc1", "doc2"]}},
        {"qa": {"answer": "doc1,doc2,doc3,doc4"}},
    ]

    assert [
        c
        async for c in app.astream(
            {"query": "what is weather in sf"}, stream_mode="values"
        )
    ] == [
        {"query": "what is weather in sf", "docs": []},
        {"query": "query: what is weather in sf", "docs": []},
        {
            "query": "query: what is weather in sf",
            "docs": ["doc1", "doc2", "doc3", "doc4"],
        },
        {
            "query": "query: what is weather in sf",
            "docs": ["doc1", "doc2", "doc3", "doc4"],
            "answer": "doc1,doc2,doc3,doc4",
        },
    ]

    assert [
        c
        async for c in app.astream(
            {"query": "what is weather in sf"},
            stream_mode=["values", "updates", "debug"],
        )
    ] == [
        ("values", {"query": "what is weather in sf", "docs": []}),
        (
            "debug",
            {
                "type": "task",
                "timestamp": AnyStr(),
                "step": 1,
                "payload": {
                    "id": AnyStr(),
                    "name": "rewrite_query",
                    "input": {"query": "what is weather in sf", "docs": []},
                    "triggers": ("branch:to:rewrite_query",),
                },
            },
        ),
        ("updates", {"rewrite_query": {"query": "query: what is weather in sf"}}),
        (
            "debug",
            {
                "type": "task_result",
                "timestamp": AnyStr(),
                "step": 1,
                "payload": {
                    "id": AnyStr(),
                    "name": "rewrite_query",
                    "result": {
                        "query": "query: what is weather in sf",
                    },
                    "error": None,
                    "interrupts": [],
                },
            },
        ),
        ("values", {"query": "query: what is weather in sf", "docs": []}),
        (
            "debug",
            {
                "type": "task",
                "timestamp": AnyStr(),
                "step": 2,
                "payload": {
                    "id": AnyStr(),
                    "name": "retriever_one",
                    "input": {"query": "query: what is weather in sf", "docs": []},
                    "triggers": ("branch:to:retriever_one",),
                },
            },
        ),
        (
            "debug",
            {
                "type": "task",
                "timestamp": AnyStr(),
                "step": 2,
                "payload": {
                    "id": AnyStr(),
                    "name": "retriever_two",
                    "input": {"query": "query: what is weather in sf", "docs": []},
                    "triggers": ("branch:to:retriever_two",),
                },
            },
        ),
        (
            "updates",
            {"retriever_two": {"docs": ["doc3", "doc4"]}},
        ),
        (
            "debug",
            {
                "type": "task_result",
                "timestamp": AnyStr(),
                "step": 2,
                "payload": {
                    "id": AnyStr(),
                    "name": "retriever_two",
                    "result": {
                        "docs": ["doc3", "doc4"],
                    },
                    "error": None,
                    "interrupts": [],
                },
            },
        ),
        (
            "updates",
            {"retriever_one": {"docs": ["doc1", "doc2"]}},
        ),
        (
            "debug",
            {
                "type": "task_result",
                "timestamp": AnyStr(),
                "step": 2,
                "payload": {
                    "id": AnyStr(),
                    "name": "retriever_one",
                    "result": {
                        "docs": ["doc1", "doc2"],
                    },
                    "error": None,
                    "interrupts": [],
                },
            },
        ),
        (
            "values",
            {
                "query": "query: what is weather in sf",
                "docs": ["doc1", "doc2", "doc3", "doc4"],
            },
        ),
        (
            "debug",
            {
                "type": "task",
                "timestamp": AnyStr(),
                "step": 3,
                "payload": {
                    "id": AnyStr(),
                    "name": "qa",
                    "input": {
                        "query": "query: what is weather in sf",
                        "docs": ["doc1", "doc2", "doc3", "doc4"],
                    },
                    "triggers": ("branch:to:qa",),
                },
            },
        ),
        ("updates", {"qa": {"answer": "doc1,doc2,doc3,doc4"}}),
        (
            "debug",
            {
                "type": "task_result",
                "timestamp": AnyStr(),
                "step": 3,
                "payload": {
                    "id": AnyStr(),
                    "name": "qa",
                    "result": {
                        "answer": "doc1,doc2,doc3,doc4",
                    },
                    "error": None,
                    "interrupts": [],
                },
            },
        ),
        (
            "values",
            {
                "query": "query: what is weather in sf",
                "answer": "doc1,doc2,doc3,doc4",
                "docs": ["doc1", "doc2", "doc3", "doc4"],
            },
        ),
    ]
