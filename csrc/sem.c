/* System V semaphore sets: semget, semop/semtimedop, semctl.
 *
 * The hot calls live on two C base types: SemaphoreSetBase.op (any number of
 * operations in ONE atomic semtimedop) and SemaphoreBase.acquire/release/
 * wait_zero (one semaphore of a set). unixipc.sem subclasses both.
 */
#define _GNU_SOURCE 1
#include "core.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#ifndef SEM_STAT_ANY
#define SEM_STAT_ANY 20 /* Linux >= 4.17 */
#endif
#define SEMVMX_DEFAULT 32767

/* glibc leaves the semctl argument union to the caller. */
union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
    struct seminfo *__buf;
};

static int cached_semopm = 0;

static int
semopm(void)
{
    if (cached_semopm > 0)
        return cached_semopm;
    struct seminfo info;
    union semun arg = {.__buf = &info};
    cached_semopm = semctl(0, 0, IPC_INFO, arg) >= 0 && info.semopm > 0 ? info.semopm : 32;
    return cached_semopm;
}

/* Whether semid names a set now (readable or not): the probe behind
 * unixipc_name_removed. */
static int
set_exists(int semid)
{
    struct semid_ds ds;
    union semun u = {.buf = &ds};
    return semctl(semid, 0, IPC_STAT, u) == 0 || (errno != EINVAL && errno != EIDRM);
}

/* The error of a call on set semid; use after removal says so. NULL. */
static PyObject *
raise_on_set(int semid, const char *syscall, int err)
{
    unixipc_raise_errno(syscall, err);
    return unixipc_name_removed("semaphore set", semid, set_exists);
}

/* ---- the semop call through the blocking helper ----------------------------- */

typedef struct {
    int semid;
    struct sembuf *ops;
    size_t nops;
    int user_nowait;    /* some op carries IPC_NOWAIT from the caller */
    const char *cancel; /* async twins: see unixipc_cancelled() in core.h */
} semop_ctx;

static long
semop_fn(void *p, const struct timespec *remaining)
{
    semop_ctx *c = p;
    int zero = remaining != NULL && remaining->tv_sec == 0 && remaining->tv_nsec == 0;
    int rc;
    if (unixipc_cancelled(c->cancel))
        return -1;
    if (zero) {
        /* One non-blocking attempt. The op array is built for this call
         * only, so the flag need not be taken off again. */
        for (size_t i = 0; i < c->nops; i++)
            c->ops[i].sem_flg |= IPC_NOWAIT;
        rc = semop(c->semid, c->ops, c->nops);
    } else {
        rc = semtimedop(c->semid, c->ops, c->nops, remaining);
    }
    if (rc < 0 && errno == EAGAIN && remaining != NULL && !c->user_nowait)
        errno = ETIMEDOUT;
    return rc;
}

/* Runs the operations. Calls that cannot block (every delta > 0, or
 * IPC_NOWAIT) are made with the GIL held; the others go through the helper. */
static int
run_semop(int semid, struct sembuf *ops, size_t nops, const unixipc_deadline *deadline,
          const char *cancel)
{
    int can_block = 0, user_nowait = 0;
    for (size_t i = 0; i < nops; i++) {
        if (ops[i].sem_flg & IPC_NOWAIT)
            user_nowait = 1;
        else if (ops[i].sem_op <= 0)
            can_block = 1;
    }
    if (!can_block) {
        if (semop(semid, ops, nops) < 0) {
            raise_on_set(semid, "semop", errno);
            return -1;
        }
        return 0;
    }
    semop_ctx c = {semid, ops, nops, user_nowait, cancel};
    if (unixipc_blocking_call("semop", semop_fn, &c, deadline, UNIXIPC_WAIT_NATIVE) < 0) {
        unixipc_name_removed("semaphore set", semid, set_exists);
        return -1;
    }
    return 0;
}

