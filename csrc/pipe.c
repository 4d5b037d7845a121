/* pipe subsystem: read/write on pipe and FIFO descriptors, the bounded open
 * of a FIFO.
 *
 * write() never lets SIGPIPE kill the process and never touches the
 * process-wide disposition. When SIGPIPE is ignored or handled (Python
 * ignores it at startup) write(2) just fails with EPIPE and nothing else is
 * done. When its action is the default (terminate), SIGPIPE is blocked in the calling thread around
 * the write(2), and if the write failed with EPIPE the SIGPIPE it raised (a
 * thread-directed signal, now pending on this thread) is consumed with a
 * zero-timeout sigtimedwait before the old mask is restored. A SIGPIPE that
 * was already pending before the write (the caller had it blocked) is left
 * alone. The caller sees BrokenPipeError.
 *
 * Timeouts on read/write (and block=False on a blocking descriptor) use
 * ppoll (a native timed form), then one call that must not block even if
 * another process took the data or the space between the poll and the
 * call (every reader or writer waiting in poll wakes up, one wins):
 * preadv2/pwritev2 with RWF_NOWAIT, which pipes and FIFOs honour on current
 * kernels; EAGAIN then means "wait again with the time left". Where
 * RWF_NOWAIT is refused (EOPNOTSUPP: an old kernel, or a descriptor that is
 * not a pipe) it falls back to plain read/write, and timed writes go in
 * chunks of at most PIPE_BUF bytes (poll reports a pipe writable when a page
 * is free). The open of a FIFO has no timed form: it goes through the
 * helper's per-thread timer (UNIXIPC_WAIT_TIMER).
 */
#define _GNU_SOURCE 1
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <structmember.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* How a read/write waits. */
enum io_mode {
    IO_PLAIN = 0,  /* just make the call (it blocks if the fd is blocking) */
    IO_TIMED = 1,  /* ppoll with the remaining time first */
    IO_NOWAIT = 2, /* ppoll with zero time first: not ready -> EAGAIN */
};

typedef struct {
    int fd;
    const int *slot; /* where the descriptor lives (a PipeEnd's fd): re-read */
    PyObject *owner; /* the PipeEnd (borrowed), or NULL for a bare descriptor */
    char *buf;
    size_t len;
    enum io_mode mode;
} io_ctx;

static const struct timespec zero_time = {0, 0};

/* Waits (per mode) for `events` on ctx->fd. Returns 1 when ready, 0 when the
 * call should be made without waiting, -1 with errno (ETIMEDOUT / EAGAIN). */
static int
io_wait(io_ctx *c, short events, const struct timespec *remaining)
{
    struct pollfd pfd;
    int r;
    if (c->mode == IO_PLAIN)
        return 0;
    pfd.fd = c->fd;
    pfd.events = events;
    pfd.revents = 0;
    r = ppoll(&pfd, 1, c->mode == IO_NOWAIT ? &zero_time : remaining, NULL);
    if (r < 0)
        return -1;
    if (r == 0) {
        errno = c->mode == IO_NOWAIT ? EAGAIN : ETIMEDOUT;
        return -1;
    }
    if (pfd.revents & POLLNVAL) {
        errno = EBADF;
        return -1;
    }
    return 1;
}

/* One read that does not block (see the file comment); plain read(2)
 * where RWF_NOWAIT is refused. */
static ssize_t
read_nowait(int fd, char *buf, size_t len)
{
#ifdef RWF_NOWAIT
    struct iovec iov = {buf, len};
    ssize_t n = preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
    if (n >= 0 || (errno != EOPNOTSUPP && errno != ENOSYS))
        return n;
#endif
    return read(fd, buf, len);
}

/* One write that does not block when nowait is set (see the file comment). */
static ssize_t
write_once(int fd, const char *buf, size_t len, int nowait)
{
    if (nowait) {
#ifdef RWF_NOWAIT
        struct iovec iov = {(void *)buf, len};
        ssize_t n = pwritev2(fd, &iov, 1, -1, RWF_NOWAIT);
        if (n >= 0 || (errno != EOPNOTSUPP && errno != ENOSYS))
            return n;
#endif
        if (len > PIPE_BUF)
            len = PIPE_BUF; /* what poll promised fits */
    }
    return write(fd, buf, len);
}

