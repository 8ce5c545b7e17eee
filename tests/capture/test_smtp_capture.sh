#!/usr/bin/env bash
# Self-check for smtp_capture.py: starts real servers on 127.0.0.1, talks SMTP
# to them with /usr/bin/python3's smtplib (and bash's /dev/tcp for
# pipelining), reads the HTTP API with curl, and stops every process it started.
# Prints PASS/FAIL per check and a closing "N passed, N failed" line; exits
# non-zero on any failure.
#
#   bash tests/capture/test_smtp_capture.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SERVER="$HERE/smtp_capture.py"
PY=/usr/bin/python3  # the interpreter that has Debian's python3-aiosmtpd

command -v curl >/dev/null || { echo "curl is missing: apt-get install -y curl" >&2; exit 2; }
command -v openssl >/dev/null || { echo "openssl is missing: apt-get install -y openssl" >&2; exit 2; }
"$PY" -c 'import aiosmtpd' 2>/dev/null \
    || { echo "aiosmtpd is missing: apt-get install -y python3-aiosmtpd" >&2; exit 2; }

WORK=$(mktemp -d)
PIDS=()  # every background process we start, stopped on exit by its own PID
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; [[ -z ${2:-} ]] || sed 's/^/    /' <<<"$2"; }

# check DESC CMD...: passes iff CMD exits 0; CMD's output is shown on failure.
check() {
    local desc=$1 out
    shift
    if out=$("$@" 2>&1); then pass "$desc"; else fail "$desc" "$out"; fi
}

