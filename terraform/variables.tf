################################################################################
# General
################################################################################

variable "create" {
  description = "Whether to create anything at all. `false` plans no resource, as with the `create` input of terraform-aws-modules."
  type        = bool
  default     = true
}

variable "name" {
  description = "Name of this task queue. Every resource is named after it: `<name>-consumer`, `<name>-worker`, `<name>-dlq` and so on."
  type        = string

  validation {
    # 50 leaves room for the longest suffix within the 64-character limit of function and role names.
    condition     = can(regex("^[A-Za-z0-9_-]{1,50}$", var.name))
    error_message = "name must be 1 to 50 letters, digits, hyphens or underscores."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags. The `*_tags` inputs add to them for one kind of resource."
  type        = map(string)
  default     = {}
}

variable "trigger_mode" {
  description = "How tasks reach the worker: `schedule` (an EventBridge rule starts the consumer, which invokes the worker) or `event_source_mapping` (Lambda polls the queue and invokes the worker itself; no consumer is created)."
  type        = string
  default     = "schedule"

  validation {
    condition     = contains(["schedule", "event_source_mapping"], var.trigger_mode)
    error_message = "trigger_mode must be \"schedule\" or \"event_source_mapping\"."
  }
}

################################################################################
# Queue
################################################################################

variable "queue_name" {
  description = "Name of the queue. Defaults to `name`, with `.fifo` appended for a FIFO queue. A FIFO queue's name must end in `.fifo`."
  type        = string
  default     = null

  validation {
    condition     = var.queue_name == null || can(regex("^([A-Za-z0-9_-]{1,80}|[A-Za-z0-9_-]{1,75}\\.fifo)$", var.queue_name))
    error_message = "queue_name must be at most 80 characters: letters, digits, hyphens and underscores, or up to 75 of them followed by .fifo."
  }
}

variable "fifo_queue" {
  description = "Whether the queue (and its dead-letter queue) is a FIFO queue."
  type        = bool
  default     = false
}

variable "content_based_deduplication" {
  description = "FIFO only: deduplicate messages by a SHA-256 hash of their body instead of an explicit deduplication ID."
  type        = bool
  default     = null
}

variable "deduplication_scope" {
  description = "FIFO only: whether deduplication applies per message group (`messageGroup`) or to the whole queue (`queue`)."
  type        = string
  default     = null

  validation {
    condition     = var.deduplication_scope == null || try(contains(["messageGroup", "queue"], var.deduplication_scope), false)
    error_message = "deduplication_scope must be \"messageGroup\" or \"queue\"."
  }
}

variable "fifo_throughput_limit" {
  description = "FIFO only: whether the throughput quota applies to the whole queue (`perQueue`) or to each message group (`perMessageGroupId`, high-throughput mode, which needs `deduplication_scope = \"messageGroup\"`)."
  type        = string
  default     = null

  validation {
    condition     = var.fifo_throughput_limit == null || try(contains(["perQueue", "perMessageGroupId"], var.fifo_throughput_limit), false)
    error_message = "fifo_throughput_limit must be \"perQueue\" or \"perMessageGroupId\"."
  }
}

variable "visibility_timeout_seconds" {
  description = "How long a received message stays hidden, 0 to 43200 seconds. It must cover the consumer's timeout (schedule mode) or the worker's timeout plus Lambda's 10 s init allowance (event_source_mapping mode). Unset, the module uses the consumer's timeout, or six times the worker's timeout with an event source mapping, as AWS recommends."
  type        = number
  default     = null

  validation {
    condition     = var.visibility_timeout_seconds == null || (try(var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200, false))
    error_message = "visibility_timeout_seconds must be between 0 and 43200 (12 hours)."
  }
}

variable "message_retention_seconds" {
  description = "How long the queue keeps a message, 60 seconds to 14 days (1209600). Unset, AWS's default applies (4 days)."
  type        = number
  default     = null

  validation {
    condition     = var.message_retention_seconds == null || (try(var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600, false))
    error_message = "message_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "delay_seconds" {
  description = "Delivery delay of every new message, 0 to 900 seconds. Unset, AWS's default applies (0)."
  type        = number
  default     = null

  validation {
    condition     = var.delay_seconds == null || (try(var.delay_seconds >= 0 && var.delay_seconds <= 900, false))
    error_message = "delay_seconds must be between 0 and 900."
  }
}

variable "receive_wait_time_seconds" {
  description = "The queue's default long-poll wait, 0 to 20 seconds. The consumer sets its own wait (`consumer_wait_time_seconds`) on every receive. Unset, AWS's default applies (0)."
  type        = number
  default     = null

  validation {
    condition     = var.receive_wait_time_seconds == null || (try(var.receive_wait_time_seconds >= 0 && var.receive_wait_time_seconds <= 20, false))
    error_message = "receive_wait_time_seconds must be between 0 and 20."
  }
}

variable "max_message_size" {
  description = "Largest message both queues accept, 1024 bytes to 1 MiB (1048576). Unset, the queues keep the provider's or AWS's default. Above 262144 it needs AWS provider 6.8 or newer: 5.x and 6.0 to 6.7 reject larger values at plan time."
  type        = number
  default     = null

  validation {
    condition     = var.max_message_size == null || (try(var.max_message_size >= 1024 && var.max_message_size <= 1048576, false))
    error_message = "max_message_size must be between 1024 and 1048576 (1 MiB)."
  }
}

variable "max_receive_count" {
  description = "How many times a message is received before SQS moves it to the dead-letter queue (its redrive policy's `maxReceiveCount`): the safety net under `max_attempts`."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "max_attempts" {
  description = "Attempts a task gets unless it sets its own (`@task(max_attempts=...)`, `TASKQUEUE_MAX_ATTEMPTS`): on the last one a failing task goes to the dead-letter queue with its error. Unset: `max_receive_count`. With `track_attempts` (the default) set it below `max_receive_count` on FIFO queues, which then leaves room for the receives of messages held back behind their group."
  type        = number
  default     = null

  validation {
    condition     = var.max_attempts == null || try(var.max_attempts >= 1 && var.max_attempts <= 1000, false)
    error_message = "max_attempts must be between 1 and 1000."
  }
}

variable "queue_tags" {
  description = "Tags of the queue, added to `tags`."
  type        = map(string)
  default     = {}
}

variable "dead_letter_queue_name" {
  description = "Name of the dead-letter queue. Defaults to `<name>-dlq`, with `.fifo` appended for a FIFO queue."
  type        = string
  default     = null

  validation {
    condition     = var.dead_letter_queue_name == null || can(regex("^([A-Za-z0-9_-]{1,80}|[A-Za-z0-9_-]{1,75}\\.fifo)$", var.dead_letter_queue_name))
    error_message = "dead_letter_queue_name must be at most 80 characters: letters, digits, hyphens and underscores, or up to 75 of them followed by .fifo."
  }
}

variable "dead_letter_queue_message_retention_seconds" {
  description = "How long the dead-letter queue keeps a message, 60 seconds to 14 days. A standard queue's message keeps its original enqueue time when it moves, so this should exceed the queue's retention."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dead_letter_queue_message_retention_seconds >= 60 && var.dead_letter_queue_message_retention_seconds <= 1209600
    error_message = "dead_letter_queue_message_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "dead_letter_queue_tags" {
  description = "Tags of the dead-letter queue, added to `tags`."
  type        = map(string)
  default     = {}
}

variable "create_dead_letter_queue_redrive_allow_policy" {
  description = "Whether the dead-letter queue gets a redrive-allow policy that admits the module's queues only (with `priorities`, every priority's: at most 10). Turn it off only where the API lacks the RedriveAllowPolicy attribute (moto 5, for one)."
  type        = bool
  default     = true
}

variable "kms_master_key_id" {
  description = "ARN of a KMS key to encrypt both queues with. Unset, the queues use SQS-managed encryption (SSE-SQS). An ARN rather than an alias, so that the roles' `kms:` permissions can be scoped to the key; the key policy must let the roles (and any producers) use it."
  type        = string
  default     = null

  validation {
    condition     = var.kms_master_key_id == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_master_key_id))
    error_message = "kms_master_key_id must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "kms_data_key_reuse_period_seconds" {
  description = "With `kms_master_key_id`: how long SQS reuses a data key before calling KMS again, 60 to 86400 seconds. Unset, AWS's default applies (300)."
  type        = number
  default     = null

  validation {
    condition     = var.kms_data_key_reuse_period_seconds == null || (try(var.kms_data_key_reuse_period_seconds >= 60 && var.kms_data_key_reuse_period_seconds <= 86400, false))
    error_message = "kms_data_key_reuse_period_seconds must be between 60 and 86400."
  }
}

variable "producer_principals" {
  description = "Principals of other accounts allowed to send to the queue (`sqs:SendMessage` and `sqs:GetQueueUrl`, not `sqs:GetQueueAttributes`, which would show them the queue policy): 12-digit account IDs or IAM role/user ARNs. Principals of the queue's own account need only an IAM policy (see the `producer_policy_json` output)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for principal in var.producer_principals : can(regex("^([0-9]{12}|arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+))$", principal))])
    error_message = "producer_principals must be 12-digit account IDs or IAM role/user ARNs."
  }
}

