#!/bin/sh
# Loads a cordis dashboard in headless Chromium and checks that it rendered
# live data.
#
#   t/dashboard/check.sh URL [BUDGET_MS]
#
# URL is the page, e.g. http://127.0.0.1:11080/ . BUDGET_MS is Chromium's
# virtual time budget (default 5000). Set CHROMIUM to pick the browser.
#
# Exit 0: #qps holds a number, #slot-map has 1024 cells with data-slot and
#         data-group, #cmd-table has at least one row with data-cmd.
# Exit 1: a check failed (the reason and the dumped DOM's path go to stderr).
# Exit 2: usage error, or no Chromium found (a caller may treat it as skip).
set -u

url=${1:-}
budget=${2:-5000}
if [ -z "$url" ]; then
    echo "usage: $0 URL [BUDGET_MS]" >&2
    exit 2
fi

browser=${CHROMIUM:-}
if [ -z "$browser" ]; then
    for b in chromium chromium-browser google-chrome google-chrome-stable; do
        if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
    done
fi
if [ -z "$browser" ]; then
    echo "check.sh: no chromium found (apt-get install chromium)" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cordis-dash.XXXXXX") || exit 2
dom=$tmp/dom.html
# Keep the profile away; keep the DOM only if a check fails.
cleanup() { rm -rf "$tmp/profile"; }
trap cleanup EXIT

timeout 90 "$browser" --headless --no-sandbox --disable-gpu \
    --disable-background-networking --disable-component-update --disable-sync \
    --no-first-run --user-data-dir="$tmp/profile" \
    --virtual-time-budget="$budget" --dump-dom "$url" >"$dom" 2>"$tmp/chromium.log"
rc=$?
if [ $rc -ne 0 ] || [ ! -s "$dom" ]; then
    echo "check.sh: chromium failed (exit $rc), log in $tmp/chromium.log" >&2
    exit 1
fi

fail=0
qps=$(sed -n 's/.*<span id="qps"[^>]*>\([^<]*\)<.*/\1/p' "$dom" | head -n 1)
case "$qps" in
    ''|*[!0-9.]*|.*|*.*.*)
        echo "check.sh: #qps is not a number: '$qps'" >&2; fail=1 ;;
esac
slots=$(grep -o 'data-slot="[0-9]*" data-group="[0-9]*"' "$dom" | wc -l)
if [ "$slots" -ne 1024 ]; then
    echo "check.sh: #slot-map has $slots cells, want 1024" >&2; fail=1
fi
cmds=$(sed -n '/<tbody id="cmd-table">/,/<\/tbody>/p' "$dom" | grep -o '<tr [^>]*data-cmd="[^"]*"' | wc -l)
if [ "$cmds" -lt 1 ]; then
    echo "check.sh: #cmd-table has no rows" >&2; fail=1
fi
conn=$(sed -n 's/.*id="conn-status"[^>]*data-state="\([a-z]*\)".*/\1/p' "$dom" | head -n 1)

if [ $fail -ne 0 ]; then
    echo "check.sh: DOM kept in $dom" >&2
    exit 1
fi
echo "ok: qps=$qps slots=$slots cmd_rows=$cmds conn=$conn"
rm -rf "$tmp"
exit 0
