# The two functions: packages, settings, logging and the environment contract of
# functions/taskqueue/config.py.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name             = "orders"
  consumer_package = { filename = "tests/fixtures/placeholder.zip" }
  worker_package   = { filename = "tests/fixtures/placeholder.zip" }
}

run "defaults" {
  assert {
    condition = module.consumer[0].function.environment[0].variables == tomap({
      TASKQUEUE_QUEUE_URL              = aws_sqs_queue.this[0].url
      TASKQUEUE_WORKER_FUNCTION        = "arn:aws:lambda:eu-west-1:111122223333:function:orders-worker"
      TASKQUEUE_WORKER_TIMEOUT_SECONDS = "30"
      TASKQUEUE_MAX_CONCURRENCY        = "4"
      TASKQUEUE_RECEIVERS              = "1"
      TASKQUEUE_BATCH_SIZE             = "10"
      TASKQUEUE_MODE                   = "drain"
      TASKQUEUE_BACKOFF_BASE_SECONDS   = "2"
      TASKQUEUE_BACKOFF_MAX_SECONDS    = "900"
      POWERTOOLS_SERVICE_NAME          = "orders"
      POWERTOOLS_METRICS_NAMESPACE     = "TaskQueue"
      POWERTOOLS_LOG_LEVEL             = "INFO"
    })
    error_message = "The consumer's environment is the TASKQUEUE_* contract, wired to this queue and worker."
  }

  assert {
    condition = module.worker[0].function.environment[0].variables == tomap({
      TASKQUEUE_DLQ_URL              = aws_sqs_queue.dead_letter_queue[0].url
      TASKQUEUE_MAX_RECEIVE_COUNT    = "5"
      TASKQUEUE_TASK_CONCURRENCY     = "10"
      TASKQUEUE_ATTEMPTS_TABLE       = aws_dynamodb_table.idempotency[0].name
      TASKQUEUE_BACKOFF_BASE_SECONDS = "2"
      TASKQUEUE_BACKOFF_MAX_SECONDS  = "900"
      POWERTOOLS_SERVICE_NAME        = "orders"
      POWERTOOLS_METRICS_NAMESPACE   = "TaskQueue"
      POWERTOOLS_LOG_LEVEL           = "INFO"
    })
    error_message = "The worker's environment names the dead-letter queue, and nothing it does not use."
  }

  assert {
    condition = alltrue([
      module.consumer[0].function.function_name == "orders-consumer",
      module.consumer[0].function.handler == "taskqueue.consumer.handler",
      module.worker[0].function.function_name == "orders-worker",
      module.worker[0].function.handler == "taskqueue.worker.handler",
    ])
    error_message = "Functions are named after var.name and run the taskqueue handlers."
  }

  assert {
    condition = alltrue([for function in [module.consumer[0].function, module.worker[0].function] : alltrue([
      function.runtime == "python3.13",
      function.architectures == tolist(["arm64"]),
      function.tracing_config[0].mode == "PassThrough",
      length(function.vpc_config) == 0,
      function.reserved_concurrent_executions == null,
      !function.publish,
    ])])
    error_message = "Both functions default to python3.13 on arm64, outside a VPC, without reserved concurrency, unpublished."
  }

  assert {
    condition = alltrue([
      module.consumer[0].function.logging_config[0].log_format == "JSON",
      module.consumer[0].function.logging_config[0].application_log_level == "INFO",
      module.consumer[0].function.logging_config[0].log_group == module.consumer[0].log_group.name,
      module.worker[0].function.logging_config[0].log_format == "JSON",
      module.worker[0].function.logging_config[0].application_log_level == "INFO",
      module.worker[0].function.logging_config[0].log_group == module.worker[0].log_group.name,
    ])
    error_message = "Both functions log JSON at INFO to the module's log groups."
  }

  assert {
    condition = alltrue([
      module.consumer[0].function.timeout == 60,
      module.consumer[0].function.memory_size == 256,
      module.worker[0].function.timeout == 30,
      module.worker[0].function.memory_size == 512,
    ])
    error_message = "Default timeouts and memory sizes."
  }

  assert {
    condition = alltrue([
      module.consumer[0].function.source_code_hash == filebase64sha256("tests/fixtures/placeholder.zip"),
      module.worker[0].function.source_code_hash == filebase64sha256("tests/fixtures/placeholder.zip"),
      module.worker[0].function.filename == "tests/fixtures/placeholder.zip",
      module.worker[0].function.s3_bucket == null,
    ])
    error_message = "Without a source_code_hash, the package file is hashed."
  }

  assert {
    condition = alltrue([
      module.consumer[0].log_group.name == "/aws/lambda/orders-consumer",
      module.worker[0].log_group.name == "/aws/lambda/orders-worker",
      module.worker[0].log_group.retention_in_days == 365,
      module.worker[0].log_group.kms_key_id == null,
      module.worker[0].log_group.log_group_class == "SENTINEL",
    ])
    # log_group_class is computed: the mock's sentinel shows that the module passed none.
    error_message = "The log groups are the functions' default ones, with a retention, in AWS's default class."
  }

  assert {
    condition     = aws_lambda_function_event_invoke_config.consumer[0].maximum_retry_attempts == 0
    error_message = "A failed consumer run is not retried: the next scheduled run takes over."
  }

  assert {
    condition = alltrue([
      output.consumer_function_name == "orders-consumer",
      output.consumer_function_arn == module.consumer[0].function.arn,
      output.consumer_function_qualified_arn == module.consumer[0].function.qualified_arn,
      output.consumer_function_version == module.consumer[0].function.version,
      output.worker_function_name == "orders-worker",
      output.worker_function_arn == module.worker[0].function.arn,
      output.worker_function_qualified_arn == module.worker[0].function.qualified_arn,
      output.worker_function_version == module.worker[0].function.version,
      output.consumer_cloudwatch_log_group_name == "/aws/lambda/orders-consumer",
      output.consumer_cloudwatch_log_group_arn == module.consumer[0].log_group.arn,
      output.worker_cloudwatch_log_group_name == "/aws/lambda/orders-worker",
      output.worker_cloudwatch_log_group_arn == module.worker[0].log_group.arn,
    ])
    error_message = "The function and log group outputs describe the functions."
  }
}

