"""The web wakes the sleeping worker over a unix datagram socket in DATA_DIR."""

import asyncio
import os
import stat

from app.store.wake import WakeListener, WakeSender, wake_address


def test_a_datagram_wakes_the_listener(tmp_path):
    db = tmp_path / "chatwootai.db"

    async def scenario():
        woken = asyncio.Event()
        listener = WakeListener(db, woken.set)
        listener.attach(asyncio.get_running_loop())
        assert stat.S_IMODE(os.stat(listener.address).st_mode) == 0o600
        sender = WakeSender(db)
        for _ in range(3):
            sender.wake()
        await asyncio.wait_for(woken.wait(), 5)
        listener.close()
        sender.close()
        assert not os.path.exists(listener.address)

    asyncio.run(scenario())


def test_waking_nobody_is_harmless(tmp_path):
    sender = WakeSender(tmp_path / "chatwootai.db")
    sender.wake()  # no worker listening: nothing raised, nothing waits
    sender.close()


def test_a_listener_replaces_a_stale_socket_file_left_by_a_killed_worker(tmp_path):
    db = tmp_path / "chatwootai.db"
    (tmp_path / "worker.wake").write_text("")
    WakeListener(db, lambda: None).close()


def test_a_path_too_long_for_a_socket_uses_the_abstract_namespace(tmp_path):
    deep = tmp_path / ("d" * 120)
    address = wake_address(deep / "chatwootai.db")
    assert isinstance(address, bytes) and address.startswith(b"\0chatwootai-wake-")
    assert address == wake_address(deep / "chatwootai.db")  # web and worker agree

    async def scenario():
        woken = asyncio.Event()
        listener = WakeListener(deep / "chatwootai.db", woken.set)
        listener.attach(asyncio.get_running_loop())
        WakeSender(deep / "chatwootai.db").wake()
        await asyncio.wait_for(woken.wait(), 5)
        listener.close()

    asyncio.run(scenario())
