/* sock subsystem: the framing of unixipc.sockets.MessageChannel, all of it.
 *
 * ChannelBase owns the channel's whole state machine; its Python subclass
 * (MessageChannel) hands it the socket once (_setup) and then only calls
 * its methods, with explicit arguments and results. No field is shared
 * with the subclass by name and nothing here calls back into it:
 *
 * - send side (stream): the unsent rest of a frame that was partly written
 *   when a timeout, block=False or a raising signal handler ended the call
 *   (`pending`: a bytes object and an offset). It is completed before the
 *   next message (or by flush()), so the stream never loses framing.
 * - receive side (stream): the buffer frames are cut from (rbuf[start:end];
 *   pos is the stream offset of rbuf[0]), the received descriptors queued
 *   with the stream offset of the last byte of the read that brought them
 *   (the kernel hands descriptors over with the read that reaches their
 *   skb and stops in it, so they belong to the frame holding that byte),
 *   and the error that broke the stream (IncompleteMessageError,
 *   FrameTooLargeError), raised again by every later receive.
 * - max_size (a Python int) and `limit`, the same clamped to Py_ssize_t.
 *
 * The calls:
 * - stream send: one sendmsg of two iovecs (8-byte little-endian length,
 *   then the data) with MSG_NOSIGNAL, SCM_RIGHTS on the first sendmsg when
 *   descriptors go along; without a deadline first with MSG_DONTWAIT while
 *   holding the GIL (up to EAGER_SEND_MAX), then through the blocking
 *   helper until the whole frame is written. send_many puts up to 512
 *   frames in one sendmsg.
 * - seqpacket send: one sendmsg of the record, the same way.
 * - stream receive: frames are cut out of the buffer; when it holds no
 *   whole frame one recvmsg (with room for SCM_RIGHTS) reads as much as
 *   fits, so a small frame costs one system call.
 * - seqpacket receive: one recvmsg of a record (MSG_TRUNC: its real size)
 *   into a buffer of max_size + 1 bytes.
 *
 * Waiting: an infinite wait makes the plain call with the GIL released
 * (one system call); the descriptor may be non-blocking (someone set a
 * timeout on the socket object), then EAGAIN leads to ppoll and a
 * MSG_DONTWAIT retry. A timed wait is ppoll with the remaining time, then
 * MSG_DONTWAIT; losing the data to another reader means waiting again with
 * the time left. block=False is one MSG_DONTWAIT attempt per system call.
 * EINTR runs the Python signal handlers and retries (the helper). The
 * descriptor is read from socket.fileno() again after any Python code ran
 * (argument conversion, the wait for a direction, signal handlers): a
 * handler that closed the socket, its number perhaps reused by another
 * file, ends the call with EBADF instead of I/O on that other file.
 *
 * Threads: each direction (send, receive) has a lock, held by one thread
 * for a whole message together with the state of that direction. Taking
 * a free lock is one atomic operation with the GIL held; a thread that
 * finds it taken waits for it with the GIL released, through the blocking
 * helper (its own block=/timeout=, signal handlers run, EINTR retried).
 * Re-entering a direction the thread holds (a signal handler calling
 * receive inside receive) is a RuntimeError, not a deadlock. close() wakes
 * the threads inside the channel (shutdown) and waits until they are out
 * before the descriptor is closed, so none of them can use its number once
 * it names another file. A lock taken by a thread of the parent before
 * fork() is given up in the child on first contention (fork_generation).
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
#define RIGHTS_SPACE CMSG_SPACE(SCM_MAX_FD * sizeof(int))
/* Larger frames skip the eager attempt with the GIL held (copying them
 * into the kernel would hold the GIL for long). */
#define EAGER_SEND_MAX 65536
/* The stream receive buffer's smallest size. */
#define READ_CHUNK (256 * 1024)
/* Frames per sendmsg of send_many (two iovecs each, IOV_MAX 1024). */
#define MANY_CHUNK 512

/* Registered by unixipc.sockets (_sock_set_types): what receive returns
 * and what it raises. */
static PyObject *message_type = NULL;     /* sockets.ChannelMessage */
static PyObject *closed_type = NULL;      /* errors.ChannelClosedError */
static PyObject *incomplete_type = NULL;  /* sockets.IncompleteMessageError */
static PyObject *too_large_type = NULL;   /* sockets.FrameTooLargeError */
static PyObject *too_long_type = NULL;    /* errors.MessageTooLongError */
/* Bumped in every child of fork(): locks taken in an earlier generation
 * were taken by threads the child does not have. */
static volatile unsigned long fork_generation = 0;

enum { DIR_SEND = 0, DIR_RECEIVE = 1 };

typedef struct {
    PyThread_type_lock lock;
    unsigned long owner;   /* PyThread ident of the holder (0: none); GIL held */
    unsigned long gen;     /* fork_generation when taken */
} direction;
static PyObject *str_fileno, *str_characters_written;

typedef struct {
    Py_ssize_t at;   /* stream offset of the last byte of the read that brought it */
    int fd;
} queued_fd;

typedef struct {
    PyObject_HEAD
    PyObject *socket;     /* the socket.socket (set once by _setup) */
    PyObject *max_size;   /* int */
    Py_ssize_t limit;     /* max_size clamped to Py_ssize_t */
    /* receive side: the receive direction's lock guards these */
    char *rbuf;           /* buffered bytes are rbuf[start:end] */
    Py_ssize_t rcap, start, end;
    Py_ssize_t pos;       /* stream offset of rbuf[0] */
    queued_fd *fdq;       /* fdq[fdq_head:fdq_len], ascending offsets */
    Py_ssize_t fdq_head, fdq_len, fdq_cap;
    PyObject *broken;     /* the exception that ended the stream, or NULL */
    /* send side: the send direction's lock guards these */
    PyObject *pending;    /* bytes: pending[poff:] is the rest of a frame */
    Py_ssize_t poff;
    char seqpacket;
    char unix_;
    char closed;          /* _closed: set first by close() */
    direction dir[2];     /* DIR_SEND, DIR_RECEIVE */
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
    if (c->send) {
        ssize_t n = sendmsg(c->fd, &c->mh, c->flags | extra_flags);
        /* A peer that closed with records unread makes a seqpacket send
         * (and a reset TCP connection) fail with ECONNRESET: for a sender
         * that is the same "no receiver left" as EPIPE, BrokenPipeError. */
        if (n < 0 && errno == ECONNRESET)
            errno = EPIPE;
        return n;
    }
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

static void
raise_closed(ChannelObject *self)
{
    unixipc_closed_error((PyObject *)self);
}

/* The socket's descriptor: -1 when its socket object is closed (or not
 * set up), -2 with an exception. */
static int
socket_fd(ChannelObject *self)
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

/* The descriptor to use, or -1 with an exception: ValueError once the
 * channel is closed, EBADF (named `call`) when its socket object was
 * closed under it, as the socket module's calls raise. */
static int
channel_fd(ChannelObject *self, const char *call)
{
    if (self->closed) {
        raise_closed(self);
        return -1;
    }
    if (self->socket == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "MessageChannel: ChannelBase not set up");
        return -1;
    }
    int fd = socket_fd(self);
    if (fd == -1)
        unixipc_raise_errno(call, EBADF);
    return fd < 0 ? -1 : fd;
}

