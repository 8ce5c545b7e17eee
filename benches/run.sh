#!/usr/bin/env bash
# Throughput and memory benchmark of `newsletter send`, `send --dry-run` and `check`, against
# Postfix's smtp-source (the ceiling of SMTP on this machine) and the Python `mailmerge` CLI
# (what a user might pick instead). Everything is sent to Postfix's smtp-sink on 127.0.0.1.
#
#   bash benches/run.sh                             # the full run: tens of minutes, quiet machine
#   N=2000 RUNS=2 SKIP_1M_SEND=1 bash benches/run.sh  # a quick try: a few minutes
#
# Not part of the test suite: it prints a table and marks each target met or not met, but its
# exit code only says whether the benchmark itself ran. See benches/README.md for what each
# number means and every environment variable.
set -euo pipefail
export LC_ALL=C # '.' as the decimal point in $EPOCHREALTIME, awk and printf

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ISSUE=$REPO/newsletters/2019-06-uk-sg-mou.yaml

# ---- settings (environment variables; see benches/README.md) ----
N=${N:-"10000 100000"}                # subscriber counts for the send throughput runs
RUNS=${RUNS:-5}                       # runs per throughput measurement
CONCURRENCY=${CONCURRENCY:-"1 4 16"}  # --concurrency values (and smtp-source sessions)
DRY_N=${DRY_N:-100000}                # subscribers for the dry-run throughput
MEM_N=${MEM_N:-"100000 1000000"}      # subscriber counts for peak memory
MEM_CONCURRENCY=${MEM_CONCURRENCY:-16} # --concurrency of the real sends measured for memory
SKIP_1M_SEND=${SKIP_1M_SEND:-0}       # 1: no real send at >= 1,000,000 (the dry run still runs)
MAILMERGE_N=${MAILMERGE_N:-2000}      # mailmerge is slow: it gets a smaller list
MAILMERGE_RUNS=${MAILMERGE_RUNS:-$RUNS}
MAILMERGE_VERSION=${MAILMERGE_VERSION:-2.3.0}
MAILMERGE_VENV=${MAILMERGE_VENV:-$REPO/target/bench-venv} # git-ignored, reused between runs
MAILMERGE_CONCURRENCY=4               # newsletter's default --concurrency, compared to mailmerge
CHECK_RUNS=${CHECK_RUNS:-20}
STEP_TIMEOUT=${STEP_TIMEOUT:-3600}    # seconds any one measured command may take
KEEP_TMP=${KEEP_TMP:-0}               # 1: keep the temporary directory (data, logs, outputs)
NEWSLETTER_BIN=${NEWSLETTER_BIN:-}    # a built binary; default: cargo build --release here
# shellcheck source=benches/lib.sh
source "$REPO/benches/lib.sh" # limited, say, die, elapsed, stats, newsletter_binary
PYTHON=${PYTHON:-python3}
DKIM=${DKIM:-1}                       # 1: run benches/dkim.sh at the end, with the same binary
RELAYS=${RELAYS:-1}                   # 1: run benches/relays.sh at the end, with the same binary

# A fixed test key: a real send refuses to start without one (32 characters at least).
export NEWSLETTER_UNSUBSCRIBE_KEY=bench-unsubscribe-key-0123456789abcdef
# Settings a user may have exported would change what is measured.
unset NEWSLETTER_SMTP_URL NEWSLETTER_CONCURRENCY NEWSLETTER_RATE NEWSLETTER_CAP \
  NEWSLETTER_SUBSCRIBERS NEWSLETTER_SUPPRESSION NEWSLETTER_JOURNAL NEWSLETTER_DKIM_KEY_FILE

for value in $N $DRY_N $MEM_N $MAILMERGE_N $RUNS $MAILMERGE_RUNS $CHECK_RUNS $CONCURRENCY \
  $MEM_CONCURRENCY; do
  [[ $value =~ ^[1-9][0-9]*$ ]] || { echo "bench: not a positive whole number: $value" >&2; exit 2; }
done

# Every measured command runs under a time limit, so that a stuck run ends the benchmark.
WARNINGS=()
warn() { WARNINGS+=("$*"); printf 'bench: warning: %s\n' "$*" >&2; }

