"""``Toolset``: skills as an LLM's tools (schemas, parsing calls, replies; MCP, LangChain).

May import: ``pipeline._stream`` and every layer below it. Not ``pipeline._graph``.
"""
