# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

terraform {
  required_version = ">= 1.9"

  # Bucket and prefix come from init, never from this file:
  #   terraform init -backend-config="bucket=<state bucket>" -backend-config="prefix=kalshi-insights/dev"
  backend "gcs" {}

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.10, < 8"
    }
  }
}
