# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

output "ci_service_account" {
  description = "Service account of the CI trigger (cloudbuild.yaml _CI_SA): tests, no impersonation."
  value       = google_service_account.ci.email
}

output "ci_artifacts_bucket" {
  description = "Bucket of packaged functions per commit (_ARTIFACTS_BUCKET in both builds)."
  value       = google_storage_bucket.ci_artifacts.name
}

output "build_service_account" {
  description = "Service account of the deploy trigger (cloudbuild-deploy.yaml _BUILD_SA)."
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
