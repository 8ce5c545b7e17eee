#!/usr/bin/env bash
# Latency of the live preview (`newsletter preview ISSUE --watch`): from a save of the issue to
# the new version in /status.json and to the server-sent event, and from start to the first
# page ready. Targets: p95 <= 100 ms with a 100,000-row list; first page <= 1 s.
#
#   bash benches/watch.sh                 # 100,000 subscribers, 50 saves
#   ROWS=1000000 RUNS=20 bash benches/watch.sh
#
# Prints a Markdown table (benches/watch.py does the measuring); the exit code only says
# whether the benchmark ran. Everything stays on 127.0.0.1.
set -euo pipefail
export LC_ALL=C

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROWS=${ROWS:-100000}
RUNS=${RUNS:-50}
NEWSLETTER_BIN=${NEWSLETTER_BIN:-}
[[ $ROWS =~ ^[1-9][0-9]*$ && $RUNS =~ ^[1-9][0-9]*$ ]] || {
  echo "bench: ROWS and RUNS must be positive whole numbers" >&2
  exit 2
}
unset NEWSLETTER_SUBSCRIBERS NEWSLETTER_SUPPRESSION NEWSLETTER_UNSUBSCRIBE_KEY

WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsletter-watch.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

if [[ -z $NEWSLETTER_BIN ]]; then
  echo "-- cargo build --release --locked" >&2
  (cd "$REPO" && cargo build --release --locked --quiet)
  NEWSLETTER_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/newsletter
fi
[[ -x $NEWSLETTER_BIN ]] || { echo "bench: no newsletter binary at $NEWSLETTER_BIN" >&2; exit 1; }

echo "-- commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 "$REPO/benches/watch.py" "$NEWSLETTER_BIN" "$REPO" "$WORK" "$ROWS" "$RUNS"
