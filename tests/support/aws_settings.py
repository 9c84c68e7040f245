"""The fake AWS account the tests run in: its region and the names of its shared resources."""

REGION = "us-east-1"
# The module's DynamoDB table (idempotency records and attempt counts), as the state_table fixture creates it.
STATE_TABLE = "taskqueue-state"
