/* sock subsystem: the hot paths of unixipc.sockets.MessageChannel.
 *
 * ChannelBase is the C base of MessageChannel. It holds the state the hot
 * paths touch (the socket object, the receive buffer and its offsets, the
 * queue of received descriptors, the unsent rest of a frame, the error that
 * broke the stream) as members the Python subclass reads and writes under
 * the same names, and implements send() and receive() for the common cases:
 *
 * - stream send: one sendmsg of two iovecs (8-byte little-endian length,
 *   then the data) with MSG_NOSIGNAL, first with MSG_DONTWAIT while holding
 *   the GIL, then (buffer full) through unixipc_blocking_call until the
 *   whole frame is written;
 * - seqpacket send: one send of the record, the same way;
 * - stream receive: frames are cut out of the channel's bytearray; when it
 *   holds no whole frame one recvmsg (with room for SCM_RIGHTS) reads as
 *   much as fits, so a small frame costs one system call;
 * - seqpacket receive: one recvmsg of a record into the buffer.
 *
 * Everything unusual goes back to Python: descriptors to send, block=False
 * or timed sends and a queued partial frame (_send_slow); a frame too large
 * for max_size or for the buffer, received ancillary data, end of file,
 * truncated records (_receive_slow, _make_room, _took, _take_fds, _record).
 *
 * Waiting: an infinite wait makes the plain call with the GIL released
 * (one system call); the descriptor may be non-blocking (the Python socket
 * had a timeout earlier), then EAGAIN leads to ppoll and a MSG_DONTWAIT
 * retry. A timed wait is ppoll with the remaining time, then MSG_DONTWAIT;
 * losing the data to another reader means waiting again with the time
 * left. EINTR runs the Python signal handlers and retries (the helper).
 * A signal handler that raises after part of a stream frame went out
 * leaves the rest queued in _pending, so the stream keeps its framing.
 *
 * Threads: each direction (send, receive) has a lock, held by one thread
 * for a whole message: the C path, the Python path it hands over to, and
 * the state both touch (the receive buffer and descriptor queue; the
 * pending rest of a frame). Taking a free lock is one atomic operation
 * with the GIL held; a thread that finds it taken waits for it with the
 * GIL released, through the blocking helper (its own block=/timeout=,
 * signal handlers run, EINTR retried). Re-entering a direction the thread
 * holds (a signal handler calling receive inside receive) is a
 * RuntimeError, not a deadlock. close() wakes the threads inside the
 * channel (shutdown) and waits until they are out before the descriptor
 * is closed, so none of them can use its number once it names another
 * file. A lock taken by a thread of the parent before fork() is given up
 * in the child on first contention (fork_generation).
 */
#define _GNU_SOURCE 1
#include "core.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <pythread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <structmember.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define HSIZE 8
#define SCM_MAX_FD 253
#define ANC_SPACE (CMSG_SPACE(SCM_MAX_FD * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred)))
/* Larger stream frames skip the eager attempt with the GIL held (copying
 * them into the kernel would hold the GIL for long). */
#define EAGER_SEND_MAX 65536

static PyObject *message_type = NULL; /* unixipc.sockets.Message */
/* Bumped in every child of fork(): locks taken in an earlier generation
 * were taken by threads the child does not have. */
static volatile unsigned long fork_generation = 0;

enum { DIR_SEND = 0, DIR_RECEIVE = 1 };

typedef struct {
    PyThread_type_lock lock;
    unsigned long owner;   /* PyThread ident of the holder (0: none); GIL held */
    unsigned long gen;     /* fork_generation when taken */
} direction;
static PyObject *str_fileno, *str_send_slow, *str_receive_slow, *str_took, *str_make_room,
    *str_take_fds, *str_record, *str_check_send;

typedef struct {
    PyObject_HEAD
    PyObject *socket;   /* the socket.socket */
    PyObject *buf;      /* bytearray: receive buffer */
    Py_ssize_t start;   /* buffered bytes are buf[start:end] */
    Py_ssize_t end;
    Py_ssize_t pos;     /* stream offset of buf[0] */
    Py_ssize_t limit;   /* max_size (clamped to Py_ssize_t) */
    PyObject *fdq;      /* deque of (stream offset, [fds]) */
    PyObject *pending;  /* list of memoryviews: rest of a partly sent frame */
    PyObject *broken;   /* exception that ended the stream, or NULL/None */
    char seqpacket;
    char unix_;
    char closed;        /* _closed: set first by close() */
    direction dir[2];   /* DIR_SEND, DIR_RECEIVE */
} ChannelObject;

/* ---- the system calls --------------------------------------------------- */

typedef struct {
    int fd;
    PyObject *owner;       /* the channel (borrowed): its socket's fd is rechecked */
    int used;              /* an earlier io_call ran: Python code may have run since */
    int send;              /* sendmsg or recvmsg */
    int flags;
    struct msghdr mh;
    size_t control_space;  /* reset before each recvmsg */
} io_ctx;

static ssize_t
io_once(io_ctx *c, int extra_flags)
{
    if (c->send)
        return sendmsg(c->fd, &c->mh, c->flags | extra_flags);
    c->mh.msg_controllen = c->control_space;
    c->mh.msg_flags = 0;
    return recvmsg(c->fd, &c->mh, c->flags | extra_flags);
}

