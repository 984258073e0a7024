# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

output "load_balancer_ip" {
  description = "Point the domains' DNS A records here."
  value       = module.lb.ip_address
}

output "url" {
  description = "The dashboard and API origin."
  value       = module.lb.url
}

output "static_bucket_name" {
  description = "Upload frontend/dist here (cloudbuild.yaml does)."
  value       = module.lb.static_bucket_name
}

output "sql_connection_name" {
  description = "INSTANCE_CONNECTION_NAME for migrations and the deployables."
  value       = module.sql.connection_name
}

output "sql_iam_users" {
  description = "Postgres user names of the deployables (each joins its own group role: sql_role_grants)."
  value       = module.sql.iam_user_names
}

output "sql_role_grants" {
  description = "Run once as the migrator after migrating: each deployable's IAM user joins its own group role (shared/db/roles.py, docs/decisions/0080)."
  # Every deployable has a db_timeouts entry; the migrator owns the schema instead.
  value = [
    for k, user in module.sql.iam_user_names : "GRANT ki_${k} TO \"${user}\";"
    if contains(keys(local.db_timeouts), k)
  ]
}

output "backtest_queue" {
  description = "Full id of the backtests queue (CLOUD_TASKS_QUEUE)."
  value       = module.backtest_queue.queue_id
}

output "secret_ids" {
  description = "Secret Manager secrets to fill with gcloud secrets versions add."
  value       = module.secrets.secret_ids
}

output "function_uris" {
  description = "run.app URLs of the functions (reachable only through the LB or internal callers)."
  value = {
    poll_markets    = module.fn_poll_markets.uri
    markets         = module.fn_markets.uri
    backtests       = module.fn_backtests.uri
    backtest_worker = module.fn_backtest_worker.uri
    account         = module.fn_account.uri
  }
}

output "service_accounts" {
  description = "Runtime and invoker service account e-mails."
  value = {
    poll_markets     = module.fn_poll_markets.service_account_email
    markets          = module.fn_markets.service_account_email
    backtests        = module.fn_backtests.service_account_email
    backtest_worker  = module.fn_backtest_worker.service_account_email
    account          = module.fn_account.service_account_email
    streamer         = module.streamer.service_account_email
    push_invoker     = google_service_account.push_invoker.email
    tasks_invoker    = module.backtest_queue.invoker_email
    function_builder = google_service_account.function_builder.email
  }
}

output "database_connection_budget" {
  description = "Worst-case Postgres connections of all deployables at max scale."
  value       = local.db_connections

  precondition {
    condition     = local.db_connections + 10 <= var.sql_max_connections
    error_message = "max instances x (pool size + overflow) of all deployables, plus 10 for operators and migrations, exceeds sql_max_connections: lower function_max_instances or raise sql_max_connections."
  }
}
