output "queue_url" {
  description = "Where to send tasks (with the queue key's permission)."
  value       = module.task_queue.queue_url
}

output "dead_letter_queue_url" {
  description = "Where failed tasks end up, with the reason."
  value       = module.task_queue.dead_letter_queue_url
}

output "consumer_function_name" {
  description = "The scheduled consumer, in the VPC."
  value       = module.task_queue.consumer_function_name
}

output "worker_function_name" {
  description = "The worker, in the VPC."
  value       = module.task_queue.worker_function_name
}

output "producer_policy_json" {
  description = "Attach to the roles of this account that send tasks."
  value       = module.task_queue.producer_policy_json
}

output "order_events_topic_arn" {
  description = "Publish task bodies here to enqueue them."
  value       = aws_sns_topic.order_events.arn
}

output "dashboard_name" {
  description = "The queue's CloudWatch dashboard."
  value       = module.task_queue.dashboard_name
}
