"""A LangChain tool's call, with what ``BaseTool.ainvoke`` works out on every call worked
out once per tool.

``BaseTool.ainvoke`` reads the tool's signatures and type hints, the fields of its argument
schema and the injected arguments on every call, and configures its callbacks from the
config each time. :class:`Prepared` reads the tool once, and a node's calls share one
callback manager per tool (made from the same config, as ``ainvoke`` makes it); each call
still opens and closes its own tool run (``on_tool_start``, ``on_tool_end`` or
``on_tool_error``), validates its arguments with the tool's schema, runs the tool in its
own context (so ``interrupt()`` and nested runnables see the config) and returns what
``ainvoke`` returns (a ToolMessage with the artifact, a Command, ...).

Only tools whose calling code is ``StructuredTool``'s (what ``@tool`` and
``StructuredTool.from_function`` make) are prepared; any other tool, or a function that
takes LangChain's ``run_manager`` or ``callbacks``, is called with ``ainvoke`` as it is.
"""

from __future__ import annotations

import asyncio
import functools
from copy import copy
from typing import Any

__all__ = ["Prepared", "prepare"]


def prepare(tool: Any) -> Prepared | None:
    """The tool prepared, or ``None`` when it is to be called with ``ainvoke``."""
    try:
        return Prepared(tool)
    except _NotPrepared:
        return None


class _NotPrepared(Exception):
    pass