# ---- cleanup: stop smtp-sink, remove the temporary directory, whatever happens ----
WORK=""
SINK_PID=""
cleanup() {
  local status=$?
  if [[ -n $SINK_PID ]]; then
    kill "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
  fi
  if [[ -n $WORK && -d $WORK ]]; then
    if [[ $KEEP_TMP == 1 ]]; then say "kept $WORK"; else rm -rf "$WORK"; fi
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- tools: smtp-sink/smtp-source (postfix), /usr/bin/time (time), a python with venv ----
missing=()
[[ -x /usr/sbin/smtp-sink && -x /usr/sbin/smtp-source ]] || missing+=(postfix)
[[ -x /usr/bin/time ]] || missing+=(time)
if ! command -v "$PYTHON" >/dev/null || ! "$PYTHON" -m venv --help >/dev/null 2>&1; then
  missing+=(python3 python3-venv)
  PYTHON=/usr/bin/python3
fi
install_packages "${missing[@]}"
SMTP_SINK=/usr/sbin/smtp-sink
SMTP_SOURCE=/usr/sbin/smtp-source

# ---- newsletter, release build ----
newsletter_binary

# ---- mailmerge in its own virtualenv (created once, reused) ----
MAILMERGE=$MAILMERGE_VENV/bin/mailmerge
if ! [[ -x $MAILMERGE && $("$MAILMERGE" --version 2>/dev/null) == *" $MAILMERGE_VERSION" ]]; then
  say "installing mailmerge $MAILMERGE_VERSION into $MAILMERGE_VENV"
  rm -rf "$MAILMERGE_VENV"
  "$PYTHON" -m venv "$MAILMERGE_VENV"
  "$MAILMERGE_VENV/bin/pip" install --quiet --disable-pip-version-check \
    "mailmerge==$MAILMERGE_VERSION"
fi
VENV_PYTHON=$MAILMERGE_VENV/bin/python

WORK=$(mktemp -d "${TMPDIR:-/tmp}/newsletter-bench.XXXXXX")
RES=$WORK/results # one file per measurement, one sample per line
mkdir -p "$RES" "$WORK/data"

# ---- smtp-sink on a free loopback port ----
# Ports are picked below the kernel's ephemeral range, so that no client connection (ours or
# another program's) holds the port. -c prints running counters of sessions and messages, which
# are used to check that every message arrived and to count connections.
sink_user=()
[[ $(id -u) == 0 ]] && sink_user=(-u nobody) # smtp-sink refuses to run as root without -u
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=""
for _ in $(seq 1 20); do
  candidate=$((20000 + RANDOM % 12000))
  port_in_use "$candidate" && continue
  "$SMTP_SINK" "${sink_user[@]}" -c "127.0.0.1:$candidate" 1024 >"$WORK/sink.log" 2>&1 &
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
  wait "$SINK_PID" 2>/dev/null || true # it lost a race for the port: try another
  SINK_PID=""
done
[[ -n $PORT ]] || die "could not start smtp-sink on a free port: $(cat "$WORK/sink.log")"
SMTP_URL=smtp://127.0.0.1:$PORT
say "smtp-sink listening on 127.0.0.1:$PORT (pid $SINK_PID)"

# "sessions messages" so far, from the last counter line smtp-sink printed.
sink_counts() {
  tail -c 300 "$WORK/sink.log" | tr '\r' '\n' |
    awk '/mesg=/ { line = $0 } END {
      if (line == "") { print 0, 0; exit }
      match(line, /sess=[0-9]+/); s = substr(line, RSTART + 5, RLENGTH - 5)
      match(line, /mesg=[0-9]+/); m = substr(line, RSTART + 5, RLENGTH - 5)
      print s, m }'
}
# After a run: check that smtp-sink got exactly the messages sent, and note the connections.
SINK_BEFORE=(0 0)
sink_mark() { read -r -a SINK_BEFORE < <(sink_counts); }
sink_verify() { # label expected-messages -> sets SINK_SESSIONS
  local label=$1 expected=$2 now got
  for _ in $(seq 1 50); do # the counter is printed just after the reply: allow it 5 s
    read -r -a now < <(sink_counts)
    got=$((now[1] - SINK_BEFORE[1]))
    ((got >= expected)) && break
    sleep 0.1
  done
  SINK_SESSIONS=$((now[0] - SINK_BEFORE[0]))
  ((got >= expected)) || die "$label: smtp-sink received $got messages of $expected"
  ((got == expected)) ||
    warn "$label: smtp-sink received $((got - expected)) more messages than sent; another program is sending to port $PORT, so this run's numbers are suspect"
}

