# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# Run once per project by a human (infra/README.md, "Bootstrap"): the identities Cloud Build
# uses and the image repository. Everything else is created by environments/<env> running
# as the deployer account, so CI never holds more than this file grants.
#   build    - runs cloudbuild.yaml steps; may only push images and impersonate the deployer.
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

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "ki-cloudbuild"
  display_name = "Kalshi Insights Cloud Build"
  description  = "Runs cloudbuild.yaml; pushes images and impersonates ki-deployer for Terraform."
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

resource "google_artifact_registry_repository_iam_member" "build_pushes_images" {
  project    = var.project_id
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.build.email}"
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
