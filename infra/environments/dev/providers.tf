# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# Credentials: Application Default Credentials; CI runs with
# GOOGLE_IMPERSONATE_SERVICE_ACCOUNT set to the deployer account (infra/bootstrap).
provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    app         = "kalshi-insights"
    environment = "dev"
    managed-by  = "terraform"
  }
}
