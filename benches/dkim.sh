#!/usr/bin/env bash
# DKIM benchmark: how fast `newsletter send` builds and sends signed messages, beside what
# OpenSSL signs per second on this machine in the same run (`openssl speed`), so the targets
# are relative to the machine. benches/run.sh runs it at the end (DKIM=0 there skips it); alone:
#
#   bash benches/dkim.sh                               # DKIM_N=20000, RUNS=2, memory at 100,000
#   DKIM_MEM_N=1000000 bash benches/dkim.sh            # memory at 1,000,000 (minutes with RSA)
#
# Rows: dry runs without DKIM, with RSA-2048 and with Ed25519; real sends at concurrency 4 to
# Postfix's smtp-sink without DKIM and with RSA-2048, taking turns; the peak memory of a dry run
# signed with RSA-2048. The exit code only says whether the benchmark itself ran.
set -euo pipefail
export LC_ALL=C

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DKIM_N=${DKIM_N:-20000}            # subscribers for the dry runs
DKIM_SEND_N=${DKIM_SEND_N:-10000}  # subscribers for the real sends
DKIM_CONCURRENCY=${DKIM_CONCURRENCY:-4}
DKIM_MEM_N=${DKIM_MEM_N:-100000}   # subscribers for peak memory (the target is set at 1,000,000)
RUNS=${RUNS:-2}
STEP_TIMEOUT=${STEP_TIMEOUT:-3600}
NEWSLETTER_BIN=${NEWSLETTER_BIN:-}
# shellcheck source=benches/lib.sh
source "$REPO/benches/lib.sh" # limited, say, die, elapsed, stats, newsletter_binary

export NEWSLETTER_UNSUBSCRIBE_KEY=bench-unsubscribe-key-0123456789abcdef
unset NEWSLETTER_SMTP_URL NEWSLETTER_CONCURRENCY NEWSLETTER_RATE NEWSLETTER_CAP \
  NEWSLETTER_SUBSCRIBERS NEWSLETTER_SUPPRESSION NEWSLETTER_JOURNAL NEWSLETTER_DKIM_KEY_FILE

for value in $DKIM_N $DKIM_SEND_N $DKIM_CONCURRENCY $DKIM_MEM_N $RUNS; do
  [[ $value =~ ^[1-9][0-9]*$ ]] || { echo "bench: not a positive whole number: $value" >&2; exit 2; }
done


WORK=""
SINK_PID=""
cleanup() {
  local status=$?
  if [[ -n $SINK_PID ]]; then
    kill "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
  fi
  [[ -n $WORK && -d $WORK ]] && rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

missing=()
[[ -x /usr/sbin/smtp-sink ]] || missing+=(postfix)
[[ -x /usr/bin/time ]] || missing+=(time)
command -v openssl >/dev/null || missing+=(openssl)
install_packages "${missing[@]}"

newsletter_binary

WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsletter-dkim-bench.XXXXXX")
RES=$WORK/results
mkdir -p "$RES"

# ---- OpenSSL's signing rates on this machine, one core ----
say "openssl speed -seconds 3 rsa2048 ed25519"
openssl speed -seconds 3 rsa2048 ed25519 >"$WORK/speed.txt" 2>/dev/null ||
  die "openssl speed failed"
# sign/s is the first column after the timings (OpenSSL 3.0 and 3.2+ both).
sign_rate() {
  awk -v pattern="$1" '$0 ~ pattern {
    last = 0
    for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+s$/) last = i
    if (last) { print $(last + 1); exit } }' "$WORK/speed.txt"
}
OPENSSL_RSA=$(sign_rate '^rsa 2048 bits')
OPENSSL_ED=$(sign_rate 'Ed25519')
[[ -n $OPENSSL_RSA && -n $OPENSSL_ED ]] || die "cannot read openssl speed's output: $(cat "$WORK/speed.txt")"
CORES=$(nproc)

# ---- the sample issue with a `dkim` section, and two keys ----
cp -r "$REPO/newsletters" "$WORK/news"
printf 'dkim:\n  selector: bench\n' >>"$WORK/news/list.yaml"
ISSUE=$WORK/news/2019-06-uk-sg-mou.yaml
PLAIN_ISSUE=$REPO/newsletters/2019-06-uk-sg-mou.yaml # no `dkim` section: a send needs no key
openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048 -out "$WORK/rsa.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$WORK/ed25519.pem" 2>/dev/null

