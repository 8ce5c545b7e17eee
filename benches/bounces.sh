#!/usr/bin/env bash
# Throughput of `newsletter bounces`: returned-mail reports read per second from one mbox.
#
#   bash benches/bounces.sh                  # 50,000 reports, 5 runs
#   REPORTS=10000 RUNS=2 bash benches/bounces.sh
#
# The mbox is generated (benches/bounces_mbox.py): a mix of Postfix DSNs (hard and soft),
# delayed DSNs, Exim reports, ARF complaints, DSNs with the whole message returned, bounces of
# other mail, auto-replies, unsubscribe mail and unreadable bounces, each about one of REPORTS
# subscribers. Every run
# starts from an empty suppression file, so each writes what a first reading writes; one more
# run over the same mailbox measures the second reading (nothing to write). Target: >= 5,000
# reports/s. Prints a small table; the exit code only says whether the benchmark ran.
set -euo pipefail
export LC_ALL=C

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPORTS=${REPORTS:-50000}
RUNS=${RUNS:-5}
NEWSLETTER_BIN=${NEWSLETTER_BIN:-}
KEEP_TMP=${KEEP_TMP:-0}
[[ $REPORTS =~ ^[1-9][0-9]*$ && $RUNS =~ ^[1-9][0-9]*$ ]] || {
  echo "bench: REPORTS and RUNS must be positive whole numbers" >&2
  exit 2
}
unset NEWSLETTER_SUBSCRIBERS NEWSLETTER_SUPPRESSION

WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsletter-bounces.XXXXXX")
cleanup() { if [[ $KEEP_TMP == 1 ]]; then echo "-- kept $WORK" >&2; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

if [[ -z $NEWSLETTER_BIN ]]; then
  echo "-- cargo build --release --locked" >&2
  (cd "$REPO" && cargo build --release --locked --quiet)
  NEWSLETTER_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/newsletter
fi
[[ -x $NEWSLETTER_BIN ]] || { echo "bench: no newsletter binary at $NEWSLETTER_BIN" >&2; exit 1; }

echo "-- generating $REPORTS reports" >&2
python3 "$REPO/benches/bounces_mbox.py" "$REPORTS" "$WORK"
size=$(stat -c %s "$WORK/bounces.mbox")

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
run_once() { # -> seconds on stdout; the summary in $WORK/summary.txt
  local t0 t1 status=0
  t0=$EPOCHREALTIME
  "$NEWSLETTER_BIN" bounces "$WORK/list.yaml" "$WORK/bounces.mbox" >"$WORK/summary.txt" 2>"$WORK/err.txt" || status=$?
  t1=$EPOCHREALTIME
  # 3 = some reports not understood: one kind in the generated mbox is, on purpose.
  [[ $status == 0 || $status == 3 ]] || { echo "bench: bounces failed ($status): $(cat "$WORK/err.txt")" >&2; exit 1; }
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }'
}

first=()
for _ in $(seq 1 "$RUNS"); do
  printf '# addresses never to mail\n' >"$WORK/suppressed.txt"
  rm -f "$WORK/suppressed.txt.soft-bounces"
  first+=("$(run_once)")
done
cp "$WORK/summary.txt" "$WORK/first-summary.txt"
again=$(run_once)

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
m=$(median "${first[@]}")
best=$(printf '%s\n' "${first[@]}" | sort -g | head -1)
worst=$(printf '%s\n' "${first[@]}" | sort -g | tail -1)
r=$(rate "$REPORTS" "$m")
verdict=$(awk -v r="$r" 'BEGIN { print (r >= 5000) ? "met" : "NOT MET" }')

echo
echo "newsletter bounces: $REPORTS reports in one mbox ($(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }')), $("$NEWSLETTER_BIN" --version | awk '{ print $NF }') ($NEWSLETTER_BIN)"
echo "  $(nproc) cores; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); RUNS=$RUNS"
printf '%-40s %10s %16s  %s\n' "measurement" "reports/s" "min-max" "target"
printf '%-40s %10s %16s  %s\n' "first reading (writes the files)" "$r" \
  "$(rate "$REPORTS" "$worst")-$(rate "$REPORTS" "$best")" ">= 5000 $verdict"
printf '%-40s %10s %16s\n' "second reading (nothing to write)" "$(rate "$REPORTS" "$again")" ""
echo
echo "summary of the first reading:"
# The per-message lines (new suppressions, unreadable messages) are left out.
sed 's/^/  /' "$WORK/first-summary.txt" | grep -vE '^ +([a-z0-9.@-]+  # |.*bounces\.mbox, message )' | head -20
