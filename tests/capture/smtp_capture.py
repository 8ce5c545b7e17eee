#!/usr/bin/python3
"""Local SMTP capture server for newsletter's integration tests (MailHog style).

Accepts mail on a loopback SMTP port, keeps every message in memory and serves
it back over a small JSON HTTP API whose /api/v1 and /api/v2 message endpoints
have the same shape as MailHog's.  Options add STARTTLS, AUTH PLAIN/LOGIN and
per-address recipient rejection so the tests can exercise the client's error
paths against a real SMTP conversation.

Runs under Debian's /usr/bin/python3 with python3-aiosmtpd (1.4.3); besides
aiosmtpd it uses the standard library only.  See README.md beside this file.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import email.parser
import email.policy
import hmac
import ipaddress
import json
import logging
import os
import re
import signal
import socket
import ssl
import sys
import tempfile
import threading
import warnings
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, unquote, urlsplit

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, TLSSetupException, syntax

log = logging.getLogger("smtp_capture")

GREETING_HOSTNAME = "localhost"
PARENT_POLL_SECONDS = 0.5
# MailHog's default page size for /api/v2/messages.
V2_DEFAULT_LIMIT = 50

REPLY_TLS_FIRST = "530 5.7.0 Must issue a STARTTLS command first"
REPLY_AUTH_DISABLED = "502 5.5.1 AUTH not enabled"


# --------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Captured:
    """One accepted message.

    Headers are parsed once, on receipt; the body text is decoded only when
    asked for, so each message is held in memory about once (as raw bytes).
    """

    id: str
    connection: int  # 1-based number of the SMTP connection that carried it
    helo: Optional[str]
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes  # DATA exactly as received, dot-unstuffed, CRLFs kept
    created: str  # RFC 3339, UTC
    tls: bool
    auth_user: Optional[str]
    headers: dict[str, list[str]]  # MailHog's Content.Headers
    body_start: int  # offset of the body in raw; decoded only when asked for

    @property
    def body(self) -> str:
        """MailHog's Content.Body."""
        return _text(self.raw[self.body_start:])


def _text(data: bytes) -> str:
    """Bytes to text for JSON.

    U+FFFD replaces invalid UTF-8 rather than surrogateescape: lone surrogates
    are not valid JSON strings for strict parsers (serde_json rejects them).
    /api/raw/<id> serves the exact bytes for anyone who needs them.
    """
    return data.decode("utf-8", errors="replace")


# MailHog unfolds continuation lines by deleting the CRLF and keeping the
# leading whitespace; the email package keeps the CRLF inside the value.
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_HEADER_PARSER = email.parser.HeaderParser(policy=email.policy.compat32)


def _split_content(raw: bytes) -> tuple[dict[str, list[str]], int]:
    """Headers and body offset the way MailHog's ContentFromString splits them.

    The message is split at the first blank line (CRLF CRLF); without one the
    whole message is body and there are no headers.  Header values stay raw
    (encoded words are not decoded), keyed by the name as it was written.
    """
    head, sep, _ = raw.partition(b"\r\n\r\n")
    if not sep:
        return {}, 0
    headers: dict[str, list[str]] = {}
    # compat32 returns values verbatim; the modern policies would decode them.
    for name, value in _HEADER_PARSER.parsestr(_text(head) + "\r\n").items():
        headers.setdefault(name, []).append(_FOLD.sub("", value))
    return headers, len(head) + len(sep)


def _path(address: str) -> dict:
    """An address as MailHog's data.Path."""
    mailbox, _, domain = address.rpartition("@")
    if not mailbox:  # no '@': MailHog puts the whole thing in Mailbox
        mailbox, domain = address, ""
    return {"Relays": None, "Mailbox": mailbox, "Domain": domain, "Params": ""}


def _first_header(headers: dict[str, list[str]], name: str) -> Optional[str]:
    name = name.lower()
    for key, values in headers.items():
        if key.lower() == name and values:
            return values[0].strip()
    return None


