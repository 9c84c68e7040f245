"""The local stack's infrastructure: the emulator (moto, patched), the Lambda data plane (service,
runtime, endpoint, boto3 layer) and what invokes functions on its own (EventBridge rules, SQS event
source mappings). It imports nothing from the deployment layer or the scenarios."""
