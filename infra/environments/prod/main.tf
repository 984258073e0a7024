# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# The prod environment: the platform module with prod sizes.
# The Cloud SQL instance is deletion-protected and regional here, whatever the inputs say.

module "platform" {
  source = "../../modules/platform"

  project_id          = var.project_id
  region              = var.region
  environment         = "prod"
  labels              = var.labels
  domains             = var.domains
  streamer_image      = var.streamer_image
  kalshi_env          = var.kalshi_env
  function_source_dir = coalesce(var.function_source_dir, "${path.root}/../../../build/functions")

  function_max_instances = var.function_max_instances
  poll_paused            = var.poll_paused
  backfill_paused        = var.backfill_paused
  backfill_days          = var.backfill_days
  backfill_series        = var.backfill_series
  migrator_email         = var.migrator_email

  sql_tier                = var.sql_tier
  sql_availability_type   = "REGIONAL"
  sql_deletion_protection = true
  sql_max_connections     = var.sql_max_connections

  streamer_fanout_max_instances = var.streamer_fanout_max_instances
}
