#!/usr/bin/env bash
# The Debian packages behind the monitoring stack and its tests: Prometheus (+ promtool),
# Alertmanager (+ amtool), the Pushgateway and Chromium (the console page's test).
# Installed with apt-get when any is missing and this runs as root with apt-get; otherwise
# this names what to install and carries on: `advertisex stack up` then starts Kafka and the
# registry without monitoring, and the tests that need a missing tool say which.
# Quick when everything is there: only `command -v` runs.
set -euo pipefail

declare -A BINARIES=(
  [prometheus]="prometheus promtool"
  [prometheus-alertmanager]="prometheus-alertmanager amtool"
  [prometheus-pushgateway]="prometheus-pushgateway"
  [chromium]="chromium"
)
missing=()
for pkg in prometheus prometheus-alertmanager prometheus-pushgateway chromium; do
  for exe in ${BINARIES[$pkg]}; do
    if ! command -v "$exe" >/dev/null 2>&1; then missing+=("$pkg"); break; fi
  done
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "${EUID}" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: warning: Debian packages missing: ${missing[*]}; install them as root with" \
       "\`apt-get install ${missing[*]}\` (monitoring and its tests need them)" >&2
  exit 0
fi

echo "setup: installing Debian packages: ${missing[*]}"
# These packages ship system services (Prometheus on 0.0.0.0:9090, Alertmanager on :9093, the
# Kafka controller's port). The project runs its own instances on 127.0.0.1, so the system
# ones must not start at install: a policy-rc.d that refuses is put in place unless one exists.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: installed ${missing[*]}"