class Store:
    """Thread-safe in-memory store: written by the SMTP loop, read by HTTP threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: dict[str, Captured] = {}  # insertion order = arrival order
        self._next_id = 1  # never reused, even after DELETE
        self._connections = 0

    def new_connection(self) -> int:
        with self._lock:
            self._connections += 1
            return self._connections

    def add(self, **fields) -> Captured:
        headers, body_start = _split_content(fields["raw"])
        created = datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="microseconds")
        with self._lock:
            message = Captured(id=str(self._next_id), created=created,
                               headers=headers, body_start=body_start, **fields)
            self._next_id += 1
            self._messages[message.id] = message
        return message

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def snapshot(self) -> list[Captured]:
        """All stored messages, oldest first."""
        with self._lock:
            return list(self._messages.values())

    def get(self, message_id: str) -> Optional[Captured]:
        with self._lock:
            return self._messages.get(message_id)

    def stats(self) -> dict:
        with self._lock:
            return {"connections": self._connections,
                    "messages": len(self._messages)}


def mailhog_item(m: Captured) -> dict:
    """A message in MailHog's JSON shape (data.Message)."""
    return {
        "ID": m.id,
        "From": _path(m.mail_from),
        "To": [_path(r) for r in m.rcpt_tos],
        "Content": {"Headers": m.headers, "Body": m.body,
                    "Size": len(m.raw), "MIME": None},
        "Created": m.created,
        "MIME": None,
        "Raw": {"From": m.mail_from, "To": list(m.rcpt_tos),
                "Data": _text(m.raw), "Helo": m.helo or ""},
    }


def summary_item(m: Captured) -> dict:
    return {
        "id": m.id,
        "from": m.mail_from,
        "to": list(m.rcpt_tos),
        "message_id": _first_header(m.headers, "Message-ID"),
        "subject": _first_header(m.headers, "Subject"),
        "size": len(m.raw),
        "connection": m.connection,
        "tls": m.tls,
        "auth_user": m.auth_user,
        "created": m.created,
    }


# --------------------------------------------------------------------------
# SMTP side
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SmtpPolicy:
    require_tls: bool
    user: Optional[bytes]  # AUTH is enabled iff set
    password: Optional[bytes]
    rejected: frozenset[str]  # lower-cased addresses


class CaptureHandler:
    """aiosmtpd handler hooks.

    Careful with names: aiosmtpd treats every handler attribute starting with
    ``handle_`` as a command hook and every one starting with ``auth_`` as an
    AUTH mechanism, so helpers and fields must avoid both prefixes.
    """

    def __init__(self, store: Store, policy: SmtpPolicy, taken_log=None) -> None:
        self.store = store
        self.policy = policy
        # An open file that gets each accepted message's recipients, one per line, before
        # the 250 reply: what a server that is killed later took outlives it.
        self.taken_log = taken_log

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # With the 5-argument hook, recording the client's name is our job.
        session.host_name = hostname
        lines = [r for r in responses if not r.startswith("250 HELP")]
        if self.policy.user is None:
            # aiosmtpd advertises AUTH whenever TLS is not required for it (or
            # is up), even with no credentials configured; hide it then.
            lines = [r for r in lines if not r[4:].startswith("AUTH")]
        # aiosmtpd reads commands strictly in order from a buffered stream,
        # so pipelined commands work; it just does not say so.
        lines.append("250-PIPELINING")
        lines.append("250 HELP")
        return lines

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.policy.rejected:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        # Once a RCPT hook exists, accepting the recipient is up to it.
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        auth = session.auth_data
        message = self.store.add(
            connection=server.connection_number,
            helo=session.host_name,
            # aiosmtpd hands over the null reverse-path (bounces) as the
            # literal "<>"; MailHog, like the RFC, calls it empty.
            mail_from="" if envelope.mail_from == "<>" else envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=bytes(envelope.original_content),
            tls=server.tls_active,
            auth_user=(_text(auth.login) if isinstance(auth, LoginPassword)
                       else None),
        )
        if self.taken_log is not None:
            self.taken_log.write("".join(f"{rcpt}\n" for rcpt in envelope.rcpt_tos))
            self.taken_log.flush()
        return f"250 2.0.0 Ok: queued as {message.id}"

    def check_credentials(self, server, session, envelope, mechanism, auth_data):
        """aiosmtpd ``authenticator`` callback for the built-in PLAIN and LOGIN."""
        ok = False
        if isinstance(auth_data, LoginPassword) and self.policy.user is not None:
            # Both comparisons always run, so timing does not tell which failed.
            user_ok = hmac.compare_digest(auth_data.login, self.policy.user)
            password_ok = hmac.compare_digest(auth_data.password, self.policy.password)
            ok = user_ok and password_ok
        # handled=False lets aiosmtpd send its standard 535 5.7.8 reply.
        return AuthResult(success=ok, handled=False,
                          auth_data=auth_data if ok else None)


