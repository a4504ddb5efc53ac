"""The Berkeley Function Calling Leaderboard's data replayed through a Toolset.

The ``bfcl-eval`` package ships the leaderboard's function definitions and the calls a
model should make (its ground truth). For every category:

(a) every function definition becomes a skill (a Python function with the definition's
    parameters, types, defaults and descriptions) and so a tool, whose schema must agree
    with the definition as BFCL sends it to OpenAI (its type names mapped to JSON Schema's,
    dots in names made ``_``);
(b) every ground-truth call (one alternative of each argument) goes through ``calls()``
    as an OpenAI message, then ``run()`` and ``replies()``, and must arrive intact: the
    skill (its body echoes its arguments) gets what the model sent, and so does the reply;
(c) in the multi-turn categories, BFCL's own backends (``GorillaFileSystem``,
    ``TradingBot``, ...) become skills (their methods, as Python defines them), and every
    ground-truth call goes through ``calls()``, ``run()`` and ``replies()``, one model step
    per call; each reply must hold the value BFCL's executor gets for the same call on its
    own instances, and after each turn the two instances' states must be equal (what
    BFCL's state checker compares).

A failure is the data's when the definition or the call breaks its own rules, told by a
validator that is not ours (``jsonschema``) as BFCL's checker reads a definition (a
parameter or dict key it does not list is refused): a call whose arguments do not fit
its definition's schema, an enum whose values are not of the declared type, a required
parameter the definition does not list, a call of a function the entry does not define.
``null`` for an optional argument is not a mistake: the Toolset reads it as the default,
and the skill must get that default. Every other failure is ours, and there must be none.

Run with ``pytest -m bfcl -s`` to see each category's figures (``pip install -e
'.[bfcl]'`` and ``pip install --no-deps bfcl-eval``: its data, type map, backends and
executor are read; its model clients are left out).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import functools
import importlib.util
import inspect
import json
import keyword
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired, Required

import pytest
from pydantic import Field
from typing_extensions import TypedDict  # pydantic takes typing's only from Python 3.12

from pipeline import Skill, Status, Toolset, run, skill

pytestmark = pytest.mark.bfcl

@functools.cache
def _bfcl() -> tuple[Path, dict[str, str]]:
    """bfcl-eval's data folder and its type map (what its OpenAI handler sends types as)."""
    try:
        from bfcl_eval.constants.type_mappings import GORILLA_TO_OPENAPI
    except ImportError:
        pytest.fail("the BFCL replay reads bfcl-eval's data: pip install --no-deps bfcl-eval")
    spec = importlib.util.find_spec("bfcl_eval")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "data", GORILLA_TO_OPENAPI


WITH_CALLS = [
    "simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple",
    "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
]
DEFINITIONS_ONLY = ["irrelevance", "live_irrelevance", "live_relevance"]


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


# -- the definition as BFCL sends it to OpenAI ----------------------------------------------


def _openapi(prop: dict[str, Any]) -> dict[str, Any]:
    """A BFCL parameter in JSON Schema's words, as BFCL's OpenAI handler maps it: its type
    names (``dict``, ``float``, ``tuple``, ``any``, Java's) mapped, ``string`` when none."""
    out = copy.deepcopy(prop)
    out["type"] = _bfcl()[1].get(prop.get("type") or "string", "string")
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: _openapi(v) for k, v in out["properties"].items()}
    if isinstance(out.get("items"), dict):
        out["items"] = _openapi(out["items"])
    return out


def _definition(function: dict[str, Any]) -> dict[str, Any]:
    parameters = _openapi({**function.get("parameters", {}), "type": "object"})
    return {"name": function["name"], "description": function.get("description", ""), "parameters": parameters}


# -- the definition as a Python function -------------------------------------------------------

_SCALARS: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool}


