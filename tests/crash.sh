#!/usr/bin/env bash
# The long crash test: only tests/suite/crash.rs, with 20,000 subscribers and 20 kills (the
# default `cargo test` run uses 2,000 and 4). It sends through the capture server, SIGKILLs
# `newsletter` at random points, resumes from the journal and checks that nobody was mailed
# twice unless reported in doubt. See the comment at the top of tests/suite/crash.rs.
#
#   tests/crash.sh                                    # 20,000 subscribers, 20 kills
#   NEWSLETTER_CRASH_KILLS=50 tests/crash.sh          # any setting can be overridden
#   NEWSLETTER_CRASH_SEED=1234 tests/crash.sh         # repeat the kill points of a failed run
#
# The test prints its seed and what it saw (kills, in-doubt counts, duplicates, time).
set -euo pipefail
cd "$(dirname "$0")/.."
export NEWSLETTER_CRASH_RECIPIENTS="${NEWSLETTER_CRASH_RECIPIENTS:-20000}"
export NEWSLETTER_CRASH_KILLS="${NEWSLETTER_CRASH_KILLS:-20}"
exec cargo test --locked --test suite crash:: -- --nocapture "$@"
