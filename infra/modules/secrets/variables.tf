# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

variable "project_id" {
  type        = string
  description = "Project that owns the secrets."
}

variable "secrets" {
  type = map(object({
    description = string
    accessors   = map(string)
  }))
  description = "Secret id => what it holds and who may read it (static key => IAM member). Containers only: values are added with gcloud."

  validation {
    condition     = alltrue([for id, _ in var.secrets : can(regex("^[A-Za-z0-9_-]{1,255}$", id))])
    error_message = "Secret ids use letters, digits, '-' and '_' (at most 255)."
  }

  validation {
    condition     = alltrue(flatten([for s in var.secrets : [for m in values(s.accessors) : !contains(["allUsers", "allAuthenticatedUsers"], m)]]))
    error_message = "Secrets are never readable by allUsers or allAuthenticatedUsers."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels put on every secret."
  default     = {}
}