def _annotation(prop: dict[str, Any], where: str) -> Any:
    kind = prop["type"]
    if prop.get("enum") and all(isinstance(v, (str, int, bool)) for v in prop["enum"]):
        annotation: Any = Literal[tuple(prop["enum"])]
    elif kind in _SCALARS:
        annotation = _SCALARS[kind]
    elif kind == "array":
        items = prop.get("items")
        annotation = list[_described(items, f"{where}_item")] if isinstance(items, dict) else list[Any]
    elif kind == "object" and prop.get("properties"):
        required = set(prop.get("required") or ())
        fields = {
            name: (Required if name in required else NotRequired)[_described(sub, f"{where}_{name}")]
            for name, sub in prop["properties"].items()
        }
        annotation = TypedDict(re.sub(r"\W", "_", where), fields)  # type: ignore[operator]
    elif kind == "object":
        annotation = dict[str, Any]
    else:
        annotation = Any
    return annotation


def _described(prop: dict[str, Any], where: str) -> Any:
    annotation = _annotation(prop, where)
    if prop.get("description"):
        return Annotated[annotation, Field(description=prop["description"])]
    return annotation


def _skill_of(definition: dict[str, Any]) -> Skill[Any, Any]:
    """A skill with the definition's parameters, whose body echoes its arguments."""
    parameters = definition["parameters"]
    required = set(parameters.get("required") or ())
    signature, annotations, names = [], {}, {}
    for i, (name, prop) in enumerate(parameters.get("properties", {}).items()):
        default: Any = inspect.Parameter.empty
        if name not in required:
            default = prop.get("default")
        annotation = _described(prop, f"{definition['name']}_{name}")
        python_name = name
        if not name.isidentifier() or keyword.iskeyword(name):  # a parameter named "from"
            python_name = f"p{i}_" + re.sub(r"\W", "_", name)
            annotation = Annotated[annotation, Field(alias=name)]
        annotations[python_name] = annotation
        signature.append(inspect.Parameter(python_name, inspect.Parameter.KEYWORD_ONLY, default=default))
        names[python_name] = name

    async def echo(**arguments: Any) -> dict[str, Any]:
        return {names[k]: v for k, v in arguments.items()}

    echo.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    echo.__annotations__ = annotations
    echo.__doc__ = definition["description"]
    made: Skill[Any, Any] = skill(name=definition["name"])(echo)
    return made


# -- (a) does the tool's schema agree with the definition? -------------------------------------


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}}
    options = node.get("anyOf")
    if options:  # an optional parameter whose default is null: its type, or null
        (single,) = [o for o in options if o.get("type") != "null"]
        node = {**_resolve(single, defs), **{k: v for k, v in node.items() if k != "anyOf"}}
    return node


def _disagreements(ours: dict[str, Any], theirs: dict[str, Any], defs: dict[str, Any], at: str) -> list[str]:
    ours = _resolve(ours, defs)
    if "const" in ours:  # pydantic's word for an enum of one value
        ours = {**ours, "enum": [ours.pop("const")]}
    found = []
    if "enum" in theirs and ours.get("enum") != theirs["enum"]:
        found.append(f"{at}: enum {ours.get('enum')} != {theirs['enum']}")
    elif ours.get("type", "any") != theirs["type"] and not (theirs["type"] == "string" and "enum" in ours):
        found.append(f"{at}: type {ours.get('type')} != {theirs['type']}")
    if theirs.get("description") and ours.get("description") != theirs["description"]:
        found.append(f"{at}: description {ours.get('description')!r} != {theirs['description']!r}")
    if theirs["type"] == "object" and theirs.get("properties"):
        props = ours.get("properties", {})
        if list(props) != list(theirs["properties"]):
            found.append(f"{at}: properties {list(props)} != {list(theirs['properties'])}")
        if set(ours.get("required", ())) != set(theirs.get("required") or ()):
            found.append(f"{at}: required {ours.get('required')} != {theirs.get('required')}")
        for name in set(props) & set(theirs["properties"]):
            found += _disagreements(props[name], theirs["properties"][name], defs, f"{at}.{name}")
    if theirs["type"] == "array" and isinstance(theirs.get("items"), dict):
        found += _disagreements(ours.get("items", {}), theirs["items"], defs, f"{at}[]")
    return found


