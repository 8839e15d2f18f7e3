"""Write a minimal `.env` with freshly generated secrets, unless the file already exists.

    python3 scripts/gen-env.py [PATH]        (default: .env)

Only what `make run` needs: a fresh webhook token. Everything else keeps its default: the
bundled example business, no LLM (the offline responder answers), DATA_DIR ./data and LOG_DIR
./logs here but /data in the image, so the same file also serves `docker run --env-file .env`.
See .env.example for every variable.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

TEMPLATE = """\
# Written by `make run` (scripts/gen-env.py). Every variable is described in .env.example.

# Put this token in the URL Chatwoot calls: https://<public host>/webhook?token=<WEBHOOK_AUTH_TOKEN>
WEBHOOK_AUTH_TOKEN={token}
# Chatwoot signs webhooks with a secret it generates (account webhooks since v4.11.2, agent bots
# since v4.13.0): copy it from Chatwoot into this line and uncomment it. Every configured
# mechanism must pass, so a secret invented here would reject every real webhook.
# CHATWOOT_WEBHOOK_SECRET=
"""


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else ".env")
    if path.exists():
        print(f"{path} exists: left as it is")
        return 0
    text = TEMPLATE.format(token=secrets.token_urlsafe(32))
    # O_EXCL: never overwrite a file that appeared meanwhile; 0600: it holds secrets.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"{path} written with a fresh WEBHOOK_AUTH_TOKEN")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
