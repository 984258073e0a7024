# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

output "ip_address" {
  description = "The load balancer's global IP; point the domains' A records here."
  value       = google_compute_global_address.this.address
}

output "url" {
  description = "The dashboard's origin."
  value       = "https://${var.domains[0]}"
}

output "static_bucket_name" {
  description = "Bucket to upload frontend/dist to."
  value       = google_storage_bucket.static.name
}
