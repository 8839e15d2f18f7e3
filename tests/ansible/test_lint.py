"""ansible-lint's production profile over ansible/ (no Docker engine needed, no network)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.ansible.helpers import ANSIBLE_HOME
from tests.support import ROOT


def test_ansible_lint_production_profile_passes():
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1",
           "ANSIBLE_HOME": ANSIBLE_HOME}
    done = subprocess.run([str(bin_dir / "ansible-lint"), "--offline", "--profile", "production", "--nocolor"],
                          cwd=ROOT / "ansible", env=env, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Profile 'production' was required, and it passed" in output, output
    processed = re.search(r"in (\d+) files processed", output)
    assert processed and int(processed.group(1)) >= 10, output  # the playbook, inventory and the whole role
