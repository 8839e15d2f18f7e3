"""update_proxy(): runs `ansible/update_proxy.yml` to point the VPS proxy at a new public URL.

Called by `chatwootai register` when AUTO_UPDATE_PROXY=true
(docs/operations.md#public-url-and-proxy). The playbook reads the
VPS and proxy settings from its environment (ansible/group_vars/proxy_vps.yml and the role's
defaults), so they are handed over as environment variables: VPS_PASSWORD in particular never
appears on a command line, and no other secret of the appliance reaches the child at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from loguru import logger

from app.logs import Redactor
from app.settings import SECRETS, Settings

PLAYBOOK_NAME = "update_proxy.yml"
DEFAULT_TIMEOUT_S = 300.0
_RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
_FATAL = re.compile(r"^(?:fatal|failed): \[[^\]]+\]: (?:FAILED|UNREACHABLE)! => (?=\{)", re.M)


def ansible_dir() -> Path:
    """The checkout's `ansible/` (next to the package), else `./ansible` (the image's workdir)."""
    for candidate in (Path(__file__).resolve().parent.parent / "ansible", Path.cwd() / "ansible"):
        if (candidate / PLAYBOOK_NAME).is_file():
            return candidate
    raise FileNotFoundError(f"ansible/{PLAYBOOK_NAME} not found next to the app package nor in {Path.cwd()}")


def ansible_playbook() -> str:
    """The ansible-playbook of this interpreter's environment (the venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.is_file():
        return str(beside)
    found = shutil.which("ansible-playbook")
    if found is None:
        raise FileNotFoundError("ansible-playbook not found (pip install ansible-core)")
    return found


def playbook_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: the VPS/proxy settings, without the appliance's other secrets."""
    env = dict(os.environ if base is None else base)
    for name in SECRETS:
        env.pop(name, None)
        env.pop(f"{name}_FILE", None)
    values = {
        "VPS_HOST": settings.vps_host,
        "VPS_USER": settings.vps_user,
        "VPS_PORT": str(settings.vps_port),
        "VPS_SSH_KEY_FILE": str(settings.vps_ssh_key_file) if settings.vps_ssh_key_file else None,
        "VPS_PASSWORD": settings.vps_password,
        "PROXY_CONTAINER_NAME": settings.proxy_container_name,
        "PROXY_FILE_PATH": settings.proxy_file_path,
        "WEBHOOK_USE_HTTPS": "true" if settings.webhook_use_https else "false",
        "WEBHOOK_PORT": str(settings.webhook_port),
    }
    for name, value in values.items():
        if value:
            env[name] = value
        else:
            env.pop(name, None)
    env.pop("PUBLIC_URL", None)  # the URL is given explicitly (-e public_url)
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_RETRY_FILES_ENABLED"] = "false"
    return env


def update_proxy(settings: Settings, public_url: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> bool:
    """Run the playbook for `public_url`; log the outcome in one line; True when it succeeded."""
    missing = [
        name
        for name, value in (
            ("VPS_HOST", settings.vps_host),
            ("PROXY_CONTAINER_NAME", settings.proxy_container_name),
            ("PROXY_FILE_PATH", settings.proxy_file_path),
        )
        if not value
    ]
    if missing:
        logger.error("proxy playbook not run: {} not set", ", ".join(missing))
        return False
    redact = Redactor(settings.secret_values)
    try:
        directory = ansible_dir()
        command = [ansible_playbook(), str(directory / PLAYBOOK_NAME), "-e", json.dumps({"public_url": public_url})]
    except FileNotFoundError as exc:
        logger.error("proxy playbook not run: {}", exc)
        return False
    env = playbook_env(settings)
    env["ANSIBLE_CONFIG"] = str(directory / "ansible.cfg")
    where = f"container {settings.proxy_container_name} on {settings.vps_host}"
    try:
        done = subprocess.run(
            command, cwd=directory, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        logger.error("proxy playbook for {} did not finish within {:g} s", where, timeout)
        return False
    output = redact(done.stdout + done.stderr)
    logger.debug("proxy playbook output:\n{}", output)
    changed = sum(int(m.group(3)) for m in _RECAP.finditer(output))
    if done.returncode == 0:
        if changed:
            logger.info("proxy playbook: {} now forwards to {} (file rewritten, restarted)", where, public_url)
        else:
            logger.info("proxy playbook: {} already forwards to {}; nothing changed", where, public_url)
        return True
    logger.error("proxy playbook failed for {} (exit {}): {}", where, done.returncode, failure_reason(output))
    return False


def failure_reason(output: str) -> str:
    """The first task failure's message from ansible's output, on one line."""
    decoder = json.JSONDecoder()
    for match in _FATAL.finditer(output):
        try:  # one line by default, indented over several with -vvv
            result, _ = decoder.raw_decode(output, match.end())
            message = str(result.get("msg", "")).strip()
        except (ValueError, AttributeError):
            continue
        if message:
            return " ".join(message.split())[:400]
    errors = [line.strip() for line in output.splitlines() if line.startswith(("[ERROR]", "ERROR!"))]
    return " ".join(errors[0].split())[:400] if errors else "see `ansible-playbook ansible/update_proxy.yml -v`"
