# The platform's own roles, as a team with a central IAM process would bring them: the module's
# policies are attached from its outputs, and the network permissions a function in a VPC needs. The
# scheduler's role takes its trust policy from the module too: the Scheduler, for the queue's schedule
# group only.

locals {
  lambda_assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role" "consumer" {
  name_prefix        = "${local.name}-consumer-"
  assume_role_policy = local.lambda_assume_role_policy
}

resource "aws_iam_role" "worker" {
  name_prefix        = "${local.name}-worker-"
  assume_role_policy = local.lambda_assume_role_policy
}

resource "aws_iam_role" "scheduler" {
  name_prefix        = "${local.name}-scheduler-"
  assume_role_policy = module.task_queue.scheduler_assume_role_policy_json
}

resource "aws_iam_role_policy" "consumer" {
  name   = "taskqueue-consumer"
  role   = aws_iam_role.consumer.id
  policy = module.task_queue.consumer_role_policy_json
}

resource "aws_iam_role_policy" "worker" {
  name   = "taskqueue-worker"
  role   = aws_iam_role.worker.id
  policy = module.task_queue.worker_role_policy_json
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "taskqueue-scheduler"
  role   = aws_iam_role.scheduler.id
  policy = module.task_queue.scheduler_role_policy_json
}

resource "aws_iam_role_policy_attachment" "consumer_network" {
  role       = aws_iam_role.consumer.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaENIManagementAccess"
}

resource "aws_iam_role_policy_attachment" "worker_network" {
  role       = aws_iam_role.worker.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaENIManagementAccess"
}

# Lambda checks at creation that a function in a VPC may manage its network interfaces: the functions
# take their roles' ARNs by way of those attachments, so that they are created after them. (depends_on
# on the module call would do the same, but defer every data source in the module to the apply.)
locals {
  consumer_role_arn = one([for attachment in [aws_iam_role_policy_attachment.consumer_network] : aws_iam_role.consumer.arn])
  worker_role_arn   = one([for attachment in [aws_iam_role_policy_attachment.worker_network] : aws_iam_role.worker.arn])
}
