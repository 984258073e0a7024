# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# Secret *containers* only. Values are added outside Terraform (gcloud secrets versions add,
# see infra/README.md), so no secret value ever sits in a .tf file, a plan or the state
# (docs/decisions/0072). Access is granted per secret to exactly the identities that read it.

locals {
  accessor_pairs = merge([
    for secret, spec in var.secrets : {
      for who, member in spec.accessors : "${secret}|${who}" => { secret = secret, member = member }
    }
  ]...)
}

resource "google_secret_manager_secret" "this" {
  for_each = var.secrets

  project   = var.project_id
  secret_id = each.key
  labels    = var.labels
  annotations = {
    purpose = each.value.description
  }

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = local.accessor_pairs

  project   = var.project_id
  secret_id = google_secret_manager_secret.this[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value.member
}
