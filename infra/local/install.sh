#!/usr/bin/env bash
# Installs what infra/local/start.sh needs to run the real services without Docker:
# PostgreSQL (+ contrib for pg_trgm), Redis, a Java 17 runtime, Chromium (for the web app's
# browser tests), podman + runc (a Docker-compatible API for the docker runtime; crun, podman's
# default, fails on this kind of host), a static busybox (the shell of the locally built test
# images), and the Kafka broker jars (resolved by Maven from infra/kafka/pom.xml into a cache
# folder).
#
# Idempotent and fast on a re-run: everything is checked with file/command existence first,
# apt-get (update + install) and mvn only run when something is actually missing.
# Works non-interactively as root on a fresh Debian 12 (CI=true, no stdin); as a normal user
# it uses sudo for apt.
#
# Env: MCPS_CACHE (default ~/.cache/mcps) -> Kafka jars in $MCPS_CACHE/kafka-<version>/libs
set -euo pipefail

t0=$(date +%s%N)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
POM="$ROOT/infra/kafka/pom.xml"
CACHE="${MCPS_CACHE:-$HOME/.cache/mcps}"
# Single source of truth for the Kafka version: the pom.
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)
[[ -n "$KAFKA_VERSION" ]] || { echo "install.sh: cannot read kafka.version from $POM" >&2; exit 1; }
KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"

SUDO=()
if [[ $EUID -ne 0 ]]; then SUDO=(sudo); fi

# --- what is missing? (cheap checks only) -------------------------------------------------
java_major() {  # prints the major version of `java` on PATH, or 0
  command -v java >/dev/null || { echo 0; return; }
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}
check_missing() {  # sets pkgs (Debian packages to install) and need_libs
  pkgs=()
  # Server binaries live in /usr/lib/postgresql/<major>/bin (not on PATH on Debian).
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || pkgs+=(postgresql)
  compgen -G '/usr/share/postgresql/*/extension/pg_trgm.control' >/dev/null || pkgs+=(postgresql-contrib)
  { command -v redis-server && command -v redis-cli; } >/dev/null || pkgs+=(redis-server)
  command -v python3 >/dev/null || pkgs+=(python3)   # start.sh uses it to pick free ports
  [[ -x /usr/bin/chromium ]] || pkgs+=(chromium)     # the web app's Playwright tests drive it
  # A CJK font, or the zh-CN screenshots (the default language) show boxes (~5 MB).
  [[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]] || pkgs+=(fonts-wqy-microhei)
  # Rootful podman needs no uidmap, slirp4netns or fuse-overlayfs (recommends, not installed);
  # its dependencies bring conmon, the CNI plugins and iptables.
  command -v podman >/dev/null || pkgs+=(podman)
  command -v runc >/dev/null || pkgs+=(runc)
  # The test images need the static build: the dynamic `busybox` package would not run in them.
  [[ $(dpkg-query -W -f='${db:Status-Status}' busybox-static 2>/dev/null) == installed ]] || pkgs+=(busybox-static)
  local jv; jv=$(java_major)
  (( ${jv:-0} >= 17 )) || pkgs+=(openjdk-17-jre-headless)   # Kafka 4 brokers need Java 17+
  need_libs=0
  [[ -f "$KAFKA_LIBS/.complete" ]] || need_libs=1
  # Maven is only needed to resolve the jars; skip it when the cache is already there.
  if (( need_libs )) && ! command -v mvn >/dev/null; then pkgs+=(maven); fi
}
check_missing

# Slow path: serialize concurrent runs (parallel CI jobs / several shells on one machine):
# two apt-get runs race (the Debian image's docker-clean hook deletes the other run's
# downloaded .debs), and two mvn runs would write the same cache folder. Re-check under the lock.
if (( ${#pkgs[@]} || need_libs )); then
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.install.lock"
  flock 9
  check_missing
fi

if (( ${#pkgs[@]} )); then
  echo "install.sh: installing ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep apt from starting the distro's own postgresql@15-main / redis-server services
  # (we run our own instances on free ports); only if no policy is already in place.
  policy_added=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  cleanup_policy() { if (( policy_added )); then "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d; fi; }
  trap cleanup_policy EXIT
  # Lock timeout: wait for an apt/dpkg run outside this script instead of failing.
  "${SUDO[@]}" apt-get update -qq -o DPkg::Lock::Timeout=300
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${pkgs[@]}" </dev/null
  cleanup_policy; policy_added=0
fi

# --- Kafka broker jars --------------------------------------------------------------------
if (( need_libs )); then
  echo "install.sh: resolving Kafka $KAFKA_VERSION jars into $KAFKA_LIBS"
  tmp="$KAFKA_LIBS.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  # Jars land in ~/.m2 too (Maven's own cache), so a re-resolve after wiping MCPS_CACHE is quick.
  mvn -q -B --no-transfer-progress -f "$POM" dependency:copy-dependencies \
    -DoutputDirectory="$tmp" </dev/null
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null  # sanity: the broker jar is there
  rm -rf "$KAFKA_LIBS"; mv "$tmp" "$KAFKA_LIBS"
  touch "$KAFKA_LIBS/.complete"   # marker: a half-finished download never counts as present
fi

t1=$(date +%s%N)
printf 'install.sh: ok (kafka %s, %s) in %d ms\n' "$KAFKA_VERSION" "$KAFKA_LIBS" $(( (t1 - t0) / 1000000 ))
