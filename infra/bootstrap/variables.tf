# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

variable "project_id" {
  type        = string
  description = "Project to bootstrap (one per environment)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid Google Cloud project id."
  }
}

variable "region" {
  type        = string
  description = "Region of the Artifact Registry repository (same as the environment)."
  default     = "us-central1"
}

variable "state_bucket" {
  type        = string
  description = "Existing bucket holding Terraform state (created with gcloud before the first init)."
}

variable "labels" {
  type        = map(string)
  description = "Extra labels."
  default     = {}
}
