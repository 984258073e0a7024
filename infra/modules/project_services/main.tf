# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# Every API the platform uses is enabled explicitly, and never disabled on destroy: another
# stack in the same project may depend on it, and disabling an API deletes its resources.
resource "google_project_service" "this" {
  for_each = var.services

  project                    = var.project_id
  service                    = each.value
  disable_on_destroy         = false
  disable_dependent_services = false
}