class Prepared:
    """One LangChain tool, read once (see the module's docstring)."""

    def __init__(self, tool: Any) -> None:
        try:
            from langchain_core.tools import BaseTool, StructuredTool
            from langchain_core.tools.base import (
                FILTERED_ARGS,
                InjectedToolCallId,
                _get_runnable_config_param,
                _is_injected_arg_type,
                get_all_basemodel_annotations,
            )
            from langchain_core.utils._signature import _signature_parameters
            from pydantic import BaseModel
        except ImportError as exc:  # another langchain_core: ainvoke as it is
            raise _NotPrepared from exc
        cls = type(tool)
        # The methods this class stands in for, all StructuredTool's / BaseTool's own.
        own = {
            "ainvoke": StructuredTool, "arun": BaseTool, "_arun": StructuredTool, "_run": StructuredTool,
            "_parse_input": BaseTool, "_to_args_and_kwargs": BaseTool, "_filter_injected_args": BaseTool,
        }
        if not isinstance(tool, StructuredTool) or any(
            getattr(cls, attr) is not getattr(base, attr) for attr, base in own.items()
        ):
            raise _NotPrepared
        schema = tool.args_schema
        if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
            raise _NotPrepared  # a JSON-schema dict or a pydantic v1 model
        fn = tool.coroutine or tool.func
        if fn is None:
            raise _NotPrepared
        params = _signature_parameters(fn)
        if "run_manager" in params or "callbacks" in params:
            raise _NotPrepared
        self.tool = tool
        self.name: str = tool.name
        self.coroutine = tool.coroutine
        self.func = tool.func
        self.config_param: str | None = _get_runnable_config_param(fn)
        fields = schema.model_fields
        self.schema = schema
        self.no_fields = not fields
        annotations = get_all_basemodel_annotations(schema)
        self.call_id_keys = [
            k for k, v in annotations.items() if _is_injected_arg_type(v, injected_type=InjectedToolCallId)
        ]
        self.defaults = frozenset(
            k for k, info in fields.items() if k not in ("args", "kwargs") and not info.is_required()
        )
        self.injected_keys: frozenset[str] = tool._injected_args_keys
        self.filtered = frozenset(
            {*FILTERED_ARGS, *self.injected_keys, *(k for k, v in annotations.items() if _is_injected_arg_type(v))}
        )
        self.serialized = {"name": tool.name, "description": tool.description}
        self.artifact = tool.response_format == "content_and_artifact"

    def manager(self, config: dict[str, Any]) -> Any:
        """The callback manager of this tool's calls under ``config`` (an ensured config),
        as ``BaseTool.arun`` configures it."""
        from langchain_core.callbacks import AsyncCallbackManager

        tool = self.tool
        return AsyncCallbackManager.configure(
            config.get("callbacks"), tool.callbacks, bool(tool.verbose),
            config.get("tags"), tool.tags, config.get("metadata"), tool.metadata,
        )

    def _arguments(self, tool_input: dict[str, Any], call_id: str | None) -> dict[str, Any]:
        """``BaseTool._to_args_and_kwargs`` for a dict input and a pydantic schema."""
        if self.no_fields:
            return {}
        for k in self.call_id_keys:
            if call_id is None:
                raise ValueError(_NEEDS_CALL)
            tool_input[k] = call_id
        result = self.schema.model_validate(tool_input)
        provided = result.model_fields_set
        validated: dict[str, Any] = {}
        for k in result.model_dump():
            if k in tool_input or k in provided or k in self.defaults:
                validated[k] = getattr(result, k)
        for k in self.injected_keys:
            if k in tool_input:
                validated[k] = tool_input[k]
            elif k == "tool_call_id":
                if call_id is None:
                    raise ValueError(_NEEDS_CALL)
                validated[k] = call_id
        return validated

    async def call(self, tool_call: dict[str, Any], config: dict[str, Any], manager: Any,
                   run_id: Any = None) -> Any:
        """What ``tool.ainvoke(tool_call, config)`` returns, or raises.

        ``config``: the ensured config; ``manager``: :meth:`manager` of it."""
        from langchain_core.runnables.config import patch_config, set_config_context
        from langchain_core.runnables.utils import coro_with_context
        from langchain_core.tools.base import (
            ToolException,
            _format_output,
            _handle_tool_error,
            _handle_validation_error,
        )
        from pydantic import ValidationError
        from pydantic.v1 import ValidationError as ValidationErrorV1

        tool = self.tool
        call_id = tool_call.get("id")
        tool_input = dict(tool_call.get("args") or {})
        filtered = {k: v for k, v in tool_input.items() if k not in self.filtered}
        run_manager = await manager.on_tool_start(
            self.serialized, str(filtered), color="green", name=config.get("run_name"),
            run_id=run_id, inputs=filtered, tool_call_id=call_id,
        )
        content: Any = None
        artifact: Any = None
        status = "success"
        error: BaseException | None = None
        try:
            kwargs = self._arguments(tool_input, call_id)
            if self.config_param:
                # its own, as ainvoke ensures one per call: the tool may change it
                kwargs[self.config_param] = {
                    **config, **{k: copy(config[k]) for k in ("tags", "metadata", "configurable") if k in config}
                }
            child = patch_config(config, callbacks=run_manager.get_child())  # type: ignore[arg-type]
            with set_config_context(child) as context:
                if self.coroutine is not None:
                    response = await coro_with_context(self.coroutine(**kwargs), context)
                else:
                    loop = asyncio.get_running_loop()
                    response = await loop.run_in_executor(
                        None, functools.partial(context.run, self.func, **kwargs)  # type: ignore[arg-type]
                    )
            if self.artifact:
                if isinstance(response, tuple) and len(response) == 2:
                    content, artifact = response
                else:
                    error = ValueError(
                        "Since response_format='content_and_artifact' a two-tuple of the message "
                        f"content and raw tool output is expected. Instead, generated response is of "
                        f"type: {type(response)}."
                    )
            else:
                content = response
        except (ValidationError, ValidationErrorV1) as exc:
            if not tool.handle_validation_error:
                error = exc
            else:
                content = _handle_validation_error(exc, flag=tool.handle_validation_error)
                status = "error"
        except ToolException as exc:
            if not tool.handle_tool_error:
                error = exc
            else:
                content = _handle_tool_error(exc, flag=tool.handle_tool_error)
                status = "error"
        except BaseException as exc:  # noqa: BLE001 - reported to the callbacks, then raised
            error = exc
        if error is not None:
            await run_manager.on_tool_error(error, tool_call_id=call_id)
            raise error
        output = _format_output(content, artifact, call_id, self.name, status)
        await run_manager.on_tool_end(output, color="green", name=self.name)
        return output


_NEEDS_CALL = (
    "When tool includes an InjectedToolCallId argument, tool must always be invoked with a "
    "full model ToolCall of the form: {'args': {...}, 'name': '...', 'type': 'tool_call', "
    "'tool_call_id': '...'}"
)