/* Without the GIL (see the file comment for how it waits). */
static long
io_fn(void *p, const struct timespec *remaining)
{
    io_ctx *c = p;
    ssize_t n;
    if (remaining == NULL) {
        n = io_once(c, 0);
        if (n >= 0 || errno != EAGAIN)
            return (long)n;
        /* a non-blocking descriptor: wait below */
    }
    struct pollfd pfd = {c->fd, c->send ? POLLOUT : POLLIN, 0};
    int r = ppoll(&pfd, 1, remaining, NULL);
    if (r < 0)
        return -1;
    if (r == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    n = io_once(c, MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN)
        errno = EINTR; /* someone else took it: wait again, time left */
    return (long)n;
}

static int channel_fd(ChannelObject *self);

/* After signal handlers ran (GIL held): the channel's socket must still be
 * the descriptor the call started on. A handler that closed it (and maybe
 * opened another file under the same number) ends the call with EBADF, as
 * the socket module's calls do, instead of reading or writing another file. */
static int
recheck_fd(void *p)
{
    io_ctx *c = p;
    if (c->owner == NULL)
        return 0;
    if (((ChannelObject *)c->owner)->closed) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on closed channel");
        return -1;
    }
    int fd = channel_fd((ChannelObject *)c->owner);
    if (fd == -2)
        return -1;
    if (fd != c->fd) {
        unixipc_raise_errno(c->send ? "sendmsg" : "recvmsg", EBADF);
        return -1;
    }
    return 0;
}

/* One attempt with the GIL held that must not block; on "would block" the
 * helper waits (nowait: BlockingIOError instead). -1 with an exception. */
static long
io_call(io_ctx *c, const char *name, int eager, int nowait, const unixipc_deadline *dl)
{
    if (c->used && recheck_fd(c) < 0) /* after our callbacks or handlers */
        return -1;
    c->used = 1;
    if (eager || nowait) {
        ssize_t n = io_once(c, MSG_DONTWAIT);
        if (n >= 0)
            return (long)n;
        if (errno != EAGAIN && errno != EINTR) {
            unixipc_raise_errno(name, errno);
            return -1;
        }
        if (nowait) {
            unixipc_raise_errno(name, EAGAIN);
            return -1;
        }
    }
    /* A signal that came meanwhile (during the eager attempt, or a read or
     * write it cut short): its handler runs before we sleep; what was
     * read or written so far is kept by the caller. */
    if (PyErr_CheckSignals() < 0 || recheck_fd(c) < 0)
        return -1;
    return unixipc_blocking_call_recheck(name, io_fn, c, dl, UNIXIPC_WAIT_NATIVE, recheck_fd);
}

/* ---- helpers -------------------------------------------------------------- */

/* The socket's descriptor (-1 when closed: the caller goes the Python way,
 * which raises as the socket module does). -2 with an exception. */
static int
channel_fd(ChannelObject *self)
{
    if (self->socket == NULL)
        return -1;
    PyObject *r = PyObject_CallMethodNoArgs(self->socket, str_fileno);
    if (r == NULL)
        return -2;
    long fd = PyLong_AsLong(r);
    Py_DECREF(r);
    if (fd == -1 && PyErr_Occurred())
        return -2;
    return fd < 0 || fd > INT32_MAX ? -1 : (int)fd;
}

static PyObject *
make_message(PyObject *data, PyObject *fds)
{
    return unixipc_new_pair(message_type, data, fds);
}

static uint64_t
get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = HSIZE - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* The ancillary data of a recvmsg as the socket module gives it: a list of
 * (level, type, bytes). */
static PyObject *
anc_list(struct msghdr *mh)
{
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    if (mh->msg_controllen == 0)
        return list;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
        size_t len = cm->cmsg_len >= CMSG_LEN(0) ? cm->cmsg_len - CMSG_LEN(0) : 0;
        PyObject *item = Py_BuildValue("(iiy#)", cm->cmsg_level, cm->cmsg_type,
                                       (const char *)CMSG_DATA(cm), (Py_ssize_t)len);
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
    }
    return list;
}

/* Closes descriptors that arrived in SCM_RIGHTS (used only if building the
 * Python view of the ancillary data fails). */
static void
close_received_fds(struct msghdr *mh)
{
    if (mh->msg_controllen == 0)
        return;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int *fds = (int *)CMSG_DATA(cm);
            for (size_t i = 0; i < n; i++)
                close(fds[i]);
        }
    }
}

/* Hands one read with ancillary data (or end of file) to self._took or
 * self._record; returns its result (new reference) or NULL. */
static PyObject *
hand_over(ChannelObject *self, PyObject *method, Py_ssize_t n, struct msghdr *mh, int none_anc)
{
    PyObject *anc;
    if (none_anc) {
        anc = Py_NewRef(Py_None);
    } else {
        anc = anc_list(mh);
        if (anc == NULL) {
            close_received_fds(mh);
            return NULL;
        }
    }
    PyObject *count = PyLong_FromSsize_t(n);
    PyObject *flags = PyLong_FromLong(mh->msg_flags);
    PyObject *r = NULL;
    if (count != NULL && flags != NULL) {
        PyObject *args[4] = {(PyObject *)self, count, anc, flags};
        r = PyObject_VectorcallMethod(method, args, 4, NULL);
    }
    Py_XDECREF(count);
    Py_XDECREF(flags);
    Py_DECREF(anc);
    return r;
}

static int
parse_deadline(PyObject *block, PyObject *timeout, int *nowait, unixipc_deadline *dl)
{
    int b = unixipc_bool_arg(block, 1);
    if (b < 0)
        return -1;
    if (unixipc_deadline_from_timeout(timeout, dl) < 0)
        return -1;
    *nowait = !b;
    if (!b)
        dl->infinite = 1;
    return 0;
}


/* ---- one thread per direction --------------------------------------------- */

static const char *const dir_call[2] = {"send", "receive"};
static const char *const dir_doing[2] = {"sending", "receiving"};

static void
raise_closed(void)
{
    PyErr_SetString(PyExc_ValueError, "I/O operation on closed channel");
}

typedef struct {
    PyThread_type_lock lock;
    ChannelObject *self;
} lock_wait_ctx;