def _closed(node: Any) -> Any:
    """The schema as BFCL's checker reads it: a parameter or a dict key the definition
    does not list is refused ("Unexpected parameter", "Unexpected dict key parameter")."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: (v if k in ("enum", "default") else _closed(v)) for k, v in node.items()}
    if isinstance(node.get("properties"), dict):
        out["properties"] = {k: _closed(v) for k, v in node["properties"].items()}
        out.setdefault("additionalProperties", False)
    return out


def _data_side_definition(definition: dict[str, Any]) -> str | None:
    """What is wrong with the definition by its own rules, if anything."""
    import jsonschema

    def walk(node: dict[str, Any], at: str) -> str | None:
        kind = {"type": node["type"]}
        if any(not jsonschema.Draft202012Validator(kind).is_valid(v) for v in node.get("enum") or ()):
            return f"{at}: [enum] {node['enum']} of values that are no {node['type']}"
        props = node.get("properties") or {}
        missing = set(node.get("required") or ()) - set(props)
        if node["type"] == "object" and missing:
            return f"{at}: [required] {sorted(missing)} not among its properties"
        for name, sub in props.items():
            if (why := walk(sub, f"{at}.{name}")) is not None:
                return why
        return walk(node["items"], f"{at}[]") if isinstance(node.get("items"), dict) else None

    return walk(definition["parameters"], definition["name"])


# -- (b) the ground truth's calls --------------------------------------------------------------


def _first(options: Any) -> tuple[bool, Any]:
    """One value of a ground-truth argument (BFCL lists the values it accepts; ``""``
    means the argument may be left out): ``(given, value)``."""
    for option in options if isinstance(options, list) else [options]:
        if option != "":
            return True, _concrete(option)
    return False, None


def _concrete(value: Any) -> Any:
    if isinstance(value, dict):  # a dict's values list their accepted values too
        out = {}
        for key, options in value.items():
            given, item = _first(options) if isinstance(options, list) else (True, options)
            if given:
                out[key] = item
        return out
    if isinstance(value, list):
        return [_concrete(item) if isinstance(item, dict) else item for item in value]
    return value


Outcome = Literal["pass", "data", "ours"]


class Tally:
    def __init__(self, category: str) -> None:
        self.category = category
        self.counts: collections.Counter[str] = collections.Counter()
        self.examples: dict[str, list[str]] = collections.defaultdict(list)
        self.reasons: collections.Counter[str] = collections.Counter()

    def add(self, part: str, outcome: Outcome, why: str = "") -> None:
        self.counts[f"{part} {outcome}"] += 1
        if outcome == "data":  # why, in a word: the JSON Schema keyword the data breaks
            found = re.search(r"\[(\w+)\]", why)
            self.reasons[found.group(1) if found else why.split(": ", 2)[-1][:40]] += 1
        if outcome != "pass" and len(self.examples[f"{part} {outcome}"]) < 5:
            self.examples[f"{part} {outcome}"].append(why)

    def line(self) -> str:
        parts = []
        for part in ("schemas", "calls"):
            p, d, o = (self.counts[f"{part} {k}"] for k in ("pass", "data", "ours"))
            if p + d + o:
                parts.append(f"{part}: {p} pass / {d} data-side / {o} ours")
        why = ", ".join(f"{k} {n}" for k, n in self.reasons.most_common())
        return f"BFCL {self.category}: " + "; ".join(parts) + (f" (data-side: {why})" if why else "")


def _check_definitions(functions: list[dict[str, Any]], tally: Tally, cache: dict[str, Any]) -> dict[str, Any]:
    """Each function of an entry as a skill, its schema checked (once per distinct
    definition); the skills by name."""
    skills: dict[str, Any] = {}
    for function in functions:
        definition = _definition(function)
        text = json.dumps(definition, sort_keys=True)
        if text not in cache:
            cache[text] = _tool_checked(definition, tally)
        skills[definition["name"]] = cache[text]
    return skills


def _tool_checked(definition: dict[str, Any], tally: Tally) -> Skill[Any, Any] | str:
    broken = _data_side_definition(definition)
    try:
        made = _skill_of(definition)
        tools = Toolset([made], names="sanitize")
    except (ValueError, TypeError) as exc:  # a definition the Toolset refused
        tally.add("schemas", "data" if broken else "ours", f"{definition['name']}: {broken or exc!r}")
        return broken or repr(exc)
    (schema,) = tools.schemas("openai")
    function = schema["function"]
    problems = []
    if function["name"] != definition["name"].replace(".", "_"):
        problems.append(f"name {function['name']!r}")
    if function.get("description", "") != definition["description"].strip():
        problems.append(f"description {function.get('description')!r} != {definition['description']!r}")
    parameters = function["parameters"]
    problems += _disagreements(parameters, definition["parameters"], parameters.get("$defs", {}), definition["name"])
    if problems:
        tally.add("schemas", "data" if broken else "ours", f"{definition['name']}: {broken or problems}")
    else:
        tally.add("schemas", "pass")
    return made


async def _replay(category: str) -> Tally:
    import jsonschema

    tally = Tally(category)
    cache: dict[str, Any] = {}
    answers = {a["id"]: a["ground_truth"] for a in _lines(_bfcl()[0] / "possible_answer" / f"BFCL_v4_{category}.json")} \
        if category in WITH_CALLS else {}
    for entry in _lines(_bfcl()[0] / f"BFCL_v4_{category}.json"):
        skills = _check_definitions(entry["function"], tally, cache)
        if entry["id"] not in answers:
            continue
        validators = {
            f["name"]: jsonschema.Draft202012Validator(_closed(_definition(f)["parameters"])) for f in entry["function"]
        }
        sent: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []  # id, name, sent, expected
        parameters = {f["name"]: _definition(f)["parameters"] for f in entry["function"]}
        data_side = ""
        for i, truth in enumerate(answers[entry["id"]]):
            ((name, options),) = truth.items()
            arguments = {}
            for key, option in options.items():
                given, value = _first(option)
                if given:
                    arguments[key] = value
            # null for an optional argument is the Toolset's word for its default (as a
            # strict schema says it): the skill gets the default; not the data's mistake.
            expected, checked = dict(arguments), dict(arguments)
            for key, value in arguments.items():
                defined = parameters.get(name, {})
                if value is None and key in defined.get("properties", {}) and key not in defined.get("required", ()):
                    expected[key] = defined["properties"][key].get("default")
                    del checked[key]
            if name not in validators:
                data_side = f"calls {name!r}, which the entry does not define"
            elif not validators[name].is_valid(checked):
                error = jsonschema.exceptions.best_match(validators[name].iter_errors(checked))
                data_side = data_side or f"{name}: [{error.validator if error else '?'}] {error.message if error else ''}"
            elif isinstance(skills.get(name), str):
                data_side = data_side or f"{name}: its definition: {skills[name]}"
            sent.append((f"call_{i}", name, arguments, expected))
        if data_side:
            tally.add("calls", "data", f"{entry['id']}: {data_side}")
            continue
        tools = Toolset([skills[n] for n in dict.fromkeys(n for _, n, _, _ in sent)], names="sanitize")
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": id, "type": "function", "function": {"name": name.replace(".", "_"), "arguments": json.dumps(args)}}
            for id, name, args, _ in sent
        ]}
        calls = tools.calls(message)
        results = await run(calls).collect()
        replies = {r["tool_call_id"]: r["content"] for r in tools.replies(results, "openai")}
        wrong = []
        for id, name, args, expected in sent:
            result = results[id]
            if result.status is not Status.SUCCESS:
                wrong.append(f"{id} {name}: {result.error.message if result.error else result.status}")
            elif {k: result.value[k] for k in args} != expected or json.loads(replies[id]) != result.value:
                wrong.append(f"{id} {name}: sent {args}, the skill got {result.value}, the reply {replies[id]}")
        if wrong:
            tally.add("calls", "ours", f"{entry['id']}: {wrong}")
        else:
            tally.add("calls", "pass")
    return tally


@pytest.mark.parametrize("category", WITH_CALLS + DEFINITIONS_ONLY)
def test_bfcl_definitions_and_ground_truth_calls_go_through_the_toolset(
    category: str, record_property: Any
) -> None:
    tally = asyncio.run(_replay(category))
    print("\n" + tally.line())
    for kind, examples in tally.examples.items():
        for example in examples:
            print(f"  {kind}: {example[:300]}")
    for key, count in tally.counts.items():
        record_property(key.replace(" ", "_"), count)
    assert tally.counts["schemas pass"] > 0
    if category in WITH_CALLS:
        assert tally.counts["calls pass"] > 0
    assert tally.counts["schemas ours"] == 0, tally.examples["schemas ours"]
    assert tally.counts["calls ours"] == 0, tally.examples["calls ours"]


# -- (c) the multi-turn categories: BFCL's backends driven through skills ----------------------

MULTI_TURN = ["multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context"]


def _parsed(call: str, methods: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A ground-truth call (``cd(folder='document')``, ``sort('a.pdf')``) as a tool
    name and its arguments by name."""
    import ast

    node = ast.parse(call, mode="eval").body
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name), call
    name = node.func.id
    arguments = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg is not None}
    if node.args:
        positional = [p for p in inspect.signature(methods[name]).parameters]
        arguments.update({positional[i]: ast.literal_eval(a) for i, a in enumerate(node.args)})
    return name, arguments


