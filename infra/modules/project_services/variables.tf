# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

variable "project_id" {
  type        = string
  description = "Project in which the APIs are enabled."
}

variable "services" {
  type        = set(string)
  description = "API service names to enable, such as run.googleapis.com."

  validation {
    condition     = alltrue([for s in var.services : endswith(s, ".googleapis.com")])
    error_message = "Each service must be an API name ending in .googleapis.com."
  }
}
