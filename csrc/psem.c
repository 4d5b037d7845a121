/* Named POSIX semaphores (sem_open and friends).
 *
 * _core.psem_open(name, oflag, mode, value) returns a PosixSemaphore, a
 * handle holding the sem_t pointer; Python (unixipc.posix) checks the name
 * and builds the rest. Waits go through unixipc_blocking_call with
 * sem_clockwait(CLOCK_MONOTONIC), so the GIL is released, EINTR is retried
 * after the Python signal handlers and every retry waits only for what is
 * left of the deadline. Where sem_clockwait is missing (before glibc 2.30)
 * the timed wait is sem_timedwait on CLOCK_REALTIME, corrected as below.
 *
 * close() while another thread waits on the same handle must not free the
 * sem_t under it: waits count themselves in `busy`, and the last of them
 * makes the sem_close that a close() asked for.
 *
 * Unnamed semaphores: _core.psem_init(buffer, offset, value) runs
 * sem_init(pshared=1) on the sem_t at buffer[offset:], and
 * _core.psem_at(buffer, offset) takes one some process already initialised;
 * both return the same PosixSemaphore type, which then holds the buffer
 * exported (a Py_buffer) until it is closed, so the memory cannot be
 * unmapped, detached or resized under the sem_t. Closing an unnamed handle
 * releases the buffer and never calls sem_destroy: other processes may still
 * use the semaphore (destroying it under them is undefined), and on Linux
 * sem_destroy frees nothing.
 */
#define _GNU_SOURCE 1
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <stdint.h>
#include <sys/stat.h>

#define NSEC_PER_SEC 1000000000L

/* sem_clockwait is glibc 2.30 and later; elsewhere (or when forced, to
 * build and test the fallback) timed waits use sem_timedwait. */
#if !defined(UNIXIPC_FORCE_SEM_TIMEDWAIT) && defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30))
#define UNIXIPC_SEM_CLOCKWAIT 1
#define WAIT_CLOCK CLOCK_MONOTONIC
#else
#define UNIXIPC_SEM_CLOCKWAIT 0
#define WAIT_CLOCK CLOCK_REALTIME
#endif

typedef struct {
    PyObject_HEAD
    sem_t *sem;  /* NULL once closed (or before open) */
    int closing; /* close() was asked while waits were in flight */
    int busy;    /* waits in flight (GIL released) */
    Py_buffer view; /* unnamed: the buffer holding *sem (view.obj NULL: named) */
} PSem;

/* The handle lets go of its sem_t: sem_close for a named one; for an
 * unnamed one, only the buffer export (no sem_destroy: see the top). */
static int
psem_let_go(PSem *self)
{
    sem_t *sem = self->sem;
    self->sem = NULL;
    if (self->view.obj != NULL) {
        PyBuffer_Release(&self->view);
        return 0;
    }
    return sem_close(sem);
}

static PyObject *
closed_error(PSem *self)
{
    return unixipc_closed_error((PyObject *)self);
}

static int
psem_usable(PSem *self)
{
    if (self->sem == NULL || self->closing) {
        closed_error(self);
        return 0;
    }
    return 1;
}

typedef struct {
    sem_t *sem;
    const char *cancel;
} wait_ctx;