run "settings" {
  variables {
    consumer_package = { filename = "dist/consumer.zip", source_code_hash = "Y29uc3VtZXI=" }
    worker_package   = { filename = "dist/worker.zip", source_code_hash = "d29ya2Vy" }

    runtime                                 = "python3.12"
    architectures                           = ["x86_64"]
    publish                                 = true
    logging_application_log_level           = "WARN"
    logging_system_log_level                = "WARN"
    metrics_namespace                       = "Orders"
    backoff_base_seconds                    = 5
    backoff_max_seconds                     = 600
    consumer_timeout                        = 300
    consumer_memory_size                    = 512
    consumer_max_concurrency                = 8
    consumer_receivers                      = 3
    max_attempts                            = 4
    consumer_batch_size                     = 5
    consumer_wait_time_seconds              = 5
    consumer_mode                           = "continuous"
    consumer_reserved_concurrent_executions = 2
    consumer_environment_variables          = { TASKQUEUE_TIME_MARGIN_SECONDS = "5" }
    worker_timeout                          = 120
    worker_memory_size                      = 1024
    worker_task_concurrency                 = 3
    worker_reserved_concurrent_executions   = 16
    task_modules                            = ["orders.tasks", "billing.tasks"]
    worker_environment_variables            = { ORDERS_BUCKET = "orders-archive", TASKQUEUE_LOG_PAYLOAD = "true" }
    tracing_mode                            = "Active"
    vpc_subnet_ids                          = ["subnet-0123456789abcdef0"]
    vpc_security_group_ids                  = ["sg-0123456789abcdef0"]
    cloudwatch_logs_retention_in_days       = 30
    cloudwatch_logs_log_group_class         = "INFREQUENT_ACCESS"
    tags                                    = { Team = "orders" }
    function_tags                           = { Component = "functions" }
    cloudwatch_logs_tags                    = { Component = "logs" }
  }

  # WARN keeps the metrics' INFO lines out of the logs: allowed, with a warning.
  expect_failures = [check.metrics_with_an_application_level_above_info]

  assert {
    condition = module.consumer[0].function.environment[0].variables == tomap({
      TASKQUEUE_QUEUE_URL              = aws_sqs_queue.this[0].url
      TASKQUEUE_WORKER_FUNCTION        = "arn:aws:lambda:eu-west-1:111122223333:function:orders-worker"
      TASKQUEUE_WORKER_TIMEOUT_SECONDS = "120"
      TASKQUEUE_MAX_CONCURRENCY        = "8"
      TASKQUEUE_RECEIVERS              = "3"
      TASKQUEUE_BATCH_SIZE             = "5"
      TASKQUEUE_WAIT_TIME_SECONDS      = "5"
      TASKQUEUE_MODE                   = "continuous"
      TASKQUEUE_BACKOFF_BASE_SECONDS   = "5"
      TASKQUEUE_BACKOFF_MAX_SECONDS    = "600"
      TASKQUEUE_TIME_MARGIN_SECONDS    = "5"
      POWERTOOLS_SERVICE_NAME          = "orders"
      POWERTOOLS_METRICS_NAMESPACE     = "Orders"
      POWERTOOLS_LOG_LEVEL             = "WARNING"
    })
    error_message = "Consumer settings reach its environment; the worker timeout it waits for is the worker's; Powertools gets Lambda's level in its own name."
  }

  assert {
    condition = module.worker[0].function.environment[0].variables == tomap({
      TASKQUEUE_DLQ_URL              = aws_sqs_queue.dead_letter_queue[0].url
      TASKQUEUE_MAX_RECEIVE_COUNT    = "5"
      TASKQUEUE_MAX_ATTEMPTS         = "4"
      TASKQUEUE_TASK_CONCURRENCY     = "3"
      TASKQUEUE_ATTEMPTS_TABLE       = aws_dynamodb_table.idempotency[0].name
      TASKQUEUE_TASKS                = "orders.tasks,billing.tasks"
      TASKQUEUE_BACKOFF_BASE_SECONDS = "5"
      TASKQUEUE_BACKOFF_MAX_SECONDS  = "600"
      TASKQUEUE_LOG_PAYLOAD          = "true"
      ORDERS_BUCKET                  = "orders-archive"
      POWERTOOLS_SERVICE_NAME        = "orders"
      POWERTOOLS_METRICS_NAMESPACE   = "Orders"
      POWERTOOLS_LOG_LEVEL           = "WARNING"
    })
    error_message = "Worker tasks and extra environment reach the worker."
  }

  assert {
    condition = alltrue([for function in [module.consumer[0].function, module.worker[0].function] : alltrue([
      function.logging_config[0].application_log_level == "WARN",
      function.logging_config[0].system_log_level == "WARN",
    ])])
    error_message = "Lambda filters application and system lines at the configured levels."
  }

  assert {
    condition = alltrue([
      module.consumer[0].function.source_code_hash == "Y29uc3VtZXI=",
      module.worker[0].function.source_code_hash == "d29ya2Vy",
      module.worker[0].function.filename == "dist/worker.zip",
    ])
    error_message = "A given source_code_hash is used as it is, and the file need not exist."
  }

  assert {
    condition = alltrue([for function in [module.consumer[0].function, module.worker[0].function] : alltrue([
      function.runtime == "python3.12",
      function.architectures == tolist(["x86_64"]),
      function.publish,
      function.tracing_config[0].mode == "Active",
      function.vpc_config[0].subnet_ids == toset(["subnet-0123456789abcdef0"]),
      function.vpc_config[0].security_group_ids == toset(["sg-0123456789abcdef0"]),
      function.tags == tomap({ Team = "orders", Component = "functions" }),
    ])])
    error_message = "Runtime, architecture, publishing, tracing, VPC and tags apply to both functions."
  }

  assert {
    condition = alltrue([
      module.consumer[0].function.timeout == 300,
      module.consumer[0].function.memory_size == 512,
      module.consumer[0].function.reserved_concurrent_executions == 2,
      module.worker[0].function.timeout == 120,
      module.worker[0].function.memory_size == 1024,
      module.worker[0].function.reserved_concurrent_executions == 16,
    ])
    error_message = "Function settings are passed through."
  }

  assert {
    condition = alltrue([for group in [module.consumer[0].log_group, module.worker[0].log_group] : alltrue([
      group.retention_in_days == 30,
      group.log_group_class == "INFREQUENT_ACCESS",
      group.tags == tomap({ Team = "orders", Component = "logs" }),
    ])])
    error_message = "Retention, class and tags apply to both log groups."
  }

  assert {
    condition     = aws_sqs_queue.this[0].visibility_timeout_seconds == 300
    error_message = "The default visibility timeout is the consumer's timeout."
  }

  assert {
    condition = alltrue([for attachment in [module.consumer[0].managed_policy_attachments, module.worker[0].managed_policy_attachments] : alltrue([
      attachment["tracing"].policy_arn == "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
      attachment["vpc"].policy_arn == "arn:aws:iam::aws:policy/service-role/AWSLambdaENIManagementAccess",
    ])])
    error_message = "Tracing and VPC access come with AWS's managed policies, on both roles."
  }
}

