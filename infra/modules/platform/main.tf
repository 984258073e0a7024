# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0

# The whole Kalshi Insights deployment for one environment. environments/{dev,prod} call
# this module with their sizes; everything that differs between them is an input.
#
# Topics (publisher -> subscriber):
#   poll-trigger      Cloud Scheduler      -> function poll_markets (push, OIDC)
#   market-snapshots  poll_markets         -> streamer (pull)
#   account-events    account              -> streamer (pull)
#   backtest-events   backtests, worker    -> streamer (pull)
#   position-events   streamer (tracker)   -> streamer fan-outs (pull, split mode only)
# Each topic has <topic>-dead-letter and <topic>-dead-letter-sub (docs/decisions/0040).

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  prefix = "ki-${var.environment}"
  labels = merge(var.labels, {
    app         = "kalshi-insights"
    environment = var.environment
    managed-by  = "terraform"
  })

  apis = [
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtasks.googleapis.com",
    "compute.googleapis.com",
    "eventarc.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
  ]

  # Identities that touch Cloud SQL get the connector's client role and log in as IAM users.
  db_project_roles = ["roles/cloudsql.client", "roles/cloudsql.instanceUser"]

  # Per-instance SQLAlchemy pool (shared.config.DatabaseSettings: DB_POOL_SIZE, DB_MAX_OVERFLOW).
  db_pool_size    = 2
  db_max_overflow = 2
  # Every wait on the database is bounded, per deployable, below its request timeout
  # (docs/decisions/0081): seconds to open a connection, for one statement on the server,
  # for one socket read (statement + margin, so the server cancels first) and for a free
  # pooled connection. Worst case pool + connect + 2 x socket (a stalled pre-ping, then the
  # statement) stays under the function's timeout_seconds (tests/infra/test_database_policy.py).
  db_timeouts = {
    poll_markets    = { connect = 10, statement = 120, socket = 130, pool = 10 }
    markets         = { connect = 3, statement = 8, socket = 10, pool = 5 }
    backtests       = { connect = 3, statement = 8, socket = 10, pool = 5 }
    backtest_worker = { connect = 10, statement = 600, socket = 620, pool = 30 }
    account         = { connect = 3, statement = 8, socket = 10, pool = 5 }
    streamer        = { connect = 5, statement = 20, socket = 25, pool = 10 }
    backfill        = { connect = 10, statement = 300, socket = 320, pool = 30 }
  }
  db_env = {
    for k, t in local.db_timeouts : k => {
      DB_CONNECT_TIMEOUT   = tostring(t.connect)
      DB_STATEMENT_TIMEOUT = tostring(t.statement)
      DB_SOCKET_TIMEOUT    = tostring(t.socket)
      DB_POOL_TIMEOUT      = tostring(t.pool)
    }
  }
  # Every deployable's worst case, checked against max_connections (output precondition).
  db_connections = (local.db_pool_size + local.db_max_overflow) * (
    var.function_max_instances.poll_markets + var.function_max_instances.markets +
    var.function_max_instances.backtests + var.function_max_instances.backtest_worker +
    var.function_max_instances.account + 1 + # the streamer: exactly one instance (the tracker)
    var.streamer_fanout_max_instances +      # split: its fan-out instances
    1                                        # the backfill: one task at a time
  )
  # The streamer split (docs/scaling.md): the tracker stays the singleton above, the fan-outs
  # autoscale behind /api/v1/stream. Each fan-out instance names and creates its own pull
  # subscriptions at start-up (STREAMER_INSTANCE=auto, one-day expiry), since every
  # instance must see every user's events; hence a custom role for the streamer's account
  # with exactly the permissions that takes (google_project_iam_custom_role below).
  streamer_split = var.streamer_fanout_max_instances > 0
  # Known before apply (for_each keys in run_service must be), unlike the resource's name.
  streamer_subscriptions_role = "projects/${var.project_id}/roles/kiStreamerSubscriptions_${var.environment}"

  # Cloud Run's deterministic URL, known before the worker exists: the OIDC audience of
  # every task and the URL tasks are sent to (a function cannot reference its own URL).
  backtest_worker_url = "https://backtest-worker-${data.google_project.this.number}.${var.region}.run.app"
  # The same for the backfill function: where its fan-out sends the per-series tasks.
  backfill_url = "https://backfill-${data.google_project.this.number}.${var.region}.run.app"
  # The same for the account function: the audience of the day-boundary job's OIDC token.
  account_url = "https://account-${data.google_project.this.number}.${var.region}.run.app"

  # What the account and backtests functions need to authenticate browsers: the origins a
  # state-changing request may come from (the CSRF Origin check), and how many
  # X-Forwarded-For hops the load balancer adds ("<supplied>, <client>, <lb>": the client
  # is the second from the right).
  auth_env = {
    AUTH_ALLOWED_ORIGINS    = join(",", [for domain in var.domains : "https://${domain}"])
    AUTH_TRUSTED_PROXY_HOPS = "2"
  }

  # The worker's resources, in one place: the worker runs with them, and the API (which
  # sizes runs for the worker's memory, sets each task's dispatch deadline to its timeout
  # and reaps runs past timeout x attempts) reads the same numbers from its environment.
  backtest_worker = {
    memory_mb    = 2048
    timeout_s    = 1800 # also the tasks' dispatch deadline (Cloud Tasks allows at most 30 min)
    max_attempts = 5
  }
  backtest_worker_env = {
    BACKTEST_WORKER_MEMORY_MB = tostring(local.backtest_worker.memory_mb)
    BACKTEST_WORKER_TIMEOUT_S = tostring(local.backtest_worker.timeout_s)
    BACKTEST_MAX_ATTEMPTS     = tostring(local.backtest_worker.max_attempts)
  }

  # Runtime account ids, fixed here so that a deployable's DB_USER (IAM database user name:
  # the account e-mail without ".gserviceaccount.com") is known without referring to itself.
  account_ids = {
    poll_markets    = "${local.prefix}-fn-poll-markets"
    markets         = "${local.prefix}-fn-markets"
    backtests       = "${local.prefix}-fn-backtests"
    backtest_worker = "${local.prefix}-fn-backtest-worker"
    account         = "${local.prefix}-fn-account"
    streamer        = "${local.prefix}-run-streamer"
    backfill        = "${local.prefix}-fn-backfill"
  }
  db_users = { for k, id in local.account_ids : k => "${id}@${var.project_id}.iam" }

  # The snapshot archive (modules/history_archive): the poller writes it, the worker reads.
  history_bucket = "${var.project_id}-${var.environment}-history-archive"
  history_env    = { HISTORY_ARCHIVE_URL = "gs://${local.history_bucket}" }

  secret_names = {
    jwt_signing_key    = "jwt-signing-key"
    credential_keyring = "credential-keyring"
    db_password        = "db-password"
    api_cursor_key     = "api-cursor-key"
  }

  # The pagination cursors' HMAC key (shared.api.cursor reads API_CURSOR_KEY): filled from
  # Secret Manager at instance start, the same pinned version in every API function, so a
  # cursor from one instance verifies on any other.
  api_secret_env = {
    API_CURSOR_KEY = {
      secret  = local.secret_names.api_cursor_key
      version = var.api_cursor_key_version
    }
  }

  common_env = {
    GOOGLE_CLOUD_PROJECT     = var.project_id
    APP_ENVIRONMENT          = var.environment
    INSTANCE_CONNECTION_NAME = module.sql.connection_name
    DB_NAME                  = module.sql.database_name
    DB_IAM_AUTH              = "true"
    DB_IP_TYPE               = "PUBLIC"
    DB_POOL_SIZE             = tostring(local.db_pool_size)
    DB_MAX_OVERFLOW          = tostring(local.db_max_overflow)
    KALSHI_ENV               = var.kalshi_env
    LOG_EXECUTION_ID         = "true"
    PYTHONUNBUFFERED         = "1"
  }
  secret_name_env = {
    # Read by shared/auth/settings.py (AuthSettings).
    AUTH_SESSION_KEYS_SECRET        = local.secret_names.jwt_signing_key
    AUTH_CREDENTIAL_KEY_RING_SECRET = local.secret_names.credential_keyring
  }
}