/* Without the GIL: waits for the lock (a signal interrupts the wait). */
static long
lock_wait_fn(void *p, const struct timespec *remaining)
{
    lock_wait_ctx *w = p;
    PY_TIMEOUT_T us = -1;
    if (remaining != NULL) {
        double t = (double)remaining->tv_sec * 1e6 + (double)remaining->tv_nsec / 1e3;
        us = t >= (double)PY_TIMEOUT_MAX ? PY_TIMEOUT_MAX : (PY_TIMEOUT_T)t;
    }
    PyLockStatus r = PyThread_acquire_lock_timed(w->lock, us, 1);
    if (r == PY_LOCK_ACQUIRED)
        return 0;
    errno = r == PY_LOCK_INTR ? EINTR : ETIMEDOUT;
    return -1;
}

/* After signal handlers ran during the wait: a closed channel ends it. */
static int
lock_wait_recheck(void *p)
{
    lock_wait_ctx *w = p;
    if (w->self->closed) {
        raise_closed();
        return -1;
    }
    return 0;
}

static int
dir_held_by_me(const direction *d)
{
    return d->owner == PyThread_get_thread_ident() && d->gen == fork_generation;
}

/* Takes direction `which` for this thread (GIL held); a thread that holds
 * it keeps the other threads waiting: nowait raises BlockingIOError, the
 * deadline TimeoutError. 0, or -1 with an exception. */
static int
dir_acquire(ChannelObject *self, int which, int nowait, const unixipc_deadline *dl)
{
    direction *d = &self->dir[which];
    if (self->closed) {
        raise_closed();
        return -1;
    }
    if (d->lock == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "MessageChannel: ChannelBase not initialised");
        return -1;
    }
    if (dir_held_by_me(d)) {
        PyErr_Format(PyExc_RuntimeError,
                     "MessageChannel.%s: this thread is already %s on this channel "
                     "(called from a signal handler?)",
                     dir_call[which], dir_doing[which]);
        return -1;
    }
    if (!PyThread_acquire_lock(d->lock, NOWAIT_LOCK)) {
        if (d->owner != 0 && d->gen != fork_generation) {
            /* taken before fork() by a thread this process does not have */
            d->owner = 0;
            PyThread_release_lock(d->lock);
        }
        if (!PyThread_acquire_lock(d->lock, NOWAIT_LOCK)) {
            if (nowait) {
                PyObject *exc = PyObject_CallFunction(
                    PyExc_BlockingIOError, "is", EAGAIN,
                    dir_call[which][0] == 's' ? "send: another thread is sending on this channel"
                                             : "receive: another thread is receiving on this "
                                               "channel");
                if (exc != NULL) {
                    PyErr_SetObject(PyExc_BlockingIOError, exc);
                    Py_DECREF(exc);
                }
                return -1;
            }
            lock_wait_ctx w = {d->lock, self};
            if (unixipc_blocking_call_recheck(dir_call[which], lock_wait_fn, &w, dl,
                                              UNIXIPC_WAIT_NATIVE, lock_wait_recheck) < 0)
                return -1;
            if (self->closed) {
                PyThread_release_lock(d->lock);
                raise_closed();
                return -1;
            }
        }
    }
    d->owner = PyThread_get_thread_ident();
    d->gen = fork_generation;
    return 0;
}

static void
dir_release(ChannelObject *self, int which)
{
    direction *d = &self->dir[which];
    /* (not ours: given up after fork() while this thread held it) */
    if (dir_held_by_me(d)) {
        d->owner = 0;
        PyThread_release_lock(d->lock);
    }
}

/* The error of a call the channel's close() cut short is what any later
 * call gets: ValueError (not the EOF or EPIPE that the shutdown caused). */
static PyObject *
closed_error(ChannelObject *self, PyObject *result)
{
    if (result == NULL && self->closed &&
        (PyErr_ExceptionMatches(PyExc_OSError) || PyErr_ExceptionMatches(PyExc_EOFError))) {
        PyErr_Clear();
        raise_closed();
    }
    return result;
}

/* Calls self.<name>(*args, block=, timeout=<time left>). */
static PyObject *
call_slow(PyObject *self, PyObject *name, PyObject **args, Py_ssize_t nargs, int nowait,
          const unixipc_deadline *dl)
{
    static PyObject *kwnames = NULL;
    if (kwnames == NULL) {
        kwnames = Py_BuildValue("(ss)", "block", "timeout");
        if (kwnames == NULL)
            return NULL;
    }
    PyObject *timeout;
    if (dl->infinite || nowait) {
        timeout = Py_NewRef(Py_None);
    } else {
        struct timespec left;
        unixipc_deadline_remaining(dl, &left);
        timeout = PyFloat_FromDouble((double)left.tv_sec + (double)left.tv_nsec / 1e9);
        if (timeout == NULL)
            return NULL;
    }
    PyObject *stack[5];
    stack[0] = self;
    for (Py_ssize_t i = 0; i < nargs; i++)
        stack[i + 1] = args[i];
    stack[nargs + 1] = nowait ? Py_False : Py_True;
    stack[nargs + 2] = timeout;
    PyObject *r = PyObject_VectorcallMethod(name, stack, (size_t)(nargs + 1), kwnames);
    Py_DECREF(timeout);
    return r;
}

/* ---- receive ------------------------------------------------------------- */

#define SLOW ((PyObject *)1) /* "let the Python code do it" */

