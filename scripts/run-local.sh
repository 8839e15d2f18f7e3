#!/usr/bin/env bash
# `make run`: the appliance's programs in the foreground, as supervisord would run them in the
# image, without the container: `chatwootai serve` (web) and `chatwootai worker`.
# Their lines interleave on this terminal (each names its component). Ctrl-C (or SIGTERM) is
# forwarded to both as SIGTERM and we wait for them to finish; a second Ctrl-C kills them.
# When one program exits by itself the other is stopped too and its status is ours, so a
# broken program is never hidden behind a running one.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
BIN="$VENV/bin/chatwootai"
export PYTHONUNBUFFERED=1

# Validate the configuration once, up front (one clear line on a bad value), and read what the
# banner shows. Settings.from_env reads .env under the process environment, like the programs.
banner=$("$VENV/bin/python" - <<'PY'
import os, sys
from app.errors import ConfigError
from app.settings import Settings
try:
    s = Settings.from_env()
except ConfigError as exc:
    print(f"chatwootai: configuration error: {exc}", file=sys.stderr)
    sys.exit(2)
host = "localhost" if s.webhook_host in ("0.0.0.0", "::", "") else s.webhook_host
base = f"http://{host}:{s.webhook_port}"
if os.environ.get("WEBHOOK_AUTH_TOKEN_FILE"):
    where = f"the file in WEBHOOK_AUTH_TOKEN_FILE ({os.environ['WEBHOOK_AUTH_TOKEN_FILE']})"
elif os.environ.get("WEBHOOK_AUTH_TOKEN"):
    where = "WEBHOOK_AUTH_TOKEN in the environment"
elif s.webhook_auth_token:
    where = "WEBHOOK_AUTH_TOKEN in .env"
else:
    where = "none set (signature only)" if s.chatwoot_webhook_secrets else "none set"
print(f"  health   {base}/health")
print(f"  ready    {base}/ready")
print(f"  metrics  {base}/metrics")
print(f"  webhook  {base}/webhook?token=<WEBHOOK_AUTH_TOKEN>")
print(f"  token    {where}")
print(f"  logs     {s.log_dir}/webhook.log, {s.log_dir}/hub.log   data: {s.data_dir}")
print(f"  llm      {s.llm_model or 'none: the offline responder answers'}")
print(f"  chatwoot {'configured' if s.chatwoot_configured else 'not configured: replies are not sent'}")
PY
) || exit $?
echo "chatwootai: starting web and worker (Ctrl-C stops both)"
echo "$banner"

"$BIN" serve & web=$!
"$BIN" worker & worker=$!
names=([$web]=web [$worker]=worker)

stopping=0
stop() {
  if ((stopping)); then
    echo "chatwootai: killing web and worker" >&2
    kill -KILL "$web" "$worker" 2>/dev/null
  else
    stopping=1
    echo "chatwootai: $1 received, stopping web and worker" >&2
    kill -TERM "$web" "$worker" 2>/dev/null
  fi
}
trap 'stop INT' INT
trap 'stop TERM' TERM

status=0
# wait -n returns when a program exits, or early when a trapped signal arrives.
while ((!stopping)); do
  exited=""
  wait -n -p exited "$web" "$worker"
  rc=$?
  if [[ -n "${exited:-}" ]] && ((!stopping)); then
    echo "chatwootai: ${names[$exited]} exited with status $rc; stopping the other program" >&2
    status=$rc
    ((status == 0)) && status=1  # a program is not meant to end on its own
    stopping=1
    kill -TERM "$web" "$worker" 2>/dev/null
  fi
done
# Reap both; `wait` is interrupted by a second signal, so loop until they are gone.
for pid in "$web" "$worker"; do
  while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
done
echo "chatwootai: stopped" >&2
exit "$status"
