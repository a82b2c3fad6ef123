#!/usr/bin/env bash
# Debian packages the tests need: a throw-away PostgreSQL (+PostGIS) for the export
# worker, Prometheus (and promtool) for the metrics tests, Chromium for the dashboard's
# browser tests, the real node's runtime (runc, the CNI loopback plugin), the image
# build (buildah, debootstrap for the base image), and the basics. Installs what is missing when run as root (CI does);
# otherwise prints the command to run.
set -euo pipefail

wanted=(make git ca-certificates postgresql postgresql-postgis prometheus chromium
  runc containernetworking-plugins buildah debootstrap)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "system-deps: missing Debian packages: ${missing[*]}" >&2
  echo "system-deps: install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
