# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

output "build_service_account" {
  description = "Set as the Cloud Build trigger's service account (cloudbuild.yaml _BUILD_SA)."
  value       = google_service_account.build.email
}

output "deployer_service_account" {
  description = "Terraform's identity in CI (cloudbuild.yaml _DEPLOYER_SA)."
  value       = google_service_account.deployer.email
}

output "image_repository" {
  description = "Artifact Registry path for images (cloudbuild.yaml _AR_REPO)."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}
