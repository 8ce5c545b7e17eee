"""Verifies the DKIM signature of a message with dkimpy (Debian's python3-dkim), an
implementation independent of lettre's. The public key is given on the command line instead of
being looked up in DNS.

usage: dkim_verify.py MESSAGE.eml SELECTOR DOMAIN KEY_TYPE PUBLIC_KEY_BASE64
prints `valid` or `invalid`, exit 0 either way (1 on usage errors).
"""
import sys

import dkim


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 1
    path, selector, domain, key_type, public_key = sys.argv[1:]
    expected = f"{selector}._domainkey.{domain}.".encode()

    def dns(name, timeout=5):
        if name != expected:
            return None
        return f"v=DKIM1; k={key_type}; p={public_key}".encode()

    with open(path, "rb") as message:
        print("valid" if dkim.verify(message.read(), dnsfunc=dns) else "invalid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