# ---- synthetic subscribers ----
# One file of the largest size; smaller lists are its first rows. Every row is a subscribed,
# valid, distinct address (so messages = subscribers); one name in five is not ASCII, as in
# newsletters/subscribers.csv, so To headers need RFC 2047 encoding; a third have no
# organisation.
max_n=0
for n in $N $DRY_N $MEM_N $MAILMERGE_N 1; do ((n > max_n)) && max_n=$n; done
say "generating $max_n subscribers"
awk -v n="$max_n" 'BEGIN {
  nf = split("Alice Bob Chen Deepa Emeka Fatima George Hannah Ivan Julia Kwame Laura Maria " \
             "Nikhil Olivia Priya Rosa Siti Tom Wei", first, " ")
  nl = split("Smith Tan Nair Martin Mensah Lim Jones Wong Kumar Ng Ahmed Novak Dubois Rossi " \
             "Taylor Brown Sato Evans Walker Wright", last, " ")
  nu = split("Zoë Martin|李明|Seán O\047Brien|José Müller|Ngọc Trần|Søren Ødegård|Renée Côté", \
             intl, "|")
  no = split("Government Digital Service|GovTech|FCDO|Smart Nation and Digital Government " \
             "Office|Cabinet Office|Ministry of Health|", org, "|")
  split("example.org example.com example.net", domain, " ")
  print "email,name,status,organisation"
  for (i = 1; i <= n; i++) {
    if (i % 5 == 0) name = intl[i % nu + 1]
    else name = first[i % nf + 1] " " last[int(i / nf) % nl + 1]
    printf "subscriber%d@%s,%s,subscribed,%s\n", i, domain[i % 3 + 1], name, org[i % no + 1]
  }
}' >"$WORK/data/subscribers-$max_n.csv"
csv_for() { # n -> path of a CSV with the first n subscribers
  local file=$WORK/data/subscribers-$1.csv
  [[ -f $file ]] || head -n "$(($1 + 1))" "$WORK/data/subscribers-$max_n.csv" >"$file"
  printf '%s' "$file"
}

# ---- helpers for timing and statistics ----
per_second() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.3f\n", n / s }'; }
# Samples files A and B -> "median(A)/median(B) min(A)/max(B) max(A)/min(B)".
ratio() {
  local a b
  read -r -a a < <(stats "$1")
  read -r -a b < <(stats "$2")
  [[ ${a[0]} != - && ${b[0]} != - ]] || { echo "- - -"; return; }
  awk -v am="${a[0]}" -v al="${a[1]}" -v ah="${a[2]}" -v bm="${b[0]}" -v bl="${b[1]}" \
    -v bh="${b[2]}" 'BEGIN { printf "%.4f %.4f %.4f\n", am / bm, al / bh, ah / bl }'
}
# The "(R/s)" of newsletter's own summary line ("sent N via … in S s (R/s)").
own_rate() { sed -nE '1s/.* s \(([0-9.]+)\/s\).*/\1/p' "$1"; }
peak_rss_kb() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }

# ---- 1. newsletter check: wall time of the whole command ----
say "newsletter check x $CHECK_RUNS"
for _ in $(seq 1 "$CHECK_RUNS"); do
  t0=$EPOCHREALTIME
  "$BIN" check "$ISSUE" >/dev/null 2>"$WORK/check.err" || die "check failed: $(cat "$WORK/check.err")"
  t1=$EPOCHREALTIME
  awk -v s="$(elapsed "$t0" "$t1")" 'BEGIN { printf "%.3f\n", s * 1000 }' >>"$RES/check.ms"
