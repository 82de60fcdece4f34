#!/usr/bin/env bash
# Runs the HOWTO specs (specs/howto, in HOWTO order) against one box, with JUnit XML next to the reports.
set -euo pipefail
cd "$(dirname "$0")/.."
box=${NBXEN_BOX:-debian-12}
state=${NBXEN_STATE_DIR:-.nbxen}
mkdir -p "$state/reports/$box"
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
cat > "$cfg" <<JSON
{ "reporterEnabled": "spec, xunit", "xunitReporterOptions": { "output": "$state/reports/$box/specs.junit.xml", "suiteName": "nbxen HOWTO specs: $box" } }
JSON
rc=0
npx mocha --require specs/howto/session.ts --timeout 0 --reporter mocha-multi-reporters \
  --reporter-options "configFile=$cfg" 'specs/howto/*.spec.ts' || rc=$?
# Keep the run in the history (steps and specs), for `nbxen runs` and `nbxen report --compare`.
node bin/nbxen.js runs record "$state/reports/$box" || echo "run-specs: this run could not be recorded" >&2
exit $rc