/* write(2) with SIGPIPE blocked in this thread; see the file comment. */
static ssize_t
write_nosigpipe(int fd, const char *buf, size_t len, int nowait)
{
    sigset_t pipe_set, old_mask, pending;
    struct sigaction sa;
    int was_pending = 0, err;
    ssize_t n;

    /* Only the default action kills; ignored or handled, write(2) just
     * fails with EPIPE. One rt_sigaction instead of two rt_sigprocmask
     * calls on the common path (Python ignores SIGPIPE at startup). */
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
        sa.sa_handler != SIG_DFL)
        return write_once(fd, buf, len, nowait);
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    if (sigismember(&old_mask, SIGPIPE) == 1) {
        /* Already blocked by the caller: a pending one may be theirs. */
        sigpending(&pending);
        was_pending = sigismember(&pending, SIGPIPE) == 1;
    }
    n = write_once(fd, buf, len, nowait);
    err = errno;
    if (n < 0 && err == EPIPE && !was_pending) {
        while (sigtimedwait(&pipe_set, NULL, &zero_time) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    errno = err;
    return n;
}

static long
write_fn(void *p, const struct timespec *remaining)
{
    io_ctx *c = p;
    int ready = io_wait(c, POLLOUT, remaining);
    if (ready < 0)
        return -1;
    ssize_t n = write_nosigpipe(c->fd, c->buf, c->len, ready);
    if (n < 0 && errno == EAGAIN && c->mode == IO_TIMED) {
        errno = EINTR; /* lost a race for the space: wait again, time left */
    }
    return (long)n;
}

static long
read_fn(void *p, const struct timespec *remaining)
{
    io_ctx *c = p;
    int ready = io_wait(c, POLLIN, remaining);
    if (ready < 0)
        return -1;
    ssize_t n = ready ? read_nowait(c->fd, c->buf, c->len) : read(c->fd, c->buf, c->len);
    if (n < 0 && errno == EAGAIN && c->mode == IO_TIMED)
        errno = EINTR; /* another reader took the data: wait again */
    return (long)n;
}

/* After Python code ran (argument conversion, signal handlers; GIL held):
 * the end must still hold the descriptor the call works on. Code that
 * closed it may have opened another file under the same number, so the
 * call ends here instead of reading or writing that file. */
static int
recheck_fd(void *p)
{
    io_ctx *c = p;
    if (*c->slot == c->fd)
        return 0;
    unixipc_closed_error(c->owner);
    return -1;
}

/* The descriptor in *slot once every argument is converted; ValueError
 * when the end is closed. */
static int
current_fd(io_ctx *c)
{
    c->fd = *c->slot;
    if (c->fd < 0) {
        unixipc_closed_error(c->owner);
        return -1;
    }
    return 0;
}

/* Linux transfers at most this much in one read(2) (MAX_RW_COUNT). */
#define MAX_ONE_READ ((Py_ssize_t)0x7ffff000)

/* The buffer one read(2) of at most `size` bytes needs: a pipe or FIFO
 * never returns more than its capacity (what it can hold), nothing returns
 * more than MAX_ONE_READ. Small sizes are taken as they are. */
static Py_ssize_t
read_buffer_size(int fd, Py_ssize_t size)
{
    if (size <= 65536)
        return size;
    int capacity = fcntl(fd, F_GETPIPE_SZ);
    if (capacity > 0 && capacity < size)
        return capacity;
    return size < MAX_ONE_READ ? size : MAX_ONE_READ;
}

/* A descriptor argument of the module functions: < 0 is a closed end. */
static int
fd_arg(PyObject *obj, int *fd)
{
    int v = -1;
    if (!unixipc_conv_int_in(obj, INT_MIN, INT_MAX, "fd", &v))
        return -1;
    if (v < 0) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on closed file");
        return -1;
    }
    *fd = v;
    return 0;
}

