"""The examples shown at the end of each operator tool's `--help` (kept apart so building the
parser imports nothing heavy)."""

DOCTOR_EPILOG = """example:
  chatwootai doctor
  chatwootai doctor --json | jq '.checks[] | select(.status == "fail")'
  docker exec chatwootai chatwootai doctor

Rows: configuration, web /health and /ready, the worker's heartbeat, the knowledge directory,
the LLM (one tiny request), Chatwoot's bot and admin tokens (a harmless authenticated read),
the ngrok tunnel, the registered URL, a signed test request through the public URL (answered
`ignored`, so nothing is replied), the VPS over SSH and the proxy container.
✓ passed, ✗ failed (with the fix to try), – not configured. Exit status 1 when a row shows ✗.
Every run is appended to LOG_DIR/webhook_test.log. No secret is ever printed."""

LOGS_EPILOG = """example:
  chatwootai logs                          # both logs merged in time order
  chatwootai logs -f                       # and keep following (like tail -F)
  chatwootai logs --since 10m --conversation 1234
  chatwootai logs -f --component worker --component hub
  docker exec -it chatwootai chatwootai logs -f

Reads LOG_DIR/webhook.log (web) and LOG_DIR/hub.log (worker and hub), text or JSON lines;
with --since also their rotated generations (webhook.log.1, hub.log.2.gz, ...).
Colours by component and level only when the output is a terminal."""

SIMULATE_EPILOG = """example:
  chatwootai simulate "quanto custa o hidratante facial?"
  chatwootai simulate "quero agendar uma limpeza de pele" --conversation 4242 --contact "Maria"
  chatwootai simulate "2" --conversation 4242          # pick a slot in the same conversation

Sends a correctly signed message_created to the running web program (WEBHOOK_HOST/PORT, the
webhook token and secret from the configuration), then prints each step with its time:
accepted, claimed, routed (intent and crew), decided (reply or handoff, LLM calls) and posted
(or "not sent: no Chatwoot configured", with the text). With Chatwoot configured the reply is
really posted to that conversation id. Exit 1 when nothing is decided within --timeout."""

DEMO_EPILOG = """example:
  chatwootai demo
  LLM_MODEL=gpt-4o-mini LLM_API_KEY=... chatwootai demo

Starts the web and worker programs on free ports with a temporary data directory, against a
built-in Chatwoot simulator: you type as a customer and see the bot's replies, the typing
indicator, handoffs (the private note for the agents, dimmed) and the labels it applies.
  /new          start a new conversation
  /agent TEXT   answer as a human agent (the bot goes quiet in this conversation)
  /quit         stop everything (Ctrl-D too)
The offline responder answers by default; the LLM when LLM_* is configured. No Chatwoot
account, token or network is needed."""
