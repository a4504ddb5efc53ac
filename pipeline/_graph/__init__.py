"""``StateGraph``: LangGraph's graph API, run start-when-ready by a run.

May import: ``pipeline._stream`` and every layer below it. Not ``pipeline._tools``.
"""
