/* POSIX message queues (mq_open and friends).
 *
 * _core.pmq_open(name, oflag, mode, max_messages, max_message_size) returns
 * a PosixMessageQueue, a handle holding the mqd_t; Python (unixipc.posix)
 * checks the name and builds the rest. The descriptor is always opened
 * blocking: `block=False` is one mq_timedsend / mq_timedreceive with an
 * absolute time already passed (the epoch), so nothing changes the open
 * file's O_NONBLOCK under another thread.
 *
 * Timeouts: mq_timedsend and mq_timedreceive take an absolute
 * CLOCK_REALTIME time, which a wall-clock jump would stretch or cut. The
 * library's timeout is a duration on CLOCK_MONOTONIC, so a timed wait is a
 * plain mq_send / mq_receive through unixipc_blocking_call with
 * UNIXIPC_WAIT_TIMER: the per-thread CLOCK_MONOTONIC timer interrupts it at
 * the deadline, EINTR is retried after the Python signal handlers with the
 * time left, and the GIL is released around every attempt that may wait.
 *
 * A call makes its first attempt with the GIL held when that attempt cannot
 * wait: one mq_timedsend / mq_timedreceive with the passed deadline, which
 * returns at once (ETIMEDOUT) when the queue is full or empty. Only when it
 * would block is the GIL released, around the real wait of the blocking
 * helper; a message found at once costs no GIL hand-over (and no timer for
 * a timed call). Each handle remembers whether its last first attempt found
 * the queue ready: when it did not, only every EAGER_RETRY-th call tries
 * again first, so a receive that usually waits (a round trip's reply) pays
 * no extra system call. Messages longer than EAGER_MAX (possible only when
 * msgsize_max is raised) always go through the GIL-released path, so the
 * GIL is never held over a long copy.
 *
 * close() while another thread waits on the same handle must not close the
 * descriptor under it (its number could name another file by then): waits
 * count themselves in `busy`, and the last of them makes the mq_close that
 * a close() asked for (as psem.c does for sem_close).
 */
#define _GNU_SOURCE 1
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MQ_PRIO_MAX
#define MQ_PRIO_MAX 32768
#endif

typedef struct {
    PyObject_HEAD
    mqd_t mqd;            /* -1 once closed (or before open) */
    int closing;          /* close() was asked while waits were in flight */
    int busy;             /* waits in flight (GIL released) */
    long msgsize;         /* the queue's mq_msgsize (fixed at creation) */
    PyObject *name;       /* the queue's name: the filename of its OSErrors */
    int readable, writable; /* the access it was opened with */
    int send_ready, receive_ready; /* the last first attempt found room / a message */
    unsigned int send_skips, receive_skips; /* calls that skipped it since */
    PyObject *spare;      /* the last Message receive() returned (see message_for) */
} PMq;

/* A first attempt with the GIL held: always while the queue has been found
 * ready, else every EAGER_RETRY-th call; only for messages up to EAGER_MAX. */
#define EAGER_RETRY 16
#define EAGER_MAX 65536

/* The class receive() returns (unixipc.posix.Message), registered by Python;
 * NULL: plain tuples. */
static PyObject *message_type = NULL;

/* Receive buffers up to this size live on the stack and are copied into a
 * bytes object of the message's own length: one small allocation per
 * message instead of one of max_message_size, shrunk. */
#define STACK_BUFFER 8192

/* The pending OSError names the queue (its filename), as open() names its
 * path; an error that already has a filename, or no errno, is left alone. */
static void
name_error(PMq *self)
{
    if (self->name == NULL || !PyErr_ExceptionMatches(PyExc_OSError))
        return;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyOSErrorObject *e = (PyOSErrorObject *)value;
    if (value != NULL && PyObject_TypeCheck(value, (PyTypeObject *)PyExc_OSError) &&
        (e->filename == NULL || e->filename == Py_None) && e->myerrno != NULL &&
        e->myerrno != Py_None && PyObject_SetAttrString(value, "filename", self->name) < 0)
        PyErr_Clear();
    PyErr_Restore(type, value, tb);
}

