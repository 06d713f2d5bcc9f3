#!/usr/bin/env bash
# Idempotent setup of a real PostgreSQL streaming read replica for the db-router tests.
#
#   .ci/setup-replica.sh          ensure a running hot-standby replica on 127.0.0.1:5433 of the primary on 5432
#   .ci/setup-replica.sh --down   stop and drop the replica cluster and its replication slot
#
# Run as root on a Debian postgresql-common machine (pg_createcluster / pg_ctlcluster). Safe to run again in any
# state: replica running (only verified), replica stopped (started), slot present without a replica (dropped and
# recreated by the base backup), replica half-built or not a copy of this primary (rebuilt).
# The primary is never stopped or restarted: it is shared. Its pg_hba.conf gets `replication` trust lines for
# local/127.0.0.1 if missing (followed by a reload), because `all` in pg_hba does not match replication connections.
#
# Environment overrides: PG_VERSION (default: newest in /etc/postgresql), PRIMARY_CLUSTER (main),
# PRIMARY_PORT (5432), REPLICA_CLUSTER (replica), REPLICA_PORT (5433), REPLICA_SLOT (replica1),
# REPLICA_WAIT_S (60).
set -euo pipefail

PG_VERSION="${PG_VERSION:-$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)}"
PRIMARY_CLUSTER="${PRIMARY_CLUSTER:-main}"
PRIMARY_PORT="${PRIMARY_PORT:-5432}"
REPLICA_CLUSTER="${REPLICA_CLUSTER:-replica}"
REPLICA_PORT="${REPLICA_PORT:-5433}"
REPLICA_SLOT="${REPLICA_SLOT:-replica1}"
REPLICA_WAIT_S="${REPLICA_WAIT_S:-60}"

REPLICA_CONF_DIR="/etc/postgresql/${PG_VERSION}/${REPLICA_CLUSTER}"
PRIMARY_CONF_DIR="/etc/postgresql/${PG_VERSION}/${PRIMARY_CLUSTER}"
REPLICA_DATA_DIR="/var/lib/postgresql/${PG_VERSION}/${REPLICA_CLUSTER}"

log() { echo "[setup-replica] $*"; }
die() { echo "[setup-replica] ERROR: $*" >&2; exit 1; }

[[ -n "$PG_VERSION" ]] || die "no PostgreSQL found under /etc/postgresql"
[[ "$(id -u)" -eq 0 ]] || die "run as root (needs pg_createcluster/pg_ctlcluster and su postgres)"
for bin in pg_createcluster pg_ctlcluster pg_dropcluster pg_lsclusters pg_basebackup psql; do
  command -v "$bin" >/dev/null || die "$bin not found (install postgresql-${PG_VERSION} and postgresql-common)"
done

# psql against a port as superuser postgres over TCP (trust auth); prints unaligned tuples only.
q() { local port="$1"; shift; psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -XAtq -v ON_ERROR_STOP=1 -c "$*"; }

cluster_exists() { [[ -f "${REPLICA_CONF_DIR}/postgresql.conf" ]]; }
# pg_lsclusters prints "online", "online,recovery" or "down".
cluster_running() { [[ "$(pg_lsclusters -h "$PG_VERSION" "$REPLICA_CLUSTER" 2>/dev/null | awk '{print $4}')" == online* ]]; }

exec 9>/run/lock/kv-setup-replica.lock
# Servers started below must not inherit the lock descriptor (a running postmaster would hold the lock forever).
pgctl() { pg_ctlcluster --skip-systemctl-redirect "$@" 9>&-; }
flock -w 120 9 || die "another setup-replica.sh is running"

slot_exists() { [[ "$(q "$PRIMARY_PORT" "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '${REPLICA_SLOT}'")" == "1" ]]; }

drop_slot_if_inactive() {
  if slot_exists; then
    # A walsender may need a moment to exit after its replica stopped.
    for _ in $(seq 1 50); do
      [[ "$(q "$PRIMARY_PORT" "SELECT active FROM pg_replication_slots WHERE slot_name = '${REPLICA_SLOT}'")" == "f" ]] && break
      sleep 0.2
    done
    q "$PRIMARY_PORT" "SELECT pg_drop_replication_slot('${REPLICA_SLOT}')" >/dev/null
    log "dropped replication slot ${REPLICA_SLOT}"
  fi
}

