/* unixipc._core: the thin C layer under unixipc.
 *
 * One file per subsystem (sem.c, shm.c, ...; msg_ctl.c and msg_io.c for
 * message queues, which share msg.h). Each subsystem file defines
 *   PyMethodDef unixipc_<name>_methods[]   (terminated by {NULL})
 *   int unixipc_<name>_exec(PyObject *module)  (types, constants; 0 or -1)
 * and module.c registers them all. Functions seen from Python are named after
 * the system call, take positional C types and stay short; Python builds the
 * typed results.
 */
#ifndef UNIXIPC_CORE_H
#define UNIXIPC_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <time.h>

/* ---- errors.c ----------------------------------------------------------
 * Raise the exception for errno `err` from system call `syscall`: the class
 * comes from the table that unixipc.errors registers (EIDRM ->
 * ObjectRemovedError, ...); other errnos get OSError's own PEP 3151 mapping.
 * The message names the call: "[Errno 43] msgrcv: Identifier removed".
 * Always returns NULL so callers can `return unixipc_raise_errno(...)`. */
PyObject *unixipc_raise_errno(const char *syscall, int err);
/* TimeoutError(ETIMEDOUT, "<syscall>: timed out"); returns NULL. */
PyObject *unixipc_raise_timeout(const char *syscall);
/* Called when a call on System V object `id` failed (exception set): the one
 * way use after removal is reported for queues, sets and segments. When the
 * error is an OSError with EIDRM, or EINVAL while `exists(id)` says no object
 * has this id now, it becomes ObjectRemovedError with the same errno and
 * message, naming the object as its filename ("message queue 32768
 * (removed)"):  "[Errno 22] msgrcv: Invalid argument: 'message queue 32768
 * (removed)'". Other errors pass unchanged. Always returns NULL. */
PyObject *unixipc_name_removed(const char *noun, int id, int (*exists)(int id));
/* ValueError for a use of closed object `obj`, worded as the Python side's
 * (_closable.py): "I/O operation on closed <repr(obj)>", e.g. "I/O
 * operation on closed <MessageChannel stream closed>". obj NULL (a bare
 * descriptor) or a failing repr: "I/O operation on closed file" /
 * "... closed <TypeName> object". Always returns NULL. */
PyObject *unixipc_closed_error(PyObject *obj);

/* ---- blocking.c ---------------------------------------------------------
 * Every blocking system call goes through unixipc_blocking_call. */

typedef struct {
    int infinite;          /* 1: no deadline */
    struct timespec at;    /* absolute CLOCK_MONOTONIC time */
} unixipc_deadline;

/* Converts a Python timeout (None, or a real number of seconds >= 0) into a
 * deadline counted from now. Returns 0, or -1 with TypeError/ValueError. */
int unixipc_deadline_from_timeout(PyObject *timeout, unixipc_deadline *out);

/* The call to make, run WITHOUT the GIL: touch no Python object in it.
 * `remaining` is NULL when there is no deadline, else the time left (zero
 * when the deadline has passed: then make one non-blocking attempt).
 * Return >= 0 on success, -1 with errno set on failure; report "would block
 * and the time is up" as errno ETIMEDOUT. */
typedef long (*unixipc_syscall_fn)(void *ctx, const struct timespec *remaining);

enum unixipc_wait_kind {
    /* fn has a timed form of its own (semtimedop, poll, ppoll): it receives
     * the remaining time and reports expiry as ETIMEDOUT. */
    UNIXIPC_WAIT_NATIVE = 0,
    /* fn has no timed form (msgsnd, msgrcv, open of a FIFO): with a finite
     * deadline a per-thread POSIX timer sends UNIXIPC_TIMER_SIGNAL to this
     * thread at the deadline, and again every UNIXIPC_TIMER_REFIRE_NS until
     * the call returns, so a wake-up that lands just before the call enters
     * the kernel is not lost. Nothing polls before the deadline. */
    UNIXIPC_WAIT_TIMER = 1,
};

/* Runs fn until it succeeds, fails with an errno other than EINTR, or the
 * deadline passes. The GIL is released around each attempt; after EINTR the
 * Python signal handlers run (their exception is returned as is) and the
 * call is retried with the remaining time (PEP 475).
 * Returns fn's result (>= 0), or -1 with an exception set: TimeoutError when
 * the deadline passed, else the errno-mapped OSError naming `syscall`. */