/* PermissionError (EBADF) for a call this handle's access does not allow. */
static PyObject *
no_access(PMq *self, const char *call, const char *what)
{
    PyObject *msg = PyUnicode_FromFormat("%s: this handle was opened with %s=False", call, what);
    if (msg == NULL)
        return NULL;
    PyObject *exc = PyObject_CallFunction(PyExc_PermissionError, "iOO", EBADF, msg,
                                          self->name ? self->name : Py_None);
    Py_DECREF(msg);
    if (exc != NULL) {
        PyErr_SetObject(PyExc_PermissionError, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static PyObject *
closed_error(void)
{
    PyErr_SetString(PyExc_ValueError, "operation on a closed POSIX message queue");
    return NULL;
}

static int
pmq_usable(PMq *self)
{
    if (self->mqd == (mqd_t)-1 || self->closing) {
        closed_error();
        return 0;
    }
    return 1;
}

static void
pmq_done_waiting(PMq *self)
{
    self->busy--;
    if (self->closing && self->busy == 0) {
        mq_close(self->mqd);
        self->mqd = (mqd_t)-1;
        self->closing = 0;
    }
}

/* The epoch: an absolute time always passed, for one attempt that never waits. */
static const struct timespec passed = {0, 0};

typedef struct {
    mqd_t mqd;
    const char *data;
    size_t len;
    unsigned int prio;
    char *buf;
    const char *cancel;
} io_ctx;

static long
send_fn(void *p, const struct timespec *remaining)
{
    io_ctx *c = p;
    if (unixipc_cancelled(c->cancel))
        return -1;
    if (remaining != NULL && remaining->tv_sec == 0 && remaining->tv_nsec == 0) {
        if (mq_timedsend(c->mqd, c->data, c->len, c->prio, &passed) == 0)
            return 0;
        return -1; /* ETIMEDOUT: full, and the time is up */
    }
    return mq_send(c->mqd, c->data, c->len, c->prio);
}

static long
receive_fn(void *p, const struct timespec *remaining)
{
    io_ctx *c = p;
    ssize_t n;
    if (unixipc_cancelled(c->cancel))
        return -1;
    if (remaining != NULL && remaining->tv_sec == 0 && remaining->tv_nsec == 0)
        n = mq_timedreceive(c->mqd, c->buf, c->len, &c->prio, &passed);
    else
        n = mq_receive(c->mqd, c->buf, c->len, &c->prio);
    return (long)n;
}

/* Whether this call makes its first attempt with the GIL held (see the top
 * of the file): `*ready` is the handle's memory of the last one, `*skips`
 * counts the calls that went without since. */
static inline int
eager_attempt(int ready, unsigned int *skips)
{
    return ready || (++*skips % EAGER_RETRY) == 0;
}

/* After a first attempt that would have waited: 1 (TimeoutError naming the
 * queue raised) when the call's time is already up, as with timeout=0, so
 * that call stays one attempt. */
static int
time_is_up(PMq *self, const unixipc_deadline *deadline, const char *call)
{
    struct timespec left;
    if (deadline->infinite)
        return 0;
    unixipc_deadline_remaining(deadline, &left);
    if (left.tv_sec != 0 || left.tv_nsec != 0)
        return 0;
    unixipc_raise_timeout(call);
    name_error(self);
    return 1;
}

static PyObject *
pmq_send(PMq *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"data", "priority", "block", "timeout", "_cancel", NULL};
    PyObject *v[5] = {NULL, NULL, NULL, NULL, NULL};
    int block = 1, prio = 0;
    unixipc_deadline deadline = {1, {0, 0}};
    if (nargs == 1 && kwnames == NULL) {
        v[0] = args[0]; /* send(data): the common call, no parsing */
    } else {
        if (unixipc_parse_args("send", args, nargs, kwnames, names, 2, 1, v) < 0)
            return NULL;
        if (v[1] != NULL && !unixipc_conv_int_in(v[1], 0, MQ_PRIO_MAX - 1, "priority", &prio))
            return NULL;
        if (!unixipc_conv_wait(v[2], v[3], &block, &deadline))
            return NULL;
    }
    Py_buffer data;
    data.obj = NULL;
    const char *buf;
    Py_ssize_t len;
    if (PyBytes_CheckExact(v[0])) { /* no buffer export for the common case */
        buf = PyBytes_AS_STRING(v[0]);
        len = PyBytes_GET_SIZE(v[0]);
    } else {
        if (PyObject_GetBuffer(v[0], &data, PyBUF_SIMPLE) < 0)
            return NULL;
        buf = data.buf;
        len = data.len;
    }
    PyObject *result = NULL;
    Py_buffer token_view;
    token_view.obj = NULL;
    if (!pmq_usable(self))
        goto done;
    if (!self->writable) {
        no_access(self, "mq_send", "write");
        goto done;
    }
    if (len > self->msgsize) {
        PyErr_Format(PyExc_ValueError,
                     "a message of %zd bytes is longer than the queue's "
                     "max_message_size (%ld)", len, self->msgsize);
        goto done;
    }
    io_ctx c = {self->mqd, buf, (size_t)len, (unsigned int)prio, NULL, NULL};
    if (block && unixipc_cancel_arg(v[4], &token_view, &c.cancel) < 0)
        goto done;
    int small = len <= EAGER_MAX && c.cancel == NULL;
    if (small && (!block || eager_attempt(self->send_ready, &self->send_skips))) {
        /* One attempt that cannot wait, GIL held. */
        int err = 0;
        for (;;) {
            if (mq_timedsend(self->mqd, c.data, c.len, c.prio, &passed) == 0) {
                self->send_ready = 1;
                result = Py_None;
                goto done;
            }
            err = errno;
            if (err != EINTR)
                break;
            if (PyErr_CheckSignals() < 0 || !pmq_usable(self)) /* a handler may close it */
                goto done;
        }
        if (err != ETIMEDOUT || !block) {
            unixipc_raise_errno("mq_send", err == ETIMEDOUT ? EAGAIN : err);
            name_error(self);
            goto done;
        }
        self->send_ready = 0; /* full: wait below */
        if (time_is_up(self, &deadline, "mq_send"))
            goto done;
    } else if (!block) {
        /* A long message: the attempt with the GIL released. */
        int rc, err;
        Py_BEGIN_ALLOW_THREADS
        rc = mq_timedsend(self->mqd, c.data, c.len, c.prio, &passed);
        err = errno;
        Py_END_ALLOW_THREADS
        if (rc < 0) {
            unixipc_raise_errno("mq_send", err == ETIMEDOUT ? EAGAIN : err);
            name_error(self);
        } else {
            result = Py_None;
        }
        goto done;
    }
    self->busy++;
    long rc = unixipc_blocking_call("mq_send", send_fn, &c, &deadline, UNIXIPC_WAIT_TIMER);
    pmq_done_waiting(self);
    if (rc < 0)
        name_error(self);
    else
        result = Py_None;
done:
    if (token_view.obj != NULL)
        PyBuffer_Release(&token_view);
    if (data.obj != NULL)
        PyBuffer_Release(&data);
    return Py_XNewRef(result);
}

/* receive()'s result, a Message of `data` and `prio` (references stolen).
 * Allocating a Message (a tuple subclass made in Python: a GC allocation
 * and subtype_dealloc) is much of a receive's cost, so the handle keeps the
 * last one it returned, and when the caller has let go of it (the handle
 * holds the only reference: nothing can see the object) refills it in place,
 * as CPython's zip() reuses its result tuple. Only messages of up to
 * SPARE_MAX bytes are kept this way, so what the handle holds stays small.
 * A NamedTuple has no weak references and compares and hashes by value:
 * nothing can tell. */
#define SPARE_MAX 8192

/* The bytes of a message are reused too, when they are of the size wanted
 * and the spare Message holds the only reference to them: refilled with the
 * n bytes at `buf`, and their cached hash forgotten (ob_shash: deprecated in
 * 3.11 as an API, still the field hash() caches in). NULL (no exception)
 * when the spare or its bytes cannot be reused. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static inline void
forget_bytes_hash(PyObject *bytes)
{
    ((PyBytesObject *)bytes)->ob_shash = -1;
}
#pragma GCC diagnostic pop

static PyObject *
message_refilled(PMq *self, const char *buf, Py_ssize_t n, unsigned int prio)
{
#ifndef Py_GIL_DISABLED
    PyObject *spare = self->spare;
    if (spare == NULL || Py_REFCNT(spare) != 1 || Py_TYPE(spare) != (PyTypeObject *)message_type)
        return NULL;
    PyObject *data = PyTuple_GET_ITEM(spare, 0);
    if (!PyBytes_CheckExact(data) || Py_REFCNT(data) != 1 || PyBytes_GET_SIZE(data) != n)
        return NULL;
    PyObject *number = PyLong_FromUnsignedLong(prio);
    if (number == NULL) {
        PyErr_Clear(); /* the caller's ordinary path reports it */
        return NULL;
    }
    memcpy(PyBytes_AS_STRING(data), buf, (size_t)n);
    forget_bytes_hash(data);
    PyObject *old_prio = PyTuple_GET_ITEM(spare, 1);
    PyTuple_SET_ITEM(spare, 1, number);
    unixipc_tuple_forget_hash(spare);
    Py_DECREF(old_prio);
    return Py_NewRef(spare);
#else
    (void)self, (void)buf, (void)n, (void)prio;
    return NULL;
#endif
}