stop_replica() {
  if cluster_exists && cluster_running; then
    pgctl "$PG_VERSION" "$REPLICA_CLUSTER" stop -m fast
    log "stopped replica"
  fi
}

drop_replica() {
  stop_replica
  if cluster_exists || [[ -d "$REPLICA_DATA_DIR" ]]; then
    pg_dropcluster "$PG_VERSION" "$REPLICA_CLUSTER" 2>/dev/null || true
    rm -rf "$REPLICA_CONF_DIR" "$REPLICA_DATA_DIR"
    log "dropped replica cluster ${PG_VERSION}/${REPLICA_CLUSTER}"
  fi
}

ensure_primary_running() {
  if ! q "$PRIMARY_PORT" "SELECT 1" >/dev/null 2>&1; then
    log "primary not reachable on ${PRIMARY_PORT}: starting ${PG_VERSION}/${PRIMARY_CLUSTER}"
    pgctl "$PG_VERSION" "$PRIMARY_CLUSTER" start
  fi
  [[ "$(q "$PRIMARY_PORT" "SELECT pg_is_in_recovery()")" == "f" ]] || die "127.0.0.1:${PRIMARY_PORT} is itself in recovery"
}

if [[ "${1:-}" == "--down" ]]; then
  drop_replica
  if q "$PRIMARY_PORT" "SELECT 1" >/dev/null 2>&1; then drop_slot_if_inactive; fi
  log "replica torn down (the primary's pg_hba replication lines are left in place; they are harmless)"
  exit 0
fi
[[ -z "${1:-}" ]] || die "usage: $0 [--down]"

ensure_primary_running

# --- primary prerequisites -----------------------------------------------------------------------------------------
wal_level="$(q "$PRIMARY_PORT" "SHOW wal_level")"
[[ "$wal_level" == "replica" || "$wal_level" == "logical" ]] ||
  die "primary wal_level=${wal_level}; set wal_level=replica and restart the primary (not done automatically: it is shared)"
(( "$(q "$PRIMARY_PORT" "SHOW max_wal_senders")" > 0 )) || die "primary max_wal_senders=0"
(( "$(q "$PRIMARY_PORT" "SHOW max_replication_slots")" > 0 )) || die "primary max_replication_slots=0"

hba_file="$(q "$PRIMARY_PORT" "SHOW hba_file")"
hba_has() { q "$PRIMARY_PORT" "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NULL AND 'replication' = ANY(database) AND type = '$1'" ; }
if [[ "$(hba_has local)" == "0" || "$(hba_has host)" == "0" ]]; then
  {
    echo ""
    echo "# added by .ci/setup-replica.sh: streaming replica on 127.0.0.1:${REPLICA_PORT}"
    [[ "$(hba_has local)" == "0" ]] && echo "local replication all trust"
    [[ "$(hba_has host)" == "0" ]] && echo "host replication all 127.0.0.1/32 trust"
  } >>"$hba_file"
  q "$PRIMARY_PORT" "SELECT pg_reload_conf()" >/dev/null
  log "added replication trust lines to ${hba_file} and reloaded the primary"
  sleep 0.5
fi
psql "host=127.0.0.1 port=${PRIMARY_PORT} user=postgres replication=true" -XAtq -c "IDENTIFY_SYSTEM" >/dev/null ||
  die "primary refuses replication connections from 127.0.0.1 (check ${hba_file})"
primary_sysid="$(q "$PRIMARY_PORT" "SELECT system_identifier FROM pg_control_system()")"

