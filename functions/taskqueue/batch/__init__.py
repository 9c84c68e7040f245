"""The worker's handling of one SQS batch, one concern per module.

- :mod:`.loop`: the batch loop (:class:`Worker`), read against the contract in docs/reliability.md;
- :mod:`.fifo`: FIFO gating: after a failure, the rest of its group waits;
- :mod:`.budget`: the invocation's time: whether a task may start, how long a run elsewhere can last;
- :mod:`.attempt`: one attempt of a task: written ahead in the attempts ledger, called, its outcome;
- :mod:`.release`: a task not called: why, and the message handed back with no attempt used;
- :mod:`.overruns`: a concurrent batch's runs still going at its answer hold their messages until they end;
- :mod:`.dead_letters`: dead-lettering, with the memory of verdicts on tasks that ran;
- :mod:`.visibility`: the retry delays the worker sets itself behind an event source mapping;
- :mod:`.log`: the worker's logger.

The Lambda handler is :func:`taskqueue.worker.handler`.
"""