module "project_services" {
  source = "../project_services"

  project_id = var.project_id
  services   = toset(local.apis)
}

# ================================================================ identities not tied to one deployable

# The identity Pub/Sub puts in the OIDC token of every push delivery.
resource "google_service_account" "push_invoker" {
  project      = var.project_id
  account_id   = "${local.prefix}-push-invoker"
  display_name = "Pub/Sub push invoker (${var.environment})"
  description  = "OIDC identity of push subscriptions; may only invoke their consumer functions."
}

# Cloud Build builds function sources as this account, never as the default compute account.
resource "google_service_account" "function_builder" {
  project      = var.project_id
  account_id   = "${local.prefix}-fn-builder"
  display_name = "Cloud Functions build identity (${var.environment})"
  description  = "Builds function containers from the source bucket."
}

resource "google_project_iam_member" "function_builder" {
  for_each = toset(["roles/logging.logWriter", "roles/artifactregistry.writer"])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.function_builder.email}"
}

# ================================================================ function source bucket

resource "google_storage_bucket" "function_source" {
  #checkov:skip=CKV_GCP_62:Only Terraform writes here and the function builder reads; Cloud Audit Logs record both, a second log bucket adds nothing.
  project                     = var.project_id
  name                        = "${var.project_id}-${var.environment}-function-source"
  location                    = var.region
  labels                      = local.labels
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.environment != "prod"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [module.project_services]
}

