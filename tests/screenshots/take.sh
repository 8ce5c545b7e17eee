#!/usr/bin/env bash
# Renders the MoU issue and the branded issue (branded/) for one subscriber each and
# screenshots their HTML parts with headless Chromium
# (Debian package `chromium`) at 600 px and 375 px wide, in light and dark mode, into this
# folder. These PNGs are the reference look of the email; rerun after changing templates/ and
# look at them before committing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v chromium >/dev/null || { echo "install chromium: apt-get install -y chromium" >&2; exit 1; }
cd "$root"
NEWSLETTER_UNSUBSCRIBE_KEY=screenshot-key-screenshot-key-0123 \
  cargo run --quiet -- preview newsletters/2019-06-uk-sg-mou.yaml \
  --for zoe.martin@example.org --out "$work/preview" >/dev/null
# The branded issue (branded/): a logo, a local image that is a link, a Markdown image from a
# file, a table and placeholders. preview writes the image files beside the page it shows them
# in (the message carries them as parts).
NEWSLETTER_UNSUBSCRIBE_KEY=screenshot-key-screenshot-key-0123 \
  cargo run --quiet -- preview "$here/branded/issue.yaml" \
  --for ada@example.org --out "$work/branded" >/dev/null

shot() { # width scheme page output [height: tall enough for the footer at 375 px]
  local scheme_flag=()
  [ "$2" = dark ] && scheme_flag=(--blink-settings=preferredColorScheme=0)
  chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars \
    --user-data-dir="$work/profile-$1-$2" --window-size="$1,${5:-2300}" "${scheme_flag[@]}" \
    --screenshot="$4" "$3" 2>/dev/null
}
for width in 600 375; do
  for scheme in light dark; do
    shot "$width" "$scheme" "$work/preview/0002-zoe.martin_example.org.html" "$here/mou-$scheme-$width.png" 3000
    echo "wrote $here/mou-$scheme-$width.png"
    shot "$width" "$scheme" "$work/branded/0002-ada_example.org.html" "$here/branded-$scheme-$width.png" 2500
    echo "wrote $here/branded-$scheme-$width.png"
  done
done
