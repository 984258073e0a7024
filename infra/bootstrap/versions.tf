# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

terraform {
  required_version = ">= 1.9"

  # terraform init -backend-config="bucket=<state bucket>" -backend-config="prefix=kalshi-insights/bootstrap"
  backend "gcs" {}

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.10, < 8"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    app        = "kalshi-insights"
    managed-by = "terraform"
  }
}
