"""The local stack: the Terraform module applied onto moto's AWS emulator, with a local Lambda
endpoint that runs the built function zips, and EventBridge schedules fired on time.

Not part of the Lambda artifacts; used by ``make demo``, the integration tests and the benchmarks.
"""
