"""Durable runs: a journal of finished results, so a run killed halfway resumes.

May import: ``pipeline._core`` and ``pipeline._engine`` (and what they may). Modules:
``_store`` (records and the store protocol), ``_sqlite`` (the SQLite store), ``_codec``
(values), ``_session`` (one run's recorder), ``_journal`` (what ``run()`` keeps),
``_threads`` (a StateGraph's checkpoints per thread, and the in-memory store), ``_cache``
(a StateGraph's node cache in a store that has ``cache_get``/``cache_set``/``cache_clear``).

How it works
------------
``run(calls, journal="runs.db", run_id="briefing-42")`` gives the run a
:class:`JournalSession`. When the run starts, the session claims ``run_id`` in the store
(refused with :class:`RunInProgress` while another live run holds it) and loads the
records an earlier run with that id left, both in a thread (the run awaits them: a locked
file never blocks the loop). The claim is a lease the session renews every ``lease / 3``
seconds from a thread of its own; an owner that stops renewing (killed, its host gone)
leaves the run id free once the lease expired, and a lease lost ends its run. Each call the run registers is identified by its
key and a stable hash of its skill's name and its arguments (a dependency stands in by its
own identity, not its value); a call whose identity has a record that has a value
(success, or a fallback) is *replayed*: its result, marked ``replayed=True``, is emitted
at once, and it never runs. Every other call runs, and its result is held back until the
store has committed it (group commit: all the results that finished while the previous
batch was being written go in one transaction), then passed to the consumer. So what the
consumer saw is in the journal, and a run killed at any moment loses at most the calls
that were in flight.

The engine knows the session as its ``Recorder`` (``replay(node)``, ``write(result)``,
``complete_after_write(slot)``, ``close()``). The store below it is the small :class:`JournalStore` protocol (claim, load,
renew, write, release, runs, forget, close; a ``lease``): a Postgres or Redis journal
implements those and nothing else. :class:`Journal` is the SQLite store: stdlib ``sqlite3``, WAL mode, one
writer thread per journal object, ``BEGIN IMMEDIATE`` so several processes can share the
file.

Values are stored as typed JSON (``_codec``): JSON's types as they are, other types the
journal knows (bytes, tuples, sets, datetimes, Decimals, enums, dataclasses, pydantic
models, LangChain messages, ...) tagged with their type, so a replayed value is equal to
the value first returned and of the same types. Each value is decoded again when written:
one that would not come back the same is pickled when the journal allows it
(``Journal(path, pickle=True)``), else the call's result is an error naming the call and
the type. The skill's return annotation is a check: a value that no longer matches it is
run again. Call identity hashes a canonical form of the arguments (sorted dict keys and
set items; ``add_messages``' random ids left out), the same in every process.
"""