done

# ---- 2. newsletter send --dry-run: every message built, nothing sent ----
dry_run() { # n [extra args] -> output in $WORK/dry.out
  local n=$1
  shift
  limited "$BIN" send "$ISSUE" --dry-run --subscribers "$(csv_for "$n")" --progress none "$@" \
    >"$WORK/dry.out" 2>"$WORK/dry.err" || die "dry run failed: $(cat "$WORK/dry.err")"
  grep -q "^dry run: $n message(s) built" "$WORK/dry.out" ||
    die "dry run did not build $n messages: $(head -1 "$WORK/dry.out")"
}
say "newsletter send --dry-run, $DRY_N subscribers x $RUNS"
for _ in $(seq 1 "$RUNS"); do
  t0=$EPOCHREALTIME
  dry_run "$DRY_N"
  t1=$EPOCHREALTIME
  per_second "$DRY_N" "$(elapsed "$t0" "$t1")" >>"$RES/dry.wall"
  own_rate "$WORK/dry.out" >>"$RES/dry.own"
done
# The same issue with placeholders in the subject, every story's title and every story's body
# (issue 13: personalising everywhere must keep the render-once speed).
PLACES=$WORK/placeholders
mkdir -p "$PLACES"
cp "$(dirname "$ISSUE")"/*.yaml "$(dirname "$ISSUE")"/*.csv "$(dirname "$ISSUE")"/*.txt "$PLACES"/
sed -E \
  -e 's/^subject: "/subject: "{name|Reader}, /' \
  -e 's/^  - title: "/  - title: "For {organisation|your team}: /' \
  -e 's/^    body: \|$/    body: |\n      {name|Reader}, this story is for {organisation|your organisation} ({email}).\n/' \
  "$ISSUE" >"$PLACES/issue.yaml"
PLACES_ISSUE=$PLACES/issue.yaml
stories=$(grep -c '^  - title: ' "$ISSUE")
[[ $(grep -c '{organisation|your organisation}' "$PLACES_ISSUE") == "$stories" ]] ||
  die "the placeholder issue does not have a placeholder in every story"
say "newsletter send --dry-run, placeholders in every story, $DRY_N subscribers x $RUNS"
for _ in $(seq 1 "$RUNS"); do
  t0=$EPOCHREALTIME
  limited "$BIN" send "$PLACES_ISSUE" --dry-run --subscribers "$(csv_for "$DRY_N")" --progress none \
    >"$WORK/dry-places.out" 2>"$WORK/dry-places.err" ||
    die "dry run with placeholders failed: $(cat "$WORK/dry-places.err")"
  t1=$EPOCHREALTIME
  grep -q "^dry run: $DRY_N message(s) built" "$WORK/dry-places.out" ||
    die "dry run with placeholders did not build $DRY_N messages: $(head -1 "$WORK/dry-places.out")"
  per_second "$DRY_N" "$(elapsed "$t0" "$t1")" >>"$RES/dry-places.wall"
  own_rate "$WORK/dry-places.out" >>"$RES/dry-places.own"
done

# The average message size, for smtp-source: "sizes: X in all, 16.9 KB on average, …".
avg=$(sed -nE 's/.*sizes: .*, ([0-9.]+) (B|KB|MB) on average.*/\1 \2/p' "$WORK/dry.out")
[[ -n $avg ]] || die "no average size in the dry run's summary: $(cat "$WORK/dry.out")"
SIZE=$(awk -v v="${avg% *}" -v u="${avg#* }" \
  'BEGIN { f = (u == "MB") ? 1e6 : (u == "KB") ? 1e3 : 1; printf "%d", v * f }')
say "average message: $avg ($SIZE bytes for smtp-source -l)"

# ---- 3. mailmerge: the same message, sent and dry-run ----
# The template is made from newsletter's own message for a marker subscriber, so that both
# tools send the same text and HTML (see benches/mailmerge_template.py).
MM=$WORK/mailmerge
mkdir -p "$MM"
marker_name=Benchmarkname
marker_email=bench.marker@example.org
printf 'email,name,status,organisation\n%s,%s,subscribed,\n' "$marker_email" "$marker_name" \
  >"$MM/marker.csv"