class CaptureSMTP(SMTP):
    """aiosmtpd's SMTP with connection counting and our MAIL/AUTH gates."""

    def __init__(self, handler: CaptureHandler, implicit_tls: bool = False, **kwargs) -> None:
        self.capture = handler
        self.connection_number = 0
        # With implicit TLS the socket is encrypted before aiosmtpd sees it, so its own
        # STARTTLS state says nothing about it.
        self.implicit_tls = implicit_tls
        super().__init__(handler, **kwargs)

    @property
    def tls_active(self) -> bool:
        return self.implicit_tls or self._tls_protocol is not None

    def connection_made(self, transport) -> None:
        # aiosmtpd calls this again after a STARTTLS handshake, on the same
        # object; only the first call is a new TCP connection.
        if self._original_transport is None:
            self.connection_number = self.capture.store.new_connection()
        super().connection_made(transport)

    # aiosmtpd's own require_starttls answers *every* early command with a
    # bare "530 Must issue a STARTTLS command first" (no enhanced status
    # code), so the TLS gate is done here instead, ahead of the AUTH gate.
    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str) -> None:
        if self.capture.policy.require_tls and not self.tls_active:
            return await self.push(REPLY_TLS_FIRST)
        return await super().smtp_MAIL(arg)

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        if self.capture.policy.user is None:
            return await self.push(REPLY_AUTH_DISABLED)
        return await super().smtp_AUTH(arg)

    async def handle_exception(self, error: Exception) -> str:
        # A failed STARTTLS handshake (say, a client that rejects our
        # certificate) is worth one line, not aiosmtpd's two-part traceback.
        # aiosmtpd closes the connection itself afterwards.
        if isinstance(error, TLSSetupException):
            log.warning("%s: STARTTLS handshake failed: %r",
                        self.session.peer, error.__cause__)
            return "454 4.7.0 TLS handshake failed"
        return await super().handle_exception(error)


# --------------------------------------------------------------------------
# HTTP side
# --------------------------------------------------------------------------

class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every reply sets Content-Length
    server_version = "smtp-capture"
    store: Store  # set on the subclass made in serve_http()

    def log_message(self, format, *args):  # noqa: A002 (stdlib signature)
        log.debug("http %s - %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes = b"",
              content_type: str = "application/json") -> None:
        self.send_response(status)
        if status != HTTPStatus.NO_CONTENT:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _json(self, value, status: int = HTTPStatus.OK) -> None:
        body = json.dumps(value, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json({"error": message}, status)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        if path == "/api/v2/messages":
            self._v2_messages(parse_qs(url.query))
        elif path == "/api/v1/messages":
            # MailHog lists newest first (and caps v1 at 1000; we do not).
            self._json([mailhog_item(m) for m in reversed(self.store.snapshot())])
        elif path == "/api/stats":
            self._json(self.store.stats())
        elif path == "/api/summary":
            self._json([summary_item(m) for m in self.store.snapshot()])
        elif path.startswith("/api/raw/"):
            message = self.store.get(unquote(path[len("/api/raw/"):]))
            if message is None:
                self._error(HTTPStatus.NOT_FOUND, "no such message")
            else:
                self._send(HTTPStatus.OK, message.raw, "message/rfc822")
        else:
            self._error(HTTPStatus.NOT_FOUND, "not found")

    def do_DELETE(self) -> None:
        if urlsplit(self.path).path.rstrip("/") == "/api/v1/messages":
            self.store.clear()
            self._send(HTTPStatus.NO_CONTENT)
        else:
            self._error(HTTPStatus.NOT_FOUND, "not found")

    def _v2_messages(self, query: dict) -> None:
        try:
            start = int(query.get("start", ["0"])[0])
            limit = int(query.get("limit", [str(V2_DEFAULT_LIMIT)])[0])
            if start < 0 or limit < 0:
                raise ValueError
        except ValueError:
            return self._error(HTTPStatus.BAD_REQUEST,
                               "start and limit must be non-negative integers")
        messages = self.store.snapshot()
        # Newest first, as MailHog does: start=0 is the latest message.
        page = messages[::-1][start:start + limit]
        self._json({"total": len(messages), "count": len(page), "start": start,
                    "items": [mailhog_item(m) for m in page]})


def serve_http(store: Store, host: str, port: int) -> ThreadingHTTPServer:
    """Bind the API (so it is accepting on return) and serve it from a thread."""
    handler = type("BoundApiHandler", (ApiHandler,), {"store": store})
    server_class = type("ApiServer", (ThreadingHTTPServer,), {
        "address_family": _family(host),
        "daemon_threads": True,
    })
    httpd = server_class((host, port), handler)
    threading.Thread(target=httpd.serve_forever, name="http-api",
                     daemon=True).start()
    return httpd


# --------------------------------------------------------------------------
# Process plumbing
# --------------------------------------------------------------------------

def _family(host: str) -> int:
    if ipaddress.ip_address(host).version == 6:
        return socket.AF_INET6
    return socket.AF_INET


def loopback_host(value: str) -> str:
    try:
        if ipaddress.ip_address(value).is_loopback:
            return value
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"{value!r} is not a loopback IP address (use 127.0.0.1 or ::1)")


