"""System V message queues.

A queue is a kernel-held list of typed messages that any process with the
queue's key (or id) and permission can send to and receive from. unixipc's
:class:`MessageQueue` exposes every rule of ``msgsnd``/``msgrcv``: type
selection, ``MSG_EXCEPT``, ``MSG_NOERROR``, blocking and non-blocking calls,
timeouts, and ``EIDRM`` when the queue is removed under a waiting caller.
The hot calls (``send``, ``receive``, ``send_many``, ``receive_many``) are
implemented in C on :class:`unixipc._core.MessageQueueBase`.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from types import TracebackType
from typing import NamedTuple

from . import _core
from .keys import Permissions, format_key, normalize_key

__all__ = ["Message", "MessageQueue", "MessageQueueStat", "MessageQueueLimits",
           "message_queues", "message_queue_limits"]


class Message(NamedTuple):
    """A received message: its type (>= 1) and its bytes."""

    type: int
    data: bytes


_core._msg_set_message_type(Message)


@dataclass(frozen=True, slots=True)
class MessageQueueStat:
    """Everything ``msgctl(IPC_STAT)`` reports about a queue.

    Times are seconds since the epoch, 0 when the event never happened.
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
    def _from_raw(cls, msqid: int, raw: dict[str, int]) -> MessageQueueStat:
        perm = Permissions(key=raw["key"], uid=raw["uid"], gid=raw["gid"], cuid=raw["cuid"],
                           cgid=raw["cgid"], mode=raw["mode"], seq=raw["seq"])
        return cls(id=msqid, perm=perm, send_time=raw["send_time"],
                   receive_time=raw["receive_time"], change_time=raw["change_time"],
                   current_bytes=raw["current_bytes"], message_count=raw["message_count"],
                   max_bytes=raw["max_bytes"], last_send_pid=raw["last_send_pid"],
                   last_receive_pid=raw["last_receive_pid"])


@dataclass(frozen=True, slots=True)
class MessageQueueLimits:
    """The system's message-queue limits (``msgctl(IPC_INFO)``).

    Attributes:
        max_message_size: msgmax, the largest message.
        default_max_bytes: msgmnb, a new queue's byte limit.
        max_queues: msgmni, how many queues may exist.
    """

    max_message_size: int
    default_max_bytes: int
    max_queues: int


def message_queue_limits() -> MessageQueueLimits:
    """The system-wide limits that apply to every queue."""
    info = _core.msg_info(_core.IPC_INFO)
    return MessageQueueLimits(max_message_size=info["msgmax"],
                              default_max_bytes=info["msgmnb"], max_queues=info["msgmni"])


def message_queues() -> list[MessageQueueStat]:
    """The stat of every message queue in this IPC namespace, as ``ipcs -q``
    lists them (MSG_INFO for the highest slot, then MSG_STAT_ANY per slot)."""
    max_index = _core.msg_info(_core.MSG_INFO)["max_index"]
    found = []
    for index in range(max_index + 1):
        try:
            msqid, raw = _core.msg_stat(index)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.EIDRM, errno.EACCES):
                continue  # unused slot, removed meanwhile, or unreadable
            raise
        found.append(MessageQueueStat._from_raw(msqid, raw))
    return found


def _check_mode(mode: int) -> int:
    if isinstance(mode, bool) or not isinstance(mode, int):
        raise TypeError(f"mode must be an int, not {type(mode).__name__}")
    if not 0 <= mode <= 0o777:
        raise ValueError(f"mode must be permission bits 0..0o777, not {mode:#o}")
    return mode


def _check_id(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must be >= 0, not {value}")
    return value


class MessageQueue(_core.MessageQueueBase):
    """A System V message queue.

    Args:
        key: the queue's key (see :func:`unixipc.ftok`); None makes a new
            private queue (IPC_PRIVATE), which needs ``create=True``.
        create: create the queue if no queue has this key (IPC_CREAT).
        exclusive: with ``create``, fail with FileExistsError if it exists
            (IPC_EXCL).
        mode: permission bits of a new queue; ``0o600`` unless asked. When
            an existing queue is opened, the access asked for: msgget checks
            these bits against the queue's (the default asks for read and
            write; ``0o200`` opens a queue this user may only send to).

    Raises:
        FileNotFoundError: no queue has this key and ``create`` is false.
        FileExistsError: ``exclusive`` and the queue exists.
        PermissionError: the queue's mode does not let this user in.
        TypeError, ValueError: bad arguments (before any system call).

    Used as a context manager, the queue is removed on exit only if this
    object created it.
    """

    def __init__(self, key: int | None = None, *, create: bool = False,
                 exclusive: bool = False, mode: int = 0o600) -> None:
        super().__init__()
        c_key = normalize_key(key)
        _check_mode(mode)
        if exclusive and not create:
            raise ValueError("exclusive=True needs create=True")
        if c_key == _core.IPC_PRIVATE and not create:
            raise ValueError("a private queue (key=None) is always new: pass create=True, "
                             "or open an existing queue by key or with from_id()")
        self.created = False
        if create:
            try:
                msqid = _core.msgget(c_key, _core.IPC_CREAT | _core.IPC_EXCL | mode)
                self.created = True
            except FileExistsError:
                if exclusive:
                    raise
                msqid = _core.msgget(c_key, mode)
        else:
            msqid = _core.msgget(c_key, mode)
        self._bind(msqid)
        self._key = c_key

    @classmethod
    def from_id(cls, msqid: int) -> MessageQueue:
        """Open an existing queue by its id (as ``ipcs -q`` shows it).

        Raises:
            OSError: EINVAL/EIDRM if there is no such queue;
            PermissionError: the queue is not readable by this user.
        """
        _check_id(msqid, "msqid")
        raw = _core.msgctl_stat(msqid)
        self = cls.__new__(cls)
        _core.MessageQueueBase.__init__(self)
        self._bind(msqid)
        self._key = raw["key"]
        self.created = False
        return self

    @property
    def key(self) -> int:
        """The key the queue was created with (0 for a private queue)."""
        return self._key

    def stat(self) -> MessageQueueStat:
        """``msgctl(IPC_STAT)``: every field of the queue's ``msqid_ds``."""
        return MessageQueueStat._from_raw(self.id, _core.msgctl_stat(self.id))

    def set(self, *, mode: int | None = None, uid: int | None = None,
            gid: int | None = None, max_bytes: int | None = None) -> None:
        """``msgctl(IPC_SET)``: change owner, permission bits or byte limit.

        Only the owner, the creator or a privileged process may do this
        (PermissionError, EPERM). Raising ``max_bytes`` above the system's
        msgmnb needs CAP_SYS_RESOURCE (PermissionError).
        """
        args = [-1 if v is None else v for v in (uid, gid, mode, max_bytes)]
        if mode is not None:
            _check_mode(mode)
        for name, value in (("uid", uid), ("gid", gid), ("max_bytes", max_bytes)):
            if value is not None:
                _check_id(value, name)
        _core.msgctl_set(self.id, *args)
        self._bind(self.id)  # forget the cached byte limit

    def remove(self) -> None:
        """``msgctl(IPC_RMID)``: remove the queue now. Processes blocked on it
        wake with ObjectRemovedError; later calls fail the same way (or with
        EINVAL once the id is reused)."""
        _core.msgctl_rmid(self.id)

    def __enter__(self) -> MessageQueue:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.created:
            try:
                self.remove()
            except OSError as err:
                if err.errno not in (errno.EINVAL, errno.EIDRM):
                    raise

    def __repr__(self) -> str:
        return f"<MessageQueue id={self.id} key={format_key(self.key)}>"