variable "queue_policy_statements" {
  description = "Statements added to the queue's policy, keyed by statement ID (letters and digits), with the queue as their resource: an SNS topic or EventBridge rule as producer (with an `aws:SourceArn` condition), principals of your organization (`aws:PrincipalOrgID`) and so on. Anyone is `{ type = \"AWS\", identifiers = [\"*\"] }`, narrowed by conditions. The module's own statements (`DenyInsecureTransport`, `AllowProducers`) stay."
  type = map(object({
    effect  = optional(string, "Allow")
    actions = list(string)
    principals = list(object({
      type        = string
      identifiers = list(string)
    }))
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
  default = {}

  validation {
    condition = alltrue([for sid, statement in var.queue_policy_statements : alltrue([
      can(regex("^[A-Za-z0-9]+$", sid)),
      !contains(["DenyInsecureTransport", "AllowProducers"], sid),
      contains(["Allow", "Deny"], statement.effect),
      length(statement.actions) > 0 && alltrue([for action in statement.actions : startswith(action, "sqs:")]),
      length(statement.principals) > 0 && alltrue([for principal in statement.principals : contains(["AWS", "Service", "Federated"], principal.type)]),
    ])])
    error_message = "queue_policy_statements keys must be letters and digits other than DenyInsecureTransport and AllowProducers (the module's own statement IDs); effect must be \"Allow\" or \"Deny\"; actions must be sqs: actions; principals must be of type AWS, Service or Federated (anyone: type AWS, identifiers [\"*\"])."
  }
}

################################################################################
# Lambda functions (both)
################################################################################

variable "consumer_package" {
  description = "The consumer's deployment package (`dist/consumer.zip` from `build.py`), required in `schedule` mode: a local `filename` or an S3 object (`s3_bucket`, `s3_key`, optional `s3_object_version`), as Lambda takes them. Without `source_code_hash`, the module hashes a local file with `filebase64sha256`; an S3 package updates the function when its key, version or given hash changes."
  type = object({
    filename          = optional(string)
    s3_bucket         = optional(string)
    s3_key            = optional(string)
    s3_object_version = optional(string)
    source_code_hash  = optional(string)
  })
  default = null

  validation {
    # try(): the package may be null, in event_source_mapping mode.
    condition = try(
      (var.consumer_package.filename != null) != (var.consumer_package.s3_bucket != null || var.consumer_package.s3_key != null)
      && (var.consumer_package.s3_bucket != null) == (var.consumer_package.s3_key != null)
      && (var.consumer_package.s3_object_version == null || var.consumer_package.s3_key != null),
      true,
    )
    error_message = "consumer_package needs either filename, or s3_bucket and s3_key (with s3_object_version optional), not both."
  }

  # Whether a local file exists is checked where the function is created (consumer.tf): with create = false it need not.
}

variable "worker_package" {
  description = "The worker's deployment package (`dist/worker.zip` from `build.py`, with your tasks in it): a local `filename` or an S3 object (`s3_bucket`, `s3_key`, optional `s3_object_version`), for packages larger than a direct upload allows. Without `source_code_hash`, the module hashes a local file with `filebase64sha256`; an S3 package updates the function when its key, version or given hash changes."
  type = object({
    filename          = optional(string)
    s3_bucket         = optional(string)
    s3_key            = optional(string)
    s3_object_version = optional(string)
    source_code_hash  = optional(string)
  })
  # Required to create the worker (a precondition in worker.tf); with create = false it may be left out.
  default = null

  validation {
    # try(): the package may be null, with create = false.
    condition = try(
      (var.worker_package.filename != null) != (var.worker_package.s3_bucket != null || var.worker_package.s3_key != null)
      && (var.worker_package.s3_bucket != null) == (var.worker_package.s3_key != null)
      && (var.worker_package.s3_object_version == null || var.worker_package.s3_key != null),
      true,
    )
    error_message = "worker_package needs either filename, or s3_bucket and s3_key (with s3_object_version optional), not both."
  }
  # Whether a local file exists is checked where the function is created (worker.tf): with create = false it need not.
}

variable "runtime" {
  description = "Python runtime of both functions."
  type        = string
  default     = "python3.13"

  validation {
    condition     = contains(["python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be \"python3.12\" or \"python3.13\"."
  }
}

variable "architectures" {
  description = "Instruction set of both functions, as a one-element list (Lambda takes one). It must match the one the packages were built for."
  type        = list(string)
  default     = ["arm64"]

  validation {
    condition     = length(var.architectures) == 1 && alltrue([for architecture in var.architectures : contains(["arm64", "x86_64"], architecture)])
    error_message = "architectures must be [\"arm64\"] or [\"x86_64\"]."
  }
}

variable "publish" {
  description = "Whether every change of a function publishes a new version (see the `*_function_version` and `*_function_qualified_arn` outputs). The consumer and the event source mapping invoke `$LATEST` either way."
  type        = bool
  default     = false
}

variable "logging_log_format" {
  description = "Log format of both functions: `JSON` (Lambda's own lines become JSON, and the log levels below filter what is kept) or `Text`. The runtime writes JSON lines either way."
  type        = string
  default     = "JSON"

  validation {
    condition     = contains(["JSON", "Text"], var.logging_log_format)
    error_message = "logging_log_format must be \"JSON\" or \"Text\"."
  }
}

variable "logging_application_log_level" {
  description = "Least severe level of the functions' own log lines that is kept: TRACE, DEBUG, INFO, WARN, ERROR or FATAL. With the JSON format Lambda applies it (`AWS_LAMBDA_LOG_LEVEL`, which Powertools' Logger follows over its own setting); the module sets `POWERTOOLS_LOG_LEVEL` to the same level for the Text format and so that the two never disagree."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.logging_application_log_level)
    error_message = "logging_application_log_level must be TRACE, DEBUG, INFO, WARN, ERROR or FATAL."
  }
}

variable "logging_system_log_level" {
  description = "With the JSON format: least severe level of Lambda's own lines (START, END, REPORT are INFO) that is kept: DEBUG, INFO or WARN. Unset, Lambda's default applies (INFO)."
  type        = string
  default     = null

  validation {
    condition     = var.logging_system_log_level == null || try(contains(["DEBUG", "INFO", "WARN"], var.logging_system_log_level), false)
    error_message = "logging_system_log_level must be DEBUG, INFO or WARN."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the functions' metrics (`POWERTOOLS_METRICS_NAMESPACE`)."
  type        = string
  default     = "TaskQueue"

  validation {
    # CloudWatch's character set for namespaces; it reserves the AWS/ prefix for AWS's own metrics.
    condition     = can(regex("^[A-Za-z0-9.\\-_/#: ]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1 to 255 letters, digits, spaces or . - _ / # : characters, and must not start with AWS/."
  }
}

variable "backoff_base_seconds" {
  description = "First retry delay of a failed task; each later attempt doubles it, up to `backoff_max_seconds`."
  type        = number
  default     = 2

  validation {
    condition     = var.backoff_base_seconds >= 1 && var.backoff_base_seconds <= 43200
    error_message = "backoff_base_seconds must be between 1 and 43200."
  }
}

variable "backoff_max_seconds" {
  description = "Longest retry delay of a failed task, at most 43200 (the longest SQS visibility timeout)."
  type        = number
  default     = 900

  validation {
    condition     = var.backoff_max_seconds >= 1 && var.backoff_max_seconds <= 43200
    error_message = "backoff_max_seconds must be between 1 and 43200."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing of both functions: `PassThrough` (AWS's default) or `Active`, which also gives the roles the X-Ray write policy."
  type        = string
  default     = "PassThrough"

  validation {
    condition     = contains(["PassThrough", "Active"], var.tracing_mode)
    error_message = "tracing_mode must be \"PassThrough\" or \"Active\"."
  }
}

variable "vpc_subnet_ids" {
  description = "Subnets to run both functions in. Unset, the functions run outside any VPC. The subnets need a route to SQS and Lambda (and DynamoDB) endpoints: a NAT gateway or VPC endpoints."
  type        = list(string)
  default     = null
}

variable "vpc_security_group_ids" {
  description = "Security groups of both functions, with `vpc_subnet_ids`."
  type        = list(string)
  default     = null
}

variable "function_tags" {
  description = "Tags of the two functions, added to `tags`."
  type        = map(string)
  default     = {}
}

variable "cloudwatch_logs_retention_in_days" {
  description = "How long the functions' log groups keep events (0 keeps them forever)."
  type        = number
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.cloudwatch_logs_retention_in_days)
    error_message = "cloudwatch_logs_retention_in_days must be one of the values CloudWatch Logs accepts (0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "cloudwatch_logs_kms_key_id" {
  description = "ARN of a KMS key to encrypt the log groups with. Its key policy must allow the CloudWatch Logs service principal. Unset, CloudWatch Logs encrypts them with its own key."
  type        = string
  default     = null
}

variable "cloudwatch_logs_log_group_class" {
  description = "Class of the functions' log groups: `STANDARD` or `INFREQUENT_ACCESS` (half the ingestion price, but no metric extraction, so none of the runtime's metrics, no Live Tail; see the README). The class cannot change after creation: changing it replaces the log groups. Unset, AWS's default applies (STANDARD)."
  type        = string
  default     = null

  validation {
    condition     = var.cloudwatch_logs_log_group_class == null || try(contains(["STANDARD", "INFREQUENT_ACCESS"], var.cloudwatch_logs_log_group_class), false)
    error_message = "cloudwatch_logs_log_group_class must be \"STANDARD\" or \"INFREQUENT_ACCESS\"."
  }
}

variable "cloudwatch_logs_tags" {
  description = "Tags of the two log groups, added to `tags`."
  type        = map(string)
  default     = {}
}

################################################################################
# IAM roles
################################################################################

variable "create_role" {
  description = "Whether the module creates the functions' IAM roles. `false` runs them with your own roles (`consumer_role_arn`, `worker_role_arn`), to which the module attaches nothing: give them the `consumer_role_policy_json` and `worker_role_policy_json` outputs and what your tasks need."
  type        = bool
  default     = true
}

variable "consumer_role_arn" {
  description = "With `create_role = false` in `schedule` mode: ARN of the role the consumer runs with."
  type        = string
  default     = null

  validation {
    condition     = var.consumer_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.consumer_role_arn))
    error_message = "consumer_role_arn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)."
  }
}

variable "worker_role_arn" {
  description = "With `create_role = false`: ARN of the role the worker (and the event source mapping) runs with."
  type        = string
  default     = null

  validation {
    condition     = var.worker_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.worker_role_arn))
    error_message = "worker_role_arn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)."
  }
}

variable "role_use_name_prefix" {
  description = "Whether the roles' names are prefixes (`<name>-consumer-` and `<name>-worker-`, the name cut to 28 characters, plus a unique suffix), so that the same `name` in two regions or stacks of one account never collides. `false` names them exactly `<name>-consumer` and `<name>-worker`, as before."
  type        = bool
  default     = true
}

variable "role_path" {
  description = "Path of the module's IAM roles (consumer, worker, scheduler). Changing it replaces them; the scheduler role's replacement loses pending schedules (see `schedule_loss_accepted`)."
  type        = string
  default     = null

  validation {
    condition     = var.role_path == null || can(regex("^/([\\x21-\\x7E]{0,510}/)?$", var.role_path))
    error_message = "role_path must begin and end with a slash, e.g. /taskqueue/."
  }
}

variable "role_permissions_boundary" {
  description = "ARN of a policy to set as the permissions boundary of the module's IAM roles."
  type        = string
  default     = null
}

variable "role_tags" {
  description = "Tags of the module's IAM roles, added to `tags`."
  type        = map(string)
  default     = {}
}

################################################################################
# Consumer (trigger_mode = "schedule")
################################################################################

variable "consumer_memory_size" {
  description = "Memory of the consumer, in MB."
  type        = number
  default     = 256

  validation {
    condition     = var.consumer_memory_size >= 128 && var.consumer_memory_size <= 10240
    error_message = "consumer_memory_size must be between 128 and 10240."
  }
}

variable "consumer_timeout" {
  description = "Timeout of the consumer, in seconds. It must cover a whole worker invocation: `worker_timeout` + 10 (Lambda's init allowance) + 2 (the answer's way back) + the time margin (`TASKQUEUE_TIME_MARGIN_SECONDS`, 2 by default) + 1 (one poll)."
  type        = number
  default     = 60

  validation {
    condition     = var.consumer_timeout >= 1 && var.consumer_timeout <= 900
    error_message = "consumer_timeout must be between 1 and 900."
  }
}

variable "consumer_reserved_concurrent_executions" {
  description = "Concurrency reserved for the consumer; it also caps how many runs overlap (1 lets one run at a time). Unset, the consumer uses the account's unreserved pool and runs overlap when `consumer_timeout` exceeds the schedule's period."
  type        = number
  default     = null

  validation {
    # 0 would reserve nothing and throttle every run: the consumer would stop until messages expire.
    condition     = var.consumer_reserved_concurrent_executions == null || try(var.consumer_reserved_concurrent_executions >= 1, false)
    error_message = "consumer_reserved_concurrent_executions = ${coalesce(var.consumer_reserved_concurrent_executions, "null")} must be 1 or more (or null for none reserved): 0 throttles every consumer run, and no task would be received until the messages expire. Use schedule_enabled = false to pause the consumer."
  }
}

variable "consumer_max_concurrency" {
  description = "How many worker invocations one consumer run makes at once (`TASKQUEUE_MAX_CONCURRENCY`)."
  type        = number
  default     = 4

  validation {
    condition     = var.consumer_max_concurrency >= 1 && var.consumer_max_concurrency <= 1000
    error_message = "consumer_max_concurrency must be between 1 and 1000."
  }
}

variable "consumer_receivers" {
  description = "Receive loops one consumer run keeps while the queue is quiet (`TASKQUEUE_RECEIVERS`), at most `consumer_max_concurrency`. Under a backlog a run adds loops, one each half second, up to `consumer_max_concurrency` (at most 10; each receive holds a worker slot), and drops them as batches come back short."
  type        = number
  default     = 1

  validation {
    condition     = var.consumer_receivers >= 1 && var.consumer_receivers <= 10
    error_message = "consumer_receivers must be between 1 and 10."
  }
}

variable "consumer_batch_size" {
  description = "Messages the consumer receives per call and hands to one worker invocation, 1 to 10 (`TASKQUEUE_BATCH_SIZE`)."
  type        = number
  default     = 10

  validation {
    condition     = var.consumer_batch_size >= 1 && var.consumer_batch_size <= 10
    error_message = "consumer_batch_size must be between 1 and 10."
  }
}

variable "consumer_wait_time_seconds" {
  description = "Long-poll wait of the consumer's receives, 0 to 20 seconds (`TASKQUEUE_WAIT_TIME_SECONDS`). Unset, the runtime picks by mode: 1 in `drain` mode, where the last, empty receive is what an idle run costs, and 20 in `continuous` mode."
  type        = number
  default     = null

  validation {
    condition     = var.consumer_wait_time_seconds == null || try(var.consumer_wait_time_seconds >= 0 && var.consumer_wait_time_seconds <= 20, false)
    error_message = "consumer_wait_time_seconds must be between 0 and 20."
  }
}

variable "consumer_mode" {
  description = "`drain`: the consumer stops once the queue is empty or a receive brings under half a batch (the next run takes the trickle, batched). `continuous`: it polls until its time is nearly up, and on a trickle waits up to 20 s for a batch to fill (`TASKQUEUE_BATCHING_WINDOW_SECONDS`, settable in `consumer_environment_variables`; 0 receives at once) (`TASKQUEUE_MODE`)."
  type        = string
  default     = "drain"

  validation {
    condition     = contains(["drain", "continuous"], var.consumer_mode)
    error_message = "consumer_mode must be \"drain\" or \"continuous\"."
  }
}

variable "consumer_environment_variables" {
  description = "Extra environment variables of the consumer, such as `TASKQUEUE_TIME_MARGIN_SECONDS` (0 to 60; the consumer's timeout must allow for it). They may not set a variable the module sets."
  type        = map(string)
  default     = {}

  validation {
    # The same range functions/taskqueue/config.py accepts; the module budgets the consumer's timeout with it.
    condition     = try(tonumber(var.consumer_environment_variables["TASKQUEUE_TIME_MARGIN_SECONDS"]) >= 0 && tonumber(var.consumer_environment_variables["TASKQUEUE_TIME_MARGIN_SECONDS"]) <= 60, !contains(keys(var.consumer_environment_variables), "TASKQUEUE_TIME_MARGIN_SECONDS"))
    error_message = "consumer_environment_variables[\"TASKQUEUE_TIME_MARGIN_SECONDS\"] must be a number of seconds between 0 and 60, got \"${lookup(var.consumer_environment_variables, "TASKQUEUE_TIME_MARGIN_SECONDS", "")}\"."
  }
}

variable "schedule_expression" {
  description = "When EventBridge starts the consumer: a `rate()` or `cron()` expression. A run lasting longer than the period overlaps the next ones; the module counts them (a cron() counts as every minute)."
  type        = string
  default     = "rate(1 minute)"

  validation {
    # EventBridge's rule: a positive value, the unit singular for 1 and plural above.
    condition     = can(regex("^(rate\\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\\)|cron\\(.+\\))$", var.schedule_expression))
    error_message = "schedule_expression = \"${var.schedule_expression}\" is no EventBridge schedule: use rate(1 minute|hour|day), rate(<n> minutes|hours|days) with n of 2 or more, or cron(...)."
  }
}

variable "schedule_enabled" {
  description = "Whether the schedule rule is enabled. Disable it to pause the consumer without destroying anything."
  type        = bool
  default     = true
}

################################################################################
# Worker
################################################################################

variable "worker_memory_size" {
  description = "Memory of the worker, in MB."
  type        = number
  default     = 512

  validation {
    condition     = var.worker_memory_size >= 128 && var.worker_memory_size <= 10240
    error_message = "worker_memory_size must be between 128 and 10240."
  }
}

variable "worker_timeout" {
  description = "Timeout of the worker, in seconds: one invocation runs a batch of tasks."
  type        = number
  default     = 30

  validation {
    condition     = var.worker_timeout >= 1 && var.worker_timeout <= 900
    error_message = "worker_timeout must be between 1 and 900."
  }
}

variable "worker_task_concurrency" {
  description = "Most tasks of one batch the worker runs at once (`TASKQUEUE_TASK_CONCURRENCY`), 1 to 256: `async def` tasks on its event loop, `threads=True` tasks in its thread pool; plain tasks run one at a time whatever it says. Unset: the batch size (`consumer_batch_size`, or `event_source_mapping_batch_size` up to 256). It may not exceed the batch size. See docs/concurrency.md."
  type        = number
  default     = null

  validation {
    condition     = var.worker_task_concurrency == null || try(var.worker_task_concurrency >= 1 && var.worker_task_concurrency <= 256 && floor(var.worker_task_concurrency) == var.worker_task_concurrency, false)
    error_message = "worker_task_concurrency must be a whole number from 1 to 256 (each task running at once holds a thread; Lambda allows 1024), got ${coalesce(var.worker_task_concurrency, 0)}."
  }
}

variable "worker_reserved_concurrent_executions" {
  description = "Concurrency reserved for the worker. Unset, it uses the account's unreserved pool. When set, it must allow every invocation that can run at once: `consumer_max_concurrency` times the overlapping consumer runs, or, with an event source mapping (which counts throttles as receives), `event_source_mapping_maximum_concurrency` (with `priorities`, the sum of the mappings' shares of it, each at least 2) or 10 per provisioned poller."
  type        = number
  default     = null

  validation {
    condition     = var.worker_reserved_concurrent_executions == null || try(var.worker_reserved_concurrent_executions >= 0, false)
    error_message = "worker_reserved_concurrent_executions must be 0 or more."
  }
}

variable "task_modules" {
  description = "Python modules the worker imports to register tasks (`TASKQUEUE_TASKS`), e.g. `[\"myproject.tasks\"]`. They must be in the worker package."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for module in var.task_modules : can(regex("^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$", module))])
    error_message = "task_modules must be dotted Python module names."
  }
}