# The same kind of subscribers as benches/run.sh.
max_n=$DKIM_N
for n in $DKIM_SEND_N $DKIM_MEM_N; do ((n > max_n)) && max_n=$n; done
awk -v n="$max_n" 'BEGIN {
  print "email,name,status,organisation"
  for (i = 1; i <= n; i++)
    printf "subscriber%d@example.org,Reader %d,subscribed,Cabinet Office\n", i, i
}' >"$WORK/subscribers-$max_n.csv"
csv_for() {
  local file=$WORK/subscribers-$1.csv
  [[ -f $file ]] || head -n "$(($1 + 1))" "$WORK/subscribers-$max_n.csv" >"$file"
  printf '%s' "$file"
}

per_second() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.3f\n", n / s }'; }

issue_and_key() { # none | rsa | ed25519 -> the issue, and --dkim-key FILE for a key
  if [[ $1 == none ]]; then
    printf '%s\n' "$PLAIN_ISSUE"
  else
    printf '%s\n' "$ISSUE" --dkim-key "$WORK/$1.pem"
  fi
}
dry_run() { # key n
  local key=$1 n=$2 args
  mapfile -t args < <(issue_and_key "$key")
  limited /usr/bin/time -f "%U %S" -o "$WORK/cpu.txt" "$BIN" send "${args[@]}" --dry-run --subscribers "$(csv_for "$n")" --progress none \
    >"$WORK/dry.out" 2>"$WORK/dry.err" || die "dry run ($key) failed: $(cat "$WORK/dry.err")"
  grep -q "^dry run: $n message(s) built" "$WORK/dry.out" ||
    die "dry run ($key) did not build $n messages: $(head -1 "$WORK/dry.out")"
}

# ---- dry runs ----
for run in $(seq 1 "$RUNS"); do
  for key in none rsa ed25519; do
    say "dry run, $DKIM_N subscribers, key $key ($run/$RUNS)"
    t0=$EPOCHREALTIME
    dry_run "$key" "$DKIM_N"
    t1=$EPOCHREALTIME
    per_second "$DKIM_N" "$(elapsed "$t0" "$t1")" >>"$RES/dry-$key"
    # Messages per second of CPU time (user + system, all threads): what a busy machine
    # cannot take away, comparable with openssl speed's per-core figures.
    awk -v n="$DKIM_N" '{ printf "%.3f\n", n / ($1 + $2) }' "$WORK/cpu.txt" >>"$RES/cpu-$key"
  done
done

# ---- real sends to smtp-sink, with and without RSA, taking turns ----
sink_user=()
[[ $(id -u) == 0 ]] && sink_user=(-u nobody)
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=""
for _ in $(seq 1 20); do
  candidate=$((20000 + RANDOM % 12000))
  port_in_use "$candidate" && continue
  /usr/sbin/smtp-sink "${sink_user[@]}" "127.0.0.1:$candidate" 1024 >"$WORK/sink.log" 2>&1 &
  SINK_PID=$!
  for _ in $(seq 1 50); do
    port_in_use "$candidate" && break
    kill -0 "$SINK_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SINK_PID" 2>/dev/null && port_in_use "$candidate"; then
    PORT=$candidate
    break
  fi
  wait "$SINK_PID" 2>/dev/null || true
  SINK_PID=""
done
[[ -n $PORT ]] || die "could not start smtp-sink: $(cat "$WORK/sink.log")"
for run in $(seq 1 "$RUNS"); do
  for key in none rsa; do
    say "real send, $DKIM_SEND_N subscribers, concurrency $DKIM_CONCURRENCY, key $key ($run/$RUNS)"
    mapfile -t args < <(issue_and_key "$key")
    rm -f "$WORK/journal" "$WORK/journal".*
    t0=$EPOCHREALTIME
    limited "$BIN" send "${args[@]}" --subscribers "$(csv_for "$DKIM_SEND_N")" --smtp "smtp://127.0.0.1:$PORT" \
      --journal "$WORK/journal" --concurrency "$DKIM_CONCURRENCY" --yes --progress none \
      >"$WORK/send.out" 2>"$WORK/send.err" || die "send ($key) failed: $(cat "$WORK/send.out" "$WORK/send.err")"
    t1=$EPOCHREALTIME
    head -1 "$WORK/send.out" | grep -qE "^sent $DKIM_SEND_N via " ||
      die "send ($key) did not send all: $(head -1 "$WORK/send.out")"
    per_second "$DKIM_SEND_N" "$(elapsed "$t0" "$t1")" >>"$RES/send-$key"
  done