static int
io_mode_args(PyObject *block, PyObject *timeout, unixipc_deadline *deadline,
             enum io_mode *mode)
{
    int b;
    if (!unixipc_conv_wait(block, timeout, &b, deadline))
        return -1;
    if (!b) {
        *mode = IO_NOWAIT;
    } else {
        *mode = deadline->infinite ? IO_PLAIN : IO_TIMED;
    }
    return 0;
}

/* The body of write(): all of data on a blocking fd, what fits otherwise. */
static PyObject *
do_write(PyObject *owner, const int *slot, PyObject *data, PyObject *block, PyObject *timeout)
{
    io_ctx ctx;
    unixipc_deadline deadline;
    Py_buffer view;
    Py_ssize_t total = 0;
    int nonblocking_fd = -1; /* looked up only if a partial write needs it */

    ctx.slot = slot;
    ctx.owner = owner;
    if (io_mode_args(block, timeout, &deadline, &ctx.mode) < 0)
        return NULL;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (current_fd(&ctx) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    while (total < view.len) {
        ctx.buf = (char *)view.buf + total;
        ctx.len = (size_t)(view.len - total);
        long n = unixipc_blocking_call_recheck("write", write_fn, &ctx, &deadline,
                                               UNIXIPC_WAIT_NATIVE, recheck_fd);
        if (n < 0) {
            if (total > 0) {
                if (PyErr_ExceptionMatches(PyExc_BlockingIOError)) {
                    /* Non-blocking: report what was written. */
                    PyErr_Clear();
                    break;
                }
                PyObject *type, *exc, *tb;
                PyErr_Fetch(&type, &exc, &tb);
                PyErr_NormalizeException(&type, &exc, &tb);
                PyObject *count = PyLong_FromSsize_t(total);
                if (count != NULL && exc != NULL) {
                    if (PyObject_SetAttrString(exc, "characters_written", count) < 0)
                        PyErr_Clear();
                }
                Py_XDECREF(count);
                PyErr_Restore(type, exc, tb);
            }
            PyBuffer_Release(&view);
            return NULL;
        }
        total += n;
        if (total < view.len && (PyErr_CheckSignals() < 0 || recheck_fd(&ctx) < 0)) {
            /* A short write means a signal came: its Python handler raised
             * (e.g. KeyboardInterrupt) or closed the end. Say how much went. */
            PyObject *type, *exc, *tb;
            PyErr_Fetch(&type, &exc, &tb);
            PyErr_NormalizeException(&type, &exc, &tb);
            PyObject *count = PyLong_FromSsize_t(total);
            if (count != NULL && exc != NULL &&
                PyObject_IsInstance(exc, PyExc_OSError) == 1 &&
                PyObject_SetAttrString(exc, "characters_written", count) < 0)
                PyErr_Clear();
            Py_XDECREF(count);
            PyErr_Restore(type, exc, tb);
            PyBuffer_Release(&view);
            return NULL;
        }
        if (total < view.len && ctx.mode == IO_PLAIN) {
            /* A short write on a blocking fd (a signal) goes on; on an
             * O_NONBLOCK fd it means "full": return the count. */
            if (nonblocking_fd < 0) {
                int fl = fcntl(ctx.fd, F_GETFL);
                nonblocking_fd = fl >= 0 && (fl & O_NONBLOCK);
            }
            if (nonblocking_fd)
                break;
        }
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(total);
}

/* The body of read(): one read(2) of at most size bytes. */
static PyObject *
do_read(PyObject *owner, const int *slot, Py_ssize_t size, PyObject *block,
        PyObject *timeout)
{
    io_ctx ctx;
    unixipc_deadline deadline;

    ctx.slot = slot;
    ctx.owner = owner;
    if (size < 0) {
        PyErr_SetString(PyExc_ValueError, "size must be >= 0");
        return NULL;
    }
    if (io_mode_args(block, timeout, &deadline, &ctx.mode) < 0)
        return NULL;
    if (current_fd(&ctx) < 0)
        return NULL;
    size = read_buffer_size(ctx.fd, size);
    PyObject *result = PyBytes_FromStringAndSize(NULL, size);
    if (result == NULL)
        return NULL;
    if (size == 0)
        return result;
    ctx.buf = PyBytes_AS_STRING(result);
    ctx.len = (size_t)size;
    long n = unixipc_blocking_call_recheck("read", read_fn, &ctx, &deadline,
                                           UNIXIPC_WAIT_NATIVE, recheck_fd);
    if (n < 0) {
        Py_DECREF(result);
        return NULL;
    }
    if (n != size && _PyBytes_Resize(&result, n) < 0)
        return NULL;
    return result;
}

/* write(fd, data, block=True, timeout=None) -> int */
static PyObject *
pipe_write(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"fd", "data", "block", "timeout", NULL};
    PyObject *v[4];
    int fd;
    if (unixipc_parse_args("write", args, nargs, kwnames, names, 4, 2, v) < 0)
        return NULL;
    if (fd_arg(v[0], &fd) < 0)
        return NULL;
    return do_write(NULL, &fd, v[1], v[2], v[3]);
}

/* read(fd, size, block=True, timeout=None) -> bytes */
static PyObject *
pipe_read(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"fd", "size", "block", "timeout", NULL};
    PyObject *v[4];
    int fd;
    if (unixipc_parse_args("read", args, nargs, kwnames, names, 4, 2, v) < 0)
        return NULL;
    Py_ssize_t size = 0;
    if (fd_arg(v[0], &fd) < 0 ||
        !unixipc_conv_size_in(v[1], PY_SSIZE_T_MIN, PY_SSIZE_T_MAX, "size", &size))
        return NULL;
    return do_read(NULL, &fd, size, v[2], v[3]);
}

