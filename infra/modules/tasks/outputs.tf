# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

output "queue_id" {
  description = "projects/P/locations/L/queues/Q, the value of CLOUD_TASKS_QUEUE."
  value       = google_cloud_tasks_queue.this.id
}

output "invoker_email" {
  description = "E-mail of the account whose OIDC token every task carries."
  value       = google_service_account.invoker.email
}

output "invoker_member" {
  description = "The invoker account as an IAM member string."
  value       = "serviceAccount:${google_service_account.invoker.email}"
}
