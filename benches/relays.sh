#!/usr/bin/env bash
# Several relays: messages per second of `newsletter send` through two Postfix smtp-sinks at
# `connections=4` each, beside the same send through one smtp-sink at `--concurrency 8` (the
# same number of connections), taking turns run by run. Both sinks are checked to have received
# every message between them, and the split between the two is shown. Alone:
#
#   bash benches/relays.sh                         # RELAYS_N=10000, RUNS=3
#   RELAYS_N=2000 RUNS=1 bash benches/relays.sh    # a quick try
#
# smtp-sink comes from postfix (benches/run.sh installs it). The exit code only says whether the
# benchmark itself ran.
set -euo pipefail
export LC_ALL=C

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RELAYS_N=${RELAYS_N:-10000} # subscribers per send
RUNS=${RUNS:-3}
EACH=${EACH:-4} # connections to each of the two sinks; one sink gets twice as many
STEP_TIMEOUT=${STEP_TIMEOUT:-3600}
NEWSLETTER_BIN=${NEWSLETTER_BIN:-}
# shellcheck source=benches/lib.sh
source "$REPO/benches/lib.sh" # limited, say, die, elapsed, stats, newsletter_binary

export NEWSLETTER_UNSUBSCRIBE_KEY=bench-unsubscribe-key-0123456789abcdef
unset NEWSLETTER_SMTP_URL NEWSLETTER_CONCURRENCY NEWSLETTER_RATE NEWSLETTER_CAP \
  NEWSLETTER_SUBSCRIBERS NEWSLETTER_SUPPRESSION NEWSLETTER_JOURNAL NEWSLETTER_DKIM_KEY_FILE

for value in $RELAYS_N $RUNS $EACH; do
  [[ $value =~ ^[1-9][0-9]*$ ]] || { echo "bench: not a positive whole number: $value" >&2; exit 2; }
done


WORK=""
SINK_PIDS=()
cleanup() {
  local status=$?
  for pid in "${SINK_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [[ -n $WORK && -d $WORK ]] && rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ -x /usr/sbin/smtp-sink ]] || install_packages postfix

newsletter_binary

WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsletter-relays-bench.XXXXXX")
RES=$WORK/results
mkdir -p "$RES"
ISSUE=$REPO/newsletters/2019-06-uk-sg-mou.yaml

# The same kind of subscribers as benches/dkim.sh.
awk -v n="$RELAYS_N" 'BEGIN {
  print "email,name,status,organisation"
  for (i = 1; i <= n; i++)
    printf "subscriber%d@example.org,Reader %d,subscribed,Cabinet Office\n", i, i
}' >"$WORK/subscribers.csv"

# ---- two smtp-sinks on free loopback ports, with running counters (-c) ----
sink_user=()
[[ $(id -u) == 0 ]] && sink_user=(-u nobody) # smtp-sink refuses to run as root without -u
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start_sink() { # name -> sets PORT, appends to SINK_PIDS; counters in $WORK/NAME.log
  local name=$1 candidate pid
  PORT=""
  for _ in $(seq 1 20); do
    candidate=$((20000 + RANDOM % 12000))
    port_in_use "$candidate" && continue
    /usr/sbin/smtp-sink "${sink_user[@]}" -c "127.0.0.1:$candidate" 1024 >"$WORK/$name.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 50); do
      port_in_use "$candidate" && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null && port_in_use "$candidate"; then
      PORT=$candidate
      SINK_PIDS+=("$pid")
      return
    fi
    wait "$pid" 2>/dev/null || true # it lost a race for the port: try another
  done
  die "could not start smtp-sink $name: $(cat "$WORK/$name.log")"
}
start_sink a
PORT_A=$PORT
start_sink b
PORT_B=$PORT
say "smtp-sinks on 127.0.0.1:$PORT_A and 127.0.0.1:$PORT_B"

