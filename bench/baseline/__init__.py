"""The original design this project replaces, re-implemented faithfully as the benchmark's baseline.

A 2017 engineering blog post described it: once a minute, a scheduled function makes a single
ReceiveMessage (up to 10 messages, no long poll) and invokes the worker asynchronously once per
message; each worker invocation runs its one task and deletes its own message. It is here only to be
measured against; nothing in the product uses it.
"""