# --- existing replica: keep it if it is a healthy copy of this primary ---------------------------------------------
replica_is_usable() {
  cluster_exists || return 1
  [[ -f "${REPLICA_DATA_DIR}/PG_VERSION" && -f "${REPLICA_DATA_DIR}/standby.signal" ]] || return 1
  slot_exists || return 1
  local sysid
  sysid="$(su postgres -c "/usr/lib/postgresql/${PG_VERSION}/bin/pg_controldata '${REPLICA_DATA_DIR}'" 2>/dev/null |
    awk -F: '/Database system identifier/ {gsub(/ /, "", $2); print $2}')"
  [[ "$sysid" == "$primary_sysid" ]] || return 1
  return 0
}

if replica_is_usable; then
  if ! cluster_running; then
    log "replica exists but is stopped: starting it"
    pgctl "$PG_VERSION" "$REPLICA_CLUSTER" start
  else
    log "replica exists and is running"
  fi
else
  log "building replica ${PG_VERSION}/${REPLICA_CLUSTER} on port ${REPLICA_PORT}"
  drop_replica
  drop_slot_if_inactive
  pg_createcluster "$PG_VERSION" "$REPLICA_CLUSTER" -p "$REPLICA_PORT" >/dev/null
  # The parent folder may be root-owned: recreate the data directory empty, owned by postgres, for pg_basebackup.
  rm -rf "$REPLICA_DATA_DIR"
  install -d -o postgres -g postgres -m 0700 "$REPLICA_DATA_DIR"
  # -R writes standby.signal + primary_conninfo/primary_slot_name; -C -S creates the slot that keeps WAL for us.
  su postgres -c "pg_basebackup -h 127.0.0.1 -p ${PRIMARY_PORT} -U postgres -D '${REPLICA_DATA_DIR}' -R -X stream -c fast -C -S ${REPLICA_SLOT}"
  cp "$hba_file" "${REPLICA_CONF_DIR}/pg_hba.conf"
  chown postgres:postgres "${REPLICA_CONF_DIR}/pg_hba.conf"
  mkdir -p "${REPLICA_CONF_DIR}/conf.d"
  cat >"${REPLICA_CONF_DIR}/conf.d/90-ci-replica.conf" <<EOF
# written by .ci/setup-replica.sh
listen_addresses = '127.0.0.1'
port = ${REPLICA_PORT}
hot_standby = on
# report replay progress often, so the primary's pg_stat_replication is current
wal_receiver_status_interval = 1s
EOF
  chown -R postgres:postgres "${REPLICA_CONF_DIR}/conf.d"
  pgctl "$PG_VERSION" "$REPLICA_CLUSTER" start
fi

# --- verify: accepting connections, in recovery, streaming, and caught up with a fresh primary position -------------
deadline=$((SECONDS + REPLICA_WAIT_S))
until [[ "$(q "$REPLICA_PORT" "SELECT pg_is_in_recovery()" 2>/dev/null)" == "t" ]]; do
  (( SECONDS < deadline )) || die "replica on ${REPLICA_PORT} did not come up in recovery within ${REPLICA_WAIT_S}s"
  sleep 0.2
done
until [[ "$(q "$REPLICA_PORT" "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'" 2>/dev/null)" == "1" ]]; do
  (( SECONDS < deadline )) || die "replica on ${REPLICA_PORT} is not streaming from the primary"
  sleep 0.2
done
target_lsn="$(q "$PRIMARY_PORT" "SELECT pg_current_wal_insert_lsn()")"
until [[ "$(q "$REPLICA_PORT" "SELECT pg_last_wal_replay_lsn() >= '${target_lsn}'::pg_lsn" 2>/dev/null)" == "t" ]]; do
  (( SECONDS < deadline )) || die "replica did not replay up to ${target_lsn}"
  [[ "$(q "$REPLICA_PORT" "SELECT pg_is_wal_replay_paused()" 2>/dev/null)" == "t" ]] &&
    { log "replay was paused (left over from a test?): resuming"; q "$REPLICA_PORT" "SELECT pg_wal_replay_resume()" >/dev/null; }
  sleep 0.2
done
log "OK: streaming replica on 127.0.0.1:${REPLICA_PORT} (pg_is_in_recovery = t, slot ${REPLICA_SLOT}, replayed past ${target_lsn})"
