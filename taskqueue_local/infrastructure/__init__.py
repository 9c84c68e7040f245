"""The local stack's infrastructure: the emulator (moto, patched), the Lambda data plane (service,
runtime, endpoint, boto3 layer) and what invokes or sends on its own (EventBridge rules, SQS event
source mappings, EventBridge Scheduler's schedules); and, for code run in the caller's process, Lambda's
context object, API call counting, tables and percentiles. It imports nothing from the deployment layer or the
scenarios."""