def _same_reply(ours: str, theirs: str) -> bool:
    """BFCL writes a dict as ``json.dumps``, anything else but a string as ``str()``; the
    Toolset writes JSON: the same value either way."""
    import ast

    if ours == theirs:
        return True
    try:
        mine = json.loads(ours)
    except ValueError:
        return False
    for read in (json.loads, ast.literal_eval):
        try:
            if read(theirs) == mine:
                return True
        except (ValueError, SyntaxError):
            continue
    return False


def _same_value(value: Any, theirs: str) -> bool:
    """The value a skill returned, against BFCL's text of the same call's (``str()`` of a
    dict holding mpmath numbers, say: ``{'result': mpf('2.0')}``), BFCL's own data."""
    import ast

    import mpmath

    names = {"__builtins__": {}, "mpf": mpmath.mpf, "Ellipsis": Ellipsis}  # long-context lists hold `...`
    for read in (json.loads, ast.literal_eval, lambda t: eval(t, names)):
        with contextlib.suppress(ValueError, SyntaxError, TypeError, NameError):  # not in that notation
            if read(theirs) == value:
                return True
    return False


def _state(instance: Any) -> dict[str, Any]:
    """What BFCL's state checker compares: the public attributes."""
    return {k: v for k, v in vars(instance).items() if not k.startswith("_")}