static PyObject *
receive_stream(ChannelObject *self, int fd, int nowait, const unixipc_deadline *dl)
{
    union {
        char buf[ANC_SPACE];
        struct cmsghdr align;
    } control;
    io_ctx c;
    int first = 1;

    memset(&c, 0, sizeof(c));
    c.fd = fd;
    c.owner = (PyObject *)self;
    c.flags = MSG_CMSG_CLOEXEC;
    if (self->unix_) {
        c.mh.msg_control = control.buf;
        c.control_space = sizeof(control.buf);
    }
    for (;;) {
        PyObject *bufobj = self->buf;
        if (bufobj == NULL || !PyByteArray_CheckExact(bufobj))
            return SLOW;
        unsigned char *b = (unsigned char *)PyByteArray_AS_STRING(bufobj);
        Py_ssize_t blen = PyByteArray_GET_SIZE(bufobj);
        Py_ssize_t start = self->start, end = self->end;
        if (start < 0 || end < start || end > blen)
            return SLOW;
        Py_ssize_t avail = end - start;
        if (avail >= HSIZE) {
            uint64_t size = get_le64(b + start);
            if (size > (uint64_t)self->limit)
                return SLOW; /* FrameTooLargeError */
            if ((uint64_t)avail >= HSIZE + size) {
                Py_ssize_t begin = start + HSIZE;
                PyObject *data = PyBytes_FromStringAndSize((char *)b + begin, (Py_ssize_t)size);
                if (data == NULL)
                    return NULL;
                self->start = begin + (Py_ssize_t)size;
                PyObject *fds;
                Py_ssize_t queued = self->fdq == NULL ? 0 : PyObject_Length(self->fdq);
                if (queued < 0) {
                    Py_DECREF(data);
                    return NULL;
                }
                if (queued > 0) {
                    PyObject *at = PyLong_FromSsize_t(self->pos + self->start);
                    fds = at == NULL ? NULL
                                     : PyObject_CallMethodOneArg((PyObject *)self, str_take_fds, at);
                    Py_XDECREF(at);
                    if (fds == NULL) {
                        Py_DECREF(data);
                        return NULL;
                    }
                } else {
                    fds = PyTuple_New(0);
                }
                return make_message(data, fds);
            }
            if (HSIZE + size > (uint64_t)(blen - start)) {
                PyObject *need = PyLong_FromUnsignedLongLong(HSIZE + size);
                PyObject *r = need == NULL ? NULL
                                           : PyObject_CallMethodOneArg((PyObject *)self,
                                                                       str_make_room, need);
                Py_XDECREF(need);
                if (r == NULL)
                    return NULL;
                Py_DECREF(r);
                continue;
            }
        } else if (avail == 0) {
            /* empty: rewind so a small frame never needs a move */
            self->pos += start;
            self->start = self->end = 0;
            end = 0;
        } else if (blen - start < HSIZE) {
            PyObject *need = PyLong_FromLong(HSIZE);
            PyObject *r = need == NULL ? NULL
                                       : PyObject_CallMethodOneArg((PyObject *)self,
                                                                   str_make_room, need);
            Py_XDECREF(need);
            if (r == NULL)
                return NULL;
            Py_DECREF(r);
            continue;
        }
        /* read what fits; the buffer is pinned (no resize, kept alive) */
        Py_buffer view;
        if (PyObject_GetBuffer(bufobj, &view, PyBUF_WRITABLE) < 0)
            return NULL;
        struct iovec iov = {(char *)view.buf + end, (size_t)(blen - end)};
        c.mh.msg_iov = &iov;
        c.mh.msg_iovlen = 1;
        /* An infinite wait with nothing buffered goes straight to the
         * blocking call: in a request/response pattern the data is rarely
         * there yet. Otherwise try without waiting first. */
        int eager = !(dl->infinite && avail == 0 && first);
        long n = io_call(&c, "recvmsg", eager, nowait, dl);
        first = 0;
        PyBuffer_Release(&view);
        if (n < 0)
            return NULL;
        if (self->buf != bufobj || self->end != end) {
            PyErr_SetString(PyExc_RuntimeError,
                            "MessageChannel.receive: the channel changed during the call "
                            "(concurrent receives?)");
            close_received_fds(&c.mh);
            return NULL;
        }
        if (n == 0 || c.mh.msg_controllen > 0 || (c.mh.msg_flags & MSG_CTRUNC)) {
            PyObject *r = hand_over(self, str_took, (Py_ssize_t)n, &c.mh, !self->unix_);
            if (r == NULL)
                return NULL;
            Py_DECREF(r);
        } else {
            self->end = end + (Py_ssize_t)n;
        }
    }
}

static PyObject *
receive_record(ChannelObject *self, int fd, int nowait, const unixipc_deadline *dl)
{
    union {
        char buf[ANC_SPACE];
        struct cmsghdr align;
    } control;
    io_ctx c;
    PyObject *bufobj = self->buf;

    if (bufobj == NULL || !PyByteArray_CheckExact(bufobj) ||
        PyByteArray_GET_SIZE(bufobj) <= self->limit)
        return SLOW; /* the Python code sizes the buffer first */
    memset(&c, 0, sizeof(c));
    c.fd = fd;
    c.owner = (PyObject *)self;
    c.flags = MSG_CMSG_CLOEXEC | MSG_TRUNC;
    c.mh.msg_control = control.buf;
    c.control_space = sizeof(control.buf);
    Py_buffer view;
    if (PyObject_GetBuffer(bufobj, &view, PyBUF_WRITABLE) < 0)
        return NULL;
    struct iovec iov = {view.buf, (size_t)view.len};
    c.mh.msg_iov = &iov;
    c.mh.msg_iovlen = 1;
    long n = io_call(&c, "recvmsg", !dl->infinite, nowait, dl);
    PyBuffer_Release(&view);
    if (n < 0)
        return NULL;
    if (self->buf != bufobj) {
        PyErr_SetString(PyExc_RuntimeError,
                        "MessageChannel.receive: the channel changed during the call "
                        "(concurrent receives?)");
        close_received_fds(&c.mh);
        return NULL;
    }
    int rights = 0, creds = 0;
    if (c.mh.msg_controllen > 0) {
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&c.mh); cm != NULL;
             cm = CMSG_NXTHDR(&c.mh, cm)) {
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS)
                creds = 1;
            else
                rights = 1;
        }
    }
    if (!rights && !(c.mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && n <= self->limit &&
        (n > 0 || creds)) {
        PyObject *data = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(bufobj), n);
        if (data == NULL)
            return NULL;
        PyObject *fds = PyTuple_New(0);
        return make_message(data, fds);
    }
    return hand_over(self, str_record, (Py_ssize_t)n, &c.mh, 0);
}