long unixipc_blocking_call(const char *syscall, unixipc_syscall_fn fn, void *ctx,
                           const unixipc_deadline *deadline,
                           enum unixipc_wait_kind kind);

/* The same, with `recheck(ctx)` run (GIL held) after the signal handlers
 * and before each retry: it returns -1 with an exception set when the call
 * must not be retried (e.g. a handler closed the socket the call was made
 * on, and its descriptor number may already name another file). */
long unixipc_blocking_call_recheck(const char *syscall, unixipc_syscall_fn fn, void *ctx,
                                   const unixipc_deadline *deadline,
                                   enum unixipc_wait_kind kind, int (*recheck)(void *ctx));

/* Cancellation of a call made for an async twin in a worker thread. The call
 * carries a token (the first byte of a bytearray, pinned for the call). The
 * event loop sets it and then signals the worker thread with the cancel
 * signal (_core._cancel_signal(), a no-op handler without SA_RESTART) until
 * the call returns: the blocked system call fails with EINTR, the helper
 * retries, and the fn, which checks the token before each attempt, fails
 * with ECANCELED instead of waiting again. */
int unixipc_cancelled(const char *token); /* 1 (errno = ECANCELED) or 0 */
/* Parses the private `_cancel` argument (NULL/None or a bytearray), pinning
 * it in *view (release with PyBuffer_Release when view->obj is set). */
int unixipc_cancel_arg(PyObject *obj, Py_buffer *view, const char **token);

/* Time left until `d` (zero if passed). `d` must be finite. */
void unixipc_deadline_remaining(const unixipc_deadline *d, struct timespec *out);

/* ---- arguments (args.c) -------------------------------------------------
 * One parsing style: a function of one argument is METH_O; any other takes
 * METH_FASTCALL (| METH_KEYWORDS when it has keywords) and parses with
 * unixipc_parse_args, which also checks the arity of positional-only ones
 * (kwnames NULL). A tp_init gets a tuple and a dict: it takes its
 * arguments from them, with PyArg_ParseTupleAndKeywords if it must, but
 * only through "O&" and the converters below (other format codes such as
 * "i", "K" or "I" raise OverflowError or wrap silently). Every argument is
 * converted with a unixipc_conv_* function before any system call. */

/* A small keyword parser for METH_FASTCALL | METH_KEYWORDS functions that
 * avoids building tuples and dicts on hot paths. `names` lists every
 * parameter name (positional ones first), NULL-terminated; `values` gets one
 * borrowed reference (or NULL when not given) per name. At most
 * `max_positional` may be passed positionally, and the first `required` must
 * be given. Returns 0, or -1 with TypeError. */
int unixipc_parse_args(const char *funcname, PyObject *const *args,
                       Py_ssize_t nargs, PyObject *kwnames,
                       const char *const *names, Py_ssize_t max_positional,
                       Py_ssize_t required, PyObject **values);

/* The converters. Each returns 1 on success and 0 with the exception set
 * (PyArg's "O&" convention; the (obj, void *out) ones are "O&" converters).
 * obj NULL (an optional argument that was not given) leaves *out as it is:
 * the value *out was initialised with is the default.
 *
 * An integer argument is an int or an object with __index__, never a bool
 * or a float: TypeError "<what> must be an integer, not <type>". A value
 * outside lo..hi, however large, is ValueError "<what> must be in lo..hi"
 * (">= lo" when hi is LLONG_MAX), never OverflowError. `what` names the
 * argument. */
int unixipc_conv_int_in(PyObject *obj, int lo, int hi, const char *what, int *out);
int unixipc_conv_long_in(PyObject *obj, long lo, long hi, const char *what, long *out);
int unixipc_conv_llong_in(PyObject *obj, long long lo, long long hi, const char *what,
                          long long *out);
int unixipc_conv_size_in(PyObject *obj, Py_ssize_t lo, Py_ssize_t hi, const char *what,
                         Py_ssize_t *out);
/* A size or None ("no limit"): None -> -1, else 0..PY_SSIZE_T_MAX. */
int unixipc_conv_opt_size(PyObject *obj, const char *what, Py_ssize_t *out);
/* "O&": *(int *)out = the truth of obj (any object, as `if obj:`). */
int unixipc_conv_bool(PyObject *obj, void *out);
/* "O&": *(int *)out = an int of 0..INT_MAX (a descriptor, an id, a slot
 * index); its message says "argument": where the caller sees the argument,
 * name it with unixipc_conv_int_in. */