/* After signal handlers ran (GIL held): the channel's socket must still be
 * the descriptor the call started on. A handler that closed it (and maybe
 * opened another file under the same number) ends the call with EBADF, as
 * the socket module's calls do, instead of reading or writing another file. */
static int
recheck_fd(void *p)
{
    io_ctx *c = p;
    const char *call = c->send ? "sendmsg" : "recvmsg";
    int fd = channel_fd((ChannelObject *)c->owner, call);
    if (fd < 0)
        return -1;
    if (fd != c->fd) {
        unixipc_raise_errno(call, EBADF);
        return -1;
    }
    return 0;
}

/* One attempt with the GIL held that must not block; on "would block" the
 * helper waits (nowait: BlockingIOError instead). -1 with an exception. */
static long
io_call(io_ctx *c, const char *name, int eager, int nowait, const unixipc_deadline *dl)
{
    if (c->used && recheck_fd(c) < 0) /* after handlers ran */
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

static uint64_t
get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = HSIZE - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void
put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < HSIZE; i++)
        p[i] = (unsigned char)((v >> (8 * i)) & 0xff);
}

/* Raises cls(*args) built from `format` (Py_BuildValue); returns NULL. */
static PyObject *
raise_new(PyObject *cls, const char *format, ...)
{
    if (cls == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "unixipc.sockets did not register its types");
        return NULL;
    }
    va_list va;
    va_start(va, format);
    PyObject *args = Py_VaBuildValue(format, va);
    va_end(va);
    if (args == NULL)
        return NULL;
    PyObject *exc = PyObject_CallObject(cls, args);
    Py_DECREF(args);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* Sets `characters_written` on the BlockingIOError being raised. */
static void
set_characters_written(Py_ssize_t n)
{
    if (!PyErr_ExceptionMatches(PyExc_BlockingIOError))
        return;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *count = PyLong_FromSsize_t(n);
    if (count == NULL || value == NULL ||
        PyObject_SetAttr(value, str_characters_written, count) < 0)
        PyErr_Clear(); /* (the error itself is more important) */
    Py_XDECREF(count);
    PyErr_Restore(type, value, tb);
}

/* The errno of the OSError being raised, or 0. */
static int
raised_errno(void)
{
    if (!PyErr_ExceptionMatches(PyExc_OSError))
        return 0;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    long err = 0;
    if (value != NULL) {
        PyObject *e = ((PyOSErrorObject *)value)->myerrno;
        if (e != NULL && PyLong_Check(e))
            err = PyLong_AsLong(e);
        if (err == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            err = 0;
        }
    }
    PyErr_Restore(type, value, tb);
    return (int)err;
}

/* The descriptors (SCM_RIGHTS) of one recvmsg into out[SCM_MAX_FD]; their
 * count, and *creds set when SCM_CREDENTIALS came too. */
static int
received_fds(struct msghdr *mh, int *out, int *creds)
{
    int count = 0;
    *creds = 0;
    if (mh->msg_controllen == 0)
        return 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_len < CMSG_LEN(0))
            continue;
        if (cm->cmsg_type == SCM_CREDENTIALS) {
            *creds = 1;
        } else if (cm->cmsg_type == SCM_RIGHTS) {
            size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            if (n > (size_t)(SCM_MAX_FD - count))
                n = (size_t)(SCM_MAX_FD - count);
            memcpy(out + count, CMSG_DATA(cm), n * sizeof(int));
            count += (int)n;
        }
    }
    return count;
}

