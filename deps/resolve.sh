#!/usr/bin/env bash
# Resolve every JVM dependency of the project through Maven into .deps/ (git-ignored).
# Each deps/<name>/pom.xml copies or unpacks its artifacts in the process-resources phase
# into the folder listed below. Idempotent: a stamp inside that folder records the pom's
# checksum; when the pom changes the folder is emptied first, so no stale jar of an older
# version stays on a classpath.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
declare -A out=(
  [spark]="$root/.deps/jars/spark"
  [kafka]="$root/.deps/jars/kafka"
  [registry]="$root/.deps/apicurio"
)
command -v mvn >/dev/null || { echo "error: mvn (Maven) not found on PATH; install it (apt-get install maven)" >&2; exit 1; }
for name in "${!out[@]}"; do
  pom="$here/$name/pom.xml"
  dir="${out[$name]}"
  stamp="$dir/.resolved-from-pom"
  sum="$(sha1sum "$pom" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then
    continue
  fi
  echo "resolving JVM dependencies: $name -> ${dir#$root/}"
  rm -rf "$dir"
  log="$(mktemp)"
  if ! mvn -q -B -Dstyle.color=never -f "$pom" process-resources >"$log" 2>&1; then
    cat "$log" >&2
    echo "error: Maven could not resolve deps/$name/pom.xml (see above)" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$sum" > "$stamp"
done
