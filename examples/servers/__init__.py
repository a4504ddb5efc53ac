"""Local servers the examples talk to: they are helpers, not examples.

- ``local_api``: a finance, news and search HTTP API with set latencies (aiohttp);
- ``scripted_model``: a language model that speaks the OpenAI and Anthropic APIs and
  plays a script;
- ``nginx_api``: a real nginx that rate-limits like a strict API.

An example imports them with ``from servers.local_api import serve_local_api`` after
putting its own folder on ``sys.path``, so it runs from any directory.
"""