static long
wait_fn(void *p, const struct timespec *remaining)
{
    wait_ctx *c = p;
    if (unixipc_cancelled(c->cancel))
        return -1;
    if (remaining == NULL)
        return sem_wait(c->sem);
    if (remaining->tv_sec == 0 && remaining->tv_nsec == 0) {
        if (sem_trywait(c->sem) == 0)
            return 0;
        if (errno == EAGAIN)
            errno = ETIMEDOUT;
        return -1;
    }
    struct timespec at;
    clock_gettime(WAIT_CLOCK, &at);
    at.tv_sec += remaining->tv_sec;
    at.tv_nsec += remaining->tv_nsec;
    if (at.tv_nsec >= NSEC_PER_SEC) {
        at.tv_sec += 1;
        at.tv_nsec -= NSEC_PER_SEC;
    }
#if UNIXIPC_SEM_CLOCKWAIT
    return sem_clockwait(c->sem, CLOCK_MONOTONIC, &at);
#else
    /* sem_timedwait's deadline is CLOCK_REALTIME: a forward jump of the
     * wall clock ends it early, so an early ETIMEDOUT is turned into EINTR
     * and unixipc_blocking_call retries with the monotonic time left; a
     * backward jump stretches this attempt (documented in docs/psem.md). */
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (sem_timedwait(c->sem, &at) == 0)
        return 0;
    if (errno == ETIMEDOUT) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long waited = (now.tv_sec - start.tv_sec) * NSEC_PER_SEC +
                           (now.tv_nsec - start.tv_nsec);
        if (waited < remaining->tv_sec * NSEC_PER_SEC + remaining->tv_nsec)
            errno = EINTR;
    }
    return -1;
#endif
}

static PyObject *
psem_acquire(PSem *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"block", "timeout", "_cancel", NULL};
    PyObject *v[3];
    int block;
    unixipc_deadline deadline;
    if (nargs == 0 && kwnames == NULL) {
        /* acquire(): the common call. A free unit is taken with the GIL held
         * (sem_trywait is an atomic operation, no system call); only a wait
         * goes through the blocking helper. */
        if (!psem_usable(self))
            return NULL;
        if (sem_trywait(self->sem) == 0)
            Py_RETURN_NONE;
        v[0] = v[1] = v[2] = NULL;
    } else if (unixipc_parse_args("acquire", args, nargs, kwnames, names, 0, 0, v) < 0) {
        return NULL;
    }
    if (!unixipc_conv_wait(v[0], v[1], &block, &deadline))
        return NULL;
    if (!psem_usable(self))
        return NULL;
    if (!block) {
        if (sem_trywait(self->sem) < 0)
            return unixipc_raise_errno("sem_trywait", errno);
        Py_RETURN_NONE;
    }
    Py_buffer token_view;
    const char *token;
    if (unixipc_cancel_arg(v[2], &token_view, &token) < 0)
        return NULL;
    wait_ctx c = {self->sem, token};
    self->busy++;
    long rc = unixipc_blocking_call("sem_wait", wait_fn, &c, &deadline, UNIXIPC_WAIT_NATIVE);
    self->busy--;
    if (token_view.obj != NULL)
        PyBuffer_Release(&token_view);
    if (self->closing && self->busy == 0) {
        psem_let_go(self);
        self->closing = 0;
    }
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
psem_release(PSem *self, PyObject *unused)
{
    if (!psem_usable(self))
        return NULL;
    if (sem_post(self->sem) < 0)
        return unixipc_raise_errno("sem_post", errno);
    Py_RETURN_NONE;
}

static PyObject *
psem_getvalue(PSem *self, PyObject *unused)
{
    int value;
    if (!psem_usable(self))
        return NULL;
    if (sem_getvalue(self->sem, &value) < 0)
        return unixipc_raise_errno("sem_getvalue", errno);
    return PyLong_FromLong(value < 0 ? 0 : value);
}

static PyObject *
psem_close(PSem *self, PyObject *unused)
{
    if (self->sem == NULL || self->closing)
        Py_RETURN_NONE;
    if (self->busy > 0) {
        self->closing = 1;
        Py_RETURN_NONE;
    }
    if (psem_let_go(self) < 0)
        return unixipc_raise_errno("sem_close", errno);
    Py_RETURN_NONE;
}

static PyObject *
psem_get_closed(PSem *self, void *closure)
{
    return PyBool_FromLong(self->sem == NULL || self->closing);
}

