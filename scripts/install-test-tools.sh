#!/usr/bin/env bash
# Installs the real clients the test suite drives — skopeo, umoci, podman, buildah — and Debian's
# `docker-registry` (CNCF distribution 2.8, the registry:2 compatibility reference), plus the
# helpers podman needs as root with vfs storage. A machine that has everything does no network
# I/O. Fails loudly when something cannot be installed: the suite never skips these tests.
set -euo pipefail

# command → Debian package providing it
declare -A COMMANDS=(
  [skopeo]=skopeo
  [umoci]=umoci
  [podman]=podman
  [buildah]=buildah
  [docker-registry]=docker-registry
  [newuidmap]=uidmap
  # The TLS and auth tests make their certificate authorities with openssl.
  [openssl]=openssl
  # The TLS tests' plain HTTPS client.
  [curl]=curl
  # Let's Encrypt's ACME test server and its mock DNS, for the http.tls.letsencrypt tests.
  [pebble]=pebble
  [pebble-challtestsrv]=pebble
  # A throwaway Ceph RADOS Gateway (../shared/services/ceph-rgw) is the s3 driver's real S3 server.
  [ceph-mon]=ceph
  [ceph-osd]=ceph
  [radosgw]=radosgw
  # The Redis descriptor cache and the load-balanced replicas test.
  [redis-server]=redis-server
  # The load balancer in front of the replicas in test/cluster/load-balanced.test.ts.
  [haproxy]=haproxy
  # A real Prometheus scrapes the debug listener in test/metrics/prometheus.test.ts; promtool lints the exposition.
  [prometheus]=prometheus
  [promtool]=prometheus
)
# Packages checked with dpkg rather than a command: podman will not start without conmon, and
# skopeo/podman/buildah refuse to copy without containers-common's /etc/containers/policy.json.
PACKAGES=(conmon golang-github-containers-common)

missing=()
for cmd in "${!COMMANDS[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    missing+=("${COMMANDS[$cmd]}")
  fi
done
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
# Deduplicate, keeping the output readable.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

echo "install-test-tools: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "install-test-tools: missing ${missing[*]} and not root (nor passwordless sudo); install them or run as root" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

for cmd in "${!COMMANDS[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "install-test-tools: $cmd still missing after installing ${COMMANDS[$cmd]}" >&2
    exit 1
  fi
done
# The Debian package starts a registry on :5000 through systemd where systemd runs; the tests
# start their own on free ports and need nothing from it.
echo "install-test-tools: done" >&2