# Messages a sink has received so far, from the last counter line it printed.
messages() {
  tail -c 300 "$WORK/$1.log" | tr '\r' '\n' |
    awk '/mesg=/ { line = $0 } END {
      if (line == "") { print 0; exit }
      match(line, /mesg=[0-9]+/); print substr(line, RSTART + 5, RLENGTH - 5) }'
}
# Waits until sinks a and b together received `expected` more than `before_a + before_b`
# (the counter is printed just after the reply); sets GOT_A and GOT_B.
settle() {
  local before_a=$1 before_b=$2 expected=$3
  for _ in $(seq 1 50); do
    GOT_A=$(($(messages a) - before_a))
    GOT_B=$(($(messages b) - before_b))
    ((GOT_A + GOT_B >= expected)) && break
    sleep 0.1
  done
  ((GOT_A + GOT_B == expected)) ||
    die "the sinks received $GOT_A + $GOT_B messages, not $expected"
}

per_second() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f\n", n / s }'; }

send_once() { # label smtp-args... -> appends messages/s to $RES/label
  local label=$1 before_a before_b t0 t1
  shift
  rm -f "$WORK/journal" "$WORK/journal".*
  before_a=$(messages a)
  before_b=$(messages b)
  t0=$EPOCHREALTIME
  limited "$BIN" send "$ISSUE" --subscribers "$WORK/subscribers.csv" --journal "$WORK/journal" \
    --yes --progress none "$@" >"$WORK/send.out" 2>"$WORK/send.err" ||
    die "send ($label) failed: $(cat "$WORK/send.out" "$WORK/send.err")"
  t1=$EPOCHREALTIME
  head -1 "$WORK/send.out" | grep -qE "^sent $RELAYS_N via " ||
    die "send ($label) did not send all $RELAYS_N: $(head -1 "$WORK/send.out")"
  settle "$before_a" "$before_b" "$RELAYS_N"
  per_second "$RELAYS_N" "$(elapsed "$t0" "$t1")" >>"$RES/$label"
  echo "$GOT_A $GOT_B" >>"$RES/$label.split"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for run in $(seq 1 "$RUNS"); do
  say "one smtp-sink, --concurrency $((EACH * 2)), $RELAYS_N subscribers ($run/$RUNS)"
  send_once one --smtp "smtp://127.0.0.1:$PORT_A" --concurrency "$((EACH * 2))"
  say "two smtp-sinks, connections=$EACH each, $RELAYS_N subscribers ($run/$RUNS)"
  send_once two --smtp "smtp://127.0.0.1:$PORT_A?connections=$EACH" \
    --smtp "smtp://127.0.0.1:$PORT_B?connections=$EACH"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

read -r one_m one_lo one_hi < <(stats "$RES/one")
read -r two_m two_lo two_hi < <(stats "$RES/two")
split=$(awk '{ a += $1; b += $2 } END { printf "%.0f%% / %.0f%%", 100 * a / (a + b), 100 * b / (a + b) }' "$RES/two.split")
ratio=$(awk -v a="$two_m" -v b="$one_m" 'BEGIN { printf "%.2f", a / b }')

printf '\nnewsletter send, %d subscribers, median of %d runs (min-max), %d cores, load average %s before, %s after\n\n' \
  "$RELAYS_N" "$RUNS" "$(nproc)" "$LOAD_BEFORE" "$LOAD_AFTER"
printf '| relays | connections | messages/s | split between the sinks |\n'
printf '|---|---|---|---|\n'
printf '| one smtp-sink | --concurrency %d | %s (%s-%s) | 100%% |\n' "$((EACH * 2))" "$one_m" "$one_lo" "$one_hi"
printf '| two smtp-sinks | connections=%d each | %s (%s-%s) | %s |\n' "$EACH" "$two_m" "$two_lo" "$two_hi" "$split"
printf '\ntwo relays / one relay: %s\n' "$ratio"