static void
psem_dealloc(PSem *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (self->sem != NULL)
        psem_let_go(self);
    else if (self->view.obj != NULL)
        PyBuffer_Release(&self->view);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyMethodDef psem_methods[] = {
    {"acquire", UNIXIPC_FASTCALL(psem_acquire), METH_FASTCALL | METH_KEYWORDS,
     "acquire($self, /, *, block=True, timeout=None, _cancel=None)\n--\n\n"
     "sem_wait / sem_clockwait(CLOCK_MONOTONIC) / sem_trywait."},
    {"release", (PyCFunction)psem_release, METH_NOARGS, "release($self, /)\n--\n\nsem_post."},
    {"getvalue", (PyCFunction)psem_getvalue, METH_NOARGS,
     "getvalue($self, /)\n--\n\nsem_getvalue (0 while processes wait)."},
    {"close", (PyCFunction)psem_close, METH_NOARGS,
     "close($self, /)\n--\n\nsem_close (deferred until waits on this handle return)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef psem_getset[] = {
    {"closed", (getter)psem_get_closed, NULL, "True once close() was called.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot psem_slots[] = {
    {Py_tp_doc, "A handle on a named POSIX semaphore (made by psem_open)."},
    {Py_tp_dealloc, psem_dealloc},
    {Py_tp_methods, psem_methods},
    {Py_tp_getset, psem_getset},
    {0, NULL},
};

static PyType_Spec psem_spec = {
    .name = "unixipc._core.PosixSemaphore",
    .basicsize = sizeof(PSem),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = psem_slots,
};

static PyObject *psem_type = NULL;

static PyObject *
core_psem_open(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"name", "oflag", "mode", "value", NULL};
    PyObject *v[4];
    const char *name;
    int oflag, mode;
    long long value;
    if (unixipc_parse_args("psem_open", args, nargs, NULL, names, 4, 4, v) < 0)
        return NULL;
    if (!unixipc_conv_str(v[0], &name) ||
        !unixipc_conv_int_in(v[1], 0, INT_MAX, "oflag", &oflag) ||
        !unixipc_conv_int_in(v[2], 0, 07777, "mode", &mode) ||
        !unixipc_conv_llong_in(v[3], 0, SEM_VALUE_MAX, "value", &value))
        return NULL;
    if (oflag & ~(O_CREAT | O_EXCL)) {
        PyErr_SetString(PyExc_ValueError, "oflag may hold O_CREAT and O_EXCL only");
        return NULL;
    }
    PSem *self = PyObject_New(PSem, (PyTypeObject *)psem_type);
    if (self == NULL)
        return NULL;
    self->sem = NULL;
    self->closing = 0;
    self->busy = 0;
    self->view.obj = NULL;
    sem_t *sem;
    Py_BEGIN_ALLOW_THREADS
    sem = sem_open(name, oflag, (mode_t)mode, (unsigned int)value);
    Py_END_ALLOW_THREADS
    if (sem == SEM_FAILED) {
        int err = errno;
        Py_DECREF(self);
        return unixipc_raise_errno("sem_open", err);
    }
    self->sem = sem;
    return (PyObject *)self;
}

/* The checks of psem_init / psem_at, before any call: a writable buffer,
 * an offset inside it, aligned for a sem_t, with room for one. Returns a new
 * handle holding the buffer (sem not yet set), or NULL. */
static PSem *
psem_in_buffer(const char *funcname, PyObject *buffer, PyObject *offset_obj)
{
    Py_ssize_t offset;
    if (!unixipc_conv_size_in(offset_obj, 0, PY_SSIZE_T_MAX, "offset", &offset))
        return NULL;
    PSem *self = PyObject_New(PSem, (PyTypeObject *)psem_type);
    if (self == NULL)
        return NULL;
    self->sem = NULL;
    self->closing = 0;
    self->busy = 0;
    self->view.obj = NULL;
    if (PyObject_GetBuffer(buffer, &self->view, PyBUF_SIMPLE) < 0) {
        self->view.obj = NULL;
        if (PyErr_ExceptionMatches(PyExc_BufferError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError,
                         "%s: the buffer must be one C-contiguous block of memory", funcname);
        }
        Py_DECREF(self);
        return NULL;
    }
    if (self->view.readonly) {
        PyErr_Format(PyExc_ValueError, "%s: the buffer is read-only (a semaphore needs "
                     "writable shared memory)", funcname);
    } else if (offset > self->view.len - (Py_ssize_t)sizeof(sem_t)) {
        PyErr_Format(PyExc_ValueError, "%s: offset %zd leaves no room for a sem_t (%zu "
                     "bytes) in a buffer of %zd bytes",
                     funcname, offset, sizeof(sem_t), self->view.len);
    } else if (((uintptr_t)self->view.buf + (uintptr_t)offset) % _Alignof(sem_t) != 0) {
        PyErr_Format(PyExc_ValueError, "%s: offset %zd is not aligned for a sem_t (its "
                     "address must be a multiple of %zu)",
                     funcname, offset, (size_t)_Alignof(sem_t));
    }
    if (PyErr_Occurred()) {
        Py_DECREF(self);
        return NULL;
    }
    self->sem = (sem_t *)((char *)self->view.buf + offset);
    return self;
}

static PyObject *
core_psem_init(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"buffer", "offset", "value", NULL};
    PyObject *v[3];
    long long value;
    if (unixipc_parse_args("psem_init", args, nargs, NULL, names, 3, 3, v) < 0)
        return NULL;
    if (!unixipc_conv_llong_in(v[2], 0, SEM_VALUE_MAX, "value", &value))
        return NULL;
    PSem *self = psem_in_buffer("psem_init", v[0], v[1]);
    if (self == NULL)
        return NULL;
    if (sem_init(self->sem, 1, (unsigned int)value) < 0) {
        int err = errno;
        self->sem = NULL;
        Py_DECREF(self);
        return unixipc_raise_errno("sem_init", err);
    }
    return (PyObject *)self;
}

static PyObject *
core_psem_at(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"buffer", "offset", NULL};
    PyObject *v[2];
    if (unixipc_parse_args("psem_at", args, nargs, NULL, names, 2, 2, v) < 0)
        return NULL;
    return (PyObject *)psem_in_buffer("psem_at", v[0], v[1]);
}