resource "google_storage_bucket_iam_member" "function_builder_reads_source" {
  bucket = google_storage_bucket.function_source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.function_builder.email}"
}

# ================================================================ snapshot archive

module "history_archive" {
  source = "../history_archive"

  project_id     = var.project_id
  region         = var.region
  bucket_name    = local.history_bucket
  labels         = local.labels
  force_destroy  = var.environment != "prod"
  writer_members = [module.fn_poll_markets.service_account_member]
  reader_members = [module.fn_backtest_worker.service_account_member]

  depends_on = [module.project_services]
}

# ================================================================ Cloud SQL

module "sql" {
  source = "../sql"

  project_id          = var.project_id
  region              = var.region
  instance_name       = "${local.prefix}-pg"
  tier                = var.sql_tier
  availability_type   = var.sql_availability_type
  deletion_protection = var.sql_deletion_protection
  max_connections     = var.sql_max_connections
  labels              = local.labels

  iam_service_accounts = {
    poll_markets    = module.fn_poll_markets.service_account_email
    markets         = module.fn_markets.service_account_email
    backtests       = module.fn_backtests.service_account_email
    backtest_worker = module.fn_backtest_worker.service_account_email
    account         = module.fn_account.service_account_email
    streamer        = module.streamer.service_account_email
    backfill        = module.fn_backfill.service_account_email
    migrator        = var.migrator_email
  }

  depends_on = [module.project_services]
}

# ================================================================ secrets (containers only)

module "secrets" {
  source = "../secrets"

  project_id = var.project_id
  labels     = local.labels

  secrets = {
    # Only the deployables that verify sessions: account (which also signs them), backtests
    # (runs belong to users) and the streamer. The markets API is public and never reads it.
    (local.secret_names.jwt_signing_key) = {
      description = "Ed25519 key ring that signs dashboard session JWTs (EdDSA, kid header)"
      accessors = {
        backtests = module.fn_backtests.service_account_member
        account   = module.fn_account.service_account_member
        streamer  = module.streamer.service_account_member
      }
    }
    (local.secret_names.credential_keyring) = {
      description = "AES-256-GCM key ring that seals users' stored Kalshi API credentials"
      accessors = {
        account  = module.fn_account.service_account_member
        streamer = module.streamer.service_account_member
      }
    }
    (local.secret_names.api_cursor_key) = {
      description = "HMAC key of the API's pagination cursors (API_CURSOR_KEY)"
      accessors = {
        markets   = module.fn_markets.service_account_member
        backtests = module.fn_backtests.service_account_member
        account   = module.fn_account.service_account_member
      }
    }
    # Password of the built-in postgres user, for break-glass administration only; the
    # deployables use IAM database authentication and cannot read it.
    (local.secret_names.db_password) = {
      description = "Password of the built-in postgres user (operators only)"
      accessors   = {}
    }
  }

  depends_on = [module.project_services]
}

# ================================================================ Pub/Sub

module "topic_poll_trigger" {
  source = "../pubsub"

