# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

output "name" {
  description = "Service name (serverless NEG target)."
  value       = google_cloud_run_v2_service.this.name
}

output "uri" {
  description = "The service's run.app URL (reachable only through the load balancer with the default ingress)."
  value       = google_cloud_run_v2_service.this.uri
}

output "service_account_email" {
  description = "E-mail of the runtime service account."
  value       = local.runtime_email
}

output "service_account_member" {
  description = "The runtime account as an IAM member string."
  value       = "serviceAccount:${local.runtime_email}"
}
