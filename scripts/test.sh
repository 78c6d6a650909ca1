#!/usr/bin/env bash
# Installs what the tests need (Debian packages: real rpm, dnf, podman, Bazel, nginx, gpg…),
# then runs the whole test suite. This is the README's test command and what .ci/run runs.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  rpm rpmlint createrepo-c dnf cpio xz-utils gzip git gpg gpg-agent gpgv gpgconf time file
  python3 python3-venv curl
  podman runc busybox-static uidmap
  bazel-bootstrap bazel-rules-cc bazel-rules-java
  nginx debootstrap shellcheck systemd
  golang-go
  postgresql docker-registry
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "scripts/test.sh: install these packages first: ${missing[*]}" >&2
    exit 1
  fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
