#!/usr/bin/env bash
# Starts the real services for dev/CI on loopback, each on a free port, with all data, logs and
# pid files inside DIR:
#   PostgreSQL (DIR/pg), Redis (DIR/redis), Kafka in KRaft mode, one combined node (DIR/kafka),
#   and a Docker-compatible API: podman's service on a unix socket (DIR/podman).
# PostgreSQL, Kafka and podman start in parallel; Redis starts meanwhile.
# Writes DIR/env (source it: `. DIR/env`). Stop everything with infra/local/stop.sh DIR.
# Prerequisites: infra/local/install.sh.
#
# podman is optional: where it is missing or cannot run, the others still start and DIR/env has
# no DOCKER_HOST (the docker runtime's tests then skip, saying why).
#
# Usage: infra/local/start.sh DIR
# Env: MCPS_KAFKA_START_TIMEOUT (seconds, default 60) - raise it on a heavily loaded machine.
set -euo pipefail

if [[ $# -ne 1 ]]; then echo "usage: $0 DIR" >&2; exit 2; fi
T0=$(date +%s%N)
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
mkdir -p "$1"
DIR=$(cd "$1" && pwd)

CACHE="${MCPS_CACHE:-$HOME/.cache/mcps}"
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/infra/kafka/pom.xml" | head -n1)
KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"
[[ -f "$KAFKA_LIBS/.complete" ]] || { echo "start.sh: no Kafka jars in $KAFKA_LIBS; run infra/local/install.sh" >&2; exit 1; }
PG_BINDIR=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[[ -x "$PG_BINDIR/initdb" ]] || { echo "start.sh: PostgreSQL server binaries not found; run infra/local/install.sh" >&2; exit 1; }
# kafka-python (for the readiness probe) lives in the project venv.
PY="$ROOT/.venv/bin/python"; [[ -x "$PY" ]] || PY=python3

# Refuse to clobber services still running from this DIR.
for pf in "$DIR/kafka/kafka.pid" "$DIR/redis/redis.pid" "$DIR/pg/data/postmaster.pid" \
  "$DIR/podman/podman.pid"; do
  if [[ -s "$pf" ]] && kill -0 "$(head -n1 "$pf")" 2>/dev/null; then
    echo "start.sh: $pf: process $(head -n1 "$pf") still running; run infra/local/stop.sh $DIR first" >&2
    exit 1
  fi
done
# Fresh state on every start (tests expect empty databases/topics); only our own subfolders.
# podman's storage keeps a mount of its own after the service ends: release it first.
unmount_below() {  # unmount everything mounted under $1, deepest first
  local m
  for m in $(awk -v p="$1/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}
unmount_below "$DIR/podman"
rm -rf "$DIR/pg" "$DIR/redis" "$DIR/kafka" "$DIR/podman" "$DIR/env"
mkdir -p "$DIR/pg/sock" "$DIR/redis" "$DIR/kafka/data" "$DIR/podman"

# Four distinct free ports: bind them all to port 0 at once, then release.
read -r PGPORT RPORT KPORT KCPORT < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')

PGDATA="$DIR/pg/data"
PGSOCK="$DIR/pg/sock"
# Unix socket paths are limited to 107 bytes.
if (( ${#PGSOCK} + 18 > 107 )); then echo "start.sh: DIR path too long for a unix socket: $DIR" >&2; exit 1; fi

# PostgreSQL refuses to run as root: as root run it as the `postgres` OS user.
AS_PG=()
if [[ $EUID -eq 0 ]]; then
  AS_PG=(runuser -u postgres --)
  chown -R postgres:postgres "$DIR/pg"
  if ! runuser -u postgres -- test -w "$DIR/pg"; then
    echo "start.sh: user postgres cannot reach $DIR/pg (a parent folder is not world-executable?); use e.g. /tmp/..." >&2
    exit 1
  fi
fi

start_pg() {
  local t; t=$(date +%s%N)
  # --no-sync only skips initdb's final flush of a throwaway cluster; the server runs with fsync=on.
  "${AS_PG[@]}" "$PG_BINDIR/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$DIR/pg/initdb.log" 2>&1
  cat >>"$PGDATA/postgresql.conf" <<EOF

# --- infra/local/start.sh ---
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGSOCK'
max_connections = 300
shared_buffers = 256MB
fsync = on
EOF
  # Trust on the unix socket (admin tasks, tests as any role); passwords over TCP.
  cat >"$PGDATA/pg_hba.conf" <<EOF
local all all trust
host  all all 127.0.0.1/32 scram-sha-256
EOF
  "${AS_PG[@]}" "$PG_BINDIR/pg_ctl" -D "$PGDATA" -l "$DIR/pg/postgres.log" -w -t 60 start >/dev/null
  local psql=("$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "$PGPORT" -U postgres)
  "${psql[@]}" -d postgres -c "CREATE ROLE mcps LOGIN SUPERUSER PASSWORD 'mcps'" \
    -c "CREATE DATABASE mcps OWNER mcps"
  "${psql[@]}" -d mcps -c "CREATE EXTENSION IF NOT EXISTS pg_trgm"
  echo "postgresql: ready on 127.0.0.1:$PGPORT in $(ms_since "$t") ms"
}

start_redis() {
  local t; t=$(date +%s%N)
  redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --unixsocket "$DIR/redis/redis.sock" --unixsocketperm 700 \
    --dir "$DIR/redis" --pidfile "$DIR/redis/redis.pid" --logfile "$DIR/redis/redis.log"
  local i
  for i in $(seq 100); do
    [[ "$(redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null)" == PONG ]] && break
    sleep 0.05
  done
  [[ "$(redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null)" == PONG ]] || { tail -n 20 "$DIR/redis/redis.log" >&2; return 1; }
  echo "redis: ready on 127.0.0.1:$RPORT in $(ms_since "$t") ms"
}

start_kafka() {
  local t; t=$(date +%s%N)
  local kdir="$DIR/kafka"
  # One KRaft node acting as broker and controller; a dynamic quorum bootstrapped by
  # `format --standalone` (so controller.quorum.voters must NOT be set).
  cat >"$kdir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KCPORT
listeners=PLAINTEXT://127.0.0.1:$KPORT,CONTROLLER://127.0.0.1:$KCPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KPORT,CONTROLLER://127.0.0.1:$KCPORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$kdir/data
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
# 50 partitions (the default) makes the first consumer-group call slow on a fresh node.
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  # Kafka 4 logs via slf4j -> Log4j 2; send everything to a file, keep the console quiet.
  cat >"$kdir/log4j2.properties" <<EOF
status = error
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $kdir/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
  local log_opt="-Dlog4j2.configurationFile=$kdir/log4j2.properties"
  # Kafka cluster ids are 16 random bytes, base64url without padding (what `random-uuid`
  # prints); made here to save a JVM start. Ids starting with '-' confuse the CLI: avoid.
  local cid
  cid=$(python3 -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s); break')
  # Short-lived tool: C1 JIT + serial GC start faster.
  java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto "$log_opt" -cp "$KAFKA_LIBS/*" \
    kafka.tools.StorageTool format --standalone --cluster-id "$cid" --config "$kdir/server.properties" \
    >"$kdir/format.log" 2>&1 || { cat "$kdir/format.log" >&2; return 1; }
  # setsid: detach from this script's process group so CI step teardown/Ctrl-C of the caller
  # does not take the broker with it; stop.sh uses the pid file.
  setsid java -Xms512m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true "$log_opt" -cp "$KAFKA_LIBS/*" kafka.Kafka "$kdir/server.properties" \
    </dev/null >"$kdir/kafka.out" 2>&1 &
  local kpid=$!
  echo "$kpid" >"$kdir/kafka.pid"
  # Ready = port accepts AND a Metadata request lists the broker (the listener can accept
  # connections before the broker has caught up with the metadata log).
  if ! "$PY" - "$KPORT" "$kpid" "${MCPS_KAFKA_START_TIMEOUT:-60}" <<'PYEOF'
import logging, os, socket, sys, time
port, pid, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + timeout
logging.disable(logging.CRITICAL)

def alive():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

while True:
    if not alive():
        sys.exit("kafka: process exited during startup")
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"kafka: port {port} not accepting after {timeout:.0f}s")
        time.sleep(0.1)
try:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaConfigurationError
except ImportError:
    print("kafka: kafka-python not importable; checked the port only", file=sys.stderr)
    sys.exit(0)
last = None
while time.monotonic() < deadline:
    if not alive():
        sys.exit("kafka: process exited during startup")
    try:
        admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", client_id="mcps-start-probe",
                                 request_timeout_ms=5000, bootstrap_timeout_ms=5000)
        try:
            if admin.describe_cluster().get("brokers"):
                sys.exit(0)
        finally:
            admin.close()
    except (KafkaConfigurationError, TypeError) as e:  # a bug in this probe, not "not ready"
        sys.exit(f"kafka: readiness probe error: {e!r}")
    except Exception as e:  # not ready yet
        last = e
    time.sleep(0.2)
sys.exit(f"kafka: no metadata after {timeout:.0f}s: {last!r}")
PYEOF
  then
    echo "--- $kdir/server.log (tail)" >&2; tail -n 40 "$kdir/server.log" >&2 || true
    echo "--- $kdir/kafka.out (tail)" >&2; tail -n 20 "$kdir/kafka.out" >&2 || true
    return 1
  fi
  echo "kafka $KAFKA_VERSION: ready on 127.0.0.1:$KPORT (controller $KCPORT) in $(ms_since "$t") ms"
}

PODMAN_DIR="$DIR/podman"
PODMAN_SOCK="$PODMAN_DIR/podman.sock"
# podman reads its settings from these two files, not from /etc: its storage, locks, events and
# temporary files all live in DIR/podman. The storage is per DIR and fresh on every start, like
# the databases: podman records its storage and run folders in its database and refuses a
# storage shared with another run folder, so one cache for several DIRs cannot work. The tests'
# image is cached as a tar instead (tests/docker_image.py) and imported again in a second.
PODMAN_CONF="$PODMAN_DIR/containers.conf"
PODMAN_STORAGE_CONF="$PODMAN_DIR/storage.conf"

start_podman() {
  local t; t=$(date +%s%N)
  if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
    echo "podman: not installed (run infra/local/install.sh)"; return 1
  fi
  if [[ $EUID -ne 0 ]]; then
    echo "podman: not root (rootless podman would need uidmap and slirp4netns)"; return 1
  fi
  if (( ${#PODMAN_SOCK} > 100 )); then echo "podman: DIR path too long for a unix socket"; return 1; fi
  mkdir -p "$PODMAN_DIR/tmp"
  # runc: crun (podman's default) fails here ("cgroups in hybrid mode not supported").
  # default_ulimits = []: the sandbox refuses the rlimits podman sets by default.
  # File locks and a file event log: no shared-memory lock segment or journald shared with
  # other podman services on this machine.
  cat >"$PODMAN_CONF" <<EOF
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PODMAN_DIR/events.log"
lock_type = "file"
tmp_dir = "$PODMAN_DIR/tmp"
image_copy_tmp_dir = "$PODMAN_DIR/tmp"

[network]
network_config_dir = "$PODMAN_DIR/cni"
EOF
  cat >"$PODMAN_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$PODMAN_DIR/storage"
runroot = "$PODMAN_DIR/run"
EOF
  # --time=0: serve until stop.sh stops it, not only while clients are connected.
  CONTAINERS_CONF="$PODMAN_CONF" CONTAINERS_STORAGE_CONF="$PODMAN_STORAGE_CONF" \
    setsid podman system service --time=0 "unix://$PODMAN_SOCK" \
    </dev/null >"$PODMAN_DIR/service.log" 2>&1 &
  local spid=$!
  echo "$spid" >"$PODMAN_DIR/podman.pid"
  if ! python3 - "$PODMAN_SOCK" "$spid" <<'PYEOF'
import os, socket, sys, time
path, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("podman: the service exited during startup")
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(path)
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: podman\r\n\r\n")
            if s.recv(4096).split(b"\r\n", 1)[0].split()[1:2] == [b"200"]:
                sys.exit(0)
    except (OSError, IndexError):
        pass
    time.sleep(0.1)
sys.exit("podman: the API did not answer within 30 s")
PYEOF
  then
    tail -n 20 "$PODMAN_DIR/service.log" || true
    return 1
  fi
  echo "podman $(podman --version | awk '{print $3}'): Docker API on unix://$PODMAN_SOCK in $(ms_since "$t") ms"
}

# PostgreSQL, Kafka and podman in the background, Redis in the foreground, then collect.
( start_pg ) >"$DIR/pg/start.log" 2>&1 &
pg_job=$!
( start_kafka ) >"$DIR/kafka/start.log" 2>&1 &
kafka_job=$!
( start_podman ) >"$PODMAN_DIR/start.log" 2>&1 &
podman_job=$!
failed=()
start_redis || failed+=(redis)
wait "$pg_job" || failed+=(postgresql)
wait "$kafka_job" || failed+=(kafka)
# Optional: without it the rest still works; DIR/env then has no DOCKER_HOST.
docker_env=()
if wait "$podman_job"; then
  docker_env=(DOCKER_HOST "unix://$PODMAN_SOCK" CONTAINERS_CONF "$PODMAN_CONF"
    CONTAINERS_STORAGE_CONF "$PODMAN_STORAGE_CONF")
fi
cat "$DIR/pg/start.log" "$DIR/kafka/start.log" "$PODMAN_DIR/start.log"
if (( ! ${#docker_env[@]} )); then
  echo "start.sh: continuing without a Docker API (no DOCKER_HOST in $DIR/env)" >&2
fi

if (( ${#failed[@]} )); then
  echo "start.sh: FAILED: ${failed[*]}; logs in $DIR; stopping what did start" >&2
  for f in "${failed[@]}"; do
    case $f in
      postgresql) tail -n 20 "$DIR/pg/initdb.log" "$DIR/pg/postgres.log" >&2 2>/dev/null || true ;;
    esac
  done
  bash "$HERE/stop.sh" "$DIR" >&2 || true
  exit 1
fi

{
  printf 'export %s=%q\n' \
    DATABASE_URL "postgresql://mcps:mcps@127.0.0.1:$PGPORT/mcps" \
    REDIS_URL "redis://127.0.0.1:$RPORT/0" \
    REDIS_SOCKET "$DIR/redis/redis.sock" \
    KAFKA_BOOTSTRAP_SERVERS "127.0.0.1:$KPORT" \
    MCPS_SERVICES_DIR "$DIR" \
    PG_BINDIR "$PG_BINDIR" \
    PGHOST_SOCKET_DIR "$PGSOCK" \
    ${docker_env[@]+"${docker_env[@]}"}
} >"$DIR/env"
echo "start.sh: all services up in $(ms_since "$T0") ms; env in $DIR/env"
