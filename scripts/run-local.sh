#!/usr/bin/env bash
# `make run`: the appliance's programs in the foreground, without the container, under the same
# supervisord.conf the image uses: `chatwootai serve` (web) and `chatwootai worker`.
# Their lines interleave on this terminal, each prefixed with its program's name. Ctrl-C (or
# SIGTERM) stops both cleanly and exits 0. A program that keeps failing to start goes FATAL and
# stops everything with exit status 1, so a broken program is never hidden behind a running one.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
VENV=${VENV:-.venv}
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
echo "chatwootai: starting web and worker under supervisord (Ctrl-C stops both)"
echo "$banner"

# The image's supervisord.conf, with only web and worker (APPLIANCE_PROGRAMS=false); its
# programs and helper scripts are found on PATH, as in the image.
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/chatwootai-run.XXXXXX")
trap 'rm -rf "$run_dir"' EXIT
export APPLIANCE_RUN_DIR=$run_dir APPLIANCE_PROGRAMS=false
PATH="$PWD/image/usr/local/bin:$(cd "$VENV/bin" && pwd):$PATH"
if [ -t 0 ]; then
  # On a terminal: job control puts supervisord in its own process group and gives it the
  # terminal, so Ctrl-C reaches supervisord alone. It stops both programs and exits 0; make and
  # this shell never see the SIGINT, so make reports no error.
  set -m
  run-supervisord -c supervisord.conf
  status=$?
else
  # No terminal (a service manager, a test): SIGINT/SIGTERM to this script go to supervisord.
  run-supervisord -c supervisord.conf &
  supervisor=$!
  trap 'kill -TERM "$supervisor" 2>/dev/null' INT TERM
  while :; do
    wait "$supervisor" && status=0 || status=$?
    kill -0 "$supervisor" 2>/dev/null || break
  done
fi
echo "chatwootai: stopped (status $status)" >&2
exit "$status"
