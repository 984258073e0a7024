# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

output "url" {
  description = "Dashboard and API origin."
  value       = module.platform.url
}

output "load_balancer_ip" {
  description = "Point the domains' DNS A records here."
  value       = module.platform.load_balancer_ip
}

output "static_bucket_name" {
  description = "Bucket that serves the built dashboard."
  value       = module.platform.static_bucket_name
}

output "sql_connection_name" {
  description = "INSTANCE_CONNECTION_NAME (migrations run against it)."
  value       = module.platform.sql_connection_name
}

output "sql_iam_users" {
  description = "IAM database users of the deployables."
  value       = module.platform.sql_iam_users
}

output "sql_role_grants" {
  description = "GRANT statements that put each deployable's IAM user in its own group role (run once as the migrator)."
  value       = module.platform.sql_role_grants
}

output "backtest_queue" {
  description = "CLOUD_TASKS_QUEUE."
  value       = module.platform.backtest_queue
}

output "secret_ids" {
  description = "Secrets to fill with gcloud secrets versions add."
  value       = module.platform.secret_ids
}

output "function_uris" {
  description = "Function URLs."
  value       = module.platform.function_uris
}

output "service_accounts" {
  description = "Service account e-mails."
  value       = module.platform.service_accounts
}

output "database_connection_budget" {
  description = "Worst-case connections of all deployables."
  value       = module.platform.database_connection_budget
}
