"""Values and contracts: what every other layer speaks in.

Errors, :class:`SkillResult` and :class:`Results` (and their text and picture renderings),
the policy values (``Retry``, ``RateLimit``, ``CircuitBreaker``, ``Hedge``), ``skill`` and
``SkillCall``, and the contracts the layers above implement (``Executor``, ``Instrument``).

May import: ``operators``. Nothing else of ``pipeline``.
"""