done

# ---- peak memory of a signed dry run ----
say "peak memory, $DKIM_MEM_N subscribers, dry run signed with RSA-2048"
limited /usr/bin/time -v -o "$WORK/time.txt" "$BIN" send "$ISSUE" --dry-run \
  --subscribers "$(csv_for "$DKIM_MEM_N")" --progress none --dkim-key "$WORK/rsa.pem" \
  >"$WORK/dry.out" 2>"$WORK/dry.err" || die "dry run (memory) failed: $(cat "$WORK/dry.err")"
MEM_MB=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 * 1024 / 1e6 }' "$WORK/time.txt")

# ---- the table ----
MET=0
NOT_MET=0
verdict() {
  if awk "BEGIN { exit !($1) }"; then
    MET=$((MET + 1))
    VERDICT=met
  else
    NOT_MET=$((NOT_MET + 1))
    VERDICT="NOT MET"
  fi
}
fmt() { awk -v v="$1" 'BEGIN { if (v >= 100) printf "%.0f", v; else printf "%.2f", v }'; }
row() { printf '%-46s %8s %9s  %-15s  %-18s %s\n' "$@"; }
rate_row() { # label n samples [cpu-samples]
  local s c cpu=""
  read -r -a s < <(stats "$3")
  if [[ -n ${4:-} ]]; then
    read -r -a c < <(stats "$4")
    cpu="$(fmt "${c[0]}")/CPU-s"
  fi
  row "$1" "$2" "$(fmt "${s[0]}")" "$(fmt "${s[1]}")-$(fmt "${s[2]}")" "$cpu" ""
}
median() { local s; read -r -a s < <(stats "$1"); echo "${s[0]}"; }

rsa_target=$(awk -v r="$OPENSSL_RSA" -v c="$CORES" 'BEGIN { printf "%.0f", 0.6 * r * c }')
echo
echo "DKIM benchmark: newsletter $("$BIN" --version 2>/dev/null | awk '{ print $NF }'), $CORES cores, RUNS=$RUNS;"
echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  $(openssl version): RSA-2048 $(fmt "$OPENSSL_RSA") signs/s, Ed25519 $(fmt "$OPENSSL_ED") signs/s (one core, -seconds 3)"
echo
echo "Messages per second from the wall time of the whole command: median and min-max; for dry"
echo "runs also per second of CPU time (user + system, every thread), which other load on the"
echo "machine does not change much: compare it with openssl's one-core rate."
row "measurement" "N" "msg/s" "min-max" "target / per CPU" ""
rate_row "dry run, no DKIM" "$DKIM_N" "$RES/dry-none" "$RES/cpu-none"
rate_row "dry run, RSA-2048" "$DKIM_N" "$RES/dry-rsa" "$RES/cpu-rsa"
verdict "$(median "$RES/dry-rsa") >= $rsa_target"
row "  RSA-2048 vs 0.6 x $CORES cores x openssl" "" "$(fmt "$(median "$RES/dry-rsa")")" "" ">= $rsa_target" "$VERDICT"
rate_row "dry run, Ed25519" "$DKIM_N" "$RES/dry-ed25519" "$RES/cpu-ed25519"
verdict "$(median "$RES/dry-ed25519") >= 30000"
row "  Ed25519, absolute" "" "$(fmt "$(median "$RES/dry-ed25519")")" "" ">= 30000" "$VERDICT"
rate_row "send c=$DKIM_CONCURRENCY, no DKIM" "$DKIM_SEND_N" "$RES/send-none"
rate_row "send c=$DKIM_CONCURRENCY, RSA-2048" "$DKIM_SEND_N" "$RES/send-rsa"
ratio=$(awk -v a="$(median "$RES/send-rsa")" -v b="$(median "$RES/send-none")" 'BEGIN { printf "%.2f", a / b }')
verdict "$ratio >= 0.5"
row "  send RSA-2048 / send without DKIM" "" "$ratio" "" ">= 0.5" "$VERDICT"
if ((DKIM_MEM_N >= 1000000)); then
  verdict "$MEM_MB <= 150"
  row "peak memory, dry run RSA-2048, MB" "$DKIM_MEM_N" "$MEM_MB" "" "<= 150" "$VERDICT"
else
  row "peak memory, dry run RSA-2048, MB" "$DKIM_MEM_N" "$MEM_MB" "" "(150 at 1M)" ""
fi
echo
echo "DKIM targets met: $MET, not met: $NOT_MET"