run "text_logs" {
  variables {
    logging_log_format            = "Text"
    logging_application_log_level = "DEBUG"
  }

  assert {
    condition = alltrue([for function in [module.consumer[0].function, module.worker[0].function] : alltrue([
      function.logging_config[0].log_format == "Text",
      function.logging_config[0].application_log_level == null,
      function.environment[0].variables["POWERTOOLS_LOG_LEVEL"] == "DEBUG",
    ])])
    error_message = "With the Text format Lambda takes no levels: POWERTOOLS_LOG_LEVEL carries the level."
  }
}

run "s3_packages" {
  variables {
    consumer_package = { s3_bucket = "artifacts", s3_key = "taskqueue/consumer.zip", source_code_hash = "Y29uc3VtZXI=" }
    worker_package   = { s3_bucket = "artifacts", s3_key = "taskqueue/worker.zip", s3_object_version = "3HL4kqtJlcpXroDTDmJ" }
  }

  assert {
    condition = alltrue([
      module.consumer[0].function.s3_bucket == "artifacts",
      module.consumer[0].function.s3_key == "taskqueue/consumer.zip",
      module.consumer[0].function.filename == null,
      module.consumer[0].function.source_code_hash == "Y29uc3VtZXI=",
      module.worker[0].function.s3_bucket == "artifacts",
      module.worker[0].function.s3_key == "taskqueue/worker.zip",
      module.worker[0].function.s3_object_version == "3HL4kqtJlcpXroDTDmJ",
      module.worker[0].function.filename == null,
    ])
    error_message = "Both functions can come from S3, with or without a hash or an object version."
  }
}