limited "$BIN" send "$ISSUE" --dry-run --subscribers "$MM/marker.csv" --progress none --out "$MM/eml" \
  >/dev/null 2>"$MM/eml.err" || die "dry run for the mailmerge template: $(cat "$MM/eml.err")"
marker_eml=$(find "$MM/eml" -name '*.eml' | head -1)
[[ -n $marker_eml ]] || die "the dry run wrote no .eml file in $MM/eml"
"$VENV_PYTHON" "$REPO/benches/mailmerge_template.py" "$marker_eml" "$marker_name" \
  "$marker_email" "$MM/template.txt"
printf '[smtp_server]\nhost = 127.0.0.1\nport = %s\n' "$PORT" >"$MM/server.conf" # no TLS, no auth
cp "$(csv_for "$MAILMERGE_N")" "$MM/database.csv"
mailmerge() { # --dry-run | --no-dry-run ; raw output is the cheapest of its output formats
  (cd "$MM" && limited "$MAILMERGE" --template template.txt --database database.csv \
    --config server.conf --no-limit --output-format raw "$@")
}
# One message as mailmerge builds it, to report its size next to newsletter's.
(cd "$MM" && limited "$MAILMERGE" --template template.txt --database database.csv \
  --config server.conf --dry-run --limit 1 --output-format raw) | sed '1d;/^>>> /,$d' >"$MM/one-message.txt"
MM_SIZE=$(wc -c <"$MM/one-message.txt")
say "mailmerge, $MAILMERGE_N subscribers x $MAILMERGE_RUNS (send and dry run)"
for _ in $(seq 1 "$MAILMERGE_RUNS"); do
  t0=$EPOCHREALTIME
  mailmerge --dry-run >/dev/null 2>"$MM/err" || die "mailmerge --dry-run: $(tail -3 "$MM/err")"
  t1=$EPOCHREALTIME
  per_second "$MAILMERGE_N" "$(elapsed "$t0" "$t1")" >>"$RES/mm-dry.wall"

  sink_mark
  t0=$EPOCHREALTIME
  mailmerge --no-dry-run >/dev/null 2>"$MM/err" || die "mailmerge send: $(tail -3 "$MM/err")"
  t1=$EPOCHREALTIME
  sink_verify "mailmerge send" "$MAILMERGE_N"
  per_second "$MAILMERGE_N" "$(elapsed "$t0" "$t1")" >>"$RES/mm-send.wall"
  echo "$SINK_SESSIONS" >"$RES/mm-send.sessions"
done

# ---- 4. real sends: newsletter and smtp-source, taking turns ----
# Alternating the two tools run by run spreads any drift of the machine over both.
send_once() { # n concurrency [extra args] -> sample appended to $RES/send-n-c.*
  local n=$1 c=$2 journal=$WORK/journal
  shift 2
  rm -f "$journal" "$journal".* # a fresh journal: everyone is sent to
  sink_mark
  t0=$EPOCHREALTIME
  limited "$BIN" send "$ISSUE" --subscribers "$(csv_for "$n")" --smtp "$SMTP_URL" \
    --journal "$journal" --concurrency "$c" --yes --progress none "$@" >"$WORK/send.out" 2>"$WORK/send.err" ||
    die "send (n=$n, concurrency $c) failed: $(cat "$WORK/send.out" "$WORK/send.err")"
  t1=$EPOCHREALTIME
  head -1 "$WORK/send.out" | grep -qE "^sent $n via " ||
    die "send (n=$n, concurrency $c) did not send all $n: $(head -1 "$WORK/send.out")"
  sink_verify "newsletter send n=$n c=$c" "$n"
  SEND_SECONDS=$(elapsed "$t0" "$t1")
}
for n in $N; do
  for c in $CONCURRENCY; do
    say "real send, $n subscribers, concurrency $c: newsletter and smtp-source x $RUNS"
    for _ in $(seq 1 "$RUNS"); do
      send_once "$n" "$c"
      per_second "$n" "$SEND_SECONDS" >>"$RES/send-$n-$c.wall"
      own_rate "$WORK/send.out" >>"$RES/send-$n-$c.own"
      echo "$SINK_SESSIONS" >"$RES/send-$n-$c.sessions"

      # -d keeps each of the c connections open for all its messages, as newsletter does;
      # -l is the body size (smtp-source adds a few short headers of its own).
      sink_mark
      t0=$EPOCHREALTIME
      limited "$SMTP_SOURCE" -d -s "$c" -m "$n" -l "$SIZE" -f bench@example.org -t sink@example.org \
        "127.0.0.1:$PORT" >"$WORK/source.out" 2>&1 ||
        die "smtp-source failed: $(tail -3 "$WORK/source.out")"
      t1=$EPOCHREALTIME
      sink_verify "smtp-source n=$n c=$c" "$n"
      per_second "$n" "$(elapsed "$t0" "$t1")" >>"$RES/source-$n-$c.wall"
      echo "$SINK_SESSIONS" >"$RES/source-$n-$c.sessions"
    done
  done
