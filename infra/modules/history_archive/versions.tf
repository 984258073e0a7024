# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

terraform {
  required_version = ">= 1.9"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.10, < 8"
    }
  }

  provider_meta "google" {
    module_name = "kalshi-insights/infra:history_archive/v0.1.0"
  }
}