int unixipc_conv_nonneg_int(PyObject *obj, void *out);
/* block= and timeout= of a blocking call (both NULL when not given), in
 * this order: *block = the truth of block_obj (default True), *deadline
 * from timeout_obj (unixipc_deadline_from_timeout); with block false the
 * deadline is infinite, as such a call never waits. The private _cancel=
 * argument converts with unixipc_cancel_arg (blocking.c). */
int unixipc_conv_wait(PyObject *block_obj, PyObject *timeout_obj, int *block,
                      unixipc_deadline *deadline);
/* "O&": *(const char **)out = the UTF-8 text of a str (TypeError for any
 * other type, ValueError for an embedded NUL), borrowed from obj; the
 * _opt_ form also takes None (-> NULL). */
int unixipc_conv_str(PyObject *obj, void *out);
int unixipc_conv_opt_str(PyObject *obj, void *out);
/* A sequence of messages (send_many): a new reference to a PySequence_Fast
 * of obj, or NULL with TypeError naming `funcname` when obj is one message
 * (str or bytes-like, a multi-dimensional memoryview included) or not
 * iterable. */
PyObject *unixipc_conv_messages(PyObject *obj, const char *funcname);

/* A PyMethodDef's ml_meth for a METH_FASTCALL (| METH_KEYWORDS) function. */
#define UNIXIPC_FASTCALL(f) ((PyCFunction)(void (*)(void))(f))

/* Creates a heap type from `spec` and adds it to the module as `name`;
 * *out (if not NULL) gets a new reference too. Returns 0 or -1. */
int unixipc_add_type(PyObject *module, PyType_Spec *spec, const char *name, PyObject **out);

/* A tuple (subclass) made with tp_alloc, or refilled for reuse: since
 * Python 3.14 a tuple caches its hash, and -1 means "not computed yet"
 * (tp_alloc leaves 0, which hash() would return as is). */
static inline void
unixipc_tuple_forget_hash(PyObject *tuple)
{
#if PY_VERSION_HEX >= 0x030E0000
    ((PyTupleObject *)tuple)->ob_hash = -1;
#else
    (void)tuple;
#endif
}

/* A 2-tuple of class `cls` (a tuple subclass such as a NamedTuple
 * registered by Python; NULL: a plain tuple) holding `first` and `second`,
 * whose references it steals, also on failure (NULL, exception set). */
static inline PyObject *
unixipc_new_pair(PyObject *cls, PyObject *first, PyObject *second)
{
    PyObject *pair;
    if (cls != NULL) {
        pair = ((PyTypeObject *)cls)->tp_alloc((PyTypeObject *)cls, 2);
        if (pair != NULL)
            unixipc_tuple_forget_hash(pair);
    } else {
        pair = PyTuple_New(2);
    }
    if (pair == NULL) {
        Py_DECREF(first);
        Py_DECREF(second);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, first);
    PyTuple_SET_ITEM(pair, 1, second);
    return pair;
}

/* ---- subsystems ---------------------------------------------------------- */
#define UNIXIPC_SUBSYSTEM(name)                    \
    extern PyMethodDef unixipc_##name##_methods[]; \
    int unixipc_##name##_exec(PyObject *module);

UNIXIPC_SUBSYSTEM(errors)
UNIXIPC_SUBSYSTEM(blocking)
UNIXIPC_SUBSYSTEM(keys)
UNIXIPC_SUBSYSTEM(msg_ctl)
UNIXIPC_SUBSYSTEM(msg_io)
UNIXIPC_SUBSYSTEM(sem)
UNIXIPC_SUBSYSTEM(shm)
UNIXIPC_SUBSYSTEM(pipe)
UNIXIPC_SUBSYSTEM(netdb)
UNIXIPC_SUBSYSTEM(sock)
UNIXIPC_SUBSYSTEM(shmch)
UNIXIPC_SUBSYSTEM(psem)
UNIXIPC_SUBSYSTEM(pmq)
UNIXIPC_SUBSYSTEM(pshm)

/* Adds an int constant; returns -1 on error. */
#define UNIXIPC_ADD_INT(module, name)                              \
    do {                                                           \
        if (PyModule_AddIntConstant((module), #name, (name)) < 0) \
            return -1;                                             \
    } while (0)

#endif