done

# ---- 5. peak memory (one run each; the peak varies little between runs) ----
for n in $MEM_N; do
  say "peak memory, $n subscribers: dry run"
  limited /usr/bin/time -v -o "$WORK/time.txt" "$BIN" send "$ISSUE" --dry-run \
    --subscribers "$(csv_for "$n")" --progress none >"$WORK/dry.out" 2>"$WORK/dry.err" ||
    die "dry run (memory, n=$n) failed: $(cat "$WORK/dry.err")"
  peak_rss_kb "$WORK/time.txt" >"$RES/rss-dry-$n.kb"
  own_rate "$WORK/dry.out" >"$RES/rss-dry-$n.own"
  if ((n >= 1000000)) && [[ $SKIP_1M_SEND == 1 ]]; then
    say "peak memory, $n subscribers: real send skipped (SKIP_1M_SEND=1)"
    continue
  fi
  say "peak memory, $n subscribers: real send, concurrency $MEM_CONCURRENCY"
  journal=$WORK/journal
  rm -f "$journal" "$journal".*
  sink_mark
  limited /usr/bin/time -v -o "$WORK/time.txt" "$BIN" send "$ISSUE" --subscribers "$(csv_for "$n")" \
    --smtp "$SMTP_URL" --journal "$journal" --concurrency "$MEM_CONCURRENCY" --yes \
    --progress none >"$WORK/send.out" 2>"$WORK/send.err" ||
    die "send (memory, n=$n) failed: $(cat "$WORK/send.out" "$WORK/send.err")"
  head -1 "$WORK/send.out" | grep -qE "^sent $n via " ||
    die "send (memory, n=$n) did not send all $n: $(head -1 "$WORK/send.out")"
  sink_verify "newsletter send (memory) n=$n" "$n"
  peak_rss_kb "$WORK/time.txt" >"$RES/rss-send-$n.kb"
  own_rate "$WORK/send.out" >"$RES/rss-send-$n.own"
done

# ---- the table ----
MET=0
NOT_MET=0
# Sets VERDICT to "met" or "NOT MET" and counts it; the condition is an awk expression that is
# true when the target is met. (Not called in $(…), which would lose the counts.)
verdict() {
  if awk "BEGIN { exit !($1) }"; then
    MET=$((MET + 1))
    VERDICT=met
  else
    NOT_MET=$((NOT_MET + 1))
    VERDICT="NOT MET"
  fi
}
fmt() { # number -> at most one decimal for small values, none for large ones
  [[ $1 == - ]] && { echo -; return; }
  awk -v v="$1" 'BEGIN { if (v >= 100) printf "%.0f", v; else if (v >= 10) printf "%.1f", v; else printf "%.2f", v }'
}
row() { printf '%-44s %9s %9s  %-19s %9s  %-16s %s\n' "$@"; }
rate_row() { # label n samples-file [own-rate-file]
  local s own o=-
  read -r -a s < <(stats "$3")
  if [[ -n ${4:-} ]]; then read -r -a own < <(stats "$4"); o=$(fmt "${own[0]}"); fi
  row "$1" "$2" "$(fmt "${s[0]}")" "$(fmt "${s[1]}")-$(fmt "${s[2]}")" "$o" "" ""
}
ratio_row() { # label n file-a file-b minimum-or-empty
  local r target="" status=""
  read -r -a r < <(ratio "$3" "$4")
  if [[ -n $5 ]]; then
    target=">= $5"
    verdict "${r[0]} >= $5"
    status=$VERDICT
  fi
  row "$1" "$2" "$(fmt "${r[0]}")" "$(fmt "${r[1]}")-$(fmt "${r[2]}")" "" "$target" "$status"
}

