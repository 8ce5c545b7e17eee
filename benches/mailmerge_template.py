"""Turn one message built by `newsletter send --dry-run --out` into a mailmerge template.

Used by benches/run.sh so that the Python `mailmerge` tool sends the same email as newsletter:
the same headers, the same text and HTML parts, personalised with the subscriber's name and
address. The message was built for a subscriber whose name and address are marker strings;
every place they appear becomes a Jinja expression ({{name}}, {{email}}, {{email|urlencode}}
in URLs, {{name|e}} in HTML, as newsletter escapes names there), and everything else is kept
verbatim inside {% raw %} blocks so that the CSS braces of the HTML part are not read as Jinja.

What mailmerge cannot do is left as it was for the marker subscriber: the HMAC token of the
unsubscribe URL and the Message-ID (mailmerge adds no Message-ID of its own).

usage: python3 mailmerge_template.py MESSAGE.eml MARKER_NAME MARKER_EMAIL TEMPLATE_OUT
Standard library only.
"""

import email
import re
import sys
from email import policy
from urllib.parse import quote

BOUNDARY = "=_bench_alternative_boundary_="


def templated(text, replacements):
    """Return text as Jinja: markers replaced by expressions, the rest in raw blocks."""
    pattern = re.compile("|".join(re.escape(marker) for marker, _ in replacements))
    expression = dict(replacements)
    pieces = []
    position = 0
    for match in pattern.finditer(text):
        pieces.append(raw(text[position : match.start()]))
        pieces.append(expression[match.group(0)])
        position = match.end()
    pieces.append(raw(text[position:]))
    return "".join(pieces)


def raw(chunk):
    if not chunk:
        return ""
    assert "{% endraw %}" not in chunk
    return "{% raw %}" + chunk + "{% endraw %}"


def main():
    eml_path, marker_name, marker_email, out_path = sys.argv[1:]
    with open(eml_path, "rb") as eml:
        message = email.message_from_binary_file(eml, policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()

    # Longest markers first, so that the percent-encoded address is not half-replaced.
    in_urls = quote(marker_email, safe="")
    text_markers = [
        (in_urls, "{{ email|urlencode }}"),
        (marker_email, "{{ email }}"),
        (marker_name, "{{ name }}"),
    ]
    html_markers = [
        (in_urls, "{{ email|urlencode }}"),
        (marker_email, "{{ email|e }}"),
        (marker_name, "{{ name|e }}"),
    ]

    lines = ['TO: "{{ name }}" <{{ email }}>']
    # The headers newsletter sets that matter to a receiving system, decoded (mailmerge
    # encodes non-ASCII headers itself).
    for header in (
        "From",
        "Reply-To",
        "Subject",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ):
        value = message.get(header)
        if value is not None:
            value = " ".join(str(value).split())
            lines.append(f"{header}: " + templated(value, text_markers))
    lines += [
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{BOUNDARY}"',
        "",
        f"--{BOUNDARY}",
        "Content-Type: text/plain; charset=utf-8",
        "",
        templated(text, text_markers),
        f"--{BOUNDARY}",
        "Content-Type: text/html; charset=utf-8",
        "",
        templated(html, html_markers),
        f"--{BOUNDARY}--",
        "",
    ]
    with open(out_path, "w", encoding="utf-8") as out:
        out.write("\n".join(lines))


if __name__ == "__main__":
    main()