  project_id     = var.project_id
  project_number = data.google_project.this.number
  name           = "poll-trigger"
  labels         = local.labels
  # A tick older than a few minutes is worthless: keep the backlog short.
  message_retention_duration = "3600s"

  push_subscriptions = {
    push = {
      endpoint                   = "${module.fn_poll_markets.uri}/projects/${var.project_id}/topics/poll-trigger"
      oidc_service_account_email = google_service_account.push_invoker.email
      audience                   = module.fn_poll_markets.uri
      ack_deadline_seconds       = 300
    }
  }

  depends_on = [module.project_services]
}

module "topic_market_snapshots" {
  source = "../pubsub"

  project_id     = var.project_id
  project_number = data.google_project.this.number
  name           = "market-snapshots"
  labels         = local.labels

  publisher_members = {
    poll_markets = module.fn_poll_markets.service_account_member
  }
  pull_subscriptions = {
    streamer = { subscriber_members = { streamer = module.streamer.service_account_member } }
  }

  depends_on = [module.project_services]
}

module "topic_account_events" {
  source = "../pubsub"

  project_id     = var.project_id
  project_number = data.google_project.this.number
  name           = "account-events"
  labels         = local.labels

  publisher_members = {
    account = module.fn_account.service_account_member
  }
  pull_subscriptions = {
    streamer = { subscriber_members = { streamer = module.streamer.service_account_member } }
  }

  depends_on = [module.project_services]
}

module "topic_backtest_events" {
  source = "../pubsub"

  project_id     = var.project_id
  project_number = data.google_project.this.number
  name           = "backtest-events"
  labels         = local.labels

  publisher_members = {
    backtests       = module.fn_backtests.service_account_member
    backtest_worker = module.fn_backtest_worker.service_account_member
  }
  pull_subscriptions = {
    streamer = { subscriber_members = { streamer = module.streamer.service_account_member } }
  }

  depends_on = [module.project_services]
}

# The streamer's split mode: the tracker publishes each user's events (ordering key: the user
# id); each fan-out instance pulls its own ordered subscription, created at its start-up.
# Declared whether or not the split is on, so switching it on is one variable.
module "topic_position_events" {
  source = "../pubsub"

  project_id     = var.project_id
  project_number = data.google_project.this.number
  name           = "position-events"
  labels         = local.labels

  publisher_members = {
    streamer = module.streamer.service_account_member
  }

  depends_on = [module.project_services]
}

# ================================================================ Cloud Scheduler -> poll-trigger

module "poll_schedule" {
  source = "../scheduler"

  project_id  = var.project_id
  region      = var.region
  name        = "${local.prefix}-poll-markets"
  description = "Publishes one poll-trigger message per tick; poll_markets polls Kalshi once per message."
  schedule    = var.poll_schedule
  time_zone   = "Etc/UTC"
  paused      = var.poll_paused
  topic_id    = module.topic_poll_trigger.topic_id
  message_json = jsonencode({
    type            = "poll_markets.trigger"
    version         = 1
    idempotency_key = "cloud-scheduler"
    payload         = {}
  })
  attributes = {
    type    = "poll_markets.trigger"
    version = "1"
  }

  depends_on = [module.project_services]
}

# ================================================================ Cloud Tasks: backtests -> backtest_worker

module "backtest_queue" {
  source = "../tasks"

  project_id                = var.project_id
  region                    = var.region
  name                      = "backtests"
  invoker_account_id        = "${local.prefix}-tasks-invoker"
  max_dispatches_per_second = 2
  # At most one running backtest per worker instance (concurrency 1).
  max_concurrent_dispatches = var.function_max_instances.backtest_worker
  max_attempts              = local.backtest_worker.max_attempts
  max_retry_duration        = "7200s"
  # Longer than the worker's stale-heartbeat window (60 s, shared/backtest/settings.py):
  # a retry after a crashed attempt always finds the run's heartbeat stale and takes it
  # over, instead of standing down as if it were a duplicate of a live attempt.
  min_backoff   = "90s"
  max_backoff   = "600s"
  max_doublings = 4

  enqueuer_members = {
    backtests = module.fn_backtests.service_account_member
  }

  depends_on = [module.project_services]
}

# ================================================================ Cloud Tasks: backfill (fan-out -> batches)

