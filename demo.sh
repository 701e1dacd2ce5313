#!/usr/bin/env bash
# The main job, end to end on the embedded SQLite default: build the plugins and the
# host, start the daemon on a fresh directory with the example plugins, enqueue jobs,
# and show what became of them.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
cd "$root"

plugins/build.sh >/dev/null
cargo build --release -p jobhost
jobhost="$root/target/release/jobhost"

demo=$(mktemp -d /tmp/jobhost-demo.XXXXXX)
mkdir -p "$demo/plugins"
cp plugins/dist/send_email.wasm plugins/dist/generate_report.wasm plugins/dist/echo.wasm "$demo/plugins/"
cd "$demo"
echo "== demo directory: $demo (database jobhost.db, plugins/)"

"$jobhost" serve >daemon.log 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null || true' EXIT
until grep -q "daemon ready" daemon.log; do sleep 0.1; done
echo "== daemon started (log: $demo/daemon.log)"

email=$("$jobhost" enqueue send_email '{"to":"ops@example.com","subject":"Hello from jobhost"}')
report=$("$jobhost" enqueue generate_report '{"report":"sales","rows":5000,"notify":"boss@example.com"}')
bounce=$("$jobhost" enqueue send_email '{"to":"nobody@bounce.invalid","subject":"never arrives"}')
echo "== enqueued $email (send_email), $report (generate_report), $bounce (a bounce)"
echo "== a payload that breaks the schema is refused:"
"$jobhost" enqueue send_email '{"to":"not-an-address","subject":"x"}' || true

sleep 1
echo "== jobs"
"$jobhost" jobs list
echo "== the report, with its result"
"$jobhost" jobs show "$report"
echo "== the dead-letter queue"
"$jobhost" dlq list
echo "== stats"
"$jobhost" stats

kill -TERM $daemon
wait $daemon || true
trap - EXIT
echo "== daemon stopped gracefully; everything is in $demo"