/* ---- PipeEnd: the C base of PipeReader/PipeWriter ------------------------
 * Holds the descriptor (-1 once closed, so stale use fails with ValueError
 * and never touches a reused descriptor) and the two hot methods; the
 * Python subclasses add the file-object conveniences. */

typedef struct {
    PyObject_HEAD
    int fd;
    PyObject *weakreflist;
} PipeEndObject;

static int
end_fd(PipeEndObject *self)
{
    if (self->fd < 0) {
        unixipc_closed_error((PyObject *)self);
        return -1;
    }
    return self->fd;
}

static PyObject *
end_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PipeEndObject *self = (PipeEndObject *)type->tp_alloc(type, 0);
    if (self != NULL)
        self->fd = -1;
    return (PyObject *)self;
}

static int
end_init(PyObject *op, PyObject *args, PyObject *kwds)
{
    PipeEndObject *self = (PipeEndObject *)op;
    PyObject *fdobj;
    if (PyTuple_GET_SIZE(args) < 1) {
        PyErr_SetString(PyExc_TypeError, "PipeEnd(fd, ...): fd is required");
        return -1;
    }
    fdobj = PyTuple_GET_ITEM(args, 0);
    int fd = -1;
    if (!unixipc_conv_int_in(fdobj, 0, INT_MAX, "fd", &fd))
        return -1;
    self->fd = fd;
    return 0;
}