# One task per series (or batch of markets) of a backfill; a fan-out task enqueues them.
# One task at a time: every task shares the Kalshi budget (BACKFILL_BUDGET_SHARE of it).
module "backfill_queue" {
  source = "../tasks"

  project_id                = var.project_id
  region                    = var.region
  name                      = "backfill"
  invoker_account_id        = "${local.prefix}-backfill-invoker"
  max_dispatches_per_second = 1
  max_concurrent_dispatches = 1
  max_attempts              = 5
  max_retry_duration        = "86400s"
  # A retry resumes from the checkpoints (ADR 0178); back off long enough for Kalshi.
  min_backoff   = "60s"
  max_backoff   = "900s"
  max_doublings = 4

  enqueuer_members = {
    backfill = module.fn_backfill.service_account_member
  }

  depends_on = [module.project_services]
}

# ================================================================ functions (gen2, Python 3.11)

module "fn_poll_markets" {
  source = "../function"

  project_id               = var.project_id
  region                   = var.region
  name                     = "poll_markets"
  description              = "Polls every open Kalshi market once per poll-trigger message and stores snapshots."
  entry_point              = "poll_markets"
  source_zip_path          = "${var.function_source_dir}/poll_markets.zip"
  source_bucket            = google_storage_bucket.function_source.name
  build_service_account_id = google_service_account.function_builder.id
  service_account_id       = local.account_ids.poll_markets
  project_roles            = toset(local.db_project_roles)
  labels                   = local.labels

  # One poll at a time: the schedule is once a minute and a poll is idempotent per message.
  min_instance_count               = 0
  max_instance_count               = var.function_max_instances.poll_markets
  max_instance_request_concurrency = 1
  available_memory                 = "1Gi"
  timeout_seconds                  = 300
  ingress_settings                 = "ALLOW_INTERNAL_ONLY"

  environment_variables = merge(local.common_env, local.db_env.poll_markets, local.history_env, {
    DB_USER = local.db_users.poll_markets
  })

  invoker_members = {
    pubsub_push = "serviceAccount:${google_service_account.push_invoker.email}"
  }

  depends_on = [module.project_services]
}

module "fn_markets" {
  source = "../function"

  project_id               = var.project_id
  region                   = var.region
  name                     = "markets"
  description              = "HTTP API: /api/v1/markets* and /api/v1/health."
  entry_point              = "markets"
  source_zip_path          = "${var.function_source_dir}/markets.zip"
  source_bucket            = google_storage_bucket.function_source.name
  build_service_account_id = google_service_account.function_builder.id
  service_account_id       = local.account_ids.markets
  project_roles            = toset(local.db_project_roles)
  labels                   = local.labels

  min_instance_count               = var.environment == "prod" ? 1 : 0
  max_instance_count               = var.function_max_instances.markets
  max_instance_request_concurrency = 4
  available_memory                 = "512Mi"
  timeout_seconds                  = 30
  ingress_settings                 = "ALLOW_INTERNAL_AND_GCLB"
  allow_unauthenticated            = true

  secret_environment_variables = local.api_secret_env

  environment_variables = merge(local.common_env, local.secret_name_env, local.db_env.markets, {
    DB_USER = local.db_users.markets
  })

  depends_on = [module.project_services]
}

module "fn_backtests" {
  source = "../function"

  project_id               = var.project_id
  region                   = var.region
  name                     = "backtests"
  description              = "HTTP API: /api/v1/backtests*; enqueues runs on the backtests Cloud Tasks queue."
  entry_point              = "backtests"
  source_zip_path          = "${var.function_source_dir}/backtests.zip"
  source_bucket            = google_storage_bucket.function_source.name
  build_service_account_id = google_service_account.function_builder.id
  service_account_id       = local.account_ids.backtests
  project_roles            = toset(local.db_project_roles)
  labels                   = local.labels

  max_instance_count               = var.function_max_instances.backtests
  max_instance_request_concurrency = 4
  available_memory                 = "512Mi"
  timeout_seconds                  = 30
  ingress_settings                 = "ALLOW_INTERNAL_AND_GCLB"
  allow_unauthenticated            = true

  secret_environment_variables = local.api_secret_env

