"""The local stack: the task queue as the Terraform module deploys it, on moto's AWS emulator, with a
local Lambda data plane (the built zips, EventBridge rules, SQS event source mappings). No Docker.

Three layers (``infrastructure``, ``deployment``, ``scenarios``); see README.md beside this file. Not
part of the Lambda artifacts; used by ``make demo``, ``make soak``, ``make bench`` and the tests.
"""