def write_ready_file(path: str, info: dict) -> None:
    """Write-to-temp then rename, so a reader never sees a partial file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".smtp-capture-", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _process_start_time(pid: int) -> Optional[str]:
    """Field 22 of /proc/PID/stat (start time), or None if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # comm (field 2) may contain spaces and ')': split after the last ')'
            return f.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


def _process_alive(pid: int, start_time: Optional[str]) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except OSError:
        return True  # no procfs: trust kill(0)
    if state in ("Z", "X"):  # died, not yet reaped by its own parent
        return False
    # A different start time means the PID was reused by a new process.
    return start_time is None or _process_start_time(pid) == start_time


async def watch_parent(pid: int, stop: asyncio.Event) -> None:
    start_time = _process_start_time(pid)
    while _process_alive(pid, start_time):
        await asyncio.sleep(PARENT_POLL_SECONDS)
    log.info("parent process %d is gone; shutting down", pid)
    stop.set()


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    # Server side, no client certificates (aiosmtpd warns about anything else).
    context.verify_mode = ssl.CERT_NONE
    return context


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Loopback SMTP capture server with a MailHog-style HTTP API.")
    p.add_argument("--host", type=loopback_host, default="127.0.0.1",
                   help="loopback address for both listeners (default 127.0.0.1)")
    p.add_argument("--smtp-port", type=int, default=0,
                   help="SMTP port (default 0: pick a free one)")
    p.add_argument("--http-port", type=int, default=0,
                   help="HTTP API port (default 0: pick a free one)")
    p.add_argument("--ready-file", required=True, metavar="PATH",
                   help='written as {"smtp": P, "http": P, "pid": N} once both '
                        "listeners accept; removed on clean exit")
    p.add_argument("--tls-cert", metavar="FILE", help="PEM certificate: enables STARTTLS")
    p.add_argument("--tls-key", metavar="FILE", help="PEM private key for --tls-cert")
    p.add_argument("--implicit-tls", action="store_true",
                   help="TLS from the first byte (SMTPS, like port 465) instead of STARTTLS; "
                        "needs --tls-cert and --tls-key")
    p.add_argument("--require-tls", action="store_true",
                   help="refuse MAIL FROM until STARTTLS is done (needs --tls-cert)")
    p.add_argument("--auth-user", metavar="USER",
                   help="enable AUTH PLAIN/LOGIN and require it before MAIL")
    p.add_argument("--auth-password-file", metavar="FILE",
                   help="file holding the password for --auth-user "
                        "(one trailing newline is ignored)")
    p.add_argument("--reject", action="append", default=[], metavar="ADDRESS",
                   help="answer RCPT TO of ADDRESS with 550 (repeatable, case-insensitive)")
    p.add_argument("--taken-log", metavar="FILE",
                   help="append the recipients of each accepted message to FILE, one per "
                        "line, before replying 250 (survives a kill of the server)")
    p.add_argument("--parent-pid", type=int, metavar="PID",
                   help="exit once process PID is gone (checked every 0.5 s)")
    p.add_argument("--verbose", action="store_true",
                   help="log the SMTP conversations and HTTP requests to stderr")
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.implicit_tls and not args.tls_cert:
        p.error("--implicit-tls needs --tls-cert and --tls-key")
    if args.require_tls and not args.tls_cert:
        p.error("--require-tls needs --tls-cert and --tls-key")
    if bool(args.auth_user) != bool(args.auth_password_file):
        p.error("--auth-user and --auth-password-file go together")
    return args