static PyObject *
message_for(PMq *self, PyObject *data, unsigned int prio)
{
    PyObject *number = PyLong_FromUnsignedLong(prio);
    if (number == NULL) {
        Py_DECREF(data);
        return NULL;
    }
#ifndef Py_GIL_DISABLED
    PyObject *spare = self->spare;
    if (spare != NULL && Py_REFCNT(spare) == 1 && Py_TYPE(spare) == (PyTypeObject *)message_type) {
        PyObject *old_data = PyTuple_GET_ITEM(spare, 0);
        PyObject *old_prio = PyTuple_GET_ITEM(spare, 1);
        PyTuple_SET_ITEM(spare, 0, data);
        PyTuple_SET_ITEM(spare, 1, number);
        unixipc_tuple_forget_hash(spare);
        if (PyBytes_GET_SIZE(data) > SPARE_MAX)
            self->spare = NULL; /* handed over: the handle keeps no large message */
        else
            Py_INCREF(spare);
        Py_DECREF(old_data); /* a bytes and an int: no code runs */
        Py_DECREF(old_prio);
        return spare;
    }
    PyObject *msg = unixipc_new_pair(message_type, data, number);
    if (msg != NULL && message_type != NULL && PyBytes_GET_SIZE(data) <= SPARE_MAX) {
        Py_INCREF(msg);
        Py_XSETREF(self->spare, msg);
    }
    return msg;
#else
    return unixipc_new_pair(message_type, data, number);
#endif
}