static PyObject *
fd_tuple(const int *fds, Py_ssize_t n)
{
    PyObject *t = PyTuple_New(n);
    if (t == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromLong(fds[i]);
        if (v == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

/* ---- arguments ------------------------------------------------------------ */

/* Pins `data` as one contiguous run of bytes (any bytes-like object, a
 * multi-dimensional one by its bytes) at most max_size long. 0, or -1
 * with TypeError/ValueError. */
static int
data_arg(ChannelObject *self, PyObject *data, Py_buffer *view)
{
    if (self->max_size == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "MessageChannel: ChannelBase not set up");
        return -1;
    }
    if (PyObject_GetBuffer(data, view, PyBUF_SIMPLE) < 0) {
        if (PyErr_ExceptionMatches(PyExc_BufferError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "a message must be contiguous bytes, not a "
                         "non-contiguous %.100s", Py_TYPE(data)->tp_name);
        }
        return -1;
    }
    if (view->len > self->limit) {
        PyErr_Format(PyExc_ValueError, "message of %zd bytes exceeds max_size %S", view->len,
                     self->max_size);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
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

/* The descriptors to pass: out[SCM_MAX_FD], their count in *count. 0, or
 * -1 with TypeError/ValueError (before anything is sent). */
static int
fds_arg(ChannelObject *self, PyObject *obj, int *out, int *count)
{
    *count = 0;
    if (empty_sequence(obj))
        return 0;
    if (PyMemoryView_Check(obj) && PyMemoryView_GET_BUFFER(obj)->ndim != 1) {
        PyErr_Format(PyExc_TypeError, "fds must be a flat sequence, not a %d-dimensional "
                     "memoryview", PyMemoryView_GET_BUFFER(obj)->ndim);
        return -1;
    }
    PyObject *seq = PySequence_Fast(obj, "");
    if (seq == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "fds must be a sequence, not %.100s",
                         Py_TYPE(obj)->tp_name);
        }
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    int rc = -1;
    if (n == 0) {
        rc = 0;
        goto done;
    }
    if (!self->unix_) {
        PyErr_SetString(PyExc_ValueError, "descriptors can only be passed over Unix sockets");
        goto done;
    }
    if (n > SCM_MAX_FD) {
        PyErr_Format(PyExc_ValueError, "at most %d descriptors per message", SCM_MAX_FD);
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        /* (held: an item's __index__ may change the list it is in) */
        PyObject *item = Py_NewRef(PySequence_Fast_GET_ITEM(seq, i));
        int ok = unixipc_conv_int_in(item, 0, INT32_MAX, "fds", &out[i]);
        Py_DECREF(item);
        if (!ok)
            goto done;
        if (PySequence_Fast_GET_SIZE(seq) != n) {
            PyErr_SetString(PyExc_RuntimeError, "fds changed size during conversion");
            goto done;
        }
    }
    *count = (int)n;
    rc = 0;
done:
    Py_DECREF(seq);
    return rc;
}

/* ---- one thread per direction --------------------------------------------- */

static const char *const dir_call[2] = {"send", "receive"};
static const char *const dir_doing[2] = {"sending", "receiving"};

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
        raise_closed(w->self);
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
        raise_closed(self);
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
                raise_closed(self);
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
        raise_closed(self);
    }
    return result;
}

/* The start of a call with block= and timeout=: the channel must be
 * open, the deadline is parsed, and direction `which` is taken for this
 * thread (held: checked to be held by it already, for _*_held). 0, or -1
 * with an exception. */
static int
enter(ChannelObject *self, int which, int held, PyObject *block, PyObject *timeout,
      int *nowait, unixipc_deadline *dl)
{
    if (self->closed) {
        raise_closed(self);
        return -1;
    }
    int blocking;
    if (!unixipc_conv_wait(block, timeout, &blocking, dl))
        return -1;
    *nowait = !blocking;
    if (!held)
        return dir_acquire(self, which, *nowait, dl);
    if (!dir_held_by_me(&self->dir[which])) {
        PyErr_Format(PyExc_RuntimeError, "this thread does not hold the %s direction "
                     "(see _hold)", dir_call[which]);
        return -1;
    }
    return 0;
}

/* enter() for a call whose only arguments are (*, block, timeout). */
static int
enter_timed(ChannelObject *self, const char *call, int which, int held, PyObject *const *args,
            Py_ssize_t nargs, PyObject *kwnames, int *nowait, unixipc_deadline *dl)
{
    static const char *const names[] = {"block", "timeout", NULL};
    PyObject *v[2];
    if (unixipc_parse_args(call, args, nargs, kwnames, names, 0, 0, v) < 0)
        return -1;
    return enter(self, which, held, v[0], v[1], nowait, dl);
}

/* The end of such a call: gives the direction back (unless held) and
 * returns `result`, an error of a call that close() cut short as
 * ValueError. */
static PyObject *
leave(ChannelObject *self, int which, int held, PyObject *result)
{
    if (!held)
        dir_release(self, which);
    return closed_error(self, result);
}

/* ---- the receive side ------------------------------------------------------ */

/* Moves the buffered bytes to the front and makes room for `need` bytes
 * from the frame start. 0, or -1 with MemoryError. */
static int
make_room(ChannelObject *self, uint64_t need)
{
    if (need > (uint64_t)PY_SSIZE_T_MAX) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t size = (Py_ssize_t)need < READ_CHUNK ? READ_CHUNK : (Py_ssize_t)need;
    if (self->start > 0) {
        Py_ssize_t used = self->end - self->start;
        memmove(self->rbuf, self->rbuf + self->start, (size_t)used);
        self->pos += self->start;
        self->start = 0;
        self->end = used;
    }
    if (size > self->rcap) {
        char *p = PyMem_Realloc(self->rbuf, (size_t)size);
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->rbuf = p;
        self->rcap = size;
    }
    return 0;
}

/* Queues descriptors that came with the read ending at stream offset `at`
 * (they are closed if that fails). 0, or -1 with MemoryError. */
static int
queue_fds(ChannelObject *self, const int *fds, int n, Py_ssize_t at)
{
    if (self->fdq_head > 0 && self->fdq_len + n > self->fdq_cap) {
        Py_ssize_t live = self->fdq_len - self->fdq_head;
        memmove(self->fdq, self->fdq + self->fdq_head, (size_t)live * sizeof(queued_fd));
        self->fdq_head = 0;
        self->fdq_len = live;
    }
    if (self->fdq_len + n > self->fdq_cap) {
        Py_ssize_t cap = 2 * (self->fdq_len + n);
        queued_fd *q = PyMem_Realloc(self->fdq, (size_t)cap * sizeof(queued_fd));
        if (q == NULL) {
            for (int i = 0; i < n; i++)
                close(fds[i]);
            PyErr_NoMemory();
            return -1;
        }
        self->fdq = q;
        self->fdq_cap = cap;
    }
    for (int i = 0; i < n; i++) {
        self->fdq[self->fdq_len].at = at;
        self->fdq[self->fdq_len].fd = fds[i];
        self->fdq_len++;
    }
    return 0;
}

/* The queued descriptors of the frame that ends at stream offset
 * `frame_end` (those that came with reads ending before it), as a tuple. */
static PyObject *
take_fds(ChannelObject *self, Py_ssize_t frame_end)
{
    Py_ssize_t i = self->fdq_head;
    while (i < self->fdq_len && self->fdq[i].at < frame_end)
        i++;
    PyObject *t = PyTuple_New(i - self->fdq_head);
    if (t == NULL)
        return NULL;
    for (Py_ssize_t k = self->fdq_head; k < i; k++) {
        PyObject *v = PyLong_FromLong(self->fdq[k].fd);
        if (v == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, k - self->fdq_head, v);
    }
    self->fdq_head = i;
    if (self->fdq_head == self->fdq_len)
        self->fdq_head = self->fdq_len = 0;
    return t;
}

/* The exception being raised ends the stream: every later receive raises
 * it again. Returns NULL. */
static PyObject *
break_stream(ChannelObject *self)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL) {
        Py_INCREF(value);
        Py_XSETREF(self->broken, value);
    }
    PyErr_Restore(type, value, tb);
    return NULL;
}

