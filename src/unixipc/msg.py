"""System V message queues.

A :class:`MessageQueue` is a kernel-held list of typed messages: any process
with the key (or the id) and the permission can send and receive. The hot
methods (:meth:`~MessageQueue.send`, :meth:`~MessageQueue.receive`,
:meth:`~MessageQueue.send_many`, :meth:`~MessageQueue.receive_many`) are
implemented in C on :class:`unixipc._core.MessageQueueBase`; this module adds
opening, status, permissions, removal, ``peek`` and the asyncio twins
(:meth:`~MessageQueue.send_async`, :meth:`~MessageQueue.receive_async`).
See docs/msg.md for the rules.
"""

from __future__ import annotations

import errno as _errno
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from . import _core
from ._aio import run_cancellable
from ._sysv import Kernel, SysVObject, check_int
from .keys import Permissions, each_slot

if TYPE_CHECKING:
    from typing_extensions import Buffer

#: The name of the worker threads of the async twins.
_WORKER = "unixipc-msg-wait"

__all__ = ["Message", "MessageQueue", "MessageQueueStat", "message_queues", "msg_limits",
           "MessageQueueLimits", "MessageQueueUsage", "msg_usage"]




class Message(NamedTuple):
    """One message: its ``type`` (an int >= 1) and its ``data`` (bytes)."""

    type: int
    data: bytes


_core._msg_set_message_type(Message)


@dataclass(frozen=True, slots=True)
class MessageQueueStat:
    """A queue's ``msqid_ds`` record (``msgctl(IPC_STAT)``).

    Attributes:
        id: the queue id (msqid).
        perm: owner, creator, mode, key and sequence number.
        send_time, receive_time: seconds since the epoch of the last
            msgsnd / msgrcv (0: never).
        change_time: of the creation or last IPC_SET.
        current_bytes: bytes of message text now queued (``__msg_cbytes``).
        message_count: messages now queued (``msg_qnum``).
        max_bytes: the most text bytes the queue may hold (``msg_qbytes``).
        last_send_pid, last_receive_pid: the processes of the last
            msgsnd / msgrcv (0: none).
    """

    id: int
    perm: Permissions
    send_time: int
    receive_time: int
    change_time: int
    current_bytes: int
    message_count: int
    max_bytes: int
    last_send_pid: int
    last_receive_pid: int

    @classmethod
    def _from_core(cls, msqid: int, d: dict[str, int]) -> MessageQueueStat:
        perm = Permissions(key=d["key"], uid=d["uid"], gid=d["gid"], cuid=d["cuid"],
                           cgid=d["cgid"], mode=d["mode"], seq=d["seq"])
        return cls(id=msqid, perm=perm, send_time=d["send_time"],
                   receive_time=d["receive_time"], change_time=d["change_time"],
                   current_bytes=d["current_bytes"], message_count=d["message_count"],
                   max_bytes=d["max_bytes"], last_send_pid=d["last_send_pid"],
                   last_receive_pid=d["last_receive_pid"])


@dataclass(frozen=True, slots=True)
class MessageQueueLimits:
    """The system's message queue limits (``msgctl(IPC_INFO)``).

    Attributes:
        max_message_size: msgmax, the largest message text in bytes.
        default_max_bytes: msgmnb, a new queue's ``max_bytes`` and the most
            an unprivileged owner may set.
        max_queues: msgmni, queues allowed in this IPC namespace.
    """

    max_message_size: int
    default_max_bytes: int
    max_queues: int


def msg_limits() -> MessageQueueLimits:
    """The system's limits (/proc/sys/kernel/msgmax, msgmnb, msgmni)."""
    _, info = _core.msgctl_info(_core.IPC_INFO)
    return MessageQueueLimits(max_message_size=info["msgmax"],
                              default_max_bytes=info["msgmnb"], max_queues=info["msgmni"])


@dataclass(frozen=True, slots=True)
class MessageQueueUsage:
    """What the queues of this IPC namespace hold now (``msgctl(MSG_INFO)``,
    what ``ipcs -u`` shows).

    Attributes:
        queues: queues that exist (msgpool), held against
            ``msg_limits().max_queues`` (msgmni).
        messages: messages queued in all of them (msgmap: "used headers").
        bytes: bytes of message text queued in all of them (msgtql: "used
            space").
    """

    queues: int
    messages: int
    bytes: int