/* block=, timeout= -> extra per-op flags and a deadline. */
static int
wait_args(PyObject *block_obj, PyObject *timeout_obj, short *flags, unixipc_deadline *d)
{
    int block;
    if (!unixipc_conv_wait(block_obj, timeout_obj, &block, d))
        return -1;
    if (!block)
        *flags |= IPC_NOWAIT;
    return 0;
}

/* ---- SemaphoreSetBase --------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    int semid;
    int nsems;
} SetBase;

static int
parse_op(PyObject *item, int nsems, short extra_flags, struct sembuf *out)
{
    if (!PyTuple_Check(item) || (PyTuple_GET_SIZE(item) != 2 && PyTuple_GET_SIZE(item) != 3)) {
        PyErr_SetString(PyExc_TypeError,
                        "each operation must be a tuple (index, delta) or (index, delta, flags)");
        return -1;
    }
    long index, delta, flags = 0;
    if (!unixipc_conv_long_in(PyTuple_GET_ITEM(item, 0), 0, nsems - 1, "semaphore index",
                              &index) ||
        !unixipc_conv_long_in(PyTuple_GET_ITEM(item, 1), SHRT_MIN, SHRT_MAX, "delta", &delta))
        return -1;
    if (PyTuple_GET_SIZE(item) == 3) {
        if (!unixipc_conv_long_in(PyTuple_GET_ITEM(item, 2), 0, SHRT_MAX, "flags", &flags))
            return -1;
        if (flags & ~(IPC_NOWAIT | SEM_UNDO)) {
            PyErr_SetString(PyExc_ValueError, "per-op flags may be IPC_NOWAIT and SEM_UNDO");
            return -1;
        }
    }
    out->sem_num = (unsigned short)index;
    out->sem_op = (short)delta;
    out->sem_flg = (short)(flags | extra_flags);
    return 0;
}

static PyObject *
set_op(SetBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    unixipc_deadline deadline;
    short flags = 0;
    PyObject *block = NULL, *undo_obj = NULL, *timeout = NULL, *cancel_obj = NULL;
    if (kwnames != NULL) {
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kwnames); k++) {
            const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, k));
            PyObject *value = args[nargs + k];
            if (name == NULL)
                return NULL;
            if (strcmp(name, "block") == 0)
                block = value;
            else if (strcmp(name, "undo") == 0)
                undo_obj = value;
            else if (strcmp(name, "timeout") == 0)
                timeout = value;
            else if (strcmp(name, "_cancel") == 0)
                cancel_obj = value;
            else
                return PyErr_Format(PyExc_TypeError,
                                    "op() got an unexpected keyword argument '%s'", name);
        }
    }
    if (nargs == 0) {
        PyErr_SetString(PyExc_ValueError, "op() needs at least one (index, delta) operation");
        return NULL;
    }
    if (nargs > semopm()) {
        PyErr_Format(PyExc_ValueError,
                     "%zd operations exceed the kernel's limit of %d per call (SEMOPM)", nargs,
                     semopm());
        return NULL;
    }
    int undo = 0;
    if (!unixipc_conv_bool(undo_obj, &undo) || wait_args(block, timeout, &flags, &deadline) < 0)
        return NULL;
    if (undo)
        flags |= SEM_UNDO;
    Py_buffer token_view;
    const char *token;
    if (unixipc_cancel_arg(cancel_obj, &token_view, &token) < 0)
        return NULL;
    struct sembuf stack[16];
    struct sembuf *ops = nargs <= 16 ? stack : PyMem_Calloc((size_t)nargs, sizeof *ops);
    if (ops == NULL) {
        if (token_view.obj != NULL)
            PyBuffer_Release(&token_view);
        return PyErr_NoMemory();
    }
    int rc = 0;
    for (Py_ssize_t i = 0; i < nargs && rc == 0; i++)
        rc = parse_op(args[i], self->nsems, flags, &ops[i]);
    if (rc == 0)
        rc = run_semop(self->semid, ops, (size_t)nargs, &deadline, token);
    if (ops != stack)
        PyMem_Free(ops);
    if (token_view.obj != NULL)
        PyBuffer_Release(&token_view);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
set_bind(SetBase *self, PyObject *const *args, Py_ssize_t nargs)
{
    long semid, nsems;
    static const char *const names[] = {"semid", "nsems", NULL};
    PyObject *v[2];
    if (unixipc_parse_args("_bind", args, nargs, NULL, names, 2, 2, v) < 0)
        return NULL;
    if (!unixipc_conv_long_in(v[0], 0, INT_MAX, "semid", &semid) ||
        !unixipc_conv_long_in(v[1], 1, INT_MAX, "nsems", &nsems))
        return NULL;
    self->semid = (int)semid;
    self->nsems = (int)nsems;
    Py_RETURN_NONE;
}

static PyObject *
set_get_id(SetBase *self, void *closure)
{
    return PyLong_FromLong(self->semid);
}

static Py_ssize_t
set_len(SetBase *self)
{
    return self->nsems;
}

static int
set_init(SetBase *self, PyObject *args, PyObject *kwds)
{
    self->semid = -1;
    self->nsems = 0;
    return 0;
}

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)

static PyMethodDef set_methods[] = {
    {"op", UNIXIPC_FASTCALL(set_op), FASTKW,
     "op($self, /, *ops, block=True, undo=False, timeout=None, _cancel=None)\n--\n\n"
     "Apply every (index, delta[, flags]) operation in ONE atomic semop: all or none."},
    {"_bind", UNIXIPC_FASTCALL(set_bind), METH_FASTCALL,
     "Set the semid and size this object uses."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef set_getset[] = {
    {"id", (getter)set_get_id, NULL, "The set's identifier (semid).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot set_slots[] = {
    {Py_tp_doc, "Base of unixipc.SemaphoreSet: the semid and the atomic op()."},
    {Py_tp_init, set_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_methods, set_methods},
    {Py_tp_getset, set_getset},
    {Py_sq_length, set_len},
    {0, NULL},
};

static PyType_Spec set_spec = {
    .name = "unixipc._core.SemaphoreSetBase",
    .basicsize = sizeof(SetBase),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .slots = set_slots,
};

/* ---- SemaphoreBase: one semaphore of a set ----------------------------------- */

