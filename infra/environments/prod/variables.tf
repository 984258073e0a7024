# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

variable "project_id" {
  type        = string
  description = "Project of the prod environment."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid Google Cloud project id."
  }
}

variable "region" {
  type        = string
  description = "Region of every regional resource."
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must look like us-central1."
  }
}

variable "labels" {
  type        = map(string)
  description = "Extra labels for every resource (cost centre, owner ...)."
  default     = {}
}

variable "domains" {
  type        = list(string)
  description = "Domains of the dashboard and API (managed TLS certificate)."

  validation {
    condition     = length(var.domains) > 0 && alltrue([for d in var.domains : can(regex("^[a-z0-9.-]+\\.[a-z]{2,}$", d))])
    error_message = "Give at least one fully qualified domain name."
  }
}

variable "streamer_image" {
  type        = string
  description = "Streamer image by digest; Cloud Build passes the digest it just pushed."

  validation {
    condition     = can(regex("^[a-z0-9.-]+-docker\\.pkg\\.dev/.+@sha256:[0-9a-f]{64}$", var.streamer_image))
    error_message = "Use an Artifact Registry image by digest: REGION-docker.pkg.dev/PROJECT/REPO/streamer@sha256:<64 hex>."
  }
}

variable "kalshi_env" {
  type        = string
  description = "Kalshi environment: demo or production."
  default     = "production"

  validation {
    condition     = contains(["demo", "production"], var.kalshi_env)
    error_message = "kalshi_env must be demo or production."
  }
}

variable "function_source_dir" {
  type        = string
  description = "Directory of packaged function zips; null means build/functions in the repository root."
  default     = null
}

variable "function_max_instances" {
  type = object({
    poll_markets    = number
    markets         = number
    backtests       = number
    backtest_worker = number
    account         = number
  })
  description = "max_instance_count per function (bounded by sql_max_connections)."
  default = {
    poll_markets    = 1
    markets         = 20
    backtests       = 5
    backtest_worker = 5
    account         = 10
  }

  validation {
    condition     = alltrue([for n in values(var.function_max_instances) : n >= 1 && n <= 100])
    error_message = "Each max instance count must be between 1 and 100."
  }

  validation {
    condition     = var.function_max_instances.poll_markets == 1
    error_message = "poll_markets runs one poll at a time: its max instance count is 1."
  }
}

variable "poll_paused" {
  type        = bool
  description = "Create the per-minute polling job paused."
  default     = false
}

variable "backfill_paused" {
  type        = bool
  description = "Create the daily backfill job paused."
  default     = false
}

variable "backfill_days" {
  type        = number
  description = "Days of settled markets the daily backfill covers (BACKFILL_DAYS)."
  default     = 30

  validation {
    condition     = var.backfill_days >= 1 && var.backfill_days <= 365 && floor(var.backfill_days) == var.backfill_days
    error_message = "backfill_days must be a whole number of days between 1 and 365."
  }
}

variable "backfill_series" {
  type        = list(string)
  description = "Series the daily backfill loads; empty: every series Kalshi lists."
  default     = []

  validation {
    condition     = alltrue([for s in var.backfill_series : can(regex("^[A-Za-z0-9._-]+$", s))])
    error_message = "backfill_series holds Kalshi series tickers."
  }
}

variable "sql_tier" {
  type        = string
  description = "Cloud SQL machine tier."
  default     = "db-custom-2-7680"

  validation {
    condition     = can(regex("^db-(custom-[0-9]+-[0-9]+|perf-optimized-N-[0-9]+)$", var.sql_tier))
    error_message = "Use a dedicated-core tier (db-custom-CPU-MEMORY); shared-core tiers have too few connections."
  }
}

variable "sql_max_connections" {
  type        = number
  description = "Postgres max_connections."
  default     = 200

  validation {
    condition     = var.sql_max_connections >= 50 && var.sql_max_connections <= 1000
    error_message = "sql_max_connections must be between 50 and 1000."
  }
}

variable "migrator_email" {
  type        = string
  description = "The Cloud Build service account (infra/bootstrap output build_service_account); it runs migrations as an IAM database user."

  validation {
    condition     = can(regex("^[a-z0-9-]+@[a-z0-9-]+\\.iam\\.gserviceaccount\\.com$", var.migrator_email))
    error_message = "migrator_email must be a user-managed service account e-mail."
  }
}

variable "streamer_fanout_max_instances" {
  type        = number
  description = "0: the streamer is one instance. N > 0: split into the tracker and an autoscaled fan-out service of up to N instances (docs/scaling.md)."
  default     = 0

  validation {
    condition     = var.streamer_fanout_max_instances >= 0 && var.streamer_fanout_max_instances <= 100
    error_message = "streamer_fanout_max_instances must be between 0 (no split) and 100."
  }
}