/* receive() with the receive direction held. */
static PyObject *
receive_held(ChannelObject *self, int nowait, const unixipc_deadline *dl)
{
    if (self->broken != NULL && self->broken != Py_None) {
        /* (another thread's receive may have broken it while we waited) */
        PyErr_SetObject((PyObject *)Py_TYPE(self->broken), self->broken);
        return NULL;
    }
    int fd = channel_fd(self);
    if (fd == -2)
        return NULL;
    PyObject *r = SLOW;
    if (fd >= 0)
        r = self->seqpacket ? receive_record(self, fd, nowait, dl)
                            : receive_stream(self, fd, nowait, dl);
    if (r == SLOW)
        r = call_slow((PyObject *)self, str_receive_slow, NULL, 0, nowait, dl);
    return r;
}

/* receive(), or (held) _receive_held() for a caller that holds the
 * direction already. */
static PyObject *
receive_common(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               int held)
{
    static const char *const names[] = {"block", "timeout", NULL};
    ChannelObject *self = (ChannelObject *)op;
    PyObject *v[2];
    unixipc_deadline dl;
    int nowait;

    if (unixipc_parse_args("receive", args, nargs, kwnames, names, 0, 0, v) < 0)
        return NULL;
    if (self->broken != NULL && self->broken != Py_None) {
        PyErr_SetObject((PyObject *)Py_TYPE(self->broken), self->broken);
        return NULL;
    }
    if (parse_deadline(v[0], v[1], &nowait, &dl) < 0)
        return NULL;
    if (held) {
        if (!dir_held_by_me(&self->dir[DIR_RECEIVE])) {
            PyErr_SetString(PyExc_RuntimeError, "_receive_held: receive direction not held");
            return NULL;
        }
        return closed_error(self, receive_held(self, nowait, &dl));
    }
    if (dir_acquire(self, DIR_RECEIVE, nowait, &dl) < 0)
        return NULL;
    PyObject *r = receive_held(self, nowait, &dl);
    dir_release(self, DIR_RECEIVE);
    return closed_error(self, r);
}

static PyObject *
ch_receive(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return receive_common(op, args, nargs, kwnames, 0);
}

static PyObject *
ch_receive_held(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return receive_common(op, args, nargs, kwnames, 1);
}

/* ---- send ------------------------------------------------------------------ */

/* Keeps the unsent rest of a frame (iov[0..cnt) from `skip` bytes on) as
 * self._pending = [memoryview(bytes)]. */
static void
keep_rest(ChannelObject *self, struct iovec *iov, int cnt, size_t skip)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    PyObject *rest = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(total - skip));
    if (rest != NULL) {
        char *out = PyBytes_AS_STRING(rest);
        for (int i = 0; i < cnt; i++) {
            size_t len = iov[i].iov_len;
            const char *src = iov[i].iov_base;
            if (skip >= len) {
                skip -= len;
                continue;
            }
            memcpy(out, src + skip, len - skip);
            out += len - skip;
            skip = 0;
        }
        PyObject *mv = PyMemoryView_FromObject(rest);
        PyObject *list = mv == NULL ? NULL : PyList_New(1);
        if (list != NULL) {
            PyList_SET_ITEM(list, 0, mv);
            Py_XSETREF(self->pending, list);
        } else {
            Py_XDECREF(mv);
        }
        Py_DECREF(rest);
    }
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
}

static PyObject *
send_stream(ChannelObject *self, int fd, const char *data, Py_ssize_t len)
{
    unsigned char header[HSIZE];
    struct iovec iov[2];
    unixipc_deadline dl = {1, {0, 0}};
    io_ctx c;

    for (int i = 0; i < HSIZE; i++)
        header[i] = (unsigned char)(((uint64_t)len >> (8 * i)) & 0xff);
    iov[0].iov_base = header;
    iov[0].iov_len = HSIZE;
    iov[1].iov_base = (void *)data;
    iov[1].iov_len = (size_t)len;
    memset(&c, 0, sizeof(c));
    c.fd = fd;
    c.owner = (PyObject *)self;
    c.send = 1;
    c.flags = MSG_NOSIGNAL;
    size_t total = HSIZE + (size_t)len, sent = 0;
    int eager = len <= EAGER_SEND_MAX;
    while (sent < total) {
        /* the iovecs still to go */
        size_t skip = sent;
        struct iovec rest[2];
        int cnt = 0;
        for (int i = 0; i < 2; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            rest[cnt].iov_base = (char *)iov[i].iov_base + skip;
            rest[cnt].iov_len = iov[i].iov_len - skip;
            skip = 0;
            cnt++;
        }
        c.mh.msg_iov = rest;
        c.mh.msg_iovlen = (size_t)cnt;
        long n = io_call(&c, "sendmsg", eager, 0, &dl);
        eager = 0;
        if (n < 0) {
            if (sent > 0)
                keep_rest(self, iov, 2, sent);
            return NULL;
        }
        sent += (size_t)n;
        /* A short write means a signal came: io_call runs its handler
         * before waiting again; if it raises, the rest stays queued. */
    }
    Py_RETURN_NONE;
}