echo
echo "newsletter benchmark: $(basename "$ISSUE"), newsletter $("$BIN" --version 2>/dev/null | awk '{ print $NF }') ($BIN)"
echo "  message: $avg on average (newsletter's dry run); smtp-source -l $SIZE; mailmerge's message: $MM_SIZE bytes"
echo "  tools: postfix $(dpkg-query -W -f '${Version}' postfix 2>/dev/null || echo '?') (smtp-sink, smtp-source), mailmerge $MAILMERGE_VERSION with $("$VENV_PYTHON" --version 2>&1)"
echo "  receiver: smtp-sink on 127.0.0.1:$PORT; $(nproc) cores; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  temporary files (CSV, journals) on $(df -PT "$WORK" | awk 'NR == 2 { print $2 }'); RUNS=$RUNS"
echo
echo "Throughput, messages per second: median and min–max over the runs, from the wall time of"
echo "the whole command; 'own' is the median rate newsletter's own summary line reports."
echo "Real sends sync each recipient's journal 'data' record to disk (fdatasync, shared by the"
echo "workers through group commit) before its body goes; smtp-source writes nothing to disk."
row "measurement" "N" "msg/s" "min-max" "own" "target" ""
for n in $N; do
  for c in $CONCURRENCY; do
    rate_row "newsletter send, synced data, concurrency $c" "$n" "$RES/send-$n-$c.wall" "$RES/send-$n-$c.own"
    rate_row "smtp-source -d, $c session(s)" "$n" "$RES/source-$n-$c.wall"
    target=""
    ((c >= 4)) && target=0.8
    ratio_row "  newsletter / smtp-source, concurrency $c" "$n" "$RES/send-$n-$c.wall" \
      "$RES/source-$n-$c.wall" "$target"
  done
done
rate_row "newsletter send --dry-run" "$DRY_N" "$RES/dry.wall" "$RES/dry.own"
read -r -a d < <(stats "$RES/dry.wall")
verdict "${d[0]} >= 30000"
row "  newsletter dry run, absolute" "$DRY_N" "$(fmt "${d[0]}")" "" "" ">= 30000 msg/s" "$VERDICT"
rate_row "newsletter send --dry-run, placeholders in every story" "$DRY_N" "$RES/dry-places.wall" \
  "$RES/dry-places.own"
read -r -a d < <(stats "$RES/dry-places.wall")
verdict "${d[0]} >= 30000"
row "  dry run with placeholders, absolute" "$DRY_N" "$(fmt "${d[0]}")" "" "" ">= 30000 msg/s" \
  "$VERDICT"
rate_row "mailmerge send (one connection per message)" "$MAILMERGE_N" "$RES/mm-send.wall"
rate_row "mailmerge --dry-run" "$MAILMERGE_N" "$RES/mm-dry.wall"
first_n=${N%% *}
if [[ -s $RES/send-$first_n-$MAILMERGE_CONCURRENCY.wall ]]; then
  ratio_row "  newsletter send c=$MAILMERGE_CONCURRENCY (N=$first_n) / mailmerge" "" \
    "$RES/send-$first_n-$MAILMERGE_CONCURRENCY.wall" "$RES/mm-send.wall" 30
fi
if [[ -s $RES/send-$first_n-1.wall ]]; then
  ratio_row "  newsletter send c=1 (N=$first_n) / mailmerge" "" "$RES/send-$first_n-1.wall" \
    "$RES/mm-send.wall" ""