static void
end_dealloc(PyObject *op)
{
    PipeEndObject *self = (PipeEndObject *)op;
    PyTypeObject *tp = Py_TYPE(op);
    if (self->weakreflist != NULL)
        PyObject_ClearWeakRefs(op);
    if (self->fd >= 0) {
        close(self->fd);
        self->fd = -1;
    }
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyObject *
end_read(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"size", "block", "timeout", NULL};
    PyObject *v[3];
    if (unixipc_parse_args("read", args, nargs, kwnames, names, 1, 0, v) < 0)
        return NULL;
    if (end_fd((PipeEndObject *)op) < 0)
        return NULL;
    Py_ssize_t size = -1;
    if (v[0] != Py_None &&
        !unixipc_conv_size_in(v[0], PY_SSIZE_T_MIN, PY_SSIZE_T_MAX, "size", &size))
        return NULL;
    if (size < 0) {
        /* Until end of file: the Python subclass's readall. */
        PyObject *kw = PyDict_New();
        if (kw == NULL)
            return NULL;
        if ((v[1] != NULL && PyDict_SetItemString(kw, "block", v[1]) < 0) ||
            (v[2] != NULL && PyDict_SetItemString(kw, "timeout", v[2]) < 0)) {
            Py_DECREF(kw);
            return NULL;
        }
        PyObject *meth = PyObject_GetAttrString(op, "readall");
        PyObject *empty = PyTuple_New(0);
        PyObject *res = NULL;
        if (meth != NULL && empty != NULL)
            res = PyObject_Call(meth, empty, kw);
        Py_XDECREF(meth);
        Py_XDECREF(empty);
        Py_DECREF(kw);
        return res;
    }
    /* The descriptor is read again after the conversions (see do_read). */
    return do_read(op, &((PipeEndObject *)op)->fd, size, v[1], v[2]);
}

static PyObject *
end_write(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"data", "block", "timeout", NULL};
    PyObject *v[3];
    if (unixipc_parse_args("write", args, nargs, kwnames, names, 1, 1, v) < 0)
        return NULL;
    if (end_fd((PipeEndObject *)op) < 0)
        return NULL;
    return do_write(op, &((PipeEndObject *)op)->fd, v[0], v[1], v[2]);
}

static PyObject *
end_fileno(PyObject *op, PyObject *unused)
{
    int fd = end_fd((PipeEndObject *)op);
    return fd < 0 ? NULL : PyLong_FromLong(fd);
}

static PyObject *
end_close_fd(PyObject *op, PyObject *unused)
{
    PipeEndObject *self = (PipeEndObject *)op;
    int fd = self->fd;
    if (fd >= 0) {
        self->fd = -1;
        if (close(fd) < 0 && errno != EINTR)
            return unixipc_raise_errno("close", errno);
    }
    Py_RETURN_NONE;
}

static PyObject *
end_detach_fd(PyObject *op, PyObject *unused)
{
    PipeEndObject *self = (PipeEndObject *)op;
    int fd = end_fd(self);
    if (fd < 0)
        return NULL;
    self->fd = -1;
    return PyLong_FromLong(fd);
}

static PyObject *
end_get_closed(PyObject *op, void *unused)
{
    return PyBool_FromLong(((PipeEndObject *)op)->fd < 0);
}