static PyObject *
send_record(ChannelObject *self, int fd, const char *data, Py_ssize_t len)
{
    unixipc_deadline dl = {1, {0, 0}};
    struct iovec iov = {(void *)data, (size_t)len};
    io_ctx c;

    memset(&c, 0, sizeof(c));
    c.fd = fd;
    c.owner = (PyObject *)self;
    c.send = 1;
    c.flags = MSG_NOSIGNAL;
    c.mh.msg_iov = &iov;
    c.mh.msg_iovlen = 1;
    long n = io_call(&c, "sendmsg", len <= EAGER_SEND_MAX, 0, &dl);
    if (n < 0) {
        /* too big for the kernel: the Python code says so properly */
        if (PyErr_ExceptionMatches(PyExc_OSError)) {
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            PyErr_NormalizeException(&type, &value, &tb);
            int too_big = 0;
            if (value != NULL) {
                PyObject *e = PyObject_GetAttrString(value, "errno");
                if (e != NULL) {
                    long err = PyLong_AsLong(e);
                    too_big = err == EMSGSIZE || err == ENOBUFS;
                    Py_DECREF(e);
                }
                PyErr_Clear();
            }
            if (too_big) {
                Py_XDECREF(type);
                Py_XDECREF(value);
                Py_XDECREF(tb);
                return SLOW;
            }
            PyErr_Restore(type, value, tb);
        }
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
empty_sequence(PyObject *obj)
{
    if (obj == NULL)
        return 1;
    if (PyTuple_CheckExact(obj))
        return PyTuple_GET_SIZE(obj) == 0;
    if (PyList_CheckExact(obj))
        return PyList_GET_SIZE(obj) == 0;
    return 0;
}

/* send(), or (held) _send_held() for a caller that holds the direction
 * already (send_many). */
static PyObject *
send_common(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int held)
{
    static const char *const names[] = {"data", "fds", "block", "timeout", NULL};
    ChannelObject *self = (ChannelObject *)op;
    PyObject *v[4];
    unixipc_deadline dl;
    int nowait;

    if (unixipc_parse_args("send", args, nargs, kwnames, names, 2, 1, v) < 0)
        return NULL;
    if (self->closed) {
        raise_closed();
        return NULL;
    }
    if (parse_deadline(v[2], v[3], &nowait, &dl) < 0)
        return NULL;
    PyObject *data = v[0];
    PyObject *fds = v[1] != NULL ? v[1] : PyTuple_New(0); /* the empty tuple: no failure */
    Py_ssize_t size = PyBytes_CheckExact(data)       ? PyBytes_GET_SIZE(data)
                      : PyByteArray_CheckExact(data) ? PyByteArray_GET_SIZE(data)
                                                     : -1;
    int fast = size >= 0 && size <= self->limit && empty_sequence(v[1]) && !nowait &&
               dl.infinite;
    PyObject *r = NULL;
    if (!fast) {
        /* bad arguments raise before any wait */
        r = PyObject_CallMethodObjArgs(op, str_check_send, data, fds, NULL);
        if (r == NULL)
            goto done;
        Py_CLEAR(r);
    }
    if (held) {
        if (!dir_held_by_me(&self->dir[DIR_SEND])) {
            PyErr_SetString(PyExc_RuntimeError, "_send_held: send direction not held");
            goto done;
        }
    } else if (dir_acquire(self, DIR_SEND, nowait, &dl) < 0) {
        goto done;
    }
    r = SLOW;
    if (fast && self->pending != NULL && PyList_CheckExact(self->pending) &&
        PyList_GET_SIZE(self->pending) == 0) {
        Py_buffer view;
        if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
            r = NULL;
        } else {
            if (view.len <= self->limit) { /* (a bytearray may have grown meanwhile) */
                int fd = channel_fd(self);
                if (fd == -2)
                    r = NULL;
                else if (fd >= 0)
                    r = self->seqpacket ? send_record(self, fd, view.buf, view.len)
                                        : send_stream(self, fd, view.buf, view.len);
            }
            PyBuffer_Release(&view);
        }
    }
    if (r == SLOW) {
        PyObject *pass[2] = {data, fds};
        r = call_slow(op, str_send_slow, pass, 2, nowait, &dl);
    }
    if (!held)
        dir_release(self, DIR_SEND);
    r = closed_error(self, r);
done:
    if (v[1] == NULL)
        Py_DECREF(fds);
    return r;
}

static PyObject *
ch_send(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return send_common(op, args, nargs, kwnames, 0);
}

static PyObject *
ch_send_held(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return send_common(op, args, nargs, kwnames, 1);
}

/* _hold(direction, block, timeout) -> the time left (None: no deadline) */
static PyObject *
ch_hold(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    ChannelObject *self = (ChannelObject *)op;
    unixipc_deadline dl;
    int nowait;
    long which;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "_hold(direction, block, timeout)");
        return NULL;
    }
    if (unixipc_long_arg(args[0], 0, 0, 1, "direction", &which) < 0 ||
        parse_deadline(args[1], args[2], &nowait, &dl) < 0 ||
        dir_acquire(self, (int)which, nowait, &dl) < 0)
        return NULL;
    if (dl.infinite)
        Py_RETURN_NONE;
    struct timespec left;
    unixipc_deadline_remaining(&dl, &left);
    PyObject *t = PyFloat_FromDouble((double)left.tv_sec + (double)left.tv_nsec / 1e9);
    if (t == NULL)
        dir_release(self, (int)which);
    return t;
}

static PyObject *
ch_unhold(PyObject *op, PyObject *arg)
{
    long which;
    if (unixipc_long_arg(arg, 0, 0, 1, "direction", &which) < 0)
        return NULL;
    dir_release((ChannelObject *)op, (int)which);
    Py_RETURN_NONE;
}

