#!/bin/sh
# Runs the property tests of tests/suite/fuzz.rs far longer than `cargo test` does (256 cases
# each): by default 100,000 cases of each property, stopping after 30 minutes.
#
#   tests/fuzz.sh [CASES [SECONDS]]
#
# Exit status 0 when every property held (or time ran out without a failure), 1 when one
# failed: the failing input, shrunk, is in the output and in tests/proptest-regressions/.
set -eu
cases=${1:-100000}
seconds=${2:-1800}
cd "$(dirname "$0")/.."

# Build first, so that the time limit is spent testing; then run the test binary itself, so
# that the time limit stops it and not only cargo.
binary=$(cargo test --test suite --no-run 2>&1 | sed -n 's/^ *Executable .*(\(.*\))$/\1/p')
if [ ! -x "$binary" ]; then
    echo "fuzz.sh: cannot find the suite's test binary" >&2
    exit 1
fi

echo "fuzz.sh: $cases cases of each property, for at most $seconds s"
started=$(date +%s)
status=0
PROPTEST_CASES=$cases RUST_BACKTRACE=0 timeout "$seconds" "$binary" fuzz:: || status=$?
echo "fuzz.sh: $(($(date +%s) - started)) s"
case $status in
    0) echo "fuzz.sh: every property held" ;;
    124) echo "fuzz.sh: stopped after $seconds s; no property failed until then"; status=0 ;;
    *) echo "fuzz.sh: a property failed (see above)" ;;
esac
exit $status