  environment_variables = merge(local.common_env, local.secret_name_env, local.db_env.backtests, local.auth_env, {
    DB_USER                  = local.db_users.backtests
    CLOUD_TASKS_QUEUE        = module.backtest_queue.queue_id
    BACKTEST_WORKER_URL      = local.backtest_worker_url
    BACKTEST_WORKER_AUDIENCE = local.backtest_worker_url
    TASKS_INVOKER_SA         = module.backtest_queue.invoker_email
  }, local.backtest_worker_env)

  depends_on = [module.project_services]
}

module "fn_backtest_worker" {
  source = "../function"

  project_id               = var.project_id
  region                   = var.region
  name                     = "backtest_worker"
  description              = "Runs one backtest per Cloud Tasks delivery; accepts only the queue's OIDC identity."
  entry_point              = "backtest_worker"
  source_zip_path          = "${var.function_source_dir}/backtest_worker.zip"
  source_bucket            = google_storage_bucket.function_source.name
  build_service_account_id = google_service_account.function_builder.id
  service_account_id       = local.account_ids.backtest_worker
  project_roles            = toset(local.db_project_roles)
  labels                   = local.labels

  max_instance_count               = var.function_max_instances.backtest_worker
  max_instance_request_concurrency = 1
  available_memory                 = "${local.backtest_worker.memory_mb}Mi"
  available_cpu                    = "1"
  timeout_seconds                  = local.backtest_worker.timeout_s
  ingress_settings                 = "ALLOW_INTERNAL_ONLY"

  environment_variables = merge(local.common_env, local.db_env.backtest_worker, {
    DB_USER                  = local.db_users.backtest_worker
    CLOUD_TASKS_QUEUE        = module.backtest_queue.queue_id
    BACKTEST_WORKER_URL      = local.backtest_worker_url
    BACKTEST_WORKER_AUDIENCE = local.backtest_worker_url
    TASKS_INVOKER_SA         = module.backtest_queue.invoker_email
  }, local.backtest_worker_env, local.history_env)

  # Cloud Run refuses every other caller before the handler runs; the handler checks the
  # token's audience, issuer and e-mail again (shared.messaging.tasks.verify_task_request).
  invoker_members = {
    cloud_tasks = module.backtest_queue.invoker_member
  }

  depends_on = [module.project_services]
}

module "fn_backfill" {
  source = "../function"

  project_id               = var.project_id
  region                   = var.region
  name                     = "backfill"
  description              = "Loads Kalshi's candles, trades and settled markets, one Cloud Task per series."
  entry_point              = "backfill"
  source_zip_path          = "${var.function_source_dir}/backfill.zip"
  source_bucket            = google_storage_bucket.function_source.name
  build_service_account_id = google_service_account.function_builder.id
  service_account_id       = local.account_ids.backfill
  project_roles            = toset(local.db_project_roles)
  labels                   = local.labels

  max_instance_count               = 1
  max_instance_request_concurrency = 1
  available_memory                 = "1Gi"
  timeout_seconds                  = 1800 # Cloud Tasks' longest dispatch deadline
  ingress_settings                 = "ALLOW_INTERNAL_ONLY"

  environment_variables = merge(local.common_env, local.db_env.backfill, {
    DB_USER               = local.db_users.backfill
    BACKFILL_QUEUE        = module.backfill_queue.queue_id
    BACKFILL_URL          = local.backfill_url
    BACKFILL_AUDIENCE     = local.backfill_url
    TASKS_INVOKER_SA      = module.backfill_queue.invoker_email
    BACKFILL_BUDGET_SHARE = "0.5"
    BACKFILL_MAX_ATTEMPTS = "5"
    BACKFILL_DAYS         = tostring(var.backfill_days)
    # The daily job (below): the OIDC audience and the only caller /_jobs/backfill accepts.
    BACKFILL_JOB_AUDIENCE   = local.backfill_url
    BACKFILL_JOB_INVOKER_SA = google_service_account.scheduler_invoker.email
  })

  invoker_members = {
    cloud_tasks = module.backfill_queue.invoker_member
    scheduler   = "serviceAccount:${google_service_account.scheduler_invoker.email}"
  }

  depends_on = [module.project_services]
}

module "fn_account" {
  source = "../function"