/* Without the GIL: waits for a lock and gives it back at once. */
static long
pass_lock_fn(void *p, const struct timespec *remaining)
{
    long r = lock_wait_fn(p, remaining);
    if (r == 0)
        PyThread_release_lock(((lock_wait_ctx *)p)->lock);
    return r;
}

/* _close_wait(): marks the channel closed, wakes the threads blocked in it
 * (shutdown: their calls return at once) and waits until every direction
 * is free, so the descriptor can be closed with nobody inside a system
 * call on it. A direction this thread holds (close() from a signal handler
 * inside receive) is not waited for: that call finds the socket closed
 * when the handler returns. */
static PyObject *
ch_close_wait(PyObject *op, PyObject *unused)
{
    ChannelObject *self = (ChannelObject *)op;
    unixipc_deadline forever = {1, {0, 0}};

    self->closed = 1;
    int others = 0;
    for (int i = 0; i < 2; i++) {
        direction *d = &self->dir[i];
        if (d->lock == NULL || dir_held_by_me(d))
            continue;
        if (!PyThread_acquire_lock(d->lock, NOWAIT_LOCK))
            others = 1;
        else
            PyThread_release_lock(d->lock);
    }
    if (!others)
        Py_RETURN_NONE;
    int fd = channel_fd(self);
    if (fd == -2)
        return NULL;
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR); /* (fails only if it is not connected: nothing to wake) */
    for (int i = 0; i < 2; i++) {
        direction *d = &self->dir[i];
        if (d->lock == NULL || dir_held_by_me(d))
            continue;
        if (d->owner != 0 && d->gen != fork_generation)
            continue; /* a thread of the parent: not here */
        lock_wait_ctx w = {d->lock, self};
        if (unixipc_blocking_call("close", pass_lock_fn, &w, &forever, UNIXIPC_WAIT_NATIVE) < 0)
            return NULL;
    }
    Py_RETURN_NONE;
}

/* ---- the type ------------------------------------------------------------- */

static PyObject *
ch_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    ChannelObject *self = (ChannelObject *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->limit = 0;
        self->pending = PyList_New(0);
        if (self->pending == NULL) {
            Py_DECREF(self);
            return NULL;
        }
        for (int i = 0; i < 2; i++) {
            self->dir[i].lock = PyThread_allocate_lock();
            if (self->dir[i].lock == NULL) {
                Py_DECREF(self);
                return PyErr_NoMemory();
            }
        }
    }
    return (PyObject *)self;
}

static int
ch_traverse(PyObject *op, visitproc visit, void *arg)
{
    ChannelObject *self = (ChannelObject *)op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->socket);
    Py_VISIT(self->buf);
    Py_VISIT(self->fdq);
    Py_VISIT(self->pending);
    Py_VISIT(self->broken);
    return 0;
}

static int
ch_clear(PyObject *op)
{
    ChannelObject *self = (ChannelObject *)op;
    Py_CLEAR(self->socket);
    Py_CLEAR(self->buf);
    Py_CLEAR(self->fdq);
    Py_CLEAR(self->pending);
    Py_CLEAR(self->broken);
    return 0;
}

