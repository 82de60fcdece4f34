#!/usr/bin/env bash
# Installs what the harness needs on a Debian 12 host: Debian packages and npm packages.
# Idempotent and quiet when everything is already there; `make setup`, `make up` and `make test` call it.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(qemu-system-x86 qemu-utils xorriso mmdebstrap busybox-static e2fsprogs fdisk
  dpkg-dev cpio gzip python3 make g++ nasm)
missing=()
for p in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=node_modules/.nbxen-setup-stamp
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "setup: installing npm packages (node-pty compiles from source, about a minute)"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
