"""System V message queues.

A :class:`MessageQueue` is a kernel-held list of typed messages: any process
with the key (or the id) and the permission can send and receive. The hot
methods (:meth:`~MessageQueue.send`, :meth:`~MessageQueue.receive`,
:meth:`~MessageQueue.send_many`, :meth:`~MessageQueue.receive_many`) are
implemented in C on :class:`unixipc._core.MessageQueueBase`; this module adds
opening, status, permissions, removal, ``peek`` and the asyncio twins
(:meth:`~MessageQueue.send_async`, :meth:`~MessageQueue.receive_async`).
See docs/message-queues.md for the rules.
"""

from __future__ import annotations

import errno as _errno
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TYPE_CHECKING, NamedTuple

from . import _core
from ._aio import run_cancellable
from .keys import (Permissions, format_key, normalize_key, open_or_create, removed_on_failure,
                   stat_even_unreadable)

if TYPE_CHECKING:
    from typing_extensions import Buffer

#: The name of the worker threads of the async twins.
_WORKER = "unixipc-msgqueue-wait"

__all__ = ["Message", "MessageQueue", "MessageQueueStat", "message_queues", "msg_limits",
           "MessageQueueLimits"]




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


def _check_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


def _check_mode(mode: object) -> int:
    mode = _check_int(mode, "mode")
    if not 0 <= mode <= 0o777:
        raise ValueError(f"mode must be permission bits in 0..0o777, not {mode:#o}")
    return mode


class MessageQueue(_core.MessageQueueBase):
    """A System V message queue.

    ``MessageQueue(key)`` opens an existing queue; ``create=True`` creates it
    if needed; ``exclusive=True`` insists on a new one (FileExistsError if
    the key is taken); ``key=None`` (IPC_PRIVATE) always makes a new queue
    that only its id leads to. Used as a context manager, the queue is
    removed on exit only if this object created it.

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

    _key: int
    _created: bool
    _removed: bool

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
        ckey = normalize_key(key)
        mode = _check_mode(mode)
        if exclusive:
            create = True
        msqid, created = open_or_create(
            f"message queue key {format_key(ckey)}",
            lambda: _core.msgget(ckey, _core.IPC_CREAT | _core.IPC_EXCL | mode),
            lambda: _core.msgget(ckey, mode),
            create=create or ckey == _core.IPC_PRIVATE, exclusive=exclusive)
        with removed_on_failure(created, lambda: _core.msgctl_rmid(msqid)):
            self._msqid = msqid
            self._key = ckey
            self._created = created
            self._removed = False

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        """Pickle as a reference to the kernel object (its id), never as
        its creator: a copy's ``with`` block or ``created`` check cannot
        remove the original's object."""
        return (type(self).from_id, (self.id,))

    @classmethod
    def from_id(cls, msqid: int) -> MessageQueue:
        """Open a queue by its id (as ``ipcs -q`` shows it).

        Raises:
            TypeError, ValueError: ``msqid`` is not an int >= 0.
            OSError(EINVAL): no queue has this id.
            ObjectRemovedError: the id belongs to a removed queue.
            PermissionError: IPC_STAT is refused and the kernel has no
                MSG_STAT_ANY. Opening asks for no access (each call is
                checked by the kernel): a queue this user may only write is
                opened, its key taken from the MSG_STAT_ANY walk.
        """
        msqid = _check_int(msqid, "msqid")
        if not 0 <= msqid < 2**31:
            raise ValueError(f"msqid must be in 0..2**31-1, not {msqid}")
        # A write-only sender may not IPC_STAT it: MSG_STAT_ANY's walk names its key.
        key = stat_even_unreadable(
            msqid, lambda i: MessageQueueStat._from_core(i, _core.msgctl_stat(i)),
            message_queues).perm.key
        self = cls.__new__(cls)
        self._msqid = msqid
        self._key = key
        self._created = False
        self._removed = False
        return self

    # ---- identity ------------------------------------------------------------

    @property
    def id(self) -> int:
        """The queue id (msqid)."""
        return self._msqid

    @property
    def key(self) -> int:
        """The key the queue was opened with (0 for IPC_PRIVATE)."""
        return self._key

    @property
    def created(self) -> bool:
        """True when this object created the queue (and so removes it on
        leaving a ``with`` block)."""
        return self._created

    def __repr__(self) -> str:
        return f"<MessageQueue id={self._msqid} key={format_key(self._key)}>"

    # ---- control ---------------------------------------------------------------

    def stat(self) -> MessageQueueStat:
        """The queue's status record (``msgctl(IPC_STAT)``).

        Raises:
            PermissionError: no read permission.
            ObjectRemovedError, OSError(EINVAL): the queue is gone.
        """
        return MessageQueueStat._from_core(self._msqid, _core.msgctl_stat(self._msqid))

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
        """
        m = -1 if mode is None else _check_mode(mode)
        u = -1 if uid is None else _check_int(uid, "uid")
        g = -1 if gid is None else _check_int(gid, "gid")
        q = -1 if max_bytes is None else _check_int(max_bytes, "max_bytes")
        for name, value in (("uid", u), ("gid", g)):
            if value != -1 and not 0 <= value < 2**32 - 1:
                raise ValueError(f"{name} must be in 0..2**32-2, not {value}")
        if max_bytes is not None and not 0 <= q < 2**63:
            raise ValueError(f"max_bytes must be >= 0, not {q}")
        _core.msgctl_set(self._msqid, m, u, g, q)

    def remove(self) -> None:
        """Remove the queue now (``msgctl(IPC_RMID)``).

        Every process blocked on it wakes with ObjectRemovedError; queued
        messages are discarded.

        Raises:
            PermissionError: neither owner, creator nor privileged (EPERM).
            OSError(EINVAL): already removed.
        """
        _core.msgctl_rmid(self._msqid)
        self._removed = True

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

    def __enter__(self) -> MessageQueue:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._created and not self._removed:
            try:
                self.remove()
            except OSError as err:
                # Removed by someone else meanwhile: nothing left to do.
                if err.errno not in (_errno.EINVAL, _errno.EIDRM):
                    raise


def message_queues() -> list[MessageQueueStat]:
    """The status of every message queue in this IPC namespace.

    Walks the kernel's slots with ``msgctl(MSG_INFO)`` and
    ``msgctl(MSG_STAT_ANY)`` (which needs no read permission, Linux 4.17+),
    falling back to ``MSG_STAT``, which skips queues this user cannot read,
    as ``ipcs -q`` does.
    """
    highest, info = _core.msgctl_info(_core.MSG_INFO)

    def walk(any_: bool) -> list[MessageQueueStat]:
        found = []
        for index in range(highest + 1):
            try:
                msqid, d = _core.msgctl_msg_stat(index, any_)
            except OSError:
                continue  # an empty slot (EINVAL) or not readable (EACCES)
            found.append(MessageQueueStat._from_core(msqid, d))
        return found

    found = walk(True)
    if not found and info["msgpool"] > 0:  # msgpool: queues in use
        found = walk(False)  # a kernel without MSG_STAT_ANY
    return found