static PyObject *
pmq_receive(PMq *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"block", "timeout", "_cancel", NULL};
    PyObject *v[3] = {NULL, NULL, NULL};
    int block = 1;
    unixipc_deadline deadline = {1, {0, 0}};
    if (nargs != 0 || kwnames != NULL) { /* receive(): the common call, no parsing */
        if (unixipc_parse_args("receive", args, nargs, kwnames, names, 0, 0, v) < 0)
            return NULL;
        if (!unixipc_conv_wait(v[0], v[1], &block, &deadline))
            return NULL;
    }
    if (!pmq_usable(self))
        return NULL;
    if (!self->readable)
        return no_access(self, "mq_receive", "read");
    /* The buffer is always max_message_size long: no EMSGSIZE. */
    char stack[STACK_BUFFER];
    PyObject *bytes = NULL;
    char *buf = stack;
    if (self->msgsize > STACK_BUFFER) {
        bytes = PyBytes_FromStringAndSize(NULL, self->msgsize);
        if (bytes == NULL)
            return NULL;
        buf = PyBytes_AS_STRING(bytes);
    }
    io_ctx c = {self->mqd, NULL, (size_t)self->msgsize, 0, buf, NULL};
    Py_buffer token_view;
    token_view.obj = NULL;
    if (block && unixipc_cancel_arg(v[2], &token_view, &c.cancel) < 0) {
        Py_XDECREF(bytes);
        return NULL;
    }
    long n;
    int small = self->msgsize <= EAGER_MAX && c.cancel == NULL;
    if (small && (!block || eager_attempt(self->receive_ready, &self->receive_skips))) {
        /* One attempt that cannot wait, GIL held. */
        int err = 0;
        for (;;) {
            n = (long)mq_timedreceive(self->mqd, c.buf, c.len, &c.prio, &passed);
            if (n >= 0)
                break;
            err = errno;
            if (err != EINTR)
                break;
            if (PyErr_CheckSignals() < 0 || !pmq_usable(self)) { /* a handler may close it */
                Py_XDECREF(bytes);
                return NULL;
            }
        }
        if (n >= 0) {
            self->receive_ready = 1;
        } else if (err != ETIMEDOUT || !block) {
            Py_XDECREF(bytes);
            unixipc_raise_errno("mq_receive", err == ETIMEDOUT ? EAGAIN : err);
            name_error(self);
            return NULL;
        } else {
            self->receive_ready = 0; /* empty: wait below */
            if (time_is_up(self, &deadline, "mq_receive")) {
                Py_XDECREF(bytes);
                return NULL;
            }
        }
    } else if (!block) {
        /* A large buffer: the attempt with the GIL released. */
        int err;
        Py_BEGIN_ALLOW_THREADS
        n = (long)mq_timedreceive(self->mqd, c.buf, c.len, &c.prio, &passed);
        err = errno;
        Py_END_ALLOW_THREADS
        if (n < 0) {
            Py_XDECREF(bytes);
            unixipc_raise_errno("mq_receive", err == ETIMEDOUT ? EAGAIN : err);
            name_error(self);
            return NULL;
        }
    } else {
        n = -1;
    }
    if (n < 0) {
        self->busy++;
        n = unixipc_blocking_call("mq_receive", receive_fn, &c, &deadline, UNIXIPC_WAIT_TIMER);
        pmq_done_waiting(self);
        if (token_view.obj != NULL)
            PyBuffer_Release(&token_view);
        if (n < 0) {
            Py_XDECREF(bytes);
            name_error(self);
            return NULL;
        }
    }
    if (bytes == NULL) {
        PyObject *msg = message_refilled(self, stack, (Py_ssize_t)n, c.prio);
        if (msg != NULL)
            return msg;
        bytes = PyBytes_FromStringAndSize(stack, (Py_ssize_t)n);
        if (bytes == NULL)
            return NULL;
    } else if (_PyBytes_Resize(&bytes, (Py_ssize_t)n) < 0) {
        return NULL;
    }
    return message_for(self, bytes, c.prio);
}