static PyObject *
raise_peer_closed(void)
{
    if (closed_type == NULL)
        return raise_new(NULL, "()");
    PyErr_SetString(closed_type, "peer closed the channel");
    return NULL;
}

/* End of file: at a frame boundary ChannelClosedError, inside a frame
 * IncompleteMessageError (and the stream stays broken). */
static PyObject *
end_of_stream(ChannelObject *self)
{
    Py_ssize_t avail = self->end - self->start;
    if (avail == 0)
        return raise_peer_closed();
    PyObject *expected = avail >= HSIZE
        ? PyLong_FromUnsignedLongLong(get_le64((unsigned char *)self->rbuf + self->start))
        : Py_NewRef(Py_None);
    raise_new(incomplete_type, "(nN)", avail, expected);
    return break_stream(self);
}

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
        Py_ssize_t avail = self->end - self->start;
        if (avail >= HSIZE) {
            uint64_t size = get_le64((unsigned char *)self->rbuf + self->start);
            if (size > (uint64_t)self->limit) {
                raise_new(too_large_type, "(iN)", EMSGSIZE,
                          PyUnicode_FromFormat("recvmsg: incoming frame announces %llu bytes, "
                                               "more than max_size %S",
                                               (unsigned long long)size, self->max_size));
                return break_stream(self);
            }
            if ((uint64_t)avail >= HSIZE + size) {
                Py_ssize_t begin = self->start + HSIZE;
                Py_ssize_t stop = begin + (Py_ssize_t)size;
                PyObject *data = PyBytes_FromStringAndSize(self->rbuf + begin, (Py_ssize_t)size);
                if (data == NULL)
                    return NULL;
                /* (a failure leaves the frame and its descriptors queued) */
                PyObject *fds = self->fdq_len > self->fdq_head
                    ? take_fds(self, self->pos + stop) : PyTuple_New(0);
                if (fds == NULL) {
                    Py_DECREF(data);
                    return NULL;
                }
                self->start = stop;
                return unixipc_new_pair(message_type, data, fds);
            }
            if (HSIZE + size > (uint64_t)(self->rcap - self->start) &&
                make_room(self, HSIZE + size) < 0)
                return NULL;
        } else {
            if (avail == 0) {
                /* empty: rewind so a small frame never needs a move */
                self->pos += self->start;
                self->start = self->end = 0;
            }
            if (self->rcap - self->start < HSIZE && make_room(self, HSIZE) < 0)
                return NULL;
        }
        /* read what fits (only this thread touches the buffer: the
         * receive direction is held) */
        Py_ssize_t end = self->end;
        struct iovec iov = {self->rbuf + end, (size_t)(self->rcap - end)};
        c.mh.msg_iov = &iov;
        c.mh.msg_iovlen = 1;
        /* An infinite wait with nothing buffered goes straight to the
         * blocking call: in a request/response pattern the data is rarely
         * there yet. Otherwise try without waiting first. */
        int eager = !(dl->infinite && avail == 0 && first);
        long n = io_call(&c, "recvmsg", eager, nowait, dl);
        first = 0;
        if (n < 0)
            return NULL;
        int fds[SCM_MAX_FD], creds;
        int nfds = received_fds(&c.mh, fds, &creds);
        if (nfds > 0 && queue_fds(self, fds, nfds, self->pos + end + n - 1) < 0)
            return NULL;
        self->end = end + (Py_ssize_t)n;
        if (c.mh.msg_flags & MSG_CTRUNC)
            return raise_new(PyExc_OSError, "(is)", EMSGSIZE, "recvmsg: ancillary data truncated");
        if (n == 0)
            return end_of_stream(self);
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

    if (self->rcap <= self->limit) {
        /* max_size + 1: a record one byte too long is seen whole */
        char *p = self->limit == PY_SSIZE_T_MAX
            ? NULL : PyMem_Realloc(self->rbuf, (size_t)self->limit + 1);
        if (p == NULL)
            return PyErr_NoMemory();
        self->rbuf = p;
        self->rcap = self->limit + 1;
    }
    memset(&c, 0, sizeof(c));
    c.fd = fd;
    c.owner = (PyObject *)self;
    c.flags = MSG_CMSG_CLOEXEC | MSG_TRUNC;
    c.mh.msg_control = control.buf;
    c.control_space = sizeof(control.buf);
    struct iovec iov = {self->rbuf, (size_t)self->rcap};
    c.mh.msg_iov = &iov;
    c.mh.msg_iovlen = 1;
    long n = io_call(&c, "recvmsg", !dl->infinite, nowait, dl);
    if (n < 0)
        return NULL;
    int fds[SCM_MAX_FD], creds;
    int nfds = received_fds(&c.mh, fds, &creds);
    if (n == 0 && !creds && nfds == 0)
        return raise_peer_closed();
    if ((c.mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || n > self->limit) {
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        if (n > self->limit)
            return raise_new(too_long_type, "(iN)", EMSGSIZE,
                             PyUnicode_FromFormat("recvmsg: a %ld-byte record is longer than "
                                                  "max_size %S; it was dropped",
                                                  n, self->max_size));
        return raise_new(too_long_type, "(is)", EMSGSIZE, "recvmsg: ancillary data truncated");
    }
    PyObject *fdt = nfds > 0 ? fd_tuple(fds, nfds) : PyTuple_New(0);
    if (fdt == NULL) {
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        return NULL;
    }
    PyObject *data = PyBytes_FromStringAndSize(self->rbuf, n);
    if (data == NULL) {
        Py_DECREF(fdt);
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        return NULL;
    }
    return unixipc_new_pair(message_type, data, fdt);
}

/* receive() with the receive direction held. */
static PyObject *
receive_held(ChannelObject *self, int nowait, const unixipc_deadline *dl)
{
    if (self->broken != NULL) {
        /* (another thread's receive may have broken it while we waited) */
        PyErr_SetObject((PyObject *)Py_TYPE(self->broken), self->broken);
        return NULL;
    }
    int fd = channel_fd(self, "recvmsg");
    if (fd < 0)
        return NULL;
    return self->seqpacket ? receive_record(self, fd, nowait, dl)
                           : receive_stream(self, fd, nowait, dl);
}

