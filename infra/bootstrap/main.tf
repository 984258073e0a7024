# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# Run once per project by a human (infra/README.md, "Bootstrap"): the identities Cloud Build
# uses, the image repository and the CI artifacts bucket. Everything else is created by
# environments/<env> running as the deployer account, so CI never holds more than this file
# grants (docs/decisions/0105).
#   ci       - runs cloudbuild.yaml (tests and packaging: the code under review and every
#              package it installs); writes logs, images and the artifacts bucket, nothing else.
#   build    - runs cloudbuild-deploy.yaml (no tests); reads the artifacts and may impersonate
#              the deployer.
#   deployer - what Terraform runs as (GOOGLE_IMPERSONATE_SERVICE_ACCOUNT); predefined admin
#              roles for the products the platform uses, never a basic role.

locals {
  labels = merge(var.labels, { app = "kalshi-insights", managed-by = "terraform" })

  deployer_roles = [
    "roles/artifactregistry.reader",
    "roles/cloudfunctions.admin",
    "roles/cloudscheduler.admin",
    "roles/cloudsql.admin",
    "roles/cloudtasks.admin",
    "roles/compute.loadBalancerAdmin",
    "roles/iam.serviceAccountAdmin",
    "roles/pubsub.admin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
  ]
}

module "project_services" {
  source = "../modules/project_services"

  project_id = var.project_id
  services = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "serviceusage.googleapis.com",
    "storage.googleapis.com",
  ])
}

resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption suffices for application images (no secrets are baked into images).
  project       = var.project_id
  location      = var.region
  repository_id = "kalshi-insights"
  format        = "DOCKER"
  description   = "Streamer images, deployed by digest."
  labels        = local.labels

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"

    most_recent_versions {
      keep_count = 20
    }
  }

  depends_on = [module.project_services]
}

resource "google_service_account" "ci" {
  project      = var.project_id
  account_id   = "ki-ci"
  display_name = "Kalshi Insights CI (tests)"
  description  = "Runs cloudbuild.yaml: tests and packaging. Impersonates no one."
}

resource "google_project_iam_member" "ci_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.ci.email}"
}

# Packaged functions of each tested commit, read by the deploy build; kept 30 days.
resource "google_storage_bucket" "ci_artifacts" {
  #checkov:skip=CKV_GCP_62:Only the two CI identities touch this bucket; Cloud Audit Logs record their access, a log bucket adds nothing.
  project                     = var.project_id
  name                        = "${var.project_id}-ci-artifacts"
  location                    = var.region
  labels                      = local.labels
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [module.project_services]
}

resource "google_storage_bucket_iam_member" "ci_writes_artifacts" {
  bucket = google_storage_bucket.ci_artifacts.name
  role   = "roles/storage.objectCreator"
  member = "serviceAccount:${google_service_account.ci.email}"
}

resource "google_storage_bucket_iam_member" "build_reads_artifacts" {
  bucket = google_storage_bucket.ci_artifacts.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build.email}"
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "ki-cloudbuild"
  display_name = "Kalshi Insights Cloud Build"
  description  = "Runs cloudbuild-deploy.yaml; impersonates ki-deployer for Terraform, runs no tests."
}

resource "google_service_account" "deployer" {
  project      = var.project_id
  account_id   = "ki-deployer"
  display_name = "Kalshi Insights Terraform deployer"
  description  = "Identity Terraform runs as in CI (GOOGLE_IMPERSONATE_SERVICE_ACCOUNT)."
}

# Logs, plus the Cloud SQL connector roles: the build runs Alembic migrations as an IAM
# database user (environments pass this account as migrator_email).
resource "google_project_iam_member" "build" {
  for_each = toset(["roles/logging.logWriter", "roles/cloudsql.client", "roles/cloudsql.instanceUser"])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.build.email}"
}

# Images are built by CI (tests passed); the deployer reads them (artifactregistry.reader).
resource "google_artifact_registry_repository_iam_member" "ci_pushes_images" {
  project    = var.project_id
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.ci.email}"
}

# The build identity may mint tokens for the deployer and nothing else.
resource "google_service_account_iam_member" "build_impersonates_deployer" {
  service_account_id = google_service_account.deployer.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.build.email}"
}

resource "google_project_iam_member" "deployer" {
  #checkov:skip=CKV_GCP_49:The deployer creates the runtime service accounts of the environment (serviceAccountAdmin); only the build account can impersonate it.
  #checkov:skip=CKV_GCP_117:The deployer is CI's Terraform identity; it administers the products the platform owns, through impersonation from the build account only.
  for_each = toset(local.deployer_roles)

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

# The deployer attaches runtime accounts to functions and Cloud Run, which needs actAs on
# them; they are created by the environment, so the grant is project-wide for this one
# identity.
resource "google_project_iam_member" "deployer_act_as" {
  #checkov:skip=CKV_GCP_49:Same justification as CKV_GCP_41.
  #checkov:skip=CKV_GCP_41:Only the Terraform deployer (reachable solely by the build account) holds actAs, needed to deploy functions and services as their runtime accounts created later by the environment.
  project = var.project_id
  role    = "roles/iam.serviceAccountUser"
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

resource "google_storage_bucket_iam_member" "deployer_state" {
  bucket = var.state_bucket
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.deployer.email}"
}