static PyObject *
pmq_getattr(PMq *self, PyObject *unused)
{
    struct mq_attr attr;
    if (!pmq_usable(self))
        return NULL;
    if (mq_getattr(self->mqd, &attr) < 0)
        return unixipc_raise_errno("mq_getattr", errno);
    return Py_BuildValue("(lll)", (long)attr.mq_maxmsg, (long)attr.mq_msgsize,
                         (long)attr.mq_curmsgs);
}

static PyObject *
pmq_notify(PMq *self, PyObject *arg)
{
    int signo;
    struct sigevent sev;
    if (arg == Py_None) {
        signo = -1;
    } else if (!unixipc_conv_int_in(arg, 1, SIGRTMAX, "signal", &signo)) {
        return NULL;
    }
    if (!pmq_usable(self))
        return NULL;
    int rc;
    if (signo < 0) {
        rc = mq_notify(self->mqd, NULL);
    } else {
        memset(&sev, 0, sizeof sev);
        sev.sigev_notify = SIGEV_SIGNAL;
        sev.sigev_signo = signo;
        rc = mq_notify(self->mqd, &sev);
    }
    if (rc < 0)
        return unixipc_raise_errno("mq_notify", errno);
    Py_RETURN_NONE;
}

/* SIGEV_THREAD: glibc runs this in a thread of its own when the
 * notification fires; it hands the token to unixipc.posix, which calls the
 * callback registered under it (if it is still registered). */
static void
notify_fired(union sigval value)
{
    if (!Py_IsInitialized())
        return;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *mod = PyImport_ImportModule("unixipc.posix");
    PyObject *res = mod ? PyObject_CallMethod(mod, "_notify_fired", "i", value.sival_int) : NULL;
    if (res == NULL)
        PyErr_WriteUnraisable(mod);
    Py_XDECREF(res);
    Py_XDECREF(mod);
    PyGILState_Release(gil);
}