static PyMethodDef end_methods[] = {
    {"read", UNIXIPC_FASTCALL(end_read), METH_FASTCALL | METH_KEYWORDS,
     "read(size=-1, /, *, block=True, timeout=None) -> bytes"},
    {"write", UNIXIPC_FASTCALL(end_write), METH_FASTCALL | METH_KEYWORDS,
     "write(data, /, *, block=True, timeout=None) -> int"},
    {"fileno", end_fileno, METH_NOARGS, "fileno() -> int (ValueError once closed)"},
    {"_close_fd", end_close_fd, METH_NOARGS, "Close the descriptor once; idempotent."},
    {"_detach_fd", end_detach_fd, METH_NOARGS, "Forget the descriptor and return it."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef end_getset[] = {
    {"closed", end_get_closed, NULL, "True once the end is closed.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef end_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(PipeEndObject, weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot end_slots[] = {
    {Py_tp_new, end_new},
    {Py_tp_init, end_init},
    {Py_tp_dealloc, end_dealloc},
    {Py_tp_methods, end_methods},
    {Py_tp_getset, end_getset},
    {Py_tp_members, end_members},
    {Py_tp_doc, (void *)"PipeEnd(fd): the C base of PipeReader and PipeWriter; owns fd."},
    {0, NULL},
};

static PyType_Spec end_spec = {
    .name = "unixipc._core.PipeEnd",
    .basicsize = sizeof(PipeEndObject),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .slots = end_slots,
};

typedef struct {
    int dir_fd;
    const char *path;
    int flags;
    int fd;
} open_ctx;

static long
open_fn(void *p, const struct timespec *remaining)
{
    open_ctx *c = p;
    int flags = c->flags | O_CLOEXEC | O_NOFOLLOW;
    int zero = remaining != NULL && remaining->tv_sec == 0 && remaining->tv_nsec == 0;
    if (zero && !(flags & O_NONBLOCK)) {
        /* No time left: one attempt that does not wait. A reader's
         * non-blocking open always succeeds; a writer's fails with ENXIO
         * when there is no reader, which here means "would block". */
        int fd = openat(c->dir_fd, c->path, flags | O_NONBLOCK);
        if (fd < 0) {
            if (errno == ENXIO)
                errno = ETIMEDOUT;
            return -1;
        }
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
            int err = errno;
            close(fd);
            errno = err;
            return -1;
        }
        c->fd = fd;
        return fd;
    }
    c->fd = openat(c->dir_fd, c->path, flags);
    return c->fd;
}

/* open_fifo(path, flags, timeout=None, dir_fd=AT_FDCWD) -> int | None
 * Opens with O_CLOEXEC | O_NOFOLLOW; returns the descriptor, or None (after
 * closing it) when what was opened is not a FIFO. */
static PyObject *
open_fifo(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"path", "flags", "timeout", "dir_fd", NULL};
    PyObject *v[4];
    PyObject *path_bytes = NULL;
    open_ctx ctx;
    unixipc_deadline deadline;
    struct stat st;

    if (unixipc_parse_args("open_fifo", args, nargs, kwnames, names, 4, 2, v) < 0)
        return NULL;
    ctx.flags = 0;
    ctx.dir_fd = AT_FDCWD;
    if (!unixipc_conv_int_in(v[1], INT_MIN, INT_MAX, "flags", &ctx.flags) ||
        (v[3] != Py_None && !unixipc_conv_int_in(v[3], INT_MIN, INT_MAX, "dir_fd", &ctx.dir_fd)))
        return NULL;
    if (unixipc_deadline_from_timeout(v[2], &deadline) < 0)
        return NULL;
    if (!PyUnicode_FSConverter(v[0], &path_bytes))
        return NULL;
    ctx.path = PyBytes_AS_STRING(path_bytes);
    ctx.fd = -1;
    long fd = unixipc_blocking_call("open", open_fn, &ctx, &deadline, UNIXIPC_WAIT_TIMER);
    Py_DECREF(path_bytes);
    if (fd < 0)
        return NULL;
    if (fstat((int)fd, &st) < 0) {
        int err = errno;
        close((int)fd);
        return unixipc_raise_errno("fstat", err);
    }
    if (!S_ISFIFO(st.st_mode)) {
        close((int)fd);
        Py_RETURN_NONE;
    }
    return PyLong_FromLong(fd);
}

PyMethodDef unixipc_pipe_methods[] = {
    {"write", UNIXIPC_FASTCALL(pipe_write), METH_FASTCALL | METH_KEYWORDS,
     "write(fd, data, block=True, timeout=None) -> int: write all of data "
     "(blocking fd) with SIGPIPE blocked in this thread: EPIPE -> BrokenPipeError."},
    {"read", UNIXIPC_FASTCALL(pipe_read), METH_FASTCALL | METH_KEYWORDS,
     "read(fd, size, block=True, timeout=None) -> bytes: one read(2)."},
    {"open_fifo", UNIXIPC_FASTCALL(open_fifo), METH_FASTCALL | METH_KEYWORDS,
     "open_fifo(path, flags, timeout=None, dir_fd=None) -> int | None: openat "
     "with O_CLOEXEC|O_NOFOLLOW bounded by timeout; None if not a FIFO."},
    {NULL, NULL, 0, NULL},
};

int
unixipc_pipe_exec(PyObject *module)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &end_spec, NULL);
    if (type == NULL)
        return -1;
    if (PyModule_AddObject(module, "PipeEnd", type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    UNIXIPC_ADD_INT(module, PIPE_BUF);
    return 0;
}
