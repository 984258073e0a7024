#!/usr/bin/env bash
# Copyright 2026 The Kalshi Insights Authors
# SPDX-License-Identifier: Apache-2.0
#
# Give the built-in `postgres` user of an environment's Cloud SQL instance a fresh random
# password and store it as a new version of the `db-password` secret, for break-glass
# administration (the deployables log in with IAM and never read it).
#
#   infra/bootstrap/set-postgres-password.sh PROJECT INSTANCE      # e.g. my-proj ki-dev-pg
#
# The password is never printed and never appears on a command line (where `ps`, shell
# history and audit logs would keep it): it goes from openssl to Secret Manager and to the
# Cloud SQL Admin API through pipes only. Read it later, when needed, with
# `gcloud secrets versions access latest --secret=db-password` into a tool that wants it.
set -euo pipefail
umask 077

if [ "$#" -ne 2 ]; then
  echo "usage: $0 PROJECT INSTANCE" >&2
  exit 2
fi
project="$1"
instance="$2"

# base64 text: only A-Z a-z 0-9 + / =, safe inside the JSON and curl config below.
password="$(openssl rand -base64 24)"
if [ -z "$password" ]; then
  echo "openssl produced no password" >&2
  exit 1
fi

printf '%s' "$password" |
  gcloud secrets versions add db-password --project="$project" --data-file=- >/dev/null

# curl reads its headers and body from a config on stdin: neither the token nor the
# password is an argument. The response (an operation) is discarded, not echoed.
token="$(gcloud auth print-access-token)"
printf 'header = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\ndata = "{\\"password\\": \\"%s\\"}"\n' \
  "$token" "$password" |
  curl --fail --silent --show-error --request PUT --config - --output /dev/null \
    "https://sqladmin.googleapis.com/v1/projects/${project}/instances/${instance}/users?name=postgres"

echo "postgres on ${instance}: new password set and stored as a new version of secret db-password"