/* notify_thread(token): mq_notify with SIGEV_THREAD, the token as value. */
static PyObject *
pmq_notify_thread(PMq *self, PyObject *arg)
{
    int token;
    struct sigevent sev;
    if (!unixipc_conv_int_in(arg, 1, INT_MAX, "token", &token))
        return NULL;
    if (!pmq_usable(self))
        return NULL;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = notify_fired;
    sev.sigev_value.sival_int = token;
    if (mq_notify(self->mqd, &sev) < 0)
        return unixipc_raise_errno("mq_notify", errno);
    Py_RETURN_NONE;
}

static PyObject *
pmq_fileno(PMq *self, PyObject *unused)
{
    if (!pmq_usable(self))
        return NULL;
    return PyLong_FromLong((long)self->mqd);
}

static PyObject *
pmq_close(PMq *self, PyObject *unused)
{
    Py_CLEAR(self->spare); /* a closed handle holds no message */
    if (self->mqd == (mqd_t)-1 || self->closing)
        Py_RETURN_NONE;
    if (self->busy > 0) {
        self->closing = 1;
        Py_RETURN_NONE;
    }
    mqd_t mqd = self->mqd;
    self->mqd = (mqd_t)-1;
    if (mq_close(mqd) < 0)
        return unixipc_raise_errno("mq_close", errno);
    Py_RETURN_NONE;
}

static PyObject *
pmq_get_closed(PMq *self, void *closure)
{
    return PyBool_FromLong(self->mqd == (mqd_t)-1 || self->closing);
}