static PyObject *
core_psem_unlink(PyObject *module, PyObject *arg)
{
    const char *name;
    if (!unixipc_conv_str(arg, &name))
        return NULL;
    if (sem_unlink(name) < 0)
        return unixipc_raise_errno("sem_unlink", errno);
    Py_RETURN_NONE;
}

PyMethodDef unixipc_psem_methods[] = {
    {"psem_open", UNIXIPC_FASTCALL(core_psem_open), METH_FASTCALL,
     "psem_open(name, oflag, mode, value, /)\n--\n\nsem_open: a PosixSemaphore handle."},
    {"psem_init", UNIXIPC_FASTCALL(core_psem_init), METH_FASTCALL,
     "psem_init(buffer, offset, value, /)\n--\n\n"
     "sem_init(pshared=1) at buffer[offset:]: a PosixSemaphore holding the buffer."},
    {"psem_at", UNIXIPC_FASTCALL(core_psem_at), METH_FASTCALL,
     "psem_at(buffer, offset, /)\n--\n\n"
     "The sem_t some process initialised at buffer[offset:] (no sem_init)."},
    {"psem_unlink", (PyCFunction)core_psem_unlink, METH_O,
     "psem_unlink(name, /)\n--\n\nsem_unlink."},
    {NULL, NULL, 0, NULL},
};

int
unixipc_psem_exec(PyObject *module)
{
    if (unixipc_add_type(module, &psem_spec, "PosixSemaphore", &psem_type) < 0)
        return -1;
    UNIXIPC_ADD_INT(module, SEM_VALUE_MAX);
    if (PyModule_AddIntConstant(module, "SIZEOF_SEM_T", (long)sizeof(sem_t)) < 0 ||
        PyModule_AddIntConstant(module, "ALIGNOF_SEM_T", (long)_Alignof(sem_t)) < 0)
        return -1;
    return 0;
}
