# Helpers shared by the benchmark scripts (run.sh, dkim.sh, relays.sh); sourced, not run.
# Each script sets REPO, STEP_TIMEOUT and NEWSLETTER_BIN before sourcing it.

# A measured command, stopped (and killed 10 s later) after STEP_TIMEOUT seconds.
limited() { timeout --kill-after=10 "$STEP_TIMEOUT" "$@"; }
say() { printf '%s\n' "-- $*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# Seconds from $1 to $2 (both $EPOCHREALTIME).
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

# "median min max" of the samples in a file, or "- - -" when there are none.
stats() {
  [[ -s $1 ]] || { echo "- - -"; return; }
  sort -g "$1" | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    print m, v[1], v[NR] }'
}

# Installs the Debian packages named (as root), or stops saying what to install.
install_packages() {
  (($#)) || return 0
  [[ $(id -u) == 0 ]] || die "missing $*: run as root, or apt-get install $*"
  say "installing $* with apt-get"
  # Postfix as a package only: "No configuration" writes no main.cf, so no mail daemon runs.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Sets BIN: NEWSLETTER_BIN, or a release build of this checkout.
newsletter_binary() {
  if [[ -z $NEWSLETTER_BIN ]]; then
    say "cargo build --release --locked"
    (cd "$REPO" && cargo build --release --locked --quiet)
    NEWSLETTER_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/newsletter
  fi
  [[ -x $NEWSLETTER_BIN ]] || die "no newsletter binary at $NEWSLETTER_BIN"
  BIN=$NEWSLETTER_BIN
}
