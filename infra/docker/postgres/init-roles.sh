#!/usr/bin/env bash
# First start of the compose primary (docker-entrypoint-initdb.d): the platform's roles, its database and
# the replication user. Same roles as @kv/testing and .ci/run create: kv_owner owns the tables and runs
# migrations, kv_app serves requests under row-level security, kv_system has BYPASSRLS with narrow grants.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_pw="$KV_OWNER_PASSWORD" -v app_pw="$KV_APP_PASSWORD" -v system_pw="$KV_SYSTEM_PASSWORD" \
  -v repl_pw="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE kv_owner LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD :'owner_pw';
CREATE ROLE kv_app LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD :'app_pw';
CREATE ROLE kv_system LOGIN NOSUPERUSER BYPASSRLS PASSWORD :'system_pw';
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'repl_pw';
CREATE DATABASE kv OWNER kv_owner;
REVOKE ALL ON DATABASE kv FROM PUBLIC;
GRANT CONNECT ON DATABASE kv TO kv_app, kv_system;
SQL
# The image's pg_hba.conf lets nobody replicate over the network; the replica connects by name.
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
