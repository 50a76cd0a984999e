#!/bin/sh
# Dashboard tests against fixture data, in headless Chromium. TAP output:
#
#   sh t/dashboard/run.sh          (or: prove --exec sh t/dashboard/run.sh)
#
# Starts serve.py (fixtures, virtual clock) on a free port and checks:
# the page's size and that it loads nothing external; check.sh passes on the
# live page and fails on a page with no command stats; selftest.js (sorting,
# slot map, hover, tables, reload banner, chart) passes in the browser.
# Skips everything when chromium or python3 is missing.
set -u

here=$(cd "$(dirname "$0")" && pwd)
page=$here/../../src/dashboard.html
browser=${CHROMIUM:-}
if [ -z "$browser" ]; then
    for b in chromium chromium-browser google-chrome google-chrome-stable; do
        if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
    done
fi
if [ -z "$browser" ] || ! command -v python3 >/dev/null 2>&1; then
    # tools/bootstrap installs both: their absence is a failure here.
    echo "1..1"
    echo "not ok 1 - chromium and python3 are installed (run tools/bootstrap)"
    exit 1
fi
export CHROMIUM=$browser

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cordis-dash-t.XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# start_server NAME ARGS... : starts serve.py, sets $url
start_server() {
    name=$1; shift
    python3 "$here/serve.py" "$@" >"$tmp/$name.url" 2>"$tmp/$name.err" &
    pids="$pids $!"
    i=0
    while [ ! -s "$tmp/$name.url" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    url=$(head -n 1 "$tmp/$name.url")
}

n=0
failed=0
ok() { # ok COND_EXIT_STATUS NAME
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}

size=$(wc -c <"$page")
[ "$size" -le 40960 ]; ok $? "dashboard.html is $size bytes (<= 40 KiB)"
! grep -Eiq '(src|href)=|@import|url\(|https?://' "$page"; ok $? "no external scripts, styles, fonts or images"

start_server live --virtual
live=$url
out=$("$here/check.sh" "$live" 2>&1); rc=$?
ok $rc "check.sh passes on fixture data: $out"

start_server empty --virtual --no-cmds
out=$("$here/check.sh" "$url" 2>&1); rc=$?
[ $rc -eq 1 ]; ok $? "check.sh fails (exit 1) with no command rows: $(echo "$out" | head -n 1)"

out=$("$here/check.sh" "http://127.0.0.1:9/" 2>&1); rc=$?
[ $rc -eq 1 ]; ok $? "check.sh fails (exit 1) with no server"

timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$tmp/profile" \
    --window-size=1400,1000 --virtual-time-budget=20000 --dump-dom "${live}selftest" \
    >"$tmp/selftest.html" 2>"$tmp/chromium.log"
sed -n '/<pre id="selftest"/,/<\/pre>/p' "$tmp/selftest.html" | sed 's/<[^>]*>//g' | sed '/^$/d' >"$tmp/selftest.txt"
sed 's/^/# /' "$tmp/selftest.txt"
grep -q 'data-result="pass"' "$tmp/selftest.html"; ok $? "in-page selftest ($(grep -c '^ok' "$tmp/selftest.txt") checks passed, $(grep -c '^not ok' "$tmp/selftest.txt") failed)"

echo "1..$n"
[ $failed -eq 0 ]
