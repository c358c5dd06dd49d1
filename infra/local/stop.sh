#!/usr/bin/env bash
# Stops the services infra/local/start.sh DIR started, using the pid files inside DIR (and
# podman's containers, through its CLI on the same storage).
# Never fails because something is already gone (safe in CI `always()` teardown steps).
# Data and logs stay in DIR for inspection; the next start.sh wipes them.
#
# Usage: infra/local/stop.sh DIR
set -euo pipefail

if [[ $# -ne 1 ]]; then echo "usage: $0 DIR" >&2; exit 2; fi
[[ -d "$1" ]] || { echo "stop.sh: $1 does not exist; nothing to stop"; exit 0; }
DIR=$(cd "$1" && pwd)

# alive PID [PATTERN]: running (not a zombie) and, if given, its command line contains PATTERN
# (guards against a recycled pid after a reboot or a long pause).
alive() {
  local pid=$1 pattern=${2:-} stat cmd
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }; [[ ${stat%% *} != Z ]] || return 1
  [[ -n "$pattern" ]] || return 0
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ "$cmd" == *"$pattern"* ]]
}

# stop_pid NAME PIDFILE PATTERN GRACE_SECONDS: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local name=$1 pidfile=$2 pattern=$3 grace=$4 pid i
  [[ -s "$pidfile" ]] || { echo "$name: no pid file"; return 0; }
  pid=$(head -n1 "$pidfile")
  if ! alive "$pid" "$pattern"; then echo "$name: not running"; rm -f "$pidfile"; return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  for (( i = 0; i < grace * 10; i++ )); do
    alive "$pid" "$pattern" || { echo "$name: stopped (pid $pid)"; rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  echo "$name: still running after ${grace}s, SIGKILL (pid $pid)"
  kill -KILL "$pid" 2>/dev/null || true
  for (( i = 0; i < 50; i++ )); do alive "$pid" "$pattern" || break; sleep 0.1; done
  rm -f "$pidfile"
}

stop_postgres() {
  local pgdata="$DIR/pg/data" bindir pid
  [[ -s "$pgdata/postmaster.pid" ]] || { echo "postgresql: not running"; return 0; }
  pid=$(head -n1 "$pgdata/postmaster.pid")
  alive "$pid" || { echo "postgresql: not running"; return 0; }
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  local as_pg=()
  [[ $EUID -ne 0 ]] || as_pg=(runuser -u postgres --)
  # fast = roll back open transactions, disconnect clients, clean shutdown.
  if "${as_pg[@]}" "$bindir/pg_ctl" -D "$pgdata" stop -m fast -w -t 30 >/dev/null 2>&1; then
    echo "postgresql: stopped (pid $pid)"
  else
    stop_pid postgresql "$pgdata/postmaster.pid" postgres 10
  fi
}

# Containers first (each has a conmon process that outlives the service), then the service,
# then the mount podman's storage keeps, so that the next start.sh can delete the folder.
stop_podman() {
  local pdir="$DIR/podman"
  [[ -f "$pdir/containers.conf" ]] || { echo "podman: not running"; return 0; }
  if command -v podman >/dev/null; then
    CONTAINERS_CONF="$pdir/containers.conf" CONTAINERS_STORAGE_CONF="$pdir/storage.conf" \
      timeout 60 podman rm --all --force --time 2 >/dev/null 2>&1 || true
  fi
  stop_pid podman "$pdir/podman.pid" "system service" 10
  local m
  for m in $(awk -v p="$pdir/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

# Independent of each other: stop them all concurrently (Kafka's shutdown takes the longest).
stop_pid kafka "$DIR/kafka/kafka.pid" kafka.Kafka 10 &
stop_pid redis "$DIR/redis/redis.pid" redis-server 5 &
stop_postgres &
stop_podman &
wait
exit 0
