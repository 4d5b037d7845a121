"""The socket channel's async twins take the same block=/timeout= as the
blocking calls; Listener.accept_async and sockets.connect_async across
processes and threads. Every wait bounded; cancellation loses nothing."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from support import Child, wait_until
from unixipc import sockets
from unixipc.sockets import ChannelClosedError, MessageChannel


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def _abstract(tag: str) -> str:
    return f"unix:@unixipc-async-{tag}-{os.getpid()}"


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("kind", ["stream", "seqpacket"])
def test_receive_async_block_false_and_timeout(kind):
    async def main():
        a, b = MessageChannel.pair(kind)
        with a, b:
            with pytest.raises(BlockingIOError):
                await b.receive_async(block=False)
            with pytest.raises(TimeoutError):
                await b.receive_async(timeout=0.05)
            with pytest.raises(TimeoutError):
                await b.receive_async(timeout=0)
            asyncio.get_running_loop().call_later(0.05, a.send, b"late")
            late = (await b.receive_async(timeout=10)).data
            a.send(b"now")
            now = (await b.receive_async(block=False)).data
            return late, now
    assert run(main()) == (b"late", b"now")


def test_send_async_block_false_and_timeout_keep_the_framing():
    async def main():
        a, b = MessageChannel.pair("stream")
        with a, b:
            a.socket.setsockopt(sockets._socket.SOL_SOCKET, sockets._socket.SO_SNDBUF, 4096)
            big = b"y" * (1 << 20)
            with pytest.raises(BlockingIOError) as info:
                await a.send_async(big, block=False)
            assert info.value.characters_written > 0  # committed, stays pending
            with pytest.raises(TimeoutError):
                await a.send_async(b"second", timeout=0.05)  # the pending rest first
            receiver = asyncio.ensure_future(b.receive_async(timeout=20))
            await a.send_async(b"third", timeout=20)
            first = (await receiver).data
            rest = [(await b.receive_async(timeout=20)).data for _ in range(1)]
            return len(first), rest
    # "second" timed out before any of its bytes went: only big and third arrive
    assert run(main()) == (1 << 20, [b"third"])


def test_async_twins_refuse_bad_timeouts():
    async def main():
        a, b = MessageChannel.pair("stream")
        with a, b:
            with pytest.raises(ValueError):
                await a.send_async(b"x", timeout=-1)
            with pytest.raises(TypeError):
                await b.receive_async(timeout="1")
            with pytest.raises(BlockingIOError):
                b.receive(block=False)  # the refused send sent nothing
    run(main())


def _connect_and_talk(address: str) -> bytes:
    with sockets.connect(address, timeout=10) as ch:
        ch.send(b"hello from %d" % os.getpid())
        return ch.receive(timeout=10).data


@pytest.mark.parametrize("where", ["unix", "tcp"])
def test_accept_async_from_another_process(where):
    address = _abstract("acc") if where == "unix" else "tcp:127.0.0.1:0"
    with sockets.listen(address) as lst:
        async def main():
            with pytest.raises(BlockingIOError):
                await lst.accept_async(block=False)
            with pytest.raises(TimeoutError):
                await lst.accept_async(timeout=0.05)
            child = Child(_connect_and_talk, lst.address)
            try:
                with await lst.accept_async(timeout=10) as ch:
                    msg = (await ch.receive_async(timeout=10)).data
                    await ch.send_async(b"reply", timeout=10)
                return msg, child.result()
            finally:
                child.close()
        msg, answer = run(main())
    assert msg.startswith(b"hello from ") and answer == b"reply"


def test_cancelled_accept_async_loses_no_connection():
    address = _abstract("cancel-acc")
    with sockets.listen(address) as lst:
        async def main():
            task = asyncio.ensure_future(lst.accept_async())
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            client = sockets.connect(address, timeout=10)
            try:
                with await lst.accept_async(block=False) as server:
                    client.send(b"kept")
                    return (await server.receive_async(timeout=10)).data
            finally:
                client.close()
        assert run(main()) == b"kept"


def _accept_and_echo(lst: sockets.Listener) -> bytes:
    with lst.accept(timeout=10) as ch:
        data = ch.receive(timeout=10).data
        ch.send(data.upper())
        return data


@pytest.mark.parametrize("where", ["unix", "tcp"])
def test_connect_async_to_another_process(where):
    address = _abstract("con") if where == "unix" else "tcp:127.0.0.1:0"
    with sockets.listen(address) as lst:
        child = Child(_accept_and_echo, lst)  # the child accepts on the inherited socket
        try:
            async def main():
                with await sockets.connect_async(lst.address, timeout=10) as ch:
                    await ch.send_async(b"ping", timeout=10)
                    return (await ch.receive_async(timeout=10)).data
            assert run(main()) == b"PING"
            assert child.result() == b"ping"
        finally:
            child.close()


def test_connect_async_seqpacket_with_a_thread():
    address = _abstract("seq")
    with sockets.listen(address, kind="seqpacket") as lst:
        got: list[bytes] = []
        t = threading.Thread(target=lambda: got.append(_accept_and_echo(lst)))
        t.start()
        try:
            async def main():
                with await sockets.connect_async(address, kind="seqpacket", timeout=10) as ch:
                    assert ch.seqpacket
                    await ch.send_async(b"rec", timeout=10)
                    return (await ch.receive_async(timeout=10)).data
            assert run(main()) == b"REC"
        finally:
            t.join(10)
        assert got == [b"rec"]


def test_connect_async_errors_leave_nothing_open():
    before = _open_fds()

    async def main():
        with pytest.raises(ConnectionRefusedError):
            await sockets.connect_async(_abstract("nobody"), timeout=5)
        with sockets.listen("tcp:127.0.0.1:0") as lst:
            port = lst.address.rsplit(":", 1)[1]
        with pytest.raises(ConnectionRefusedError):
            await sockets.connect_async(f"tcp:127.0.0.1:{port}", timeout=5)
        with pytest.raises(ValueError):
            await sockets.connect_async(_abstract("x"), timeout=-1)
        with pytest.raises(ValueError):
            await sockets.connect_async("tcp:127.0.0.1:1", kind="seqpacket")
    run(main())
    assert _open_fds() == before


def _fill_backlog(address: str) -> list[MessageChannel]:
    queued = []
    while True:
        try:
            queued.append(sockets.connect(address, timeout=0.2))
        except TimeoutError:
            return queued


def test_connect_async_waits_for_room_in_a_full_unix_backlog():
    address = _abstract("full")
    with sockets.listen(address, backlog=0) as lst:
        queued = _fill_backlog(address)
        try:
            async def main():
                with pytest.raises(TimeoutError):
                    await sockets.connect_async(address, timeout=0)
                with pytest.raises(TimeoutError):
                    await sockets.connect_async(address, timeout=0.2)
                # room comes when the listener accepts someone
                loop = asyncio.get_running_loop()
                accepted: list[MessageChannel] = []
                loop.call_later(0.1, lambda: accepted.append(lst.accept(timeout=5)))
                ch = await sockets.connect_async(address, timeout=10)
                ch.close()
                for a in accepted:
                    a.close()
            run(main())
        finally:
            for q in queued:
                q.close()


def test_cancelled_connect_async_closes_its_socket():
    address = _abstract("full-cancel")
    with sockets.listen(address, backlog=0) as lst:
        queued = _fill_backlog(address)
        before = _open_fds()
        try:
            async def main():
                task = asyncio.ensure_future(sockets.connect_async(address, timeout=20))
                await asyncio.sleep(0.1)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                # the worker still waits; room lets it connect, then it closes
                first = lst.accept(timeout=5)
                late = lst.accept(timeout=5)
                with first, late:
                    with pytest.raises(ChannelClosedError):
                        await late.receive_async(timeout=10)
            run(main())
            wait_until(lambda: _open_fds() == before, timeout=10)
        finally:
            for q in queued:
                q.close()
