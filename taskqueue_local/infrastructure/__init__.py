"""The local stack's infrastructure: the emulator (moto, patched), the Lambda data plane (service,
runtime, endpoint, boto3 layer) and what invokes or sends on its own (EventBridge rules, SQS event
source mappings, EventBridge Scheduler's schedules). It imports nothing from the deployment layer or the scenarios."""