static void
pmq_dealloc(PMq *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (self->mqd != (mqd_t)-1)
        mq_close(self->mqd);
    Py_CLEAR(self->name);
    Py_CLEAR(self->spare);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyMethodDef pmq_methods[] = {
    {"send", UNIXIPC_FASTCALL(pmq_send), METH_FASTCALL | METH_KEYWORDS,
     "send($self, /, data, priority=0, *, block=True, timeout=None, _cancel=None)\n--\n\n"
     "mq_send (block=False: one mq_timedsend that never waits)."},
    {"receive", UNIXIPC_FASTCALL(pmq_receive), METH_FASTCALL | METH_KEYWORDS,
     "receive($self, /, *, block=True, timeout=None, _cancel=None)\n--\n\n"
     "mq_receive: Message(data, priority)."},
    {"getattr", (PyCFunction)pmq_getattr, METH_NOARGS,
     "getattr($self, /)\n--\n\nmq_getattr: (maxmsg, msgsize, curmsgs)."},
    {"notify", (PyCFunction)pmq_notify, METH_O,
     "notify($self, signal, /)\n--\n\nmq_notify with SIGEV_SIGNAL, or None to remove."},
    {"notify_thread", (PyCFunction)pmq_notify_thread, METH_O,
     "notify_thread($self, token, /)\n--\n\nmq_notify with SIGEV_THREAD: "
     "unixipc.posix._notify_fired(token) runs when it fires."},
    {"fileno", (PyCFunction)pmq_fileno, METH_NOARGS,
     "fileno($self, /)\n--\n\nThe queue's descriptor (pollable on Linux)."},
    {"close", (PyCFunction)pmq_close, METH_NOARGS,
     "close($self, /)\n--\n\nmq_close (deferred until waits on this handle return)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef pmq_getset[] = {
    {"closed", (getter)pmq_get_closed, NULL, "True once close() was called.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot pmq_slots[] = {
    {Py_tp_doc, "A handle on a POSIX message queue (made by pmq_open)."},
    {Py_tp_dealloc, pmq_dealloc},
    {Py_tp_methods, pmq_methods},
    {Py_tp_getset, pmq_getset},
    {0, NULL},
};

static PyType_Spec pmq_spec = {
    .name = "unixipc._core.PosixMessageQueue",
    .basicsize = sizeof(PMq),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = pmq_slots,
};

static PyObject *pmq_type = NULL;

static PyObject *
core_pmq_open(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"name", "oflag", "mode", "maxmsg", "msgsize", NULL};
    PyObject *v[5];
    const char *name;
    int oflag, mode;
    long maxmsg, msgsize;
    if (unixipc_parse_args("pmq_open", args, nargs, NULL, names, 5, 5, v) < 0)
        return NULL;
    if (!unixipc_conv_str(v[0], &name) ||
        !unixipc_conv_int_in(v[1], 0, INT_MAX, "oflag", &oflag) ||
        !unixipc_conv_int_in(v[2], 0, 07777, "mode", &mode) ||
        !unixipc_conv_long_in(v[3], 0, LONG_MAX, "maxmsg", &maxmsg) ||
        !unixipc_conv_long_in(v[4], 0, LONG_MAX, "msgsize", &msgsize))
        return NULL;
    if (oflag & ~(O_CREAT | O_EXCL | O_ACCMODE)) {
        PyErr_SetString(PyExc_ValueError,
                        "oflag may hold O_CREAT, O_EXCL and the access mode only");
        return NULL;
    }
    if ((maxmsg == 0) != (msgsize == 0)) {
        PyErr_SetString(PyExc_ValueError, "maxmsg and msgsize are both 0 or both set");
        return NULL;
    }
    PMq *self = PyObject_New(PMq, (PyTypeObject *)pmq_type);
    if (self == NULL)
        return NULL;
    self->mqd = (mqd_t)-1;
    self->closing = 0;
    self->busy = 0;
    self->msgsize = 0;
    self->name = Py_NewRef(v[0]);
    self->send_ready = self->receive_ready = 1;
    self->send_skips = self->receive_skips = 0;
    self->spare = NULL;
    self->readable = (oflag & O_ACCMODE) != O_WRONLY;
    self->writable = (oflag & O_ACCMODE) != O_RDONLY;
    struct mq_attr attr, *attrp = NULL;
    if (maxmsg != 0) {
        memset(&attr, 0, sizeof attr);
        attr.mq_maxmsg = maxmsg;
        attr.mq_msgsize = msgsize;
        attrp = &attr;
    }
    mqd_t mqd;
    int err = 0;
    Py_BEGIN_ALLOW_THREADS
    mqd = mq_open(name, oflag | O_CLOEXEC, (mode_t)mode, attrp);
    err = errno;
    Py_END_ALLOW_THREADS
    if (mqd == (mqd_t)-1) {
        Py_DECREF(self);
        return unixipc_raise_errno("mq_open", err);
    }
    self->mqd = mqd;
    if (mq_getattr(mqd, &attr) < 0) {
        err = errno;
        Py_DECREF(self);
        return unixipc_raise_errno("mq_getattr", err);
    }
    self->msgsize = (long)attr.mq_msgsize;
    return (PyObject *)self;
}

static PyObject *
core_pmq_unlink(PyObject *module, PyObject *arg)
{
    const char *name;
    if (!unixipc_conv_str(arg, &name))
        return NULL;
    if (mq_unlink(name) < 0)
        return unixipc_raise_errno("mq_unlink", errno);
    Py_RETURN_NONE;
}

static PyObject *
set_message_type(PyObject *module, PyObject *cls)
{
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "_pmq_set_message_type needs a tuple subclass");
        return NULL;
    }
    Py_INCREF(cls);
    Py_XSETREF(message_type, cls);
    Py_RETURN_NONE;
}

PyMethodDef unixipc_pmq_methods[] = {
    {"_pmq_set_message_type", set_message_type, METH_O,
     "Register the Message class that PosixMessageQueue.receive() returns."},
    {"pmq_open", UNIXIPC_FASTCALL(core_pmq_open), METH_FASTCALL,
     "pmq_open(name, oflag, mode, maxmsg, msgsize, /)\n--\n\n"
     "mq_open: a PosixMessageQueue handle (maxmsg = msgsize = 0: the defaults)."},
    {"pmq_unlink", (PyCFunction)core_pmq_unlink, METH_O,
     "pmq_unlink(name, /)\n--\n\nmq_unlink."},
    {NULL, NULL, 0, NULL},
};

int
unixipc_pmq_exec(PyObject *module)
{
    if (unixipc_add_type(module, &pmq_spec, "PosixMessageQueue", &pmq_type) < 0)
        return -1;
    UNIXIPC_ADD_INT(module, MQ_PRIO_MAX);
    return 0;
}