  project_id               = var.project_id
  region                   = var.region
  name                     = "account"
  description              = "HTTP API: /api/v1/account* (sign-in, Kalshi credentials, positions)."
  entry_point              = "account"
  source_zip_path          = "${var.function_source_dir}/account.zip"
  source_bucket            = google_storage_bucket.function_source.name
  build_service_account_id = google_service_account.function_builder.id
  service_account_id       = local.account_ids.account
  project_roles            = toset(local.db_project_roles)
  labels                   = local.labels

  max_instance_count               = var.function_max_instances.account
  max_instance_request_concurrency = 4
  available_memory                 = "512Mi"
  timeout_seconds                  = 30
  ingress_settings                 = "ALLOW_INTERNAL_AND_GCLB"
  allow_unauthenticated            = true

  secret_environment_variables = local.api_secret_env

  environment_variables = merge(local.common_env, local.secret_name_env, local.db_env.account, local.auth_env, {
    DB_USER = local.db_users.account
    # The day-boundary job (below): the OIDC audience and the only caller it accepts.
    DAY_BOUNDARY_AUDIENCE   = local.account_url
    DAY_BOUNDARY_INVOKER_SA = google_service_account.scheduler_invoker.email
  })

  depends_on = [module.project_services]
}

# Every user's day-boundary baseline (the account value today's P&L is measured from), once a
# day when Kalshi's trading day turns: midnight America/New_York, DST included. The function
# verifies the token itself (shared/account/jobs.py) and records at most one row per user and
# day, so a retry changes nothing.
resource "google_service_account" "scheduler_invoker" {
  project      = var.project_id
  account_id   = "${local.prefix}-sched-invoker"
  display_name = "Cloud Scheduler HTTP invoker (${var.environment})"
  description  = "OIDC identity of HTTP scheduler jobs; the account and backfill job endpoints accept only it."
}

module "day_boundary_schedule" {
  source = "../http_scheduler"

  project_id                 = var.project_id
  region                     = var.region
  name                       = "${local.prefix}-day-boundary"
  description                = "Records every user's day-boundary account baseline (account function)."
  schedule                   = "0 0 * * *"
  time_zone                  = "America/New_York"
  uri                        = "${local.account_url}/_jobs/day-boundary"
  oidc_service_account_email = google_service_account.scheduler_invoker.email
  audience                   = local.account_url

  depends_on = [module.project_services]
}

# The daily backfill (docs/decisions/0232): Kalshi's history of the markets settled in the last
# backfill_days days, so a deployment keeps the days it did not poll and every new result.
# The job queues one fan-out task named after the day on the backfill queue (a second trigger
# the same day queues nothing); each series' task skips the markets its checkpoints cover.
module "backfill_schedule" {
  source = "../http_scheduler"

  project_id                 = var.project_id
  region                     = var.region
  name                       = "${local.prefix}-backfill"
  description                = "Queues the daily backfill of settled markets (backfill function)."
  schedule                   = var.backfill_schedule
  time_zone                  = "Etc/UTC"
  paused                     = var.backfill_paused
  uri                        = "${local.backfill_url}/_jobs/backfill"
  body_json                  = jsonencode(length(var.backfill_series) > 0 ? { series = var.backfill_series } : {})
  oidc_service_account_email = google_service_account.scheduler_invoker.email
  audience                   = local.backfill_url

  depends_on = [module.project_services]
}

# ================================================================ streamer (Cloud Run)

# Split mode only: what a fan-out instance does with Pub/Sub, create its own pull
# subscriptions (streamer/main.py, _ensure_subscription) and pull from them. Narrower than
# roles/pubsub.editor, which could also delete topics and every other subscription.
resource "google_project_iam_custom_role" "streamer_subscriptions" {
  count = local.streamer_split ? 1 : 0

  project     = var.project_id
  role_id     = "kiStreamerSubscriptions_${var.environment}"
  title       = "Kalshi Insights streamer: its own pull subscriptions"
  description = "Create pull subscriptions on the platform's topics and consume them (streamer fan-out)."
  permissions = [
    "pubsub.subscriptions.create",
    "pubsub.subscriptions.consume",
    "pubsub.topics.attachSubscription",
  ]
}

module "streamer" {
  source = "../run_service"