def read_password(path: str) -> bytes:
    with open(path, "rb") as f:
        data = f.read()
    # Strip one line ending (as `echo secret > file` leaves), nothing else:
    # spaces may be part of a password.
    for ending in (b"\r\n", b"\n"):
        if data.endswith(ending):
            return data[:-len(ending)]
    return data


async def run(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    context = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    policy = SmtpPolicy(
        require_tls=args.require_tls,
        user=args.auth_user.encode("utf-8") if args.auth_user else None,
        password=read_password(args.auth_password_file) if args.auth_user else None,
        rejected=frozenset(a.lower() for a in args.reject),
    )
    store = Store()
    taken_log = open(args.taken_log, "a", encoding="utf-8") if args.taken_log else None
    handler = CaptureHandler(store, policy, taken_log)

    def factory() -> CaptureSMTP:
        # One instance per connection.
        return CaptureSMTP(
            handler,
            implicit_tls=args.implicit_tls,
            loop=loop,
            # Without a hostname aiosmtpd calls socket.getfqdn() for every
            # connection, which can stall on a machine without DNS.
            hostname=GREETING_HOSTNAME,
            enable_SMTPUTF8=True,  # also keeps 8-bit and UTF-8 arguments intact
            decode_data=False,  # keep raw bytes; also what advertises 8BITMIME
            # With implicit TLS there is no STARTTLS to offer.
            tls_context=None if args.implicit_tls else context,
            auth_required=policy.user is not None,
            # aiosmtpd refuses AUTH on a plaintext connection by default (538).
            # Tests may configure AUTH without TLS on purpose, so only demand
            # TLS for it when STARTTLS is available; with implicit TLS the
            # connection is encrypted already (aiosmtpd cannot tell).
            auth_require_tls=context is not None and not args.implicit_tls,
            authenticator=handler.check_credentials,
        )

    # Our own loop rather than aiosmtpd's Controller: Controller (1.4.3)
    # cannot report a port picked with port 0, and its start-up self-check
    # opens a connection that would show in the connection count.
    smtpd = await loop.create_server(
        factory, host=args.host, port=args.smtp_port,
        ssl=context if args.implicit_tls else None)
    httpd = serve_http(store, args.host, args.http_port)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = (loop.create_task(watch_parent(args.parent_pid, stop))
               if args.parent_pid else None)
    try:
        ports = {"smtp": smtpd.sockets[0].getsockname()[1],
                 "http": httpd.server_address[1], "pid": os.getpid()}
        write_ready_file(args.ready_file, ports)
        log.info("ready: %s", json.dumps(ports))
        await stop.wait()
    finally:
        if watcher:
            watcher.cancel()
        smtpd.close()
        httpd.shutdown()
        httpd.server_close()
        try:
            os.unlink(args.ready_file)
        except OSError:
            pass
    # asyncio.run() cancels the tasks of connections still open.


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, format="smtp_capture: %(message)s",
                        level=logging.DEBUG if args.verbose else logging.INFO)
    # aiosmtpd logs every command at INFO on "mail.log"; and with AUTH but no
    # TLS it warns (logging and warnings) on every connection: we mean that.
    logging.getLogger("mail.log").setLevel(
        logging.INFO if args.verbose else logging.ERROR)
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    try:
        asyncio.run(run(args))
    except OSError as error:  # port in use, unreadable certificate or password file
        log.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