static void
ch_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    ch_clear(op);
    for (int i = 0; i < 2; i++) {
        direction *d = &((ChannelObject *)op)->dir[i];
        if (d->lock != NULL) {
            if (d->owner != 0) /* (only after fork: a parent's thread held it) */
                PyThread_release_lock(d->lock);
            PyThread_free_lock(d->lock);
            d->lock = NULL;
        }
    }
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyMethodDef ch_methods[] = {
    {"send", (PyCFunction)(void (*)(void))ch_send, METH_FASTCALL | METH_KEYWORDS,
     "send($self, /, data, fds=(), *, block=True, timeout=None)\n--\n\n"
     "Send one message, with descriptors (Unix sockets only).\n\n"
     "Args:\n"
     "    data: a bytes-like object, at most ``max_size`` bytes.\n"
     "    fds: descriptors to pass (SCM_RIGHTS); the peer gets duplicates.\n"
     "    block: False makes one non-blocking attempt.\n"
     "    timeout: seconds to wait for buffer space (None: forever).\n\n"
     "A stream frame that was only partly written when the time ran out (or\n"
     "a signal handler raised) stays queued in the channel (see ``pending``)\n"
     "and is completed before the next message (or by ``flush``), so the\n"
     "stream never loses framing. Signals are handled while waiting and the\n"
     "wait goes on.\n\n"
     "Threads: one thread sends at a time; a thread that finds another one\n"
     "sending waits for it (block and timeout apply to that wait too).\n\n"
     "Raises:\n"
     "    BlockingIOError: block=False and nothing could be written, or\n"
     "        another thread is sending; or part of a stream frame went out\n"
     "        (then ``characters_written`` > 0: the frame is committed and\n"
     "        completed by the next send or flush; do not send it again).\n"
     "    RuntimeError: a signal handler called send inside this thread's send.\n"
     "    ValueError: the channel is (or was, during the call) closed.\n"
     "    TimeoutError: the timeout ran out (see above for partial frames).\n"
     "    MessageTooLongError: a seqpacket message larger than the kernel\n"
     "        accepts (SO_SNDBUF, about 4 MiB at most).\n"
     "    BrokenPipeError, ConnectionResetError: the peer is gone."},
    {"receive", (PyCFunction)(void (*)(void))ch_receive, METH_FASTCALL | METH_KEYWORDS,
     "receive($self, /, *, block=True, timeout=None)\n--\n\n"
     "Receive one message.\n\n"
     "Args:\n"
     "    block: False makes one non-blocking attempt (bytes of a frame\n"
     "        that arrived so far stay buffered; nothing is lost).\n"
     "    timeout: seconds to wait (None: forever; 0: one attempt).\n\n"
     "Signals are handled while waiting and the wait goes on with the time\n"
     "left.\n\n"
     "Threads: one thread receives at a time; a thread that finds another\n"
     "one receiving waits for it (block and timeout apply to that wait too).\n\n"
     "Raises:\n"
     "    BlockingIOError: block=False and no whole message is there, or\n"
     "        another thread is receiving.\n"
     "    RuntimeError: a signal handler called receive inside this thread's\n"
     "        receive.\n"
     "    ValueError: the channel is (or was, during the call) closed.\n"
     "    TimeoutError: no whole message within ``timeout``.\n"
     "    ChannelClosedError: the peer closed at a message boundary.\n"
     "    IncompleteMessageError: the stream ended inside a frame.\n"
     "    FrameTooLargeError: a frame header announced more than max_size.\n"
     "    MessageTooLongError: a seqpacket record longer than max_size\n"
     "        (the kernel dropped its tail; the channel stays usable)."},
    {"_send_held", (PyCFunction)(void (*)(void))ch_send_held, METH_FASTCALL | METH_KEYWORDS,
     "_send_held(data, fds=(), *, block=True, timeout=None): send() for a caller that\n"
     "holds the send direction (see _hold)."},
    {"_receive_held", (PyCFunction)(void (*)(void))ch_receive_held,
     METH_FASTCALL | METH_KEYWORDS,
     "_receive_held(*, block=True, timeout=None): receive() for a caller that holds\n"
     "the receive direction (see _hold)."},
    {"_hold", (PyCFunction)(void (*)(void))ch_hold, METH_FASTCALL,
     "_hold(direction, block, timeout) -> time left (None: no deadline)\n\n"
     "Take direction 0 (send) or 1 (receive) for this thread, waiting as block and\n"
     "timeout say (BlockingIOError, TimeoutError; RuntimeError if this thread holds\n"
     "it already). Give it back with _unhold(direction)."},
    {"_unhold", ch_unhold, METH_O, "_unhold(direction): give back what _hold took."},
    {"_close_wait", ch_close_wait, METH_NOARGS,
     "_close_wait(): mark the channel closed, wake the threads blocked in it and\n"
     "wait until they are out (close() then closes the socket)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef ch_members[] = {
    {"socket", T_OBJECT, offsetof(ChannelObject, socket), 0, "the socket.socket"},
    {"_buf", T_OBJECT, offsetof(ChannelObject, buf), 0, "receive buffer (bytearray)"},
    {"_start", T_PYSSIZET, offsetof(ChannelObject, start), 0, NULL},
    {"_end", T_PYSSIZET, offsetof(ChannelObject, end), 0, NULL},
    {"_pos", T_PYSSIZET, offsetof(ChannelObject, pos), 0, NULL},
    {"_limit", T_PYSSIZET, offsetof(ChannelObject, limit), 0, NULL},
    {"_fdq", T_OBJECT, offsetof(ChannelObject, fdq), 0, NULL},
    {"_pending", T_OBJECT, offsetof(ChannelObject, pending), 0, NULL},
    {"_broken", T_OBJECT, offsetof(ChannelObject, broken), 0, NULL},
    {"seqpacket", T_BOOL, offsetof(ChannelObject, seqpacket), 0,
     "True for a SOCK_SEQPACKET channel"},
    {"unix", T_BOOL, offsetof(ChannelObject, unix_), 0, "True for a Unix socket"},
    {"_closed", T_BOOL, offsetof(ChannelObject, closed), 0, "set first by close()"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot ch_slots[] = {
    {Py_tp_new, ch_new},
    {Py_tp_dealloc, ch_dealloc},
    {Py_tp_traverse, ch_traverse},
    {Py_tp_clear, ch_clear},
    {Py_tp_methods, ch_methods},
    {Py_tp_members, ch_members},
    {Py_tp_doc, "The C part of unixipc.sockets.MessageChannel: send() and receive()."},
    {0, NULL},
};

static PyType_Spec ch_spec = {
    .name = "unixipc._core.ChannelBase",
    .basicsize = sizeof(ChannelObject),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = ch_slots,
};

static PyObject *
set_message_type(PyObject *module, PyObject *cls)
{
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "_sock_set_message_type needs a tuple subclass");
        return NULL;
    }
    Py_INCREF(cls);
    Py_XSETREF(message_type, cls);
    Py_RETURN_NONE;
}

PyMethodDef unixipc_sock_methods[] = {
    {"_sock_set_message_type", set_message_type, METH_O,
     "_sock_set_message_type(cls): the tuple subclass ChannelBase.receive returns."},
    {NULL, NULL, 0, NULL},
};

static void
sock_atfork_child(void)
{
    fork_generation++;
}

int
unixipc_sock_exec(PyObject *module)
{
#define INTERN(var, text)                              \
    if ((var) == NULL) {                               \
        (var) = PyUnicode_InternFromString(text);      \
        if ((var) == NULL)                             \
            return -1;                                 \
    }
    INTERN(str_fileno, "fileno");
    INTERN(str_send_slow, "_send_slow");
    INTERN(str_receive_slow, "_receive_slow");
    INTERN(str_took, "_took");
    INTERN(str_make_room, "_make_room");
    INTERN(str_take_fds, "_take_fds");
    INTERN(str_record, "_record");
    INTERN(str_check_send, "_check_send");
#undef INTERN
    static int atfork_done = 0;
    if (!atfork_done) {
        int rc = pthread_atfork(NULL, NULL, sock_atfork_child);
        if (rc != 0) {
            unixipc_raise_errno("pthread_atfork", rc);
            return -1;
        }
        atfork_done = 1;
    }
    return unixipc_add_type(module, &ch_spec, "ChannelBase", NULL);
}