typedef struct {
    PyObject_HEAD
    int semid;
    unsigned short index;
} SemBase;

/* The hot call shapes, acquire()/release() and acquire(undo=x)/release(undo=x),
 * recognised without the general parser: 1 or 0 = the undo flag, -1 = another
 * shape (use the parser), -2 = error set. A keyword name in a call is the
 * interned constant of the caller's code object, so identity usually decides;
 * an equal but distinct string falls back to the parser, which accepts it. */
static int
only_undo(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static PyObject *kw_undo = NULL;
    if (nargs != 0)
        return -1;
    if (kwnames == NULL)
        return 1;
    if (PyTuple_GET_SIZE(kwnames) != 1)
        return -1;
    if (kw_undo == NULL && (kw_undo = PyUnicode_InternFromString("undo")) == NULL)
        return -2;
    if (PyTuple_GET_ITEM(kwnames, 0) != kw_undo)
        return -1;
    int undo = 1;
    return unixipc_conv_bool(args[0], &undo) ? undo : -2;
}

static PyObject *
one_op(SemBase *self, short delta, short flags, const unixipc_deadline *deadline,
       PyObject *cancel_obj)
{
    struct sembuf op = {self->index, delta, flags};
    Py_buffer token_view;
    const char *token;
    if (unixipc_cancel_arg(cancel_obj, &token_view, &token) < 0)
        return NULL;
    int rc = run_semop(self->semid, &op, 1, deadline, token);
    if (token_view.obj != NULL)
        PyBuffer_Release(&token_view);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
sem_acquire(SemBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"delta", "block", "undo", "timeout", "_cancel", NULL};
    PyObject *v[5];
    long delta = 1;
    short flags = 0;
    unixipc_deadline deadline;
    int fast = only_undo(args, nargs, kwnames);
    if (fast >= 0) { /* acquire() or acquire(undo=...): the hot shapes */
        struct sembuf op = {self->index, -1, fast ? SEM_UNDO : 0};
        deadline.infinite = 1;
        if (run_semop(self->semid, &op, 1, &deadline, NULL) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    if (fast == -2)
        return NULL;
    if (unixipc_parse_args("acquire", args, nargs, kwnames, names, 1, 0, v) < 0)
        return NULL;
    if (!unixipc_conv_long_in(v[0], 1, SHRT_MAX, "delta", &delta))
        return NULL;
    int undo = 1;
    if (!unixipc_conv_bool(v[2], &undo) || wait_args(v[1], v[3], &flags, &deadline) < 0)
        return NULL;
    if (undo)
        flags |= SEM_UNDO;
    return one_op(self, (short)-delta, flags, &deadline, v[4]);
}

static PyObject *
sem_release(SemBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"delta", "undo", NULL};
    PyObject *v[2];
    long delta = 1;
    unixipc_deadline forever = {1, {0, 0}};
    int fast = only_undo(args, nargs, kwnames);
    if (fast >= 0) { /* release() or release(undo=...): never blocks */
        struct sembuf op = {self->index, 1, fast ? SEM_UNDO : 0};
        if (semop(self->semid, &op, 1) < 0)
            return raise_on_set(self->semid, "semop", errno);
        Py_RETURN_NONE;
    }
    if (fast == -2)
        return NULL;
    if (unixipc_parse_args("release", args, nargs, kwnames, names, 1, 0, v) < 0)
        return NULL;
    if (!unixipc_conv_long_in(v[0], 1, SHRT_MAX, "delta", &delta))
        return NULL;
    int undo = 1;
    if (!unixipc_conv_bool(v[1], &undo))
        return NULL;
    return one_op(self, (short)delta, undo ? SEM_UNDO : 0, &forever, NULL);
}

static PyObject *
sem_wait_zero(SemBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"block", "timeout", "_cancel", NULL};
    PyObject *v[3];
    short flags = 0;
    unixipc_deadline deadline;
    if (unixipc_parse_args("wait_zero", args, nargs, kwnames, names, 0, 0, v) < 0)
        return NULL;
    if (wait_args(v[0], v[1], &flags, &deadline) < 0)
        return NULL;
    return one_op(self, 0, flags, &deadline, v[2]);
}

