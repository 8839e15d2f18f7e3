"""Download the pinned ngrok agent and install it only when its sha256 matches (Dockerfile).

    python3 scripts/fetch-ngrok.py URL SHA256 DEST

Standard library only: the slim base image has no curl. Exit 1 with one line on any failure
(download, checksum); nothing is installed then.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.request


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    url, expected, dest = argv[1], argv[2].lower(), argv[3]
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - a pinned https URL
            body = response.read()
    except OSError as exc:
        print(f"fetch-ngrok: cannot download {url}: {exc} (build with --build-arg NGROK_INSTALL=false "
              "where the download site is unreachable)", file=sys.stderr)
        return 1
    actual = hashlib.sha256(body).hexdigest()
    if actual != expected:
        print(f"fetch-ngrok: sha256 mismatch for {url}: expected {expected}, got {actual}", file=sys.stderr)
        return 1
    tmp = f"{dest}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(body)
    os.chmod(tmp, 0o755)  # noqa: S103 - an executable every user of the image runs
    os.replace(tmp, dest)
    print(f"fetch-ngrok: installed {dest} ({len(body)} bytes, sha256 {actual})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