def msg_usage() -> MessageQueueUsage:
    """Queues, messages and bytes in use in this IPC namespace
    (``msgctl(MSG_INFO)``)."""
    _, info = _core.msgctl_info(_core.MSG_INFO)
    return MessageQueueUsage(queues=info["msgpool"], messages=info["msgmap"],
                             bytes=info["msgtql"])


class MessageQueue(SysVObject[MessageQueueStat], _core.MessageQueueBase):
    """A System V message queue.

    ``MessageQueue(key)`` opens an existing queue; ``create=True`` creates it
    if needed; ``exclusive=True`` insists on a new one (FileExistsError if
    the key is taken); ``key=None`` (IPC_PRIVATE) always makes a new queue
    that only its id leads to. Used as a context manager, the queue is
    removed on exit only if this object created it (``created``). Opening,
    ``from_id``, ``created``/``removed``, ``remove``, ``set``, pickling (as
    a reference) and the context manager follow the rules of the whole
    System V family (see :mod:`unixipc._sysv`).

    Args:
        key: a System V key (``ftok``, or any 32-bit int), or None.
        create: create the queue if the key has none (IPC_CREAT).
        exclusive: fail with FileExistsError if it exists (IPC_EXCL);
            implies ``create``.
        mode: permission bits of a new queue (default 0o600). When an
            existing queue is opened, the access asked for: msgget checks
            these bits against the queue's mode, so the default asks for
            read and write and a queue this user may not use raises
            PermissionError at once rather than at the first send.

    Raises:
        TypeError, ValueError: bad arguments.
        FileNotFoundError: no queue has this key and ``create`` is false.
        FileExistsError: ``exclusive`` and the key is taken.
        PermissionError: the queue's mode does not let this user in.
        OSError(ENOSPC): the system's limit of queues (msgmni) is reached.
    """

    _kernel = Kernel(
        "message queue", "msqid", "msgctl",
        stat=lambda i: MessageQueueStat._from_core(i, _core.msgctl_stat(i)),
        listing=lambda: message_queues(), rmid=_core.msgctl_rmid,
        set=lambda i, uid, gid, mode: _core.msgctl_set(
            i, mode, uid, gid, MessageQueue._stat_any(i).max_bytes))

    if TYPE_CHECKING:  # the C methods, with the result types made precise
        def receive(self, type: int = 0, *, block: bool = True,
                    timeout: float | None = None, max_size: int | None = None,
                    truncate: bool = False, exclude: bool = False,
                    _cancel: bytearray | None = None) -> Message: ...

        def receive_many(self, max_count: int, type: int = 0, *, block: bool = True,
                         timeout: float | None = None, max_size: int | None = None,
                         truncate: bool = False, exclude: bool = False) -> list[Message]: ...

        def _peek(self, index: int = 0, *, max_size: int | None = None) -> Message: ...

    def __init__(self, key: int | None = None, *, create: bool = False,
                 exclusive: bool = False, mode: int = 0o600) -> None:
        with self._opening(key, create=create, exclusive=exclusive, mode=mode,
                           new=_core.msgget, existing=_core.msgget) as (msqid, _):
            self._msqid = msqid

    def _adopt(self, obj_id: int, found: MessageQueueStat) -> None:
        self._msqid = obj_id

    @property
    def id(self) -> int:
        """The queue id (msqid)."""
        return self._msqid

    def set(self, *, mode: int | None = None, uid: int | None = None, gid: int | None = None,
            max_bytes: int | None = None) -> None:
        """Change owner, mode or byte limit (``msgctl(IPC_SET)``); fields
        left None keep their value.

        Only the owner, the creator or a privileged process may do this;
        raising ``max_bytes`` above the system's msgmnb needs
        CAP_SYS_RESOURCE.

        Raises:
            TypeError, ValueError: bad arguments (nothing is changed).
            PermissionError: not allowed (EPERM).
            ObjectRemovedError: the queue was removed.
        """
        if max_bytes is not None and not 0 <= check_int(max_bytes, "max_bytes") < 2**63:
            raise ValueError(f"max_bytes must be in 0..2**63-1, not {max_bytes}")
        uid_, gid_, mode_ = self._merged_perm(mode, uid, gid)
        if max_bytes is None:  # IPC_SET sets all four fields: keep the current limit
            max_bytes = self._stat_any(self._msqid).max_bytes
        _core.msgctl_set(self._msqid, mode_, uid_, gid_, max_bytes)

    def peek(self, index: int = 0, *, max_size: int | None = None,
             truncate: bool = False) -> Message:
        """A copy of the message at ``index`` (0 = first), left on the queue.

        Uses ``msgrcv(MSG_COPY)``, which Linux offers only when built with
        CONFIG_CHECKPOINT_RESTORE. Never blocks.

        Raises:
            IndexError: the queue has no message at ``index``.
            OSError(ENOSYS): the kernel has no MSG_COPY (Linux built
                without CONFIG_CHECKPOINT_RESTORE); the message says so.
            MessageTooLongError: the message is longer than ``max_size``.
        """
        try:
            if truncate and max_size is not None:
                # The kernel cannot truncate a copy (MSG_COPY with MSG_NOERROR
                # is EINVAL): copy it whole and cut here.
                msg = self._peek(index)
                return Message(msg.type, msg.data[:max_size])
            return self._peek(index, max_size=max_size)
        except OSError as exc:
            if exc.errno == _errno.ENOMSG:
                raise IndexError(f"no message at index {index}") from None
            if exc.errno == _errno.ENOSYS:
                raise OSError(_errno.ENOSYS, "msgrcv(MSG_COPY): peek() needs MSG_COPY, which "
                              "this kernel lacks (Linux built without "
                              "CONFIG_CHECKPOINT_RESTORE); receive() still works") from None
            raise

    # ---- async twins -----------------------------------------------------------

    async def send_async(self, data: Buffer, type: int = 1, *, block: bool = True,
                         timeout: float | None = None) -> None:
        """``send`` for asyncio: waits for room without blocking the loop.

        A first attempt is made at once; if the queue is full, the wait
        happens in a worker thread of its own (a blocked ``msgsnd``; no
        polling). Cancelling the awaiting task interrupts that wait: the
        message is then not sent and CancelledError is raised, unless it
        had already been sent when the cancellation arrived, in which case
        the call returns normally (the cancellation is absorbed; what
        happened to the message is never left unknown).

        Raises:
            As :meth:`send`.
        """
        try:
            return self.send(data, type, block=False)
        except BlockingIOError:
            if not block:
                raise
        if timeout == 0:
            return self.send(data, type, timeout=0)
        snapshot = bytes(data)  # the caller may change its buffer meanwhile
        await run_cancellable(lambda token: self.send(snapshot, type, timeout=timeout,
                                                      _cancel=token), _WORKER)

    async def receive_async(self, type: int = 0, *, block: bool = True,
                            timeout: float | None = None, max_size: int | None = None,
                            truncate: bool = False, exclude: bool = False) -> Message:
        """``receive`` for asyncio: waits for a message without blocking
        the loop.

        A queued message is taken at once; otherwise the wait happens in a
        worker thread of its own (a blocked ``msgrcv``; no polling).
        Cancelling the awaiting task interrupts that wait without losing a
        message: ``msgrcv`` either took the message or took nothing. If
        nothing was taken, CancelledError is raised; if the message had
        already been taken when the cancellation arrived, it is returned and
        the cancellation is absorbed.

        Raises:
            As :meth:`receive`.
        """
        try:
            return self.receive(type, block=False, max_size=max_size, truncate=truncate,
                                exclude=exclude)
        except BlockingIOError as exc:
            if not block or exc.errno != _errno.ENOMSG:
                raise
        if timeout == 0:
            return self.receive(type, timeout=0, max_size=max_size, truncate=truncate,
                                exclude=exclude)
        return await run_cancellable(lambda token: self.receive(
            type, timeout=timeout, max_size=max_size, truncate=truncate, exclude=exclude,
            _cancel=token), _WORKER)


def message_queues() -> list[MessageQueueStat]:
    """The status of every message queue in this IPC namespace.

    Walks the kernel's slots with ``msgctl(MSG_INFO)`` and
    ``msgctl(MSG_STAT_ANY)`` (which needs no read permission, Linux 4.17+),
    falling back to ``MSG_STAT``, which skips queues this user cannot read,
    as ``ipcs -q`` does.
    """
    highest, _ = _core.msgctl_info(_core.MSG_INFO)
    return list(each_slot(highest, _queue_in_slot))


def _queue_in_slot(index: int) -> MessageQueueStat:
    """The queue in kernel slot ``index``: MSG_STAT_ANY, or MSG_STAT where
    the kernel lacks it (EINVAL for both: an unused slot)."""
    try:
        msqid, d = _core.msgctl_msg_stat(index, True)
    except OSError as exc:
        if exc.errno != _errno.EINVAL:
            raise
        msqid, d = _core.msgctl_msg_stat(index, False)
    return MessageQueueStat._from_core(msqid, d)
