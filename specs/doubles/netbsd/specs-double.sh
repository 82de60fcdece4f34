#!/usr/bin/env bash
# Runs the HOWTO specs of a netbsd-* box against the installed-NetBSD TEST DOUBLE (see README.md):
# the fake mirror (release files + pkgsrc packages) is built under .nbxen-double/<box>/, the config
# points qemu.binary at the double, and scripts/run-specs.sh runs the specs.
set -euo pipefail
cd "$(dirname "$0")/../../.."
box=${1:?usage: specs-double.sh netbsd-X.Y}
case $box in netbsd-*) ;; *) echo "specs-double: $box is not a netbsd-* box" >&2; exit 2 ;; esac
dir=$PWD/.nbxen-double/$box
rm -rf "$dir/mirror"
mkdir -p "$dir"
node --import tsx specs/doubles/netbsd/mirror.ts "$box" "$dir/mirror" >/dev/null
cat > "$dir/nbxen.config.json" <<JSON
{
  "box": "$box",
  "qemu": { "binary": "$PWD/specs/doubles/sysinst-sim/fake-qemu", "accelerator": "tcg" },
  "mirror": "$dir/mirror",
  "cacheDir": "$dir/cache",
  "stateDir": "$dir/state"
}
JSON
export NBXEN_CONFIG=$dir/nbxen.config.json NBXEN_BOX=$box NBXEN_STATE_DIR=$dir/state
# The update-xen spec (09) updates the dom0 to a locally built pair of its Xen at the next version.
export NBXEN_UPDATE_XEN_TO=${NBXEN_UPDATE_XEN_TO-$dir/mirror/local-xen}
export NBXEN_SIM_SPEED=${NBXEN_SIM_SPEED:-0.1} NBXEN_PLAIN=1 NBXEN_FRESH=${NBXEN_FRESH:-1}
exec bash scripts/run-specs.sh