# start_server NAME ARGS...: sets SERVER_PID, SMTP_PORT, HTTP_PORT, READY.
start_server() {
    local name=$1
    shift
    READY="$WORK/$name.ready"
    # --parent-pid $$: should this script die, the server goes too.
    "$PY" "$SERVER" --ready-file "$READY" --parent-pid $$ "$@" 2>"$WORK/$name.log" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    local _
    for _ in $(seq 200); do
        [[ -s $READY ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    if [[ ! -s $READY ]]; then
        echo "server '$name' did not become ready:" >&2
        cat "$WORK/$name.log" >&2
        exit 1
    fi
    read -r SMTP_PORT HTTP_PORT < <(
        "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["smtp"], d["http"])' "$READY")
}

# gone PID SECONDS: true once PID has exited (or is a zombie) within SECONDS.
gone() {
    local pid=$1 deadline=$((SECONDS + $2)) state
    while ((SECONDS <= deadline)); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 0
        [[ $state == Z ]] && return 0
        sleep 0.1
    done
    echo "process $pid still running after $2 s"
    return 1
}

# json_true EXPR < JSON: true iff the Python expression EXPR holds, with the
# parsed JSON bound to `d`.
json_true() {
    "$PY" -c '
import json, sys
d = json.load(sys.stdin)
if not eval("(" + sys.argv[1] + ")"):  # parenthesised: EXPR may span lines
    sys.exit("expected: %s\ngot: %s" % (sys.argv[1], json.dumps(d, ensure_ascii=False)[:1500]))
' "$1"
}

# expect_json DESC PATH EXPR: GET http://127.0.0.1:$HTTP_PORT/PATH, check EXPR.
expect_json() {
    local body
    if body=$(curl -sfS "http://127.0.0.1:$HTTP_PORT$2" 2>&1); then
        check "$1" json_true "$3" <<<"$body"
    else
        fail "$1" "$body"
    fi
}

# Python run by smtp_py before the scenario read from stdin.
PRELUDE='
import smtplib, ssl, sys
PORT = int(sys.argv[1])
WORK = sys.argv[2]
def expect(cond, what):
    if not cond:
        sys.exit("expected " + what)
def features(client):
    return {k.upper(): v for k, v in client.esmtp_features.items()}
'
# smtp_py < SCRIPT: run a Python smtplib scenario against $SMTP_PORT.
smtp_py() {
    { printf '%s\n' "$PRELUDE"; cat; } >"$WORK/scenario.py"
    "$PY" "$WORK/scenario.py" "$SMTP_PORT" "$WORK"
}

# ---------------------------------------------------------------------------
echo "== plain server"
start_server plain
PLAIN_PID=$SERVER_PID

expect_json "fresh server: no connections, no messages" /api/stats \
    'd == {"connections": 0, "messages": 0}'

check "EHLO advertises 8BITMIME, SMTPUTF8, PIPELINING; no STARTTLS, no AUTH" smtp_py <<'EOF'
with smtplib.SMTP("127.0.0.1", PORT) as c:
    c.ehlo("selfcheck")
    f = features(c)
    for ext in ("8BITMIME", "SMTPUTF8", "PIPELINING", "SIZE"):
        expect(ext in f, ext + " in " + repr(f))
    expect("STARTTLS" not in f and "AUTH" not in f, "no STARTTLS/AUTH in " + repr(f))
    code, _ = c.docmd("AUTH", "PLAIN AGEAYg==")
    expect(code == 502, "502 for AUTH when not configured, got %d" % code)
EOF

expect_json "a connection without a message is counted" /api/stats \
    'd == {"connections": 1, "messages": 0}'

# Exact bytes: CRLF, a line starting with '.', 8-bit UTF-8, a folded header.
check "send a message (plain, SMTPUTF8 recipient)" smtp_py <<'EOF'
raw = ("From: Sender <news@example.com>\r\n"
       "To: reader@example.org\r\n"
       "Subject: =?utf-8?q?Caf=C3=A9?= issue\r\n"
       " number 1\r\n"
       "Message-ID: <issue-1@example.com>\r\n"
       "MIME-Version: 1.0\r\n"
       "Content-Type: text/plain; charset=utf-8\r\n"
       "Content-Transfer-Encoding: 8bit\r\n"
       "\r\n"
       "Hello caf\u00e9 reader.\r\n"
       ".a line that starts with a dot\r\n").encode("utf-8")
open(WORK + "/sent.eml", "wb").write(raw)
with smtplib.SMTP("127.0.0.1", PORT) as c:
    refused = c.sendmail("news@example.com", ["reader@example.org", "j\u00f6rg@example.org"],
                         raw, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    expect(refused == {}, "no refused recipients, got %r" % refused)
EOF

expect_json "/api/v2/messages has the message in MailHog shape" /api/v2/messages '
d["total"] == 1 and d["count"] == 1 and d["start"] == 0
and (m := d["items"][0])["ID"] == "1"
and m["From"] == {"Relays": None, "Mailbox": "news", "Domain": "example.com", "Params": ""}
and [t["Mailbox"] + "@" + t["Domain"] for t in m["To"]] == ["reader@example.org", "jörg@example.org"]
and m["Raw"]["From"] == "news@example.com"
and m["Raw"]["To"] == ["reader@example.org", "jörg@example.org"]
and m["Content"]["Headers"]["Subject"] == ["=?utf-8?q?Caf=C3=A9?= issue number 1"]
and m["Content"]["Headers"]["Message-ID"] == ["<issue-1@example.com>"]
and m["Content"]["Body"] == "Hello café reader.\r\n.a line that starts with a dot\r\n"
and m["Content"]["Size"] == len(m["Raw"]["Data"].encode())
and m["Raw"]["Data"].startswith("From: Sender <news@example.com>\r\n")
and m["Created"][:2] == "20"'

expect_json "/api/v1/messages lists the same items" /api/v1/messages \
    'isinstance(d, list) and len(d) == 1 and d[0]["ID"] == "1" and d[0]["Raw"]["From"] == "news@example.com"'

expect_json "/api/summary" /api/summary '
d == [{"id": "1", "from": "news@example.com", "to": ["reader@example.org", "jörg@example.org"],
       "message_id": "<issue-1@example.com>",
       "subject": "=?utf-8?q?Caf=C3=A9?= issue number 1",
       "size": d[0]["size"], "connection": 2, "tls": False, "auth_user": None,
       "created": d[0]["created"]}]'

raw_matches() {
    local ctype
    ctype=$(curl -sfS -o "$WORK/got.eml" -w '%{content_type}' "http://127.0.0.1:$HTTP_PORT/api/raw/1")
    [[ $ctype == message/rfc822 ]] || { echo "Content-Type: $ctype"; return 1; }
    cmp "$WORK/sent.eml" "$WORK/got.eml"
}
check "/api/raw/1 returns the exact bytes sent, as message/rfc822" raw_matches
check "/api/raw/999 is 404" \
    bash -c '[[ $(curl -s -o /dev/null -w "%{http_code}" "$1") == 404 ]]' _ "http://127.0.0.1:$HTTP_PORT/api/raw/999"

expect_json "/api/stats counts both connections and the message" /api/stats \
    'd == {"connections": 2, "messages": 1}'

# PIPELINING: MAIL, RCPT, RCPT, DATA go out in one write; the replies must come
# back in order (RFC 2920), then the data and QUIT.
pipelined() {
    local fd line replies=()
    exec {fd}<>"/dev/tcp/127.0.0.1/$SMTP_PORT"
    read -r -t 5 -u "$fd" line && replies+=("${line:0:3}")              # greeting
    printf 'EHLO pipe\r\n' >&"$fd"
    while read -r -t 5 -u "$fd" line && [[ $line == 250-* ]]; do :; done   # EHLO lines
    replies+=("${line:0:3}")
    printf 'MAIL FROM:<pipe@example.com>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n' >&"$fd"
    for _ in 1 2 3 4; do read -r -t 5 -u "$fd" line && replies+=("${line:0:3}"); done
    printf 'Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n' >&"$fd"
    for _ in 1 2; do read -r -t 5 -u "$fd" line && replies+=("${line:0:3}"); done
    exec {fd}>&-
    [[ "${replies[*]}" == "220 250 250 250 250 354 250 221" ]] \
        || { echo "replies: ${replies[*]}"; return 1; }
}
check "pipelined MAIL/RCPT/RCPT/DATA get replies in order" pipelined
expect_json "pipelined message stored with both recipients" /api/summary \
    'len(d) == 2 and d[1]["to"] == ["a@example.org", "b@example.org"] and d[1]["subject"] == "pipelined"'

check "DELETE /api/v1/messages answers 204" \
    bash -c '[[ $(curl -s -o /dev/null -w "%{http_code}" -X DELETE "$1") == 204 ]]' _ "http://127.0.0.1:$HTTP_PORT/api/v1/messages"
expect_json "after DELETE: no messages, connections still counted" /api/stats \
    'd == {"connections": 3, "messages": 0}'

# Load: 4 concurrent connections x 750 messages of ~15 KB.
load() {
    smtp_py <<'EOF'
import threading, time
body = ("x" * 76 + "\r\n") * 195  # ~15 KB
PER, THREADS = 750, 4
errors = []
def worker(t):
    try:
        with smtplib.SMTP("127.0.0.1", PORT) as c:
            for i in range(PER):
                msg = ("From: news@example.com\r\nTo: r%d-%d@example.org\r\n"
                       "Subject: load %d-%d\r\nMessage-ID: <load-%d-%d@example.com>\r\n\r\n"
                       % (t, i, t, i, t, i)) + body
                c.sendmail("news@example.com", ["r%d-%d@example.org" % (t, i)], msg)
    except Exception as e:
        errors.append(repr(e))
start = time.monotonic()
threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
for t in threads: t.start()
for t in threads: t.join()
print("sent %d messages over %d connections in %.1f s" % (PER * THREADS, THREADS, time.monotonic() - start))
expect(not errors, "no errors, got %r" % errors[:3])
EOF
}
# Not through check(): the timing is worth seeing on success too.
if out=$(load 2>&1); then pass "load: $out"; else fail "load: 4 connections x 750 messages" "$out"; fi
expect_json "stats after load" /api/stats 'd == {"connections": 7, "messages": 3000}'
timed_summary() {
    local t0=$SECONDS
    curl -sfS "http://127.0.0.1:$HTTP_PORT/api/summary" >"$WORK/summary.json"
    json_true 'len(d) == 3000 and len({m["message_id"] for m in d}) == 3000 and all(m["size"] > 15000 for m in d)' <"$WORK/summary.json"
    ((SECONDS - t0 <= 5)) || { echo "summary took $((SECONDS - t0)) s"; return 1; }
}
check "/api/summary lists 3000 distinct messages" timed_summary
expect_json "/api/v2/messages paging: start=5 limit=10, newest first" '/api/v2/messages?start=5&limit=10' \
    'd["total"] == 3000 and d["count"] == 10 and d["start"] == 5 and [int(m["ID"]) for m in d["items"]] == list(range(3002 - 5, 3002 - 15, -1))'
check "/api/v1/messages returns all 3000 items" \
    bash -c 'curl -sfS "$1" | "$2" -c "import json,sys; d=json.load(sys.stdin); sys.exit(len(d) != 3000)"' _ \
    "http://127.0.0.1:$HTTP_PORT/api/v1/messages" "$PY"

kill -TERM "$PLAIN_PID"
rc=0
wait "$PLAIN_PID" || rc=$?
check "SIGTERM: exit status 0" test "$rc" -eq 0
check "SIGTERM: ready file removed" test ! -e "$READY"

check "a non-loopback --host is refused" bash -c '
    "$1" "$2" --host 0.0.0.0 --ready-file "$3/never.ready" 2>"$3/refused.log" && exit 1
    grep -q "not a loopback" "$3/refused.log" && test ! -e "$3/never.ready"' _ "$PY" "$SERVER" "$WORK"

# ---------------------------------------------------------------------------
echo "== STARTTLS + AUTH server"
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1,DNS:localhost -days 2 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
printf 'correct horse\n' >"$WORK/password"  # trailing newline is not part of it
start_server tls --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" --require-tls \
    --auth-user newsletter --auth-password-file "$WORK/password" \
    --reject Bounce@Example.org --reject gone@example.org

check "before STARTTLS: STARTTLS offered, AUTH not; MAIL gets 530 5.7.0 STARTTLS" smtp_py <<'EOF'
with smtplib.SMTP("127.0.0.1", PORT) as c:
    c.ehlo("selfcheck")
    f = features(c)
    expect("STARTTLS" in f and "AUTH" not in f, "STARTTLS without AUTH in " + repr(f))
    reply = c.mail("news@example.com")
    expect(reply == (530, b"5.7.0 Must issue a STARTTLS command first"), "530, got %r" % (reply,))
EOF

check "after STARTTLS (verified cert): AUTH PLAIN LOGIN offered; MAIL gets 530 5.7.0 auth" smtp_py <<'EOF'
ctx = ssl.create_default_context(cafile=WORK + "/cert.pem")  # verifies 127.0.0.1 SAN
with smtplib.SMTP("127.0.0.1", PORT) as c:
    c.starttls(context=ctx)
    c.ehlo("selfcheck")
    f = features(c)
    expect(set(f.get("AUTH", "").split()) == {"PLAIN", "LOGIN"}, "AUTH PLAIN LOGIN in " + repr(f))
    expect("STARTTLS" not in f, "no second STARTTLS in " + repr(f))
    reply = c.mail("news@example.com")
    expect(reply == (530, b"5.7.0 Authentication required"), "530, got %r" % (reply,))
EOF

check "wrong password gets 535 5.7.8 (PLAIN and LOGIN)" smtp_py <<'EOF'
ctx = ssl.create_default_context(cafile=WORK + "/cert.pem")
with smtplib.SMTP("127.0.0.1", PORT) as c:
    c.starttls(context=ctx)
    c.ehlo("selfcheck")
    c.user, c.password = "newsletter", "wrong horse"
    for mech, fn in (("PLAIN", c.auth_plain), ("LOGIN", c.auth_login)):
        try:
            c.auth(mech, fn)
            expect(False, mech + " to fail")
        except smtplib.SMTPAuthenticationError as e:
            expect((e.smtp_code, e.smtp_error) == (535, b"5.7.8 Authentication credentials invalid"),
                   "535 for %s, got %r" % (mech, (e.smtp_code, e.smtp_error)))
EOF

check "good credentials send; --reject recipient gets 550, the other is accepted" smtp_py <<'EOF'
ctx = ssl.create_default_context(cafile=WORK + "/cert.pem")
with smtplib.SMTP("127.0.0.1", PORT) as c:
    c.starttls(context=ctx)
    c.login("newsletter", "correct horse")
    refused = c.sendmail("news@example.com", ["ok@example.org", "bounce@EXAMPLE.org"],
                         "Subject: tls\r\nMessage-ID: <tls-1@example.com>\r\n\r\nhi\r\n")
    expect(refused == {"bounce@EXAMPLE.org": (
        550, b"5.1.1 <bounce@EXAMPLE.org>: Recipient address rejected: User unknown")},
        "only the rejected recipient refused, got %r" % refused)
with smtplib.SMTP("127.0.0.1", PORT) as c:  # AUTH LOGIN works too
    c.starttls(context=ctx)
    c.ehlo()
    c.user, c.password = "newsletter", "correct horse"
    expect(c.auth("LOGIN", c.auth_login)[0] == 235, "235 for AUTH LOGIN")
    try:
        c.sendmail("news@example.com", ["gone@example.org"], "Subject: x\r\n\r\nx\r\n")
        expect(False, "all recipients refused")
    except smtplib.SMTPRecipientsRefused as e:
        expect(e.recipients["gone@example.org"][0] == 550, "550, got %r" % e.recipients)
EOF

expect_json "TLS message stored with only the accepted recipient, TLS and user noted" /api/summary '
len(d) == 1 and d[0]["to"] == ["ok@example.org"] and d[0]["tls"] is True
and d[0]["auth_user"] == "newsletter" and d[0]["message_id"] == "<tls-1@example.com>"'
expect_json "TLS server counted its connections" /api/stats 'd == {"connections": 5, "messages": 1}'

# ---------------------------------------------------------------------------
echo "== AUTH without TLS, tied to a parent process"
sleep 300 &
PARENT=$!
PIDS+=("$PARENT")
# (start_server also passes --parent-pid $$; the last one given wins)
start_server parent --auth-user newsletter --auth-password-file "$WORK/password" --parent-pid "$PARENT"
CHILD_PID=$SERVER_PID

check "AUTH is offered and works on a plaintext connection when configured" smtp_py <<'EOF'
with smtplib.SMTP("127.0.0.1", PORT) as c:
    c.ehlo("selfcheck")
    f = features(c)
    expect("STARTTLS" not in f and set(f.get("AUTH", "").split()) == {"PLAIN", "LOGIN"},
           "AUTH PLAIN LOGIN without STARTTLS in " + repr(f))
    reply = c.mail("news@example.com")
    expect(reply == (530, b"5.7.0 Authentication required"), "530, got %r" % (reply,))
    c.login("newsletter", "correct horse")
    c.rset()
    expect(c.sendmail("news@example.com", ["r@example.org"], "Subject: plain auth\r\n\r\nhi\r\n") == {},
           "sent")
EOF
expect_json "plaintext-AUTH message stored" /api/summary \
    'len(d) == 1 and d[0]["tls"] is False and d[0]["auth_user"] == "newsletter"'

check "server is alive while its parent is" kill -0 "$CHILD_PID"
kill "$PARENT"
check "server exits within 3 s of its parent dying" gone "$CHILD_PID" 3
rc=0
wait "$CHILD_PID" || rc=$?
check "...with exit status 0" test "$rc" -eq 0

echo
echo "$passed passed, $failed failed"
((failed == 0))