/* receive(), or (held) _receive_held() for a caller that holds the
 * direction already. */
static PyObject *
receive_common(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               int held)
{
    ChannelObject *self = (ChannelObject *)op;
    unixipc_deadline dl;
    int nowait;

    if (enter_timed(self, "receive", DIR_RECEIVE, held, args, nargs, kwnames, &nowait, &dl) < 0)
        return NULL;
    PyObject *r = receive_held(self, nowait, &dl);
    return leave(self, DIR_RECEIVE, held, r);
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

/* ---- the send side --------------------------------------------------------- */

/* Keeps iov[0..cnt), what is still to go of a frame (or of a batch), as
 * the pending rest; the exception being raised stays as it is. */
static void
keep_rest(ChannelObject *self, const struct iovec *iov, int cnt)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    PyObject *rest = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (rest != NULL) {
        char *out = PyBytes_AS_STRING(rest);
        for (int i = 0; i < cnt; i++) {
            memcpy(out, iov[i].iov_base, iov[i].iov_len);
            out += iov[i].iov_len;
        }
        Py_XSETREF(self->pending, rest);
        self->poff = 0;
    }
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
}

/* Writes iov[0..cnt) whole; the iovecs are consumed (advanced past what
 * went out). `control` (SCM_RIGHTS) goes with the first sendmsg. Returns
 * 0, or -1 with an exception and *done set to the bytes that did go out;
 * then (keep) the rest becomes the pending rest, and a BlockingIOError
 * (block=False) says how much went out in `characters_written`. */
static int
write_iov(ChannelObject *self, int fd, struct iovec *iov, int cnt, void *control, size_t clen,
          int keep, int nowait, const unixipc_deadline *dl, size_t *done)
{
    io_ctx c;
    size_t total = 0;

    memset(&c, 0, sizeof(c));
    c.fd = fd;
    c.owner = (PyObject *)self;
    c.send = 1;
    c.flags = MSG_NOSIGNAL;
    c.mh.msg_control = control;
    c.mh.msg_controllen = clen;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    int eager = total <= EAGER_SEND_MAX;
    int first = 0;
    *done = 0;
    while (first < cnt) {
        c.mh.msg_iov = iov + first;
        c.mh.msg_iovlen = (size_t)(cnt - first);
        long n = io_call(&c, "sendmsg", eager, nowait, dl);
        eager = 0;
        if (n < 0) {
            if (*done > 0) {
                /* A timeout, block=False, a signal handler that raised
                 * after part of it went out: the frame is committed. */
                if (keep)
                    keep_rest(self, iov + first, cnt - first);
                set_characters_written((Py_ssize_t)*done);
            }
            return -1;
        }
        *done += (size_t)n;
        c.mh.msg_control = NULL; /* the descriptors went with the first byte */
        c.mh.msg_controllen = 0;
        size_t k = (size_t)n;
        while (first < cnt && k >= iov[first].iov_len) {
            k -= iov[first].iov_len;
            first++;
        }
        if (k > 0) {
            iov[first].iov_base = (char *)iov[first].iov_base + k;
            iov[first].iov_len -= k;
        }
        /* A short write means a signal came: io_call runs its handler
         * before waiting again; if it raises, the rest stays pending. */
    }
    return 0;
}

/* Completes the pending rest of a frame, if any. 0, or -1 with an
 * exception (what did not go out stays pending). */
static int
flush_pending(ChannelObject *self, int fd, int nowait, const unixipc_deadline *dl)
{
    if (self->pending == NULL)
        return 0;
    PyObject *p = Py_NewRef(self->pending); /* (a handler may close the channel) */
    struct iovec iov = {PyBytes_AS_STRING(p) + self->poff,
                        (size_t)(PyBytes_GET_SIZE(p) - self->poff)};
    size_t done;
    int r = write_iov(self, fd, &iov, 1, NULL, 0, 0, nowait, dl, &done);
    if (self->pending == p) {
        if (r == 0) {
            Py_CLEAR(self->pending);
            self->poff = 0;
        } else {
            self->poff += (Py_ssize_t)done;
        }
    }
    Py_DECREF(p);
    return r;
}

/* Before a new message: the pending rest goes first. A BlockingIOError
 * then says that nothing of the new message went out (characters_written
 * 0), even if more of the earlier frame did. The descriptor to use next
 * (Python code may have run), or -1 with an exception. */
static int
flush_first(ChannelObject *self, int fd, int nowait, const unixipc_deadline *dl)
{
    if (self->pending == NULL)
        return fd;
    if (flush_pending(self, fd, nowait, dl) < 0) {
        set_characters_written(0);
        return -1;
    }
    return channel_fd(self, "sendmsg");
}

/* SCM_RIGHTS for fds[0..n) in `control` (RIGHTS_SPACE bytes); its length. */
static size_t
build_rights(char *control, const int *fds, int n)
{
    struct msghdr mh;
    memset(&mh, 0, sizeof(mh));
    memset(control, 0, RIGHTS_SPACE);
    mh.msg_control = control;
    mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, (size_t)n * sizeof(int));
    return mh.msg_controllen;
}

/* One seqpacket record. 0, or -1 with an exception. */
static int
send_record(ChannelObject *self, int fd, const Py_buffer *view, void *control, size_t clen,
            int nowait, const unixipc_deadline *dl)
{
    struct iovec iov = {view->buf, (size_t)view->len};
    io_ctx c;

    memset(&c, 0, sizeof(c));
    c.fd = fd;
    c.owner = (PyObject *)self;
    c.send = 1;
    c.flags = MSG_NOSIGNAL;
    c.mh.msg_iov = &iov;
    c.mh.msg_iovlen = 1;
    c.mh.msg_control = control;
    c.mh.msg_controllen = clen;
    if (io_call(&c, "sendmsg", view->len <= EAGER_SEND_MAX, nowait, dl) >= 0)
        return 0;
    int err = raised_errno();
    if ((err == EMSGSIZE || err == ENOBUFS) && view->len > 0) {
        PyErr_Clear();
        raise_new(too_long_type, "(iN)", err,
                  PyUnicode_FromFormat("sendmsg: a %zd-byte record is more than this seqpacket "
                                       "socket accepts (SO_SNDBUF / kernel buffer limit)",
                                       view->len));
    }
    return -1;
}

