#!/usr/bin/env bash
# Compose streaming replica: clones the primary once (pg_basebackup -R writes standby.signal and
# primary_conninfo), then runs as a hot standby. No replication slot: the primary keeps wal_keep_size of
# WAL instead, so a replica that is gone for good never fills the primary's disk.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -R -X stream -w; do
    echo "waiting for the primary ..."; rm -rf "${PGDATA:?}"/*; sleep 2
  done
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on