async def _replay_multi_turn(category: str) -> Tally:
    import jsonschema
    from bfcl_eval.constants.executable_backend_config import (
        CLASS_FILE_PATH_MAPPING,
        MULTI_TURN_FUNC_DOC_FILE_MAPPING,
        STATELESS_CLASSES,
    )
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils

    tally = Tally(category)
    answers = {a["id"]: a["ground_truth"] for a in _lines(_bfcl()[0] / "possible_answer" / f"BFCL_v4_{category}.json")}
    validators = {  # the documentation BFCL gives the model, as its checker reads it
        doc["name"]: jsonschema.Draft202012Validator(_closed(_definition(doc)["parameters"]))
        for file in MULTI_TURN_FUNC_DOC_FILE_MAPPING.values() if (_bfcl()[0] / "multi_turn_func_doc" / file).exists()
        for doc in _lines(_bfcl()[0] / "multi_turn_func_doc" / file)
    }
    long_context = category == "multi_turn_long_context"
    for entry in _lines(_bfcl()[0] / f"BFCL_v4_{category}.json"):
        instances: dict[str, Any] = {}
        for class_name in entry["involved_classes"]:
            module = importlib.import_module(CLASS_FILE_PATH_MAPPING[class_name])
            instance = instances[class_name] = getattr(module, class_name)()
            if class_name not in STATELESS_CLASSES:
                scenario = copy.deepcopy(entry["initial_config"].get(class_name, {}))
                instance._load_scenario(scenario, long_context=long_context)
        methods = {
            name: method for instance in instances.values()
            for name, method in inspect.getmembers(instance, inspect.ismethod) if not name.startswith("_")
        }
        tools = Toolset([skill(name=name)(method) for name, method in methods.items()])
        wrong: list[str] = []
        data_side = ""
        for turn, calls in enumerate(answers[entry["id"]]):
            theirs, their_instances = multi_turn_utils.execute_multi_turn_func_call(
                calls, entry["initial_config"], entry["involved_classes"], "skillstream_replay", entry["id"],
                long_context=long_context,
            )
            for i, (call, their_reply) in enumerate(zip(calls, theirs, strict=True)):
                name, arguments = _parsed(call, methods)
                if name in validators and not validators[name].is_valid(arguments):
                    error = jsonschema.exceptions.best_match(validators[name].iter_errors(arguments))
                    data_side = f"turn {turn}: {call}: [{error.validator if error else '?'}] {error.message if error else ''}"
                    break  # BFCL ran a call its documentation refuses: the states part here
                # One model step per call: a turn's calls depend on each other (cd, then mv).
                message = {"tool_calls": [{"id": f"t{turn}c{i}", "type": "function",
                                           "function": {"name": name, "arguments": json.dumps(arguments)}}]}
                results = await run(tools.calls(message)).collect()
                (reply,) = tools.replies(results, "openai")
                if their_reply.startswith("Error during execution"):
                    data_side = data_side or f"turn {turn}: {call}: {their_reply}"
                elif results[f"t{turn}c{i}"].status is not Status.SUCCESS or not (
                    _same_reply(reply["content"], their_reply) or _same_value(results[f"t{turn}c{i}"].value, their_reply)
                ):
                    wrong.append(f"turn {turn}: {call}: ours {reply['content'][:200]!r}, BFCL's {their_reply[:200]!r}")
            if data_side:
                break
            for class_name, instance in instances.items():
                if _state(instance) != _state(their_instances[class_name]):
                    wrong.append(f"turn {turn}: the state of {class_name} differs from BFCL's")
        for key in [k for k in vars(multi_turn_utils) if k.startswith("skillstream_replay_")]:
            delattr(multi_turn_utils, key)  # BFCL keeps its instances in its module's globals
        if data_side:
            tally.add("calls", "data", f"{entry['id']}: {data_side}")
        elif wrong:
            tally.add("calls", "ours", f"{entry['id']}: {wrong[:3]}")
        else:
            tally.add("calls", "pass")
    return tally


@pytest.mark.timeout(600)  # the long-context scenarios load large states, for each entry
@pytest.mark.parametrize("category", MULTI_TURN)
def test_bfcl_multi_turn_backends_driven_through_skills_match_bfcls_executor(
    category: str, record_property: Any
) -> None:
    tally = asyncio.run(_replay_multi_turn(category))
    print("\n" + tally.line())
    for kind, examples in tally.examples.items():
        for example in examples:
            print(f"  {kind}: {example[:400]}")
    for key, count in tally.counts.items():
        record_property(key.replace(" ", "_"), count)
    assert tally.counts["calls pass"] > 0
    assert tally.counts["calls ours"] == 0, tally.examples["calls ours"]
