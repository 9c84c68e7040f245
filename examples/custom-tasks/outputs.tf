output "queue_url" {
  description = "Where to send report tasks."
  value       = module.task_queue.queue_url
}

output "dead_letter_queue_url" {
  description = "Where failed reports end up, with the reason."
  value       = module.task_queue.dead_letter_queue_url
}

output "worker_role_name" {
  description = "The worker's role, with the report permissions."
  value       = module.task_queue.worker_role_name
}

output "idempotency_table_name" {
  description = "The table that remembers which reports were written."
  value       = module.task_queue.idempotency_table_name
}

output "alerts_topic_arn" {
  description = "Subscribe to it for the alarms."
  value       = aws_sns_topic.alerts.arn
}

output "producer_policy_json" {
  description = "Attach to the roles that send report tasks."
  value       = module.task_queue.producer_policy_json
}
