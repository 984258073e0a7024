# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

output "name" {
  description = "Deployed function name."
  value       = google_cloudfunctions2_function.this.name
}

output "uri" {
  description = "HTTPS URL of the function's Cloud Run service."
  value       = google_cloudfunctions2_function.this.service_config[0].uri
}

output "service_name" {
  description = "Name of the underlying Cloud Run service (serverless NEG target, run.invoker grants)."
  value       = google_cloudfunctions2_function.this.service_config[0].service
}

output "service_account_email" {
  description = "E-mail of the function's runtime service account."
  value       = google_service_account.runtime.email
}

output "service_account_member" {
  description = "The runtime account as an IAM member string."
  value       = "serviceAccount:${google_service_account.runtime.email}"
}

output "source_object" {
  description = "Source archive object (named by its SHA-256)."
  value       = google_storage_bucket_object.source.name
}
