# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

variable "project_id" {
  type        = string
  description = "Project that hosts the environment."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid Google Cloud project id."
  }
}

variable "region" {
  type        = string
  description = "Region of every regional resource."
}

variable "environment" {
  type        = string
  description = "Environment name, used in resource names and labels."

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod."
  }
}

variable "labels" {
  type        = map(string)
  description = "Extra labels merged into the app/environment/managed-by labels every resource gets."
  default     = {}
}

variable "domains" {
  type        = list(string)
  description = "Domains served by the HTTPS load balancer (managed certificate)."
}

variable "function_source_dir" {
  type        = string
  description = "Directory with the packaged function zips (<name>.zip) from devstack/package_functions.py."
}

variable "function_max_instances" {
  type = object({
    poll_markets    = number
    markets         = number
    backtests       = number
    backtest_worker = number
    account         = number
  })
  description = "max_instance_count of each function; with the DB pool they must fit sql_max_connections."
}

variable "streamer_image" {
  type        = string
  description = "Streamer image by digest (...@sha256:...), pushed by Cloud Build."
}

variable "streamer_fanout_max_instances" {
  type        = number
  description = "Split the streamer (docs/scaling.md): 0 runs one instance doing everything; N > 0 runs the tracker alone (min = max = 1, publishing position-events) and an autoscaled fan-out service of 1 to N instances serving /api/v1/stream."
  default     = 0

  validation {
    condition     = var.streamer_fanout_max_instances >= 0 && var.streamer_fanout_max_instances <= 100
    error_message = "streamer_fanout_max_instances must be between 0 (no split) and 100."
  }
}

variable "kalshi_env" {
  type        = string
  description = "Kalshi environment the deployables talk to (KALSHI_ENV)."

  validation {
    condition     = contains(["demo", "production"], var.kalshi_env)
    error_message = "kalshi_env must be demo or production."
  }
}

variable "poll_schedule" {
  type        = string
  description = "unix-cron schedule of market polling."
  default     = "* * * * *"
}

variable "poll_paused" {
  type        = bool
  description = "Create the polling job paused."
  default     = false
}

variable "backfill_schedule" {
  type        = string
  description = "unix-cron schedule (UTC) of the daily backfill: settled markets of the last backfill_days days (docs/decisions/0232)."
  default     = "0 7 * * *"

  validation {
    condition     = length(split(" ", trimspace(var.backfill_schedule))) == 5
    error_message = "backfill_schedule is a five-field unix-cron expression."
  }
}

variable "backfill_paused" {
  type        = bool
  description = "Create the daily backfill job paused."
  default     = false
}

variable "backfill_days" {
  type        = number
  description = "Days before each UTC midnight the daily backfill covers (BACKFILL_DAYS)."
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
}

variable "sql_availability_type" {
  type        = string
  description = "ZONAL or REGIONAL."
}

variable "sql_deletion_protection" {
  type        = bool
  description = "Protect the Cloud SQL instance from deletion."
}

variable "sql_max_connections" {
  type        = number
  description = "Postgres max_connections; must exceed every deployable's max instances x (pool size + overflow)."
}

variable "migrator_email" {
  type        = string
  description = "Service account that runs Alembic migrations (the Cloud Build account from infra/bootstrap); it becomes an IAM database user."

  validation {
    condition     = can(regex("^[a-z0-9-]+@[a-z0-9-]+\\.iam\\.gserviceaccount\\.com$", var.migrator_email))
    error_message = "migrator_email must be a user-managed service account e-mail (not the default compute account)."
  }
}

variable "api_cursor_key_version" {
  type        = string
  description = "Pinned version number of the api-cursor-key secret the API functions read as API_CURSOR_KEY; add a version (infra/README.md) before the first apply."
  default     = "1"

  validation {
    condition     = can(regex("^[1-9][0-9]*$", var.api_cursor_key_version))
    error_message = "Pin the secret version to a number; \"latest\" would change running functions silently."
  }
}
