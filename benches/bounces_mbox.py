"""Writes the input of benches/bounces.sh into a folder: list.yaml, subscribers.csv,
suppressed.txt and bounces.mbox with N returned-mail reports about N subscribers.

    python3 benches/bounces_mbox.py N FOLDER

The reports cycle through the shapes `newsletter bounces` reads (see the KINDS list), so the
mix is the same for every N. Subscriber i is s<i>@example.net; reports about our mail quote the
Message-ID newsletter gave that subscriber's message (issue 2026-0<i % 9 + 1>).
"""

import hashlib
import os
import sys

n = int(sys.argv[1])
folder = sys.argv[2]
os.makedirs(folder, exist_ok=True)

with open(os.path.join(folder, "list.yaml"), "w") as f:
    f.write(
        "name: Bench Bulletin\nid: bulletin.example.org\nfrom:\n  name: Bench\n"
        "  address: news@example.org\nbounce_address: bounces@example.org\n"
        "subscribers: subscribers.csv\nsuppression: suppressed.txt\nunsubscribe:\n"
        '  url: "https://example.org/u?email={email}&token={token}"\n'
        "  mailto: leave@example.org\n"
    )
with open(os.path.join(folder, "subscribers.csv"), "w") as f:
    f.write("email,name\n")
    for i in range(n):
        f.write(f"s{i}@example.net,Subscriber {i}\n")
with open(os.path.join(folder, "suppressed.txt"), "w") as f:
    f.write("# addresses never to mail\n")


def message_id(i):
    address = f"s{i}@example.net"
    digest = hashlib.sha256(address.encode()).hexdigest()[:16]
    return f"<2026-0{i % 9 + 1}.a1b2c3d4e5f6.{digest}@example.org>"


def dsn(i, action, status, diagnostic, returned_message=False, foreign=False):
    address = f"s{i}@example.net"
    mid = f"<CAF{i}.x@mail.example.com>" if foreign else message_id(i)
    if returned_message:
        returned = (
            "Content-Type: message/rfc822\n\n"
            f"From: Bench <news@example.org>\nTo: <{address}>\nSubject: Bench issue\n"
            f"Message-ID: {mid}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
            + "The first story of the issue, and a few more lines of text.\n" * 40
        )
    else:
        returned = (
            "Content-Type: text/rfc822-headers\n\n"
            f"From: Bench <news@example.org>\nTo: <{address}>\nSubject: Bench issue\n"
            f"Message-ID: {mid}\n"
        )
    return (
        "Return-Path: <>\nFrom: MAILER-DAEMON@mail.example.org (Mail Delivery System)\n"
        "Subject: Undelivered Mail Returned to Sender\nTo: bounces@example.org\n"
        "Auto-Submitted: auto-replied\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="B/x"\n'
        f"Message-Id: <b{i}@mail.example.org>\n\n"
        "--B/x\nContent-Type: text/plain; charset=us-ascii\n\n"
        "This is the mail system at host mail.example.org.\n\n"
        f"<{address}>: host mx.example.net said: {diagnostic}\n\n"
        "--B/x\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mail.example.org\n\n"
        f"Final-Recipient: rfc822; {address}\nOriginal-Recipient: rfc822;{address}\n"
        f"Action: {action}\nStatus: {status}\nDiagnostic-Code: smtp; {diagnostic}\n\n"
        f"--B/x\n{returned}\n--B/x--\n"
    )


def exim(i):
    address = f"s{i}@example.net"
    return (
        "From: Mail Delivery System <Mailer-Daemon@mx.example.org>\nTo: bounces@example.org\n"
        f"X-Failed-Recipients: {address}\nAuto-Submitted: auto-replied\n"
        "Subject: Mail delivery failed: returning message to sender\n\n"
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        f"  {address}\n    SMTP error from remote mail server after RCPT TO:<{address}>:\n"
        f"    550 5.1.1 <{address}>: No such user here\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n"
        f"From: Bench <news@example.org>\nTo: {address}\nMessage-ID: {message_id(i)}\n"
        "Subject: Bench issue\n\nThe first story.\n"
    )


def arf(i):
    address = f"s{i}@example.net"
    return (
        "From: fbl@example.net\nTo: bounces@example.org\nSubject: Abuse report\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="p"\n\n'
        "--p\nContent-Type: text/plain\n\nAn abuse report.\n\n"
        "--p\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nVersion: 1\n"
        f"Original-Rcpt-To: <{address}>\n\n"
        f"--p\nContent-Type: text/rfc822-headers\n\nTo: {address}\nMessage-ID: {message_id(i)}\n\n--p--\n"
    )


def auto_reply(i):
    return (
        f"From: s{i}@example.net\nTo: news@example.org\nSubject: Automatic reply: Bench issue\n"
        "Auto-Submitted: auto-replied\n\nI am away.\n"
    )


def unsubscribe(i):
    return (
        f"From: Subscriber {i} <s{i}@example.net>\nTo: leave@example.org\nSubject: unsubscribe\n\n"
    )


def unreadable(i):
    return (
        "From: MAILER-DAEMON@legacy.example.net\nTo: bounces@example.org\n"
        f"Subject: Returned mail: see transcript for details\n\nSomething about s{i} failed.\n"
    )


KINDS = [
    lambda i: dsn(i, "failed", "5.1.1", "550 5.1.1 user unknown"),
    lambda i: dsn(i, "failed", "5.2.2", "552 5.2.2 mailbox full"),
    lambda i: dsn(i, "failed", "5.1.1", "550-5.1.1 does not exist", returned_message=True),
    lambda i: dsn(i, "delayed", "4.4.1", "connection refused"),
    exim,
    arf,
    lambda i: dsn(i, "failed", "5.1.1", "550 5.1.1 user unknown", foreign=True),
    auto_reply,
    lambda i: dsn(i, "failed", "4.4.7", "connection timed out", returned_message=True),
    lambda i: dsn(i, "failed", "5.7.1", "550 5.7.1 spam"),
    unsubscribe,
    unreadable,
]

with open(os.path.join(folder, "bounces.mbox"), "w") as f:
    for i in range(n):
        f.write("From MAILER-DAEMON Tue Dec  1 09:00:00 2026\n")
        f.write(KINDS[i % len(KINDS)](i))
        f.write("\n")