variable "worker_environment_variables" {
  description = "Extra environment variables of the worker, for your tasks (and settings such as `TASKQUEUE_LOG_PAYLOAD`). They may not set a variable the module sets."
  type        = map(string)
  default     = {}
}

variable "worker_policy_arns" {
  description = "IAM policies to attach to the worker's role, for what your tasks touch. Keyed by a name of your choice, so that the keys are known at plan time even when the ARNs are not. Needs `create_role`."
  type        = map(string)
  default     = {}
}

variable "worker_policy_statements" {
  description = "IAM statements added, as an inline policy, to the worker's role, for what your tasks touch. Keyed by a statement ID (letters and digits). Needs `create_role`."
  type = map(object({
    effect    = optional(string, "Allow")
    actions   = list(string)
    resources = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
  default = {}

  validation {
    condition     = alltrue([for sid, statement in var.worker_policy_statements : can(regex("^[A-Za-z0-9]+$", sid)) && contains(["Allow", "Deny"], statement.effect)])
    error_message = "worker_policy_statements keys must be letters and digits (they become statement IDs) and effect must be \"Allow\" or \"Deny\"."
  }
}

################################################################################
# Event source mapping (trigger_mode = "event_source_mapping")
################################################################################

variable "event_source_mapping_enabled" {
  description = "Whether the event source mapping polls. Disable it to pause the worker without destroying anything, as `schedule_enabled` does in schedule mode."
  type        = bool
  default     = true
}

variable "event_source_mapping_batch_size" {
  description = "Most messages per worker invocation: 1 to 10 for a FIFO queue, up to 10000 for a standard queue (above 10 it needs a batching window)."
  type        = number
  default     = 10

  validation {
    condition     = var.event_source_mapping_batch_size >= 1 && var.event_source_mapping_batch_size <= 10000
    error_message = "event_source_mapping_batch_size must be between 1 and 10000."
  }
}

variable "event_source_mapping_maximum_batching_window_in_seconds" {
  description = "How long Lambda gathers messages before it invokes the worker, 0 to 300 seconds (standard queues only). Unset, AWS's default applies (0)."
  type        = number
  default     = null

  validation {
    condition     = var.event_source_mapping_maximum_batching_window_in_seconds == null || try(var.event_source_mapping_maximum_batching_window_in_seconds >= 0 && var.event_source_mapping_maximum_batching_window_in_seconds <= 300, false)
    error_message = "event_source_mapping_maximum_batching_window_in_seconds must be between 0 and 300."
  }
}

variable "priorities" {
  description = "Priority queues, highest first: `[{ name = \"high\", weight = 3 }, { name = \"normal\" }]` (weight 1 to 100, default 1). One queue per priority, all with the module's dead-letter queue: `default_priority` keeps the module's own queue, the others are named `<name>-<priority>`. Producers send with `enqueue(..., priority=...)` and the `queue_urls` output. Behind the consumer, `priority_order` chooses strict or weighted receives; behind event source mappings, each queue has a mapping whose `MaximumConcurrency` is its weight's share of `event_source_mapping_maximum_concurrency`. Empty (the default): one queue, as without this input."
  type = list(object({
    name   = string
    weight = optional(number, 1)
  }))
  default  = []
  nullable = false

  validation {
    condition     = alltrue([for priority in var.priorities : can(regex("^[a-z][a-z0-9-]{0,19}$", priority.name)) && priority.weight >= 1 && priority.weight <= 100 && floor(priority.weight) == priority.weight])
    error_message = "Each priority needs a name of 1 to 20 lower-case letters, digits or hyphens, starting with a letter, and a whole weight from 1 to 100."
  }

  validation {
    condition     = length(distinct([for priority in var.priorities : priority.name])) == length(var.priorities) && length(var.priorities) != 1
    error_message = "Priority names must be distinct, and there must be none or at least two."
  }
}

variable "default_priority" {
  description = "The priority whose queue is the module's own (`queue_url`; tasks enqueued without a priority go there). Unset, the last (lowest) of `priorities`."
  type        = string
  default     = null

  validation {
    condition     = var.default_priority == null || contains([for priority in var.priorities : priority.name], coalesce(var.default_priority, "-"))
    error_message = "default_priority must be one of the names in priorities."
  }
}

variable "priority_order" {
  description = "How the consumer receives from the priority queues: `strict` (a lower priority waits while a higher one has a backlog) or `weighted` (receives shared by the priorities' weights; a turn that finds its queue empty takes from the others)."
  type        = string
  default     = "strict"

  validation {
    condition     = contains(["strict", "weighted"], var.priority_order)
    error_message = "priority_order must be \"strict\" or \"weighted\"."
  }
}

variable "event_source_mapping_maximum_concurrency" {
  description = "Most concurrent worker invocations the event source mapping starts, 2 to 1000 (not with provisioned pollers). Required, at or below the reserve, when the worker has reserved concurrency. Unset, AWS's default applies (no limit but the account's)."
  type        = number
  default     = null

  validation {
    condition     = var.event_source_mapping_maximum_concurrency == null || try(var.event_source_mapping_maximum_concurrency >= 2 && var.event_source_mapping_maximum_concurrency <= 1000, false)
    error_message = "event_source_mapping_maximum_concurrency must be between 2 and 1000."
  }
}

variable "event_source_mapping_metrics_config" {
  description = "The event source mapping's own CloudWatch metrics (`{ metrics = [\"EventCount\"] }`: events polled, filtered, invoked, failed, dropped), at CloudWatch's price. Unset, none."
  type = object({
    metrics = list(string)
  })
  default = null

  validation {
    condition     = var.event_source_mapping_metrics_config == null || try(length(var.event_source_mapping_metrics_config.metrics) > 0 && alltrue([for metric in var.event_source_mapping_metrics_config.metrics : metric == "EventCount"]), false)
    error_message = "event_source_mapping_metrics_config.metrics must be [\"EventCount\"], the metric group SQS event source mappings offer."
  }
}

variable "event_source_mapping_provisioned_poller_config" {
  description = "Provisioned mode: dedicated event pollers, `minimum_pollers` (2 to 200) and `maximum_pollers` (2 to 10,000 for SQS), each invoking the worker up to 10 times at once. Billed per poller; it replaces `event_source_mapping_maximum_concurrency`. Unset, Lambda scales its pollers itself."
  type = object({
    minimum_pollers = optional(number)
    maximum_pollers = optional(number)
  })
  default = null

  validation {
    # Unset bounds take AWS's defaults (2 and 200), which are within the limits.
    condition = var.event_source_mapping_provisioned_poller_config == null || try(
      coalesce(var.event_source_mapping_provisioned_poller_config.minimum_pollers, 2) >= 2
      && coalesce(var.event_source_mapping_provisioned_poller_config.minimum_pollers, 2) <= 200
      && coalesce(var.event_source_mapping_provisioned_poller_config.maximum_pollers, 200) >= 2
      && coalesce(var.event_source_mapping_provisioned_poller_config.maximum_pollers, 200) <= 10000,
      false,
    )
    error_message = "event_source_mapping_provisioned_poller_config: minimum_pollers must be between 2 and 200 and maximum_pollers between 2 and 10000 (Lambda's limits for SQS)."
  }
}

variable "event_source_mapping_tags" {
  description = "Tags of the event source mapping, added to `tags`."
  type        = map(string)
  default     = {}
}

################################################################################
# DynamoDB table (idempotency records and attempt counts)
################################################################################

variable "create_idempotency_table" {
  description = "Whether the worker runs each task once (`TASKQUEUE_IDEMPOTENCY_TABLE`), with its records in a DynamoDB table the module creates."
  type        = bool
  default     = false
}

variable "track_attempts" {
  description = "Whether the worker keeps, in the module's DynamoDB table (`TASKQUEUE_ATTEMPTS_TABLE`), each task's runs, each recorded before it starts (so a run that times out or crashes counts as an attempt, and a FIFO message held back behind its group, or received by a throttled invocation, keeps its attempts) and each dead-letter verdict (so a task that raised PermanentError never runs again, even when its batch fails after it or its DLQ send fails) and the time a `Retry(after=...)` asked for (so it is not run sooner when its batch fails after it). One conditional write per run, one more per dead letter, `Retry` or success on a last attempt, one read when a run is refused. With false, attempts are counted by receives and those two cases can re-run a task; no table is created for it."
  type        = bool
  default     = true
  nullable    = false
}

variable "flow_control" {
  description = "Whether tasks may declare flow limits, `@task(rate_limit=\"10/s\", burst=5)` and `@task(key_concurrency=2, key=...)`, held across every worker: creates a DynamoDB table for them (`TASKQUEUE_FLOW_CONTROL_TABLE`, encrypted with `idempotency_table_kms_key_arn` when set). Needs `track_attempts` (a start held back by a limit must not use an attempt). A worker whose task declares a limit without it refuses to start. One to three DynamoDB requests per limited start (docs/flow-control.md)."
  type        = bool
  default     = false
  nullable    = false
}

variable "flow_control_table_name" {
  description = "Name of the flow-control table. Defaults to `<name>-flow-control`."
  type        = string
  default     = null

  validation {
    condition     = var.flow_control_table_name == null || can(regex("^[A-Za-z0-9_.-]{3,255}$", var.flow_control_table_name))
    error_message = "flow_control_table_name must be 3 to 255 letters, digits, underscores, hyphens or dots."
  }
}

variable "track_status" {
  description = "Task status (`python -m taskqueue status`, `TaskQueue.status`): \"off\" (the default), \"opted_in\" (the tasks that ask, `@task(track_status=True)` or `store_result=True`) or \"all\" (every task but those with `track_status=False`). Each tracked task has one record in the module's DynamoDB table, keyed by its task name and id (by its SQS message id without one), with its state, attempts, last error and times, and an index by state and time. About 3 writes per task that succeeds at once, 2 more per retry (see docs/reliability.md for the cost)."
  type        = string
  default     = "off"
  nullable    = false

  validation {
    condition     = contains(["off", "opted_in", "all"], var.track_status)
    error_message = "track_status must be \"off\", \"opted_in\" or \"all\"."
  }
}

variable "status_ttl_seconds" {
  description = "How long a task's status record outlives its last change (a scheduled task's, its due time), 1 hour to 366 days (`TASKQUEUE_STATUS_TTL_SECONDS`)."
  type        = number
  default     = 2592000

  validation {
    condition     = var.status_ttl_seconds >= 3600 && var.status_ttl_seconds <= 31622400
    error_message = "status_ttl_seconds must be between 3600 (1 hour) and 31622400 (366 days)."
  }
}

variable "idempotency_table_name" {
  description = "Name of the DynamoDB table (idempotency records and attempt counts). Defaults to `<name>-idempotency`."
  type        = string
  default     = null

  validation {
    condition     = var.idempotency_table_name == null || can(regex("^[A-Za-z0-9_.-]{3,255}$", var.idempotency_table_name))
    error_message = "idempotency_table_name must be 3 to 255 letters, digits, underscores, hyphens or dots."
  }
}

variable "idempotency_ttl_seconds" {
  description = "How long the table remembers a completed task, 60 seconds to 366 days (`TASKQUEUE_IDEMPOTENCY_TTL_SECONDS`)."
  type        = number
  default     = 86400

  validation {
    condition     = var.idempotency_ttl_seconds >= 60 && var.idempotency_ttl_seconds <= 31622400
    error_message = "idempotency_ttl_seconds must be between 60 and 31622400 (366 days)."
  }
}

variable "idempotency_table_kms_key_arn" {
  description = "ARN of a KMS key to encrypt the DynamoDB table with. Unset, DynamoDB uses its AWS-managed key."
  type        = string
  default     = null

  validation {
    condition     = var.idempotency_table_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.idempotency_table_kms_key_arn))
    error_message = "idempotency_table_kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

################################################################################
# Scheduling: tasks due later than SQS can delay them, and periodic tasks
################################################################################

variable "create_scheduling" {
  description = "Whether to create an EventBridge Scheduler schedule group and the role its schedules send with (and, for a FIFO queue, a standard dead-letter queue for them: the Scheduler takes no FIFO one). Producers then schedule tasks beyond SQS's 900 s delay (the `schedule_group_name`, `scheduler_role_arn` and `schedule_dead_letter_queue_arn` outputs), and `periodic_tasks` run."
  type        = bool
  default     = true
}

variable "schedule_loss_accepted" {
  description = "Set to a new value (say, the date and the reason) for the one apply that deletes or renames the schedule group, replaces the scheduler role or renames the queue, and so loses the producers' pending one-time schedules (see the README's \"Day 2\"); without a new value such a plan fails. Turning scheduling on in an existing deployment needs one too (nothing to lose then). Any change of the value, removing it included, accepts such a change in that apply; the value may stay, and the next such change needs another."
  type        = string
  default     = null
}

variable "schedule_group_name" {
  description = "Name of the schedule group. Defaults to `name`."
  type        = string
  default     = null

  validation {
    condition     = var.schedule_group_name == null || can(regex("^[0-9A-Za-z_.-]{1,64}$", var.schedule_group_name))
    error_message = "schedule_group_name must be 1 to 64 letters, digits, hyphens, underscores or dots."
  }
}

variable "scheduler_role_arn" {
  description = "With `create_role = false` and `create_scheduling`: ARN of the role the schedules send with. It must trust `scheduler.amazonaws.com` (the `scheduler_assume_role_policy_json` output) and hold the `scheduler_role_policy_json` output."
  type        = string
  default     = null

  validation {
    condition     = var.scheduler_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.scheduler_role_arn))
    error_message = "scheduler_role_arn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)."
  }
}

variable "periodic_tasks" {
  description = "Tasks enqueued on a calendar, by schedule name: one EventBridge Scheduler schedule each, sending the task message to the queue. Each takes `schedule` (`rate(5 minutes)`, or `cron(minutes hours day-of-month month day-of-week year)` with one day field `?`) and `task` (the registered task name), and optionally `payload` (any JSON value; null), `timezone` (an IANA name; `UTC`), `enabled` (`false` keeps the schedule, disabled; `true`), `group_id` (the message group: required on a FIFO queue, which then needs `content_based_deduplication = true`), `description` and `priority` (the queue of that priority, with `priorities`; the module's own queue without). Each run's message has the id `<schedule name>@<the run's scheduled time>`."
  # `any`: the payloads of a map of objects could not differ in shape otherwise. The validations check the rest.
  type    = any
  default = {}

  validation {
    condition = try(alltrue([for name, task in var.periodic_tasks :
      can(regex("^[0-9A-Za-z_.-]{1,64}$", name))
      && length(setsubtract(keys(task), ["schedule", "task", "payload", "timezone", "enabled", "group_id", "description", "priority"])) == 0
      && contains(concat([for priority in var.priorities : priority.name], ["(none)"]), try(task.priority, "(none)"))
      && can(regex("^[^\\s]+$", task.task))
      && can(tostring(task.schedule))
    ]), false)
    error_message = "periodic_tasks must map schedule names (1 to 64 letters, digits, hyphens, underscores or dots) to objects with a schedule and a task name (no spaces), and optionally payload, timezone, enabled, group_id, description and priority (one of priorities' names): nothing else."
  }

  validation {
    condition = try(alltrue([for name, task in var.periodic_tasks : can(regex(
      "^(rate\\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\\)|cron\\([^ ()]+ [^ ()]+ (\\? [^ ()]+ [^ ()?]+|[^ ()?]+ [^ ()]+ \\?) [^ ()]+\\))$",
      task.schedule,
    ))]), false)
    error_message = "Each periodic task's schedule must be rate(1 minute|hour|day), rate(<n> minutes|hours|days) with n of 2 or more, or cron(minutes hours day-of-month month day-of-week year) with exactly one of the two day fields \"?\", such as cron(0 3 * * ? *)."
  }

  validation {
    condition = try(alltrue([for name, task in var.periodic_tasks :
      can(tobool(try(task.enabled, true)))
      && can(regex("^[^\\s]+$", try(task.timezone, "UTC")))
      && can(regex("^[!-~]{1,128}$", try(task.group_id, "none")))
      && can(tostring(try(task.description, "")))
    ]), false)
    error_message = "A periodic task's enabled must be true or false, its timezone an IANA time zone name, its group_id 1 to 128 letters, digits or punctuation, and its description a string."
  }
}

################################################################################
# Alarms
################################################################################

variable "create_alarms" {
  description = "Whether to create the CloudWatch alarms: dead-letter queue not empty, oldest message too old, worker errors, worker throttles, and consumer errors in schedule mode."
  type        = bool
  default     = true
}

variable "alarm_actions" {
  description = "ARNs (SNS topics, for example) to notify when an alarm fires. An SNS topic encrypted with KMS needs a customer-managed key whose policy lets cloudwatch.amazonaws.com use it; the AWS-managed alias/aws/sns key does not."
  type        = list(string)
  default     = []
}

variable "ok_actions" {
  description = "ARNs to notify when an alarm returns to OK."
  type        = list(string)
  default     = []
}

variable "insufficient_data_actions" {
  description = "ARNs to notify when an alarm has too little data to decide. Idle queues stop publishing metrics, so expect these on quiet queues."
  type        = list(string)
  default     = []
}

variable "alarm_period_seconds" {
  description = "Period of the alarms' metrics, a multiple of 60 seconds (SQS and Lambda publish one-minute metrics)."
  type        = number
  default     = 60

  validation {
    condition     = var.alarm_period_seconds >= 60 && var.alarm_period_seconds % 60 == 0
    error_message = "alarm_period_seconds must be a multiple of 60."
  }
}

variable "alarm_evaluation_periods" {
  description = "How many periods every alarm evaluates (`evaluation_periods`)."
  type        = number
  default     = 1

  validation {
    condition     = var.alarm_evaluation_periods >= 1 && floor(var.alarm_evaluation_periods) == var.alarm_evaluation_periods
    error_message = "alarm_evaluation_periods must be a whole number of at least 1."
  }
}

variable "alarm_datapoints_to_alarm" {
  description = "How many of the evaluated periods must breach for an alarm to fire (M of N). Unset, all of them."
  type        = number
  default     = null

  validation {
    # Validations may not name other variables before Terraform 1.9: the alarms check the upper bound.
    condition     = var.alarm_datapoints_to_alarm == null || try(var.alarm_datapoints_to_alarm >= 1, false)
    error_message = "alarm_datapoints_to_alarm must be at least 1."
  }
}

variable "alarm_dead_letter_queue_messages_threshold" {
  description = "The dead-letter queue alarm fires when more messages than this wait there."
  type        = number
  default     = 0

  validation {
    condition     = var.alarm_dead_letter_queue_messages_threshold >= 0
    error_message = "alarm_dead_letter_queue_messages_threshold must be 0 or more."
  }
}

variable "alarm_oldest_message_age_seconds" {
  description = "The age of the queue's oldest message at which the age alarm fires. Keep it above `backoff_max_seconds`: a message waiting for its retry is old too."
  type        = number
  default     = 1800

  validation {
    condition     = var.alarm_oldest_message_age_seconds >= 60
    error_message = "alarm_oldest_message_age_seconds must be at least 60."
  }
}

variable "alarm_worker_errors_threshold" {
  description = "The worker errors alarm fires when more invocations than this in one period raise, time out or run out of memory."
  type        = number
  default     = 0

  validation {
    condition     = var.alarm_worker_errors_threshold >= 0
    error_message = "alarm_worker_errors_threshold must be 0 or more."
  }
}

variable "alarm_worker_throttles_threshold" {
  description = "The worker throttles alarm fires when more invocations than this in one period are throttled."
  type        = number
  default     = 0

  validation {
    condition     = var.alarm_worker_throttles_threshold >= 0
    error_message = "alarm_worker_throttles_threshold must be 0 or more."
  }
}

variable "alarm_consumer_errors_threshold" {
  description = "Schedule mode: the consumer errors alarm fires when more runs than this in one period fail (a misconfiguration, missing permissions, a timeout)."
  type        = number
  default     = 0

  validation {
    condition     = var.alarm_consumer_errors_threshold >= 0
    error_message = "alarm_consumer_errors_threshold must be 0 or more."
  }
}

################################################################################
# Dashboard
################################################################################

variable "create_dashboard" {
  description = "Whether to create a CloudWatch dashboard of the queue: depth and oldest message, dead-letter queue, tasks by name, durations, consumer runs, worker errors and throttles."
  type        = bool
  default     = false
}

variable "dashboard_name" {
  description = "Name of the dashboard. Dashboards are global to the account, so the default, `<name>-<region>`, keeps a second region's from overwriting the first's."
  type        = string
  default     = null

  validation {
    condition     = var.dashboard_name == null || can(regex("^[A-Za-z0-9_-]{1,255}$", var.dashboard_name))
    error_message = "dashboard_name must be 1 to 255 letters, digits, hyphens or underscores."
  }
}