/* One message, the send direction held. */
static PyObject *
send_message(ChannelObject *self, const Py_buffer *view, const int *fds, int nfds, int nowait,
             const unixipc_deadline *dl)
{
    union {
        char buf[RIGHTS_SPACE];
        struct cmsghdr align;
    } control;
    size_t clen = nfds > 0 ? build_rights(control.buf, fds, nfds) : 0;
    void *anc = nfds > 0 ? control.buf : NULL;
    int fd = channel_fd(self, "sendmsg");
    if (fd < 0)
        return NULL;
    if (self->seqpacket) {
        if (send_record(self, fd, view, anc, clen, nowait, dl) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    fd = flush_first(self, fd, nowait, dl);
    if (fd < 0)
        return NULL;
    unsigned char header[HSIZE];
    put_le64(header, (uint64_t)view->len);
    struct iovec iov[2] = {{header, HSIZE}, {view->buf, (size_t)view->len}};
    size_t done;
    if (write_iov(self, fd, iov, 2, anc, clen, 1, nowait, dl, &done) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* send(), or (held) _send_held() for a caller that holds the direction
 * already. */
static PyObject *
send_common(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int held)
{
    static const char *const names[] = {"data", "fds", "block", "timeout", NULL};
    ChannelObject *self = (ChannelObject *)op;
    PyObject *v[4];
    unixipc_deadline dl;
    int nowait, nfds;
    int fds[SCM_MAX_FD];
    Py_buffer view;

    if (unixipc_parse_args("send", args, nargs, kwnames, names, 2, 1, v) < 0)
        return NULL;
    if (self->closed) {
        raise_closed(self);
        return NULL;
    }
    /* bad arguments raise before any wait */
    if (data_arg(self, v[0], &view) < 0)
        return NULL;
    PyObject *r = NULL;
    if (fds_arg(self, v[1], fds, &nfds) < 0 ||
        enter(self, DIR_SEND, held, v[2], v[3], &nowait, &dl) < 0)
        goto done;
    r = leave(self, DIR_SEND, held, send_message(self, &view, fds, nfds, nowait, &dl));
done:
    PyBuffer_Release(&view);
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

/* _check_send(data, fds): what send() would refuse before any wait. */
static PyObject *
ch_check_send(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    ChannelObject *self = (ChannelObject *)op;
    Py_buffer view;
    int fds[SCM_MAX_FD], nfds;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "_check_send(data, fds)");
        return NULL;
    }
    if (data_arg(self, args[0], &view) < 0)
        return NULL;
    int r = fds_arg(self, args[1], fds, &nfds);
    PyBuffer_Release(&view);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* The messages of send_many, the send direction held; how many went. */
static Py_ssize_t
send_views(ChannelObject *self, Py_buffer *views, Py_ssize_t n, int nowait,
           const unixipc_deadline *dl)
{
    int fd = channel_fd(self, "sendmsg");
    if (fd < 0)
        return -1;
    if (self->seqpacket) {
        for (Py_ssize_t i = 0; i < n; i++)
            if (send_record(self, fd, &views[i], NULL, 0, nowait, dl) < 0)
                return -1;
        return n;
    }
    fd = flush_first(self, fd, nowait, dl);
    if (fd < 0)
        return -1;
    unsigned char headers[MANY_CHUNK][HSIZE];
    struct iovec iov[2 * MANY_CHUNK];
    for (Py_ssize_t i = 0; i < n; i += MANY_CHUNK) {
        int cnt = 0;
        for (Py_ssize_t k = i; k < n && k < i + MANY_CHUNK; k++) {
            put_le64(headers[k - i], (uint64_t)views[k].len);
            iov[cnt].iov_base = headers[k - i];
            iov[cnt++].iov_len = HSIZE;
            iov[cnt].iov_base = views[k].buf;
            iov[cnt++].iov_len = (size_t)views[k].len;
        }
        size_t done;
        if (write_iov(self, fd, iov, cnt, NULL, 0, 1, nowait, dl, &done) < 0)
            return -1;
    }
    return n;
}

static PyObject *
ch_send_many(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"messages", "block", "timeout", NULL};
    ChannelObject *self = (ChannelObject *)op;
    PyObject *v[3];
    PyObject *seq = NULL, *r = NULL;
    Py_buffer *views = NULL;
    Py_ssize_t pinned = 0;
    unixipc_deadline dl;
    int nowait;

    if (unixipc_parse_args("send_many", args, nargs, kwnames, names, 1, 1, v) < 0)
        return NULL;
    if (self->closed) {
        raise_closed(self);
        return NULL;
    }
    seq = unixipc_conv_messages(v[0], "send_many");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    views = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof(Py_buffer));
    if (views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; pinned < n; pinned++)
        if (data_arg(self, PySequence_Fast_GET_ITEM(seq, pinned), &views[pinned]) < 0)
            goto done;
    if (enter(self, DIR_SEND, 0, v[1], v[2], &nowait, &dl) < 0)
        goto done;
    Py_ssize_t sent = send_views(self, views, n, nowait, &dl);
    r = leave(self, DIR_SEND, 0, sent < 0 ? NULL : PyLong_FromSsize_t(sent));
done:
    for (Py_ssize_t i = 0; i < pinned; i++)
        PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    Py_DECREF(seq);
    return r;
}

/* flush(), or (held) _flush_held(). */
static PyObject *
flush_common(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
             int held)
{
    ChannelObject *self = (ChannelObject *)op;
    unixipc_deadline dl;
    int nowait;

    if (enter_timed(self, "flush", DIR_SEND, held, args, nargs, kwnames, &nowait, &dl) < 0)
        return NULL;
    int r = 0;
    if (self->pending != NULL) {
        int fd = channel_fd(self, "sendmsg");
        r = fd < 0 ? -1 : flush_pending(self, fd, nowait, &dl);
    }
    return leave(self, DIR_SEND, held, r < 0 ? NULL : Py_NewRef(Py_None));
}

static PyObject *
ch_flush(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return flush_common(op, args, nargs, kwnames, 0);
}

static PyObject *
ch_flush_held(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return flush_common(op, args, nargs, kwnames, 1);
}

/* _hold(direction, block, timeout) -> the time left (None: no deadline) */
static PyObject *
ch_hold(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    ChannelObject *self = (ChannelObject *)op;
    static const char *const names[] = {"direction", "block", "timeout", NULL};
    PyObject *v[3];
    unixipc_deadline dl;
    int blocking = 1, which = 0;

    if (unixipc_parse_args("_hold", args, nargs, NULL, names, 3, 3, v) < 0 ||
        !unixipc_conv_int_in(v[0], 0, 1, "direction", &which) ||
        !unixipc_conv_wait(v[1], v[2], &blocking, &dl) ||
        dir_acquire(self, which, !blocking, &dl) < 0)
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
    int which = 0;
    if (!unixipc_conv_int_in(arg, 0, 1, "direction", &which))
        return NULL;
    dir_release((ChannelObject *)op, which);
    Py_RETURN_NONE;
}

/* Drops what a closed channel keeps: the pending rest of a frame and the
 * received descriptors nobody claimed (closed). The receive buffer stays
 * until the object goes (a receive that a signal handler closed the
 * channel under returns through it). */
static void
discard(ChannelObject *self)
{
    for (Py_ssize_t i = self->fdq_head; i < self->fdq_len; i++)
        close(self->fdq[i].fd);
    self->fdq_head = self->fdq_len = 0;
    Py_CLEAR(self->pending);
    self->poff = 0;
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
 * call on it; then drops the framing state (the pending rest of a frame,
 * and the received descriptors nobody claimed are closed). A direction
 * this thread holds (close() from a signal handler
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
    if (!others) {
        discard(self);
        Py_RETURN_NONE;
    }
    int fd = socket_fd(self);
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
    discard(self);
    Py_RETURN_NONE;
}

/* ---- set-up and state -------------------------------------------------------- */

static int
set_max_size(ChannelObject *self, PyObject *value)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "max_size cannot be deleted");
        return -1;
    }
    if (PyBool_Check(value) || !PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "max_size must be an int, not %.100s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    int overflow = 0;
    long v = PyLong_AsLongAndOverflow(value, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow < 0 || (overflow == 0 && v < 0)) {
        PyErr_SetString(PyExc_ValueError, "max_size must be an int >= 0");
        return -1;
    }
    /* (larger than anything that fits in memory: no limit) */
    Py_ssize_t limit = overflow > 0 || v > PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX : (Py_ssize_t)v;
    Py_INCREF(value);
    Py_XSETREF(self->max_size, value);
    self->limit = limit;
    return 0;
}

static PyObject *
ch_get_max_size(PyObject *op, void *closure)
{
    ChannelObject *self = (ChannelObject *)op;
    return self->max_size == NULL ? PyLong_FromLong(0) : Py_NewRef(self->max_size);
}

static int
ch_set_max_size(PyObject *op, PyObject *value, void *closure)
{
    return set_max_size((ChannelObject *)op, value);
}

static PyObject *
ch_get_pending(PyObject *op, void *closure)
{
    ChannelObject *self = (ChannelObject *)op;
    return PyLong_FromSsize_t(self->pending == NULL ? 0
                              : PyBytes_GET_SIZE(self->pending) - self->poff);
}

/* _setup(socket, seqpacket, unix, max_size): once, from the subclass's
 * __init__ (which checked the socket). */
static PyObject *
ch_setup(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    ChannelObject *self = (ChannelObject *)op;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "_setup(socket, seqpacket, unix, max_size)");
        return NULL;
    }
    if (self->socket != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the channel is set up already");
        return NULL;
    }
    int seqpacket = PyObject_IsTrue(args[1]);
    int unix_ = seqpacket < 0 ? -1 : PyObject_IsTrue(args[2]);
    if (unix_ < 0 || set_max_size(self, args[3]) < 0)
        return NULL;
    self->seqpacket = (char)seqpacket;
    self->unix_ = (char)unix_;
    self->socket = Py_NewRef(args[0]);
    Py_RETURN_NONE;
}