static PyObject *
sem_bind(SemBase *self, PyObject *const *args, Py_ssize_t nargs)
{
    long semid, index;
    static const char *const names[] = {"semid", "index", NULL};
    PyObject *v[2];
    if (unixipc_parse_args("_bind", args, nargs, NULL, names, 2, 2, v) < 0)
        return NULL;
    if (!unixipc_conv_long_in(v[0], 0, INT_MAX, "semid", &semid) ||
        !unixipc_conv_long_in(v[1], 0, USHRT_MAX, "index", &index))
        return NULL;
    self->semid = (int)semid;
    self->index = (unsigned short)index;
    Py_RETURN_NONE;
}

static PyObject *
sem_get_index(SemBase *self, void *closure)
{
    return PyLong_FromLong(self->index);
}

static PyObject *
sem_get_semid(SemBase *self, void *closure)
{
    return PyLong_FromLong(self->semid);
}

static int
sem_init(SemBase *self, PyObject *args, PyObject *kwds)
{
    self->semid = -1;
    self->index = 0;
    return 0;
}

static PyMethodDef sem_methods[] = {
    {"acquire", UNIXIPC_FASTCALL(sem_acquire), FASTKW,
     "acquire($self, /, delta=1, *, block=True, undo=True, timeout=None, _cancel=None)\n--\n\n"
     "Subtract delta, waiting while the value is smaller."},
    {"release", UNIXIPC_FASTCALL(sem_release), FASTKW,
     "release($self, /, delta=1, *, undo=True)\n--\n\nAdd delta (never blocks)."},
    {"wait_zero", UNIXIPC_FASTCALL(sem_wait_zero), FASTKW,
     "wait_zero($self, /, *, block=True, timeout=None, _cancel=None)\n--\n\nWait until the value is 0."},
    {"_bind", UNIXIPC_FASTCALL(sem_bind), METH_FASTCALL,
     "Set the semid and index this object uses."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef sem_getset[] = {
    {"index", (getter)sem_get_index, NULL, "Position of this semaphore in its set.", NULL},
    {"semid", (getter)sem_get_semid, NULL, "The set's identifier.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot sem_slots[] = {
    {Py_tp_doc, "Base of unixipc.Semaphore: one semaphore's hot calls."},
    {Py_tp_init, sem_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_methods, sem_methods},
    {Py_tp_getset, sem_getset},
    {0, NULL},
};

static PyType_Spec sem_spec = {
    .name = "unixipc._core.SemaphoreBase",
    .basicsize = sizeof(SemBase),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .slots = sem_slots,
};

/* ---- module functions ------------------------------------------------------------ */

static PyObject *
core_semget(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long key, nsems, flags;
    static const char *const names[] = {"key", "nsems", "flags", NULL};
    PyObject *v[3];
    if (unixipc_parse_args("semget", args, nargs, NULL, names, 3, 3, v) < 0)
        return NULL;
    if (!unixipc_conv_long_in(v[0], INT_MIN, INT_MAX, "key", &key) ||
        !unixipc_conv_long_in(v[1], 0, INT_MAX, "nsems", &nsems) ||
        !unixipc_conv_long_in(v[2], 0, INT_MAX, "flags", &flags))
        return NULL;
    int id = semget((key_t)key, (int)nsems, (int)flags);
    if (id < 0)
        return unixipc_raise_errno("semget", errno);
    return PyLong_FromLong(id);
}

static PyObject *
stat_dict(int semid, const struct semid_ds *ds)
{
    return Py_BuildValue("{si sl sl sl sl sl si si sl sl sk}", "id", semid, "key",
                         (long)ds->sem_perm.__key, "uid", (long)ds->sem_perm.uid, "gid",
                         (long)ds->sem_perm.gid, "cuid", (long)ds->sem_perm.cuid, "cgid",
                         (long)ds->sem_perm.cgid, "mode", (int)(ds->sem_perm.mode & 0777),
                         "seq", (int)ds->sem_perm.__seq, "op_time", (long)ds->sem_otime,
                         "change_time", (long)ds->sem_ctime, "count",
                         (unsigned long)ds->sem_nsems);
}

static PyObject *
core_semctl_stat(PyObject *module, PyObject *arg)
{
    long semid;
    struct semid_ds ds;
    union semun u = {.buf = &ds};
    if (!unixipc_conv_long_in(arg, 0, INT_MAX, "semid", &semid))
        return NULL;
    if (semctl((int)semid, 0, IPC_STAT, u) < 0)
        return raise_on_set((int)semid, "semctl(IPC_STAT)", errno);
    return stat_dict((int)semid, &ds);
}

/* semctl_get(semid, index, cmd): GETVAL, GETNCNT, GETZCNT or GETPID. */
static PyObject *
core_semctl_get(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long semid, index, cmd;
    static const char *const names[] = {"semid", "index", "cmd", NULL};
    PyObject *v[3];
    if (unixipc_parse_args("semctl_get", args, nargs, NULL, names, 3, 3, v) < 0)
        return NULL;
    if (!unixipc_conv_long_in(v[0], 0, INT_MAX, "semid", &semid) ||
        !unixipc_conv_long_in(v[1], 0, USHRT_MAX, "index", &index) ||
        !unixipc_conv_long_in(v[2], 0, INT_MAX, "cmd", &cmd))
        return NULL;
    if (cmd != GETVAL && cmd != GETNCNT && cmd != GETZCNT && cmd != GETPID) {
        PyErr_SetString(PyExc_ValueError, "cmd must be GETVAL, GETNCNT, GETZCNT or GETPID");
        return NULL;
    }
    int got = semctl((int)semid, (int)index, (int)cmd);
    if (got < 0)
        return raise_on_set((int)semid, "semctl", errno);
    return PyLong_FromLong(got);
}

static PyObject *
core_semctl_setval(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long semid, index, value;
    static const char *const names[] = {"semid", "index", "value", NULL};
    PyObject *v[3];
    if (unixipc_parse_args("semctl_setval", args, nargs, NULL, names, 3, 3, v) < 0)
        return NULL;
    if (!unixipc_conv_long_in(v[0], 0, INT_MAX, "semid", &semid) ||
        !unixipc_conv_long_in(v[1], 0, USHRT_MAX, "index", &index) ||
        !unixipc_conv_long_in(v[2], 0, SEMVMX_DEFAULT, "semaphore value", &value))
        return NULL;
    union semun u = {.val = (int)value};
    if (semctl((int)semid, (int)index, SETVAL, u) < 0)
        return raise_on_set((int)semid, "semctl(SETVAL)", errno);
    Py_RETURN_NONE;
}

/* IPC_STAT of semid, or, when read permission is missing (EACCES), the
 * same record from the SEM_STAT_ANY walk, which needs none: SETALL needs
 * only alter permission, and its buffer must still be sized from what the
 * kernel says now. 0, or -1 with errno set (IPC_STAT's when not found). */
static int
stat_even_unreadable(int semid, struct semid_ds *ds)
{
    union semun u = {.buf = ds};
    if (semctl(semid, 0, IPC_STAT, u) == 0)
        return 0;
    if (errno != EACCES)
        return -1;
    struct seminfo info;
    union semun iu = {.__buf = &info};
    int max_index = semctl(0, 0, SEM_INFO, iu);
    for (int index = 0; index <= max_index; index++)
        if (semctl(index, 0, SEM_STAT_ANY, u) == semid)
            return 0;
    errno = EACCES;
    return -1;
}

/* The set's semaphore count now, from a fresh IPC_STAT. When expected > 0
 * (the count a Python handle remembers) and the set has another count, the
 * set the handle opened was removed and its id reused: raise EIDRM naming
 * the set, before any GETALL/SETALL. Returns the count, or -1 with an error. */
static long
fresh_nsems(int semid, long expected, const char *syscall)
{
    struct semid_ds ds;
    if (stat_even_unreadable(semid, &ds) < 0)
        return (raise_on_set(semid, syscall, errno), -1);
    long now = (long)ds.sem_nsems;
    if (expected > 0 && now != expected) {
        char what[200];
        PyOS_snprintf(what, sizeof what,
                      "%s: semaphore set %d was removed and its id reused by a set of %ld "
                      "semaphores (this handle opened a set of %ld)",
                      syscall, semid, now, expected);
        return (raise_on_set(semid, what, EIDRM), -1);
    }
    return now;
}

/* semctl_getall(semid, nsems): nsems is the count the caller knows (0: no
 * check); the buffer is always sized from a fresh IPC_STAT. */
static PyObject *
core_semctl_getall(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long semid, expected;
    static const char *const names[] = {"semid", "nsems", NULL};
    PyObject *v[2];
    if (unixipc_parse_args("semctl_getall", args, nargs, NULL, names, 2, 2, v) < 0)
        return NULL;
    if (!unixipc_conv_long_in(v[0], 0, INT_MAX, "semid", &semid) ||
        !unixipc_conv_long_in(v[1], 0, INT_MAX, "nsems", &expected))
        return NULL;
    long nsems = fresh_nsems((int)semid, expected, "semctl(GETALL)");
    if (nsems < 0)
        return NULL;
    unsigned short *values = PyMem_Calloc(nsems > 0 ? (size_t)nsems : 1, sizeof *values);
    if (values == NULL)
        return PyErr_NoMemory();
    union semun u = {.array = values};
    if (semctl((int)semid, 0, GETALL, u) < 0) {
        PyMem_Free(values);
        return raise_on_set((int)semid, "semctl(GETALL)", errno);
    }
    PyObject *list = PyList_New(nsems);
    for (long i = 0; list != NULL && i < nsems; i++) {
        PyObject *v = PyLong_FromLong(values[i]);
        if (v == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, v);
    }
    PyMem_Free(values);
    return list;
}

/* semctl_setall(semid, values[, nsems]): nsems is the count the caller knows
 * (0 or absent: no check). The set's count comes from a fresh IPC_STAT and
 * len(values) must equal it, so the kernel never reads past the buffer. */
static PyObject *
core_semctl_setall(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"semid", "values", "nsems", NULL};
    PyObject *v[3], *seq = NULL, *result = NULL;
    unsigned short *values = NULL;
    long semid = 0, expected = 0, nsems;
    union semun u;
    Py_ssize_t n;
    int rc, err;

    if (unixipc_parse_args("semctl_setall", args, nargs, NULL, names, 3, 2, v) < 0 ||
        !unixipc_conv_long_in(v[0], 0, INT_MAX, "semid", &semid) ||
        !unixipc_conv_long_in(v[2], 0, INT_MAX, "nsems", &expected))
        return NULL;
    seq = PySequence_Fast(v[1], "values must be a sequence of ints");
    if (seq == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(seq);
    nsems = fresh_nsems((int)semid, expected, "semctl(SETALL)");
    if (nsems < 0)
        goto done;
    if ((long)n != nsems) {
        PyErr_Format(PyExc_ValueError, "%zd values for semaphore set %ld of %ld", n, semid,
                     nsems);
        goto done;
    }
    values = PyMem_Calloc(nsems > 0 ? (size_t)nsems : 1, sizeof *values);
    if (values == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long value = 0;
        if (!unixipc_conv_long_in(PySequence_Fast_GET_ITEM(seq, i), 0, SEMVMX_DEFAULT,
                                  "semaphore value", &value))
            goto done;
        values[i] = (unsigned short)value;
    }
    u.array = values;
    rc = semctl((int)semid, 0, SETALL, u);
    err = errno;
    if (rc < 0)
        raise_on_set((int)semid, "semctl(SETALL)", err);
    else
        result = Py_NewRef(Py_None);
done:
    PyMem_Free(values);
    Py_XDECREF(seq);
    return result;
}

/* semctl_set(semid, uid, gid, mode): IPC_SET with exactly these values.
 * No IPC_STAT first: the caller may lack read permission and still own
 * the set, and a non-owner must get the kernel's own EPERM. */
static PyObject *
core_semctl_set(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"semid", "uid", "gid", "mode", NULL};
    PyObject *args_v[4];
    long v[4] = {0, 0, 0, 0};
    if (unixipc_parse_args("semctl_set", args, nargs, NULL, names, 4, 4, args_v) < 0)
        return NULL;
    for (int i = 0; i < 4; i++)
        if (!unixipc_conv_long_in(args_v[i], 0, i == 3 ? 0777 : INT_MAX, names[i], &v[i]))
            return NULL;
    struct semid_ds ds;
    memset(&ds, 0, sizeof ds);
    ds.sem_perm.uid = (uid_t)v[1];
    ds.sem_perm.gid = (gid_t)v[2];
    ds.sem_perm.mode = (unsigned short)v[3];
    union semun u = {.buf = &ds};
    if (semctl((int)v[0], 0, IPC_SET, u) < 0)
        return raise_on_set((int)v[0], "semctl(IPC_SET)", errno);
    Py_RETURN_NONE;
}

static PyObject *
core_semctl_rmid(PyObject *module, PyObject *arg)
{
    long semid;
    if (!unixipc_conv_long_in(arg, 0, INT_MAX, "semid", &semid))
        return NULL;
    if (semctl((int)semid, 0, IPC_RMID) < 0)
        return raise_on_set((int)semid, "semctl(IPC_RMID)", errno);
    Py_RETURN_NONE;
}

static PyObject *
core_sem_info(PyObject *module, PyObject *arg)
{
    long which;
    struct seminfo info;
    if (!unixipc_conv_long_in(arg, 0, INT_MAX, "which", &which))
        return NULL;
    if (which != IPC_INFO && which != SEM_INFO) {
        PyErr_SetString(PyExc_ValueError, "which must be IPC_INFO or SEM_INFO");
        return NULL;
    }
    memset(&info, 0, sizeof info);
    union semun u = {.__buf = &info};
    int max_index = semctl(0, 0, (int)which, u);
    if (max_index < 0)
        return unixipc_raise_errno("semctl(SEM_INFO)", errno);
    return Py_BuildValue("{si si si si si si si si si si si}", "semmap", info.semmap, "semmni",
                         info.semmni, "semmns", info.semmns, "semmnu", info.semmnu, "semmsl",
                         info.semmsl, "semopm", info.semopm, "semume", info.semume, "semusz",
                         info.semusz, "semvmx", info.semvmx, "semaem", info.semaem,
                         "max_index", max_index);
}

static PyObject *
core_sem_stat(PyObject *module, PyObject *arg)
{
    long index;
    struct semid_ds ds;
    union semun u = {.buf = &ds};
    if (!unixipc_conv_long_in(arg, 0, INT_MAX, "index", &index))
        return NULL;
    int id = semctl((int)index, 0, SEM_STAT_ANY, u);
    if (id < 0 && errno == EINVAL)
        id = semctl((int)index, 0, SEM_STAT, u);
    if (id < 0)
        return unixipc_raise_errno("semctl(SEM_STAT)", errno);
    return stat_dict(id, &ds);
}

PyMethodDef unixipc_sem_methods[] = {
    {"semget", UNIXIPC_FASTCALL(core_semget), METH_FASTCALL, "semget(key, nsems, flags) -> semid"},
    {"semctl_stat", core_semctl_stat, METH_O, "semctl IPC_STAT -> dict of semid_ds"},
    {"semctl_get", UNIXIPC_FASTCALL(core_semctl_get), METH_FASTCALL,
     "semctl_get(semid, index, cmd): GETVAL, GETNCNT, GETZCNT or GETPID"},
    {"semctl_setval", UNIXIPC_FASTCALL(core_semctl_setval), METH_FASTCALL,
     "semctl SETVAL (semid, index, value)"},
    {"semctl_getall", UNIXIPC_FASTCALL(core_semctl_getall), METH_FASTCALL,
     "semctl GETALL (semid, nsems) -> list; nsems is checked against a fresh IPC_STAT"},
    {"semctl_setall", UNIXIPC_FASTCALL(core_semctl_setall), METH_FASTCALL,
     "semctl SETALL (semid, values[, nsems]); nsems is checked against a fresh IPC_STAT"},
    {"semctl_set", UNIXIPC_FASTCALL(core_semctl_set), METH_FASTCALL,
     "semctl IPC_SET (semid, uid, gid, mode), all fields given"},
    {"semctl_rmid", core_semctl_rmid, METH_O, "semctl IPC_RMID"},
    {"sem_info", core_sem_info, METH_O, "semctl IPC_INFO / SEM_INFO -> dict"},
    {"sem_stat", core_sem_stat, METH_O, "semctl SEM_STAT(_ANY) of a slot index -> dict"},
    {NULL, NULL, 0, NULL},
};

int
unixipc_sem_exec(PyObject *module)
{
    if (unixipc_add_type(module, &set_spec, "SemaphoreSetBase", NULL) < 0 ||
        unixipc_add_type(module, &sem_spec, "SemaphoreBase", NULL) < 0)
        return -1;
    UNIXIPC_ADD_INT(module, SEM_UNDO);
    UNIXIPC_ADD_INT(module, GETVAL);
    UNIXIPC_ADD_INT(module, GETNCNT);
    UNIXIPC_ADD_INT(module, GETZCNT);
    UNIXIPC_ADD_INT(module, GETPID);
    UNIXIPC_ADD_INT(module, SEM_INFO);
    UNIXIPC_ADD_INT(module, SEM_STAT);
    UNIXIPC_ADD_INT(module, SEM_STAT_ANY);
    if (PyModule_AddIntConstant(module, "SEMVMX", SEMVMX_DEFAULT) < 0)
        return -1;
    return 0;
}
