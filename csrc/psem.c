/* Named POSIX semaphores (sem_open and friends).
 *
 * _core.psem_open(name, oflag, mode, value) returns a PosixSemaphore, a
 * handle holding the sem_t pointer; Python (unixipc.posix) checks the name
 * and builds the rest. Waits go through unixipc_blocking_call with
 * sem_clockwait(CLOCK_MONOTONIC), so the GIL is released, EINTR is retried
 * after the Python signal handlers and every retry waits only for what is
 * left of the deadline.
 *
 * close() while another thread waits on the same handle must not free the
 * sem_t under it: waits count themselves in `busy`, and the last of them
 * makes the sem_close that a close() asked for.
 */
#define _GNU_SOURCE 1
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <sys/stat.h>

#define NSEC_PER_SEC 1000000000L

typedef struct {
    PyObject_HEAD
    sem_t *sem;  /* NULL once closed (or before open) */
    int closing; /* close() was asked while waits were in flight */
    int busy;    /* waits in flight (GIL released) */
} PSem;

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
    clock_gettime(CLOCK_MONOTONIC, &at);
    at.tv_sec += remaining->tv_sec;
    at.tv_nsec += remaining->tv_nsec;
    if (at.tv_nsec >= NSEC_PER_SEC) {
        at.tv_sec += 1;
        at.tv_nsec -= NSEC_PER_SEC;
    }
    return sem_clockwait(c->sem, CLOCK_MONOTONIC, &at);
}

static PyObject *
psem_acquire(PSem *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"block", "timeout", "_cancel", NULL};
    PyObject *v[3];
    int block;
    unixipc_deadline deadline;
    if (unixipc_parse_args("acquire", args, nargs, kwnames, names, 0, 0, v) < 0)
        return NULL;
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
        sem_close(self->sem);
        self->sem = NULL;
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
    sem_t *sem = self->sem;
    self->sem = NULL;
    if (sem_close(sem) < 0)
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
        sem_close(self->sem);
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
    return 0;
}