/* _state() -> dict: the framing state, for tests and debugging. */
static PyObject *
ch_state(PyObject *op, PyObject *unused)
{
    ChannelObject *self = (ChannelObject *)op;
    return Py_BuildValue("{s:n,s:n,s:n,s:n,s:O}",
                         "buffer_size", self->rcap,
                         "buffered", self->end - self->start,
                         "queued_fds", self->fdq_len - self->fdq_head,
                         "pending", self->pending == NULL ? (Py_ssize_t)0
                             : PyBytes_GET_SIZE(self->pending) - self->poff,
                         "broken", self->broken == NULL ? Py_None : self->broken);
}

/* ---- the type ------------------------------------------------------------- */

static PyObject *
ch_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    ChannelObject *self = (ChannelObject *)type->tp_alloc(type, 0);
    if (self != NULL) {
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
    Py_VISIT(self->broken);
    return 0;
}

static int
ch_clear(PyObject *op)
{
    ChannelObject *self = (ChannelObject *)op;
    Py_CLEAR(self->socket);
    Py_CLEAR(self->broken);
    return 0;
}

static void
ch_dealloc(PyObject *op)
{
    ChannelObject *self = (ChannelObject *)op;
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    ch_clear(op);
    discard(self);
    Py_CLEAR(self->max_size);
    PyMem_Free(self->fdq);
    PyMem_Free(self->rbuf);
    for (int i = 0; i < 2; i++) {
        direction *d = &self->dir[i];
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
    {"send", UNIXIPC_FASTCALL(ch_send), METH_FASTCALL | METH_KEYWORDS,
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
    {"receive", UNIXIPC_FASTCALL(ch_receive), METH_FASTCALL | METH_KEYWORDS,
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
    {"_send_held", UNIXIPC_FASTCALL(ch_send_held), METH_FASTCALL | METH_KEYWORDS,
     "_send_held(data, fds=(), *, block=True, timeout=None): send() for a caller that\n"
     "holds the send direction (see _hold)."},
    {"_receive_held", UNIXIPC_FASTCALL(ch_receive_held),
     METH_FASTCALL | METH_KEYWORDS,
     "_receive_held(*, block=True, timeout=None): receive() for a caller that holds\n"
     "the receive direction (see _hold)."},
    {"send_many", UNIXIPC_FASTCALL(ch_send_many), METH_FASTCALL | METH_KEYWORDS,
     "send_many($self, /, messages, *, block=True, timeout=None)\n--\n\n"
     "Send several messages with as few system calls as possible.\n\n"
     "Over a stream socket one sendmsg carries up to 512 frames (1024\n"
     "iovecs); over seqpacket each message is its own record (one sendmsg\n"
     "each). No descriptors.\n\n"
     "Args:\n"
     "    messages: a sequence of bytes-like objects, each at most\n"
     "        ``max_size`` bytes (checked before anything is sent).\n"
     "    block: False: one non-blocking attempt per system call.\n"
     "    timeout: seconds to wait for buffer space (None: forever).\n\n"
     "Returns:\n"
     "    The number of messages sent.\n\n"
     "Raises:\n"
     "    TypeError: ``messages`` is one message (bytes-like or str), or\n"
     "        not a sequence of bytes-like objects.\n"
     "    Others as :meth:`send`. A batch cut short by an error is committed\n"
     "    as far as its current sendmsg reached (up to 512 frames): that\n"
     "    part stays pending and is completed first by the next send."},
    {"flush", UNIXIPC_FASTCALL(ch_flush), METH_FASTCALL | METH_KEYWORDS,
     "flush($self, /, *, block=True, timeout=None)\n--\n\n"
     "Write the rest of a partly written frame, if any (see ``pending``).\n\n"
     "Args:\n"
     "    block: False: one non-blocking attempt.\n"
     "    timeout: seconds to wait for buffer space (None: forever).\n\n"
     "Raises:\n"
     "    BlockingIOError: block=False and the rest does not fit yet\n"
     "        (``characters_written``: how much more went out).\n"
     "    TimeoutError: the timeout ran out; what is left stays pending.\n"
     "    ValueError: the channel is closed."},
    {"_flush_held", UNIXIPC_FASTCALL(ch_flush_held), METH_FASTCALL | METH_KEYWORDS,
     "_flush_held(*, block=True, timeout=None): flush() for a caller that holds the\n"
     "send direction (see _hold)."},
    {"_check_send", UNIXIPC_FASTCALL(ch_check_send), METH_FASTCALL,
     "_check_send(data, fds): raise what send(data, fds) would raise for its\n"
     "arguments (TypeError, ValueError), before any wait."},
    {"_setup", UNIXIPC_FASTCALL(ch_setup), METH_FASTCALL,
     "_setup(socket, seqpacket, unix, max_size): give the channel its connected\n"
     "socket (once; the caller checked it) and its kind."},
    {"_state", ch_state, METH_NOARGS,
     "_state() -> dict: the framing state (buffer_size, buffered, queued_fds,\n"
     "pending, broken), for tests and debugging."},
    {"_hold", UNIXIPC_FASTCALL(ch_hold), METH_FASTCALL,
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
    {"socket", T_OBJECT, offsetof(ChannelObject, socket), READONLY, "the socket.socket"},
    {"seqpacket", T_BOOL, offsetof(ChannelObject, seqpacket), READONLY,
     "True for a SOCK_SEQPACKET channel"},
    {"unix", T_BOOL, offsetof(ChannelObject, unix_), READONLY, "True for a Unix socket"},
    {"_closed", T_BOOL, offsetof(ChannelObject, closed), 0, "set first by close()"},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef ch_getset[] = {
    {"max_size", ch_get_max_size, ch_set_max_size,
     "The largest message accepted (sent or received); an int >= 0.", NULL},
    {"pending", ch_get_pending, NULL,
     "Bytes of a partly written frame still queued in this channel.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot ch_slots[] = {
    {Py_tp_new, ch_new},
    {Py_tp_dealloc, ch_dealloc},
    {Py_tp_traverse, ch_traverse},
    {Py_tp_clear, ch_clear},
    {Py_tp_methods, ch_methods},
    {Py_tp_members, ch_members},
    {Py_tp_getset, ch_getset},
    {Py_tp_doc, "The framing of unixipc.sockets.MessageChannel: its state and every send\n"
     "and receive."},
    {0, NULL},
};

static PyType_Spec ch_spec = {
    .name = "unixipc._core.ChannelBase",
    .basicsize = sizeof(ChannelObject),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = ch_slots,
};

/* _sock_set_types(ChannelMessage, ChannelClosedError, IncompleteMessageError,
 * FrameTooLargeError, MessageTooLongError): what ChannelBase returns and
 * raises (defined in Python). */
static PyObject *
set_types(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static PyObject **const slots[] = {&message_type, &closed_type, &incomplete_type,
                                       &too_large_type, &too_long_type};
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "_sock_set_types takes 5 classes");
        return NULL;
    }
    if (!PyType_Check(args[0]) || !PyType_IsSubtype((PyTypeObject *)args[0], &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "_sock_set_types: ChannelMessage must be a tuple subclass");
        return NULL;
    }
    for (int i = 1; i < 5; i++) {
        if (!PyExceptionClass_Check(args[i])) {
            PyErr_SetString(PyExc_TypeError, "_sock_set_types: not an exception class");
            return NULL;
        }
    }
    for (int i = 0; i < 5; i++) {
        Py_INCREF(args[i]);
        Py_XSETREF(*slots[i], args[i]);
    }
    Py_RETURN_NONE;
}

PyMethodDef unixipc_sock_methods[] = {
    {"_sock_set_types", UNIXIPC_FASTCALL(set_types), METH_FASTCALL,
     "_sock_set_types(ChannelMessage, ChannelClosedError, IncompleteMessageError,\n"
     "FrameTooLargeError, MessageTooLongError): the classes ChannelBase returns\n"
     "and raises."},
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
    do {                                               \
        if ((var) == NULL) {                           \
            (var) = PyUnicode_InternFromString(text);  \
            if ((var) == NULL)                         \
                return -1;                             \
        }                                              \
    } while (0)
    INTERN(str_fileno, "fileno");
    INTERN(str_characters_written, "characters_written");
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