  project_id         = var.project_id
  region             = var.region
  name               = "streamer"
  description        = "Kalshi WebSocket sessions, position tracker and SSE at /api/v1/stream."
  image              = var.streamer_image
  service_account_id = local.account_ids.streamer
  project_roles      = toset(concat(local.db_project_roles, local.streamer_split ? [local.streamer_subscriptions_role] : []))
  labels             = local.labels

  # The singleton that holds every account's upstream WebSocket (docs/architecture.md, planned).
  min_instance_count               = 1
  max_instance_count               = 1
  cpu_idle                         = false
  timeout                          = "3600s"
  session_affinity                 = true
  max_instance_request_concurrency = 1000
  cpu                              = "1"
  memory                           = "1Gi"
  ingress                          = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
  allow_unauthenticated            = true
  deletion_protection              = var.environment == "prod"

  environment_variables = merge(local.common_env, local.secret_name_env, local.db_env.streamer, {
    DB_USER                       = local.db_users.streamer
    MARKET_SNAPSHOTS_SUBSCRIPTION = "market-snapshots-streamer"
    ACCOUNT_EVENTS_SUBSCRIPTION   = "account-events-streamer"
    BACKTEST_EVENTS_SUBSCRIPTION  = "backtest-events-streamer"
    STREAMER_ROLE                 = local.streamer_split ? "tracker" : "all"
  })

  depends_on = [module.project_services, google_project_iam_custom_role.streamer_subscriptions]
}

# Split mode only: the browsers' side, autoscaled on concurrent streams, running as the
# streamer's account (same database user, grants and key ring access: the order-book feeds
# sign with the user's own key). Fed by position-events; snapshots from position_cache.
module "streamer_fanout" {
  source = "../run_service"
  count  = local.streamer_split ? 1 : 0

  project_id            = var.project_id
  region                = var.region
  name                  = "streamer-fanout"
  description           = "Streamer fan-out: SSE at /api/v1/stream from position-events (split mode)."
  image                 = var.streamer_image
  service_account_email = module.streamer.service_account_email
  labels                = local.labels

  min_instance_count               = 1
  max_instance_count               = var.streamer_fanout_max_instances
  cpu_idle                         = false
  timeout                          = "3600s"
  session_affinity                 = true
  max_instance_request_concurrency = 1000
  cpu                              = "1"
  memory                           = "1Gi"
  ingress                          = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
  allow_unauthenticated            = true
  deletion_protection              = var.environment == "prod"

  environment_variables = merge(local.common_env, local.secret_name_env, local.db_env.streamer, {
    DB_USER                       = local.db_users.streamer
    STREAMER_ROLE                 = "fanout"
    STREAMER_INSTANCE             = "auto"
    STREAMER_CREATE_SUBSCRIPTIONS = "true"
  })

  depends_on = [module.project_services]
}

# ================================================================ HTTPS load balancer (one origin)

module "lb" {
  source = "../lb"

  project_id                  = var.project_id
  region                      = var.region
  name                        = local.prefix
  domains                     = var.domains
  static_bucket_name          = "${var.project_id}-${var.environment}-dashboard"
  static_bucket_force_destroy = var.environment != "prod"
  labels                      = local.labels
  # The Cloud Build account that runs cloudbuild-deploy.yaml uploads frontend/dist.
  static_uploaders = ["serviceAccount:${var.migrator_email}"]

  serverless_backends = {
    markets = {
      cloud_run_service = module.fn_markets.service_name
      paths             = ["/api/v1/markets", "/api/v1/markets/*", "/api/v1/health", "/api/v1/openapi/markets.json"]
    }
    backtests = {
      cloud_run_service = module.fn_backtests.service_name
      paths             = ["/api/v1/backtests", "/api/v1/backtests/*", "/api/v1/openapi/backtests.json"]
    }
    account = {
      cloud_run_service = module.fn_account.service_name
      paths             = ["/api/v1/account", "/api/v1/account/*", "/api/v1/openapi/account.json"]
    }
    streamer = {
      cloud_run_service = local.streamer_split ? module.streamer_fanout[0].name : module.streamer.name
      paths             = ["/api/v1/stream", "/api/v1/stream/*"]
    }
  }

  depends_on = [module.project_services]
}
