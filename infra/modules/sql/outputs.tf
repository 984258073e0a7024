# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

output "connection_name" {
  description = "PROJECT:REGION:INSTANCE, the value of INSTANCE_CONNECTION_NAME."
  value       = google_sql_database_instance.this.connection_name
}

output "instance_name" {
  description = "Instance name."
  value       = google_sql_database_instance.this.name
}

output "database_name" {
  description = "Application database name (DB_NAME)."
  value       = google_sql_database.app.name
}

output "iam_user_names" {
  description = "Postgres user names of the IAM service-account users (DB_USER), by key."
  value       = { for k, u in google_sql_user.iam_service_account : k => u.name }
}
