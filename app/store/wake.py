"""The web program wakes the worker when it stored something: a unix datagram socket in DATA_DIR.

An idle worker then sleeps instead of polling the store (it used to poll every 10 ms, about a
CPU-second every 30 s) and still starts a turn within a millisecond or two of the commit. The
wake-up is only a hint: a lost datagram (no worker yet, a full socket buffer, a worker starting)
costs at most the worker's slow poll, never an event — the events themselves are in the store.

A path too long for a unix socket (about 108 bytes) falls back to Linux's abstract namespace,
named after the store's path.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from collections.abc import Callable
from pathlib import Path

WAKE_FILENAME = "worker.wake"
_MAX_PATH = 100


def wake_address(db_path: Path) -> str | bytes:
    path = Path(db_path).parent / WAKE_FILENAME
    if len(os.fsencode(str(path))) <= _MAX_PATH:
        return str(path)
    digest = hashlib.sha256(os.fsencode(str(Path(db_path).resolve()))).hexdigest()[:24]
    return b"\0chatwootai-wake-" + digest.encode()


class WakeSender:
    """The web's side: one non-blocking datagram per commit; every failure is ignored."""

    def __init__(self, db_path: Path):
        self.address = wake_address(db_path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    def wake(self) -> None:
        try:
            self._sock.sendto(b"!", self.address)
        except OSError:
            pass  # no worker listening, or its buffer is full (it has a wake-up waiting already)

    def close(self) -> None:
        self._sock.close()


class WakeListener:
    """The worker's side: calls `on_wake` on the event loop whenever datagrams arrive."""

    def __init__(self, db_path: Path, on_wake: Callable[[], None]):
        self.address = wake_address(db_path)
        self._on_wake = on_wake
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        if isinstance(self.address, str):
            # A socket file left by a killed worker (or another worker's: it then falls back to
            # its slow poll, which is correct, only slower).
            try:
                os.unlink(self.address)
            except FileNotFoundError:
                pass
        self._sock.bind(self.address)
        if isinstance(self.address, str):
            os.chmod(self.address, 0o600)
            self._inode = os.stat(self.address).st_ino
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self._sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            while True:
                self._sock.recv(64)
        except OSError:
            pass  # drained
        self._on_wake()

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        if isinstance(self.address, str):
            try:
                if os.stat(self.address).st_ino == self._inode:  # still ours, not a newer worker's
                    os.unlink(self.address)
            except OSError:
                pass