fi
ratio_row "  newsletter dry run / mailmerge dry run" "" "$RES/dry.wall" "$RES/mm-dry.wall" 100

echo
echo "Peak resident memory (/usr/bin/time -v, Maximum resident set size), MB (10^6 bytes); one run each;"
echo "real sends at concurrency $MEM_CONCURRENCY."
row "measurement" "N" "MB" "" "msg/s" "target" ""
for mode in send dry; do
  label="newsletter send"
  [[ $mode == dry ]] && label="newsletter send --dry-run"
  prev_n="" prev_kb=""
  for n in $MEM_N; do
    file=$RES/rss-$mode-$n.kb
    if [[ ! -s $file ]]; then
      row "$label" "$n" "skipped" "" "" "" ""
      continue
    fi
    kb=$(cat "$file")
    mb=$(awk -v k="$kb" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }') # MB of 10^6 bytes
    rate=-
    [[ -s $RES/rss-$mode-$n.own ]] && rate=$(fmt "$(cat "$RES/rss-$mode-$n.own")")
    if ((n >= 1000000)); then
      verdict "$mb <= 150"
      row "$label" "$n" "$mb" "" "$rate" "<= 150 MB" "$VERDICT"
    else
      row "$label" "$n" "$mb" "" "$rate" "" ""
    fi
    if [[ -n $prev_kb ]]; then
      # Linear growth at most: memory may grow by no more than the list does.
      growth=$(awk -v a="$prev_kb" -v b="$kb" 'BEGIN { printf "%.2f", b / a }')
      factor=$(awk -v a="$prev_n" -v b="$n" 'BEGIN { printf "%g", b / a }')
      # What each added subscriber costs, to tell "linear" from "flat" at a glance.
      slope=$(awk -v a="$prev_kb" -v b="$kb" -v m="$prev_n" -v n="$n" \
        'BEGIN { printf "%+.0f B/subscriber", (b - a) * 1024 / (n - m) }')
      verdict "$growth <= $factor"
      row "  growth $prev_n -> $n (x$factor subscribers)" "" "x$growth" "$slope" "" "<= x$factor" \
        "$VERDICT"
    fi
    prev_n=$n prev_kb=$kb
  done
done
if [[ " $MEM_N " != *" 1000000 "* ]]; then
  echo "(the 150 MB target is for 1,000,000 subscribers, not measured in this run: MEM_N=\"$MEM_N\")"
fi

echo
echo "newsletter check of the MoU issue: wall time, ms, median and min–max of $CHECK_RUNS runs."
read -r -a k < <(stats "$RES/check.ms")
verdict "${k[0]} < 50"
row "newsletter check" "" "$(fmt "${k[0]}") ms" "$(fmt "${k[1]}")-$(fmt "${k[2]}")" "" "< 50 ms" "$VERDICT"

echo
echo "Connections smtp-sink saw per run (last run):"
conns=""
for n in $N; do
  for c in $CONCURRENCY; do
    conns+="  newsletter c=$c: $(cat "$RES/send-$n-$c.sessions"), smtp-source -s $c: $(cat "$RES/source-$n-$c.sessions") (N=$n)"$'\n'
  done
done
printf '%s' "$conns"
echo "  mailmerge: $(cat "$RES/mm-send.sessions") for $MAILMERGE_N messages"
echo
echo "targets met: $MET, not met: $NOT_MET"
for w in "${WARNINGS[@]}"; do echo "warning: $w"; done

# ---- DKIM: signed builds and sends beside openssl speed (benches/dkim.sh, its own table) ----
if [[ $DKIM == 1 ]]; then
  echo
  NEWSLETTER_BIN=$BIN RUNS=$RUNS STEP_TIMEOUT=$STEP_TIMEOUT bash "$REPO/benches/dkim.sh"
fi

# ---- several relays: two smtp-sinks against one (benches/relays.sh, its own table) ----
if [[ $RELAYS == 1 ]]; then
  echo
  NEWSLETTER_BIN=$BIN RUNS=$RUNS STEP_TIMEOUT=$STEP_TIMEOUT bash "$REPO/benches/relays.sh"
fi
