/* System V message queues, I/O: msgsnd and msgrcv (msgget and msgctl are in
 * msg_ctl.c).
 *
 * The hot path (send, receive and their batched forms) lives on a C base
 * type, _core.MessageQueueBase, which holds the queue id; unixipc.msg
 * subclasses it in Python for everything else. Message types are C `long`
 * from the Python int to the kernel and back.
 *
 * Receive never mallocs a staging buffer per message. A buffer of up to
 * 8 KiB (msgmax's default, so what max_size=None asks for) is staged on the
 * stack and copied once into an exact-size bytes object: measured faster
 * than allocating 8 KiB of bytes and shrinking it. Larger buffers are
 * received straight into the result bytes object: on LP64 CPython the
 * bytes object's cached hash (ob_shash) sits exactly sizeof(long) before
 * its text (ob_sval), so `struct msgbuf` overlays them: the kernel writes
 * mtype over the hash, the text lands in the bytes object, the hash is reset
 * to "not computed" (-1) and the object shrunk to the received length.
 * Where the layout differs (checked at compile time) a heap buffer and one
 * copy are used instead.
 */
#define _GNU_SOURCE 1
#include "msg.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <signal.h>
#include <structmember.h>

/* The layout trick is usable when the hash is a long-sized field right before
 * the text: a compile-time constant, so the compiler drops the unused branch.
 * ob_shash is deprecated (3.11) as an API, not removed; we only overlay it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#define DIRECT_LAYOUT                                                              \
    (offsetof(PyBytesObject, ob_sval) - offsetof(PyBytesObject, ob_shash) ==     \
         sizeof(long) &&                                                           \
     sizeof(Py_hash_t) == sizeof(long))
enum { direct_layout = DIRECT_LAYOUT };

static inline void
reset_bytes_hash(PyObject *bytes)
{
    ((PyBytesObject *)bytes)->ob_shash = -1; /* "not computed yet" */
}
#pragma GCC diagnostic pop
#undef DIRECT_LAYOUT
#define DIRECT_LAYOUT direct_layout

/* Messages up to this size are staged on the stack (send, and receive when
 * the direct layout is not used). */
#define STACK_TEXT 8192

static int rcv_eager = 1;  /* _msg_receive_eager(False): always via the helper */
static PyObject *message_type = NULL; /* unixipc.msg.Message */

static int
is_zero(const struct timespec *remaining)
{
    return remaining != NULL && remaining->tv_sec == 0 && remaining->tv_nsec == 0;
}

/* ---- the base type ------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    int msqid;
    /* Adaptive eager receive: 1 while messages have been found waiting; when
     * one was not, only every EAGER_RETRY-th receive tries again first. */
    int eager;
    unsigned int eager_skips;
    /* The last Message receive() returned, kept to be refilled: see
     * message_for(). NULL when there is none. */
    PyObject *spare;
} MQBase;

#define EAGER_RETRY 16

static PyObject *
mq_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    MQBase *self = (MQBase *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->msqid = -1;
        self->eager = 1;
    }
    return (PyObject *)self;
}

static void
mq_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_CLEAR(((MQBase *)self)->spare);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* After E2BIG (the message is still queued): the next buffer size to try,
 * doubled but at least msgmax (asked again: it may have been raised) and
 * at most `limit` (max_size; -1: none). Not larger than `alloc`: give up. */
static Py_ssize_t
grown_buffer(Py_ssize_t alloc, Py_ssize_t limit)
{
    Py_ssize_t grown = alloc > PY_SSIZE_T_MAX / 2 ? PY_SSIZE_T_MAX : alloc * 2;
    if (grown < unixipc_msg_query_max())
        grown = unixipc_msgmax;
    if (limit >= 0 && grown > limit)
        grown = limit;
    return grown;
}

static PyObject *
make_message(long mtype, PyObject *data)
{
    PyObject *typ = PyLong_FromLong(mtype);
    if (typ == NULL) {
        Py_DECREF(data);
        return NULL;
    }
    return unixipc_new_pair(message_type, typ, data);
}

/* receive()'s result. Allocating a Message (a tuple subclass defined in
 * Python: GC allocation, subtype_dealloc) is a good part of a call's cost, so
 * the queue keeps the last one it returned; when the caller has dropped it
 * (the queue's reference is the only one left, so nothing can observe the
 * object), it is refilled instead of allocating a new one, as CPython's
 * zip() and enumerate() reuse their result tuple. Only messages of up to
 * SPARE_MAX bytes are kept, so the text held after the caller is done with
 * it stays small. Tuples have no identity-based behaviour that could tell
 * (no weak references on a NamedTuple, hash and equality are by value). */
#define SPARE_MAX 8192

static PyObject *
message_for(MQBase *self, long mtype, PyObject *data)
{
#ifndef Py_GIL_DISABLED
    PyObject *spare = self->spare;
    if (spare != NULL && Py_REFCNT(spare) == 1) {
        PyObject *typ = PyLong_FromLong(mtype);
        if (typ == NULL) {
            Py_DECREF(data);
            return NULL;
        }
        PyObject *old_type = PyTuple_GET_ITEM(spare, 0);
        PyObject *old_data = PyTuple_GET_ITEM(spare, 1);
        PyTuple_SET_ITEM(spare, 0, typ);
        PyTuple_SET_ITEM(spare, 1, data);
        unixipc_tuple_forget_hash(spare);
        if (PyBytes_GET_SIZE(data) > SPARE_MAX) {
            self->spare = NULL; /* hand it over: keep no large text */
        } else {
            Py_INCREF(spare);
        }
        Py_DECREF(old_type); /* an int and a bytes: no finalizer runs */
        Py_DECREF(old_data);
        return spare;
    }
    PyObject *msg = make_message(mtype, data);
    if (msg != NULL && message_type != NULL && PyBytes_GET_SIZE(data) <= SPARE_MAX) {
        Py_INCREF(msg);
        Py_XSETREF(self->spare, msg);
    }
    return msg;
#else
    (void)self;
    return make_message(mtype, data);
#endif
}

/* ---- send ------------------------------------------------------------------ */

typedef struct {
    int msqid;
    void *buf;
    size_t len;
    int flags;
    const char *cancel; /* see unixipc_cancelled() in core.h */
} snd_ctx;

static long
snd_fn(void *p, const struct timespec *remaining)
{
    snd_ctx *c = p;
    int zero = is_zero(remaining);
    if (unixipc_cancelled(c->cancel))
        return -1;
    if (msgsnd(c->msqid, c->buf, c->len, c->flags | (zero ? IPC_NOWAIT : 0)) == 0)
        return 0;
    if (zero && errno == EAGAIN)
        errno = ETIMEDOUT;
    return -1;
}

/* Can a message of `len` bytes never enter a queue whose max_bytes is
 * `qbytes`? The kernel admits one when text bytes + len <= qbytes AND
 * messages + 1 <= qbytes (msg_fits_inqueue), so nothing ever fits a queue of
 * max_bytes 0, not even an empty message. */
static int
never_fits(size_t len, unsigned long qbytes)
{
    return len > qbytes || qbytes == 0;
}

/* After EAGAIN: is the message larger than the queue can ever hold? Then it
 * would block forever; returns 1 with ValueError set. 0 when it may fit (or
 * the queue cannot be examined: then the kernel decides). */
static int
too_large_for_queue(int msqid, size_t len)
{
    struct msqid_ds ds;
    if (msgctl(msqid, IPC_STAT, &ds) < 0)
        return 0;
    if (never_fits(len, (unsigned long)ds.msg_qbytes)) {
        PyErr_Format(PyExc_ValueError,
                     "a message of %zu bytes can never fit in this queue "
                     "(its max_bytes is %lu)", len, (unsigned long)ds.msg_qbytes);
        return 1;
    }
    return 0;
}

/* Larger than the system's msgmax? ValueError (the kernel would say EINVAL). */
static int
over_msgmax(size_t len)
{
    if ((Py_ssize_t)len <= unixipc_msgmax)
        return 0;
    if (len > (size_t)PY_SSIZE_T_MAX || (Py_ssize_t)len > unixipc_msg_query_max()) {
        PyErr_Format(PyExc_ValueError,
                     "a message of %zu bytes exceeds the system limit msgmax "
                     "(%zd bytes, /proc/sys/kernel/msgmax)", len, unixipc_msgmax);
        return 1;
    }
    return 0;
}

/* After msgsnd's EINVAL: was msgmax lowered below `len` since it was cached?
 * Re-reads it; 1 with ValueError set if so (nothing was sent). */
static int
msgmax_lowered(size_t len)
{
    unixipc_msg_query_max();
    return over_msgmax(len);
}

/* Parses (block, timeout): fills *nowait and the deadline. */
static int
blocking_args(PyObject *block_obj, PyObject *timeout_obj, int *nowait,
              unixipc_deadline *deadline)
{
    int block;
    if (!unixipc_conv_wait(block_obj, timeout_obj, &block, deadline))
        return -1;
    *nowait = !block;
    return 0;
}


/* Is the call's only keyword "type", after nargs == 1 positional? A keyword
 * name is the interned constant of the caller's code, so identity decides;
 * an equal but distinct string simply takes the general parser. */
static int
type_keyword_only(Py_ssize_t nargs, PyObject *kwnames)
{
    static PyObject *kw_type = NULL;
    if (nargs != 1 || PyTuple_GET_SIZE(kwnames) != 1)
        return 0;
    if (kw_type == NULL && (kw_type = PyUnicode_InternFromString("type")) == NULL) {
        PyErr_Clear(); /* the general parser will do */
        return 0;
    }
    return PyTuple_GET_ITEM(kwnames, 0) == kw_type;
}

static const char *const send_names[] = {"data", "type", "block", "timeout", "_cancel", NULL};

static PyObject *
mq_send(MQBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *v[5];
    long mtype = 1;
    int nowait;
    unixipc_deadline deadline;
    const char *data;
    Py_ssize_t len;
    union {
        long mtype;
        char bytes[sizeof(long) + STACK_TEXT];
    } stack;
    /* released at done: */
    Py_buffer view = {0}, token_view = {0};
    const char *token = NULL;
    char *buf = NULL;
    PyObject *result = NULL;

    if (nargs >= 1 && nargs <= 2 && (kwnames == NULL || type_keyword_only(nargs, kwnames))) {
        /* send(data), send(data, t), send(data, type=t): no parser needed */
        v[0] = args[0];
        v[1] = nargs + (kwnames != NULL) == 2 ? args[1] : NULL;
        v[2] = v[3] = v[4] = NULL;
    } else if (unixipc_parse_args("send", args, nargs, kwnames, send_names, 2, 1, v) < 0) {
        return NULL;
    }
    if (!unixipc_conv_long_in(v[1], 1, LONG_MAX, "message type", &mtype))
        return NULL;
    if (blocking_args(v[2], v[3], &nowait, &deadline) < 0)
        return NULL;
    if (PyBytes_CheckExact(v[0])) {
        data = PyBytes_AS_STRING(v[0]);
        len = PyBytes_GET_SIZE(v[0]);
    } else {
        if (PyUnicode_Check(v[0])) {
            PyErr_SetString(PyExc_TypeError,
                            "message data must be bytes-like, not str (encode it first)");
            return NULL;
        }
        if (PyObject_GetBuffer(v[0], &view, PyBUF_SIMPLE) < 0)
            return NULL;
        data = view.buf;
        len = view.len;
    }
    if (unixipc_cancel_arg(v[4], &token_view, &token) < 0)
        goto done;
    if (over_msgmax((size_t)len))
        goto done;
    if (len <= STACK_TEXT) {
        buf = stack.bytes;
    } else {
        buf = PyMem_Malloc(sizeof(long) + (size_t)len);
        if (buf == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
    memcpy(buf, &mtype, sizeof(long));
    memcpy(buf + sizeof(long), data, (size_t)len);

    /* First a non-blocking attempt, which cannot sleep, with the GIL held. */
    if (msgsnd(self->msqid, buf, (size_t)len, IPC_NOWAIT) == 0) {
        result = Py_None;
    } else if (errno != EAGAIN) {
        int err = errno;
        if (err == EINVAL && msgmax_lowered((size_t)len))
            ;
        else
            unixipc_raise_errno("msgsnd", err);
    } else if (too_large_for_queue(self->msqid, (size_t)len)) {
        ;
    } else if (nowait) {
        unixipc_raise_errno("msgsnd", EAGAIN);
    } else {
        snd_ctx ctx = {self->msqid, buf, (size_t)len, 0, token};
        if (unixipc_blocking_call("msgsnd", snd_fn, &ctx, &deadline, UNIXIPC_WAIT_TIMER) >= 0)
            result = Py_None;
    }
done:
    if (buf != stack.bytes)
        PyMem_Free(buf);
    if (view.obj != NULL)
        PyBuffer_Release(&view);
    if (token_view.obj != NULL)
        PyBuffer_Release(&token_view);
    Py_XINCREF(result);
    return result;
}

/* ---- receive --------------------------------------------------------------- */

typedef struct {
    int msqid;
    void *buf;
    size_t size;
    long type;
    int flags;
    int err;
    const char *cancel;
} rcv_ctx;

static long
rcv_fn(void *p, const struct timespec *remaining)
{
    rcv_ctx *c = p;
    int zero = is_zero(remaining);
    if (unixipc_cancelled(c->cancel)) {
        c->err = ECANCELED;
        return -1;
    }
    ssize_t n = msgrcv(c->msqid, c->buf, c->size, c->type, c->flags | (zero ? IPC_NOWAIT : 0));
    if (n >= 0)
        return (long)n;
    c->err = errno;
    if (zero && errno == ENOMSG && !(c->flags & IPC_NOWAIT))
        errno = ETIMEDOUT;
    return -1;
}

/* Receive one message into a buffer of `alloc` bytes, growing on E2BIG up to
 * `limit` (-1: no limit). MSG_NOERROR is added only once the buffer has
 * reached `limit`, so truncation happens exactly at max_size. */
static PyObject *
receive_message(MQBase *self, long mtype, int flags, int truncate, Py_ssize_t limit,
                const unixipc_deadline *deadline, const char *name, const char *cancel)
{
    int msqid = self->msqid;
    Py_ssize_t alloc = unixipc_msgmax > 0 ? unixipc_msgmax : unixipc_msg_query_max();
    if (limit >= 0 && limit < alloc)
        alloc = limit;
    for (;;) {
        rcv_ctx ctx = {msqid, NULL, (size_t)alloc, mtype, flags, 0, cancel};
        if (truncate && limit >= 0 && alloc >= limit)
            ctx.flags |= MSG_NOERROR;
        PyObject *bytes = NULL;
        char *heap = NULL;
        union {
            long mtype;
            char bytes[sizeof(long) + STACK_TEXT];
        } stack;
        /* Small buffers: stack and one copy (cheaper than allocating msgmax
         * bytes and shrinking them); large ones: straight into the bytes. */
        int direct = DIRECT_LAYOUT && alloc > STACK_TEXT;
        long n;

        if (direct) {
            bytes = PyBytes_FromStringAndSize(NULL, alloc);
            if (bytes == NULL)
                return NULL;
            ctx.buf = PyBytes_AS_STRING(bytes) - sizeof(long);
        } else if (alloc <= STACK_TEXT) {
            ctx.buf = stack.bytes;
        } else {
            heap = PyMem_Malloc(sizeof(long) + (size_t)alloc);
            if (heap == NULL)
                return PyErr_NoMemory();
            ctx.buf = heap;
        }
        /* A message already queued is taken without releasing the GIL: an
         * IPC_NOWAIT msgrcv never sleeps. Only when none is there does the
         * call go through the blocking helper. */
        int eager = flags & IPC_NOWAIT;
        if (!eager && rcv_eager) {
            eager = self->eager || (++self->eager_skips % EAGER_RETRY) == 0;
        }
        if (eager) {
            n = msgrcv(msqid, ctx.buf, ctx.size, mtype, ctx.flags | IPC_NOWAIT);
            if (n < 0) {
                ctx.err = errno;
                if (ctx.err == ENOMSG && !(flags & IPC_NOWAIT)) {
                    self->eager = 0;
                    n = unixipc_blocking_call(name, rcv_fn, &ctx, deadline,
                                              UNIXIPC_WAIT_TIMER);
                } else {
                    unixipc_raise_errno(name, ctx.err);
                }
            } else {
                self->eager = 1;
            }
        } else {
            n = unixipc_blocking_call(name, rcv_fn, &ctx, deadline, UNIXIPC_WAIT_TIMER);
        }
        long got_type;
        memcpy(&got_type, ctx.buf, sizeof(long));
        if (direct)
            reset_bytes_hash(bytes); /* it held mtype */
        if (n < 0) {
            Py_XDECREF(bytes);
            PyMem_Free(heap);
            if (ctx.err == E2BIG && (limit < 0 || alloc < limit) &&
                PyErr_ExceptionMatches(PyExc_OSError)) {
                /* The message is still queued: retry with a larger buffer. */
                Py_ssize_t grown = grown_buffer(alloc, limit);
                if (grown > alloc) {
                    PyErr_Clear();
                    alloc = grown;
                    continue;
                }
            }
            return NULL;
        }
        if (direct) {
            if (n != alloc && _PyBytes_Resize(&bytes, (Py_ssize_t)n) < 0)
                return NULL;
        } else {
            bytes = PyBytes_FromStringAndSize((char *)ctx.buf + sizeof(long), (Py_ssize_t)n);
            PyMem_Free(heap);
            if (bytes == NULL)
                return NULL;
        }
        if (flags & MSG_COPY)
            return make_message(got_type, bytes);
        return message_for(self, got_type, bytes);
    }
}

/* Shared by receive and receive_many: type, block, timeout, max_size,
 * truncate, exclude (v[0..5]) -> C values. */
static int
receive_args(PyObject **v, long *mtype, int *flags, int *truncate, Py_ssize_t *limit,
             unixipc_deadline *deadline)
{
    int nowait, exclude = 0;
    *mtype = 0;
    *limit = -1;
    *truncate = 0;
    if (!unixipc_conv_long_in(v[0], LONG_MIN, LONG_MAX, "type", mtype))
        return -1;
    if (blocking_args(v[1], v[2], &nowait, deadline) < 0)
        return -1;
    if (!unixipc_conv_opt_size(v[3], "max_size", limit) ||
        !unixipc_conv_bool(v[4], truncate) || !unixipc_conv_bool(v[5], &exclude))
        return -1;
    if (exclude && *mtype < 0) {
        PyErr_SetString(PyExc_ValueError,
                        "exclude=True needs type >= 0: the kernel ignores MSG_EXCEPT "
                        "for a negative type");
        return -1;
    }
    *flags = (nowait ? IPC_NOWAIT : 0) | (exclude ? MSG_EXCEPT : 0);
    return 0;
}

static const char *const receive_names[] = {"type", "block", "timeout", "max_size",
                                            "truncate", "exclude", "_cancel", NULL};

static PyObject *
mq_receive(MQBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *v[7];
    long mtype;
    int flags, truncate;
    Py_ssize_t limit;
    unixipc_deadline deadline;

    if (nargs == 0 && kwnames == NULL) { /* receive(): the common case */
        deadline.infinite = 1;
        return receive_message(self, 0, 0, 0, -1, &deadline, "msgrcv", NULL);
    }
    if (kwnames == NULL ? nargs == 1 : (nargs == 0 && type_keyword_only(1, kwnames))) {
        /* receive(t) or receive(type=t): the other common case */
        if (!unixipc_conv_long_in(args[0], LONG_MIN, LONG_MAX, "type", &mtype))
            return NULL;
        deadline.infinite = 1;
        return receive_message(self, mtype, 0, 0, -1, &deadline, "msgrcv", NULL);
    }
    if (unixipc_parse_args("receive", args, nargs, kwnames, receive_names, 1, 0, v) < 0)
        return NULL;
    if (receive_args(v, &mtype, &flags, &truncate, &limit, &deadline) < 0)
        return NULL;
    Py_buffer token_view;
    const char *token;
    if (unixipc_cancel_arg(v[6], &token_view, &token) < 0)
        return NULL;
    PyObject *msg = receive_message(self, mtype, flags, truncate, limit, &deadline, "msgrcv",
                                    token);
    if (token_view.obj != NULL)
        PyBuffer_Release(&token_view);
    return msg;
}

static const char *const peek_names[] = {"index", "max_size", NULL};

static PyObject *
mq_peek(MQBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *v[2];
    long index = 0;
    Py_ssize_t limit = -1;
    unixipc_deadline deadline = {1};

    if (unixipc_parse_args("peek", args, nargs, kwnames, peek_names, 1, 0, v) < 0)
        return NULL;
    if (!unixipc_conv_long_in(v[0], 0, LONG_MAX, "index", &index) ||
        !unixipc_conv_opt_size(v[1], "max_size", &limit))
        return NULL;
    /* No MSG_NOERROR: the kernel refuses to truncate a copy (EINVAL). */
    return receive_message(self, index, MSG_COPY | IPC_NOWAIT, 0, limit,
                           &deadline, "msgrcv(MSG_COPY)", NULL);
}

/* ---- batches --------------------------------------------------------------- */

typedef struct {
    int msqid;
    char *arena;
    size_t *offsets;
    size_t *lengths;
    Py_ssize_t count;
    Py_ssize_t pos; /* messages sent so far */
    int flags;
    int err; /* errno of the failed msgsnd */
} sndm_ctx;

static long
sndm_fn(void *p, const struct timespec *remaining)
{
    sndm_ctx *c = p;
    int zero = is_zero(remaining);
    int flags = c->flags | (zero ? IPC_NOWAIT : 0);
    while (c->pos < c->count) {
        if (msgsnd(c->msqid, c->arena + c->offsets[c->pos], c->lengths[c->pos], flags) < 0) {
            c->err = errno;
            if (zero && errno == EAGAIN && !(c->flags & IPC_NOWAIT))
                errno = ETIMEDOUT;
            return -1;
        }
        c->pos++;
    }
    return (long)c->pos;
}

/* True when the pending exception is the call's own failure (errno `err`
 * from msgsnd, or the deadline's TimeoutError), not one that a signal
 * handler raised while the call waited (after EINTR): only the call's own
 * may be deferred to the next call once part of a batch was sent. */
static int
own_error(int err)
{
    PyObject *type, *value, *tb, *code;
    long e = -1;
    if (!PyErr_ExceptionMatches(PyExc_OSError))
        return 0;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    code = value ? PyObject_GetAttrString(value, "errno") : NULL;
    if (code != NULL && PyLong_Check(code))
        e = PyLong_AsLong(code);
    Py_XDECREF(code);
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
    if (err == EINTR)  /* woken by a signal: only the deadline's own error */
        return e == ETIMEDOUT && PyErr_ExceptionMatches(PyExc_TimeoutError);
    return e == err || (e == ETIMEDOUT && PyErr_ExceptionMatches(PyExc_TimeoutError));
}

#define ALIGN_LONG(n) (((n) + sizeof(long) - 1) & ~(sizeof(long) - 1))

static const char *const send_many_names[] = {"messages", "type", "block", "timeout", NULL};

static PyObject *
mq_send_many(MQBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *v[4];
    long default_type = 1;
    int nowait;
    unixipc_deadline deadline;
    PyObject *seq = NULL, *result = NULL;
    Py_buffer *views = NULL;
    long *types = NULL;
    sndm_ctx ctx = {self->msqid, NULL, NULL, NULL, 0, 0, 0, 0};
    Py_ssize_t n = 0, nviews = 0, i;
    size_t total = 0, largest = 0;

    if (unixipc_parse_args("send_many", args, nargs, kwnames, send_many_names, 2, 1, v) < 0)
        return NULL;
    if (!unixipc_conv_long_in(v[1], 1, LONG_MAX, "message type", &default_type))
        return NULL;
    if (blocking_args(v[2], v[3], &nowait, &deadline) < 0)
        return NULL;
    seq = unixipc_conv_messages(v[0], "send_many");
    if (seq == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(seq);
    if (n == 0) {
        Py_DECREF(seq);
        return PyLong_FromLong(0);
    }
    views = PyMem_Calloc((size_t)n, sizeof(Py_buffer));
    types = PyMem_Calloc((size_t)n, sizeof(long));
    ctx.offsets = PyMem_Calloc((size_t)n, sizeof(size_t));
    ctx.lengths = PyMem_Calloc((size_t)n, sizeof(size_t));
    if (!views || !types || !ctx.offsets || !ctx.lengths) {
        PyErr_NoMemory();
        goto done;
    }
    /* Validate everything before the first system call. */
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *data = item;
        types[i] = default_type;
        if (PyTuple_Check(item)) {
            if (PyTuple_GET_SIZE(item) != 2) {
                PyErr_Format(PyExc_TypeError,
                             "message %zd: a tuple must be (type, data)", i);
                goto done;
            }
            if (!unixipc_conv_long_in(PyTuple_GET_ITEM(item, 0), 1, LONG_MAX,
                                      "message type", &types[i]))
                goto done;
            data = PyTuple_GET_ITEM(item, 1);
        }
        if (PyUnicode_Check(data)) {
            PyErr_Format(PyExc_TypeError, "message %zd: data must be bytes-like, not str", i);
            goto done;
        }
        if (PyObject_GetBuffer(data, &views[i], PyBUF_SIMPLE) < 0)
            goto done;
        nviews = i + 1;
        if (over_msgmax((size_t)views[i].len))
            goto done;
        ctx.lengths[i] = (size_t)views[i].len;
        ctx.offsets[i] = total;
        total += ALIGN_LONG(sizeof(long) + (size_t)views[i].len);
        if ((size_t)views[i].len > largest)
            largest = (size_t)views[i].len;
    }
    {
        /* One IPC_STAT per batch: a message the queue can never hold would
         * block forever. */
        struct msqid_ds ds;
        if (msgctl(self->msqid, IPC_STAT, &ds) == 0 &&
            never_fits(largest, (unsigned long)ds.msg_qbytes)) {
            PyErr_Format(PyExc_ValueError,
                         "a message of %zu bytes can never fit in this queue "
                         "(its max_bytes is %lu)", largest, (unsigned long)ds.msg_qbytes);
            goto done;
        }
    }
    ctx.arena = PyMem_Malloc(total);
    if (ctx.arena == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < n; i++) {
        memcpy(ctx.arena + ctx.offsets[i], &types[i], sizeof(long));
        memcpy(ctx.arena + ctx.offsets[i] + sizeof(long), views[i].buf, ctx.lengths[i]);
    }
    ctx.count = n;
    ctx.flags = nowait ? IPC_NOWAIT : 0;
    if (unixipc_blocking_call("msgsnd", sndm_fn, &ctx, &deadline, UNIXIPC_WAIT_TIMER) < 0) {
        /* Some were sent: report the count; the error shows on the next call.
         * Exceptions from signal handlers are never swallowed. */
        if (ctx.pos == 0 && ctx.err == EINVAL) {
            /* The first message is over a msgmax lowered since it was
             * cached: ValueError, as when the cache is current. */
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            if (msgmax_lowered(ctx.lengths[0])) {
                Py_XDECREF(type);
                Py_XDECREF(value);
                Py_XDECREF(tb);
            } else {
                PyErr_Restore(type, value, tb);
            }
        }
        if (ctx.pos == 0 || !own_error(ctx.err))
            goto done;
        PyErr_Clear();
    }
    result = PyLong_FromSsize_t(ctx.pos);
done:
    for (i = 0; i < nviews; i++)
        PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(types);
    PyMem_Free(ctx.offsets);
    PyMem_Free(ctx.lengths);
    PyMem_Free(ctx.arena);
    Py_XDECREF(seq);
    return result;
}

typedef struct {
    int msqid;
    char *arena;
    size_t capacity;
    size_t used;
    size_t slot; /* room taken per message: aligned sizeof(long) + size */
    size_t size; /* the text buffer size given to msgrcv */
    size_t *offsets;
    size_t *lengths;
    Py_ssize_t want; /* at most this many this round */
    Py_ssize_t got;
    long type;
    int flags;      /* for the first message of the call */
    int later_flags; /* for the rest: never waits */
    int first;       /* 1 while the call has received nothing */
    int err;         /* why the round stopped (0: count or arena) */
} rcvm_ctx;

static long
rcvm_fn(void *p, const struct timespec *remaining)
{
    rcvm_ctx *c = p;
    int zero = is_zero(remaining);
    while (c->got < c->want && c->used + c->slot <= c->capacity) {
        int flags = c->first ? c->flags | (zero ? IPC_NOWAIT : 0) : c->later_flags;
        ssize_t n = msgrcv(c->msqid, c->arena + c->used, c->size, c->type,
                           flags);
        if (n < 0) {
            c->err = errno;
            if (c->got > 0 || !c->first)
                return (long)c->got;
            if (zero && errno == ENOMSG && !(c->flags & IPC_NOWAIT))
                errno = ETIMEDOUT;
            return -1;
        }
        c->offsets[c->got] = c->used;
        c->lengths[c->got] = (size_t)n;
        c->got++;
        c->first = 0;
        c->used += ALIGN_LONG(sizeof(long) + (size_t)n);
    }
    c->err = 0;
    return (long)c->got;
}

static const char *const receive_many_names[] = {"max_count", "type", "block", "timeout",
                                                 "max_size", "truncate", "exclude", NULL};

#define RCVM_ARENA (256 * 1024)
#define RCVM_ROUND 4096

static PyObject *
mq_receive_many(MQBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *v[7];
    long mtype, max_count = 1;
    int flags, truncate;
    Py_ssize_t limit, alloc;
    unixipc_deadline deadline;
    /* released at fail: */
    PyObject *list = NULL;
    rcvm_ctx ctx = {0};

    if (unixipc_parse_args("receive_many", args, nargs, kwnames, receive_many_names, 2, 1,
                           v) < 0)
        return NULL;
    if (!unixipc_conv_long_in(v[0], 1, LONG_MAX, "max_count", &max_count))
        return NULL;
    if (receive_args(v + 1, &mtype, &flags, &truncate, &limit, &deadline) < 0)
        return NULL;
    alloc = unixipc_msgmax > 0 ? unixipc_msgmax : unixipc_msg_query_max();
    if (limit >= 0 && limit < alloc)
        alloc = limit;

    ctx.msqid = self->msqid;
    ctx.type = mtype;
    ctx.first = 1;
    list = PyList_New(0);
    if (list == NULL)
        return NULL;
    for (;;) {
        ctx.size = (size_t)alloc;
        ctx.slot = ALIGN_LONG(sizeof(long) + (size_t)alloc);
        ctx.capacity = ctx.slot > RCVM_ARENA ? ctx.slot : RCVM_ARENA;
        ctx.want = max_count - PyList_GET_SIZE(list);
        if (ctx.want > RCVM_ROUND)
            ctx.want = RCVM_ROUND;
        ctx.flags = flags | (truncate && limit >= 0 && alloc >= limit ? MSG_NOERROR : 0);
        ctx.later_flags = ctx.flags | IPC_NOWAIT;
        ctx.arena = PyMem_Malloc(ctx.capacity);
        ctx.offsets = PyMem_Malloc((size_t)ctx.want * sizeof(size_t));
        ctx.lengths = PyMem_Malloc((size_t)ctx.want * sizeof(size_t));
        ctx.used = 0;
        ctx.got = 0;
        ctx.err = 0;
        if (!ctx.arena || !ctx.offsets || !ctx.lengths) {
            PyErr_NoMemory();
            goto fail;
        }
        long r;
        if (ctx.first) {
            r = unixipc_blocking_call("msgrcv", rcvm_fn, &ctx, &deadline, UNIXIPC_WAIT_TIMER);
        } else {
            Py_BEGIN_ALLOW_THREADS
            r = rcvm_fn(&ctx, NULL);
            Py_END_ALLOW_THREADS
        }
        if (r < 0) {
            /* Nothing received at all. */
            if (ctx.err == E2BIG && (limit < 0 || alloc < limit) &&
                PyErr_ExceptionMatches(PyExc_OSError)) {
                Py_ssize_t grown = grown_buffer(alloc, limit);
                if (grown > alloc) {
                    PyErr_Clear();
                    alloc = grown;
                    PyMem_Free(ctx.arena);
                    PyMem_Free(ctx.offsets);
                    PyMem_Free(ctx.lengths);
                    ctx.arena = NULL;
                    ctx.offsets = ctx.lengths = NULL;
                    continue;
                }
            }
            goto fail;
        }
        for (Py_ssize_t i = 0; i < ctx.got; i++) {
            long t;
            memcpy(&t, ctx.arena + ctx.offsets[i], sizeof(long));
            PyObject *data = PyBytes_FromStringAndSize(ctx.arena + ctx.offsets[i] + sizeof(long),
                                                       (Py_ssize_t)ctx.lengths[i]);
            if (data == NULL)
                goto fail; /* MemoryError: the messages are lost either way */
            PyObject *msg = make_message(t, data);
            if (msg == NULL || PyList_Append(list, msg) < 0) {
                Py_XDECREF(msg);
                goto fail;
            }
            Py_DECREF(msg);
        }
        PyMem_Free(ctx.arena);
        PyMem_Free(ctx.offsets);
        PyMem_Free(ctx.lengths);
        ctx.arena = NULL;
        ctx.offsets = ctx.lengths = NULL;
        /* Go on only when the round stopped for room (count or arena), not
         * because the queue ran dry or failed. */
        if (ctx.err != 0 || PyList_GET_SIZE(list) >= max_count)
            break;
    }
    return list;
fail:
    PyMem_Free(ctx.arena);
    PyMem_Free(ctx.offsets);
    PyMem_Free(ctx.lengths);
    Py_DECREF(list);
    return NULL;
}

/* ---- the type -------------------------------------------------------------- */

/* The methods as Python calls them: a failure on a queue that was removed
 * says so (unixipc_name_removed). */
#define NAMING_REMOVAL(fn)                                                           \
    static PyObject *fn##_named(MQBase *self, PyObject *const *args, Py_ssize_t nargs, \
                                PyObject *kwnames)                                   \
    {                                                                                \
        PyObject *result = fn(self, args, nargs, kwnames);                           \
        return result != NULL ? result                                               \
                              : unixipc_name_removed("message queue", self->msqid,   \
                                                     unixipc_msg_queue_exists);                  \
    }
NAMING_REMOVAL(mq_send)
NAMING_REMOVAL(mq_receive)
NAMING_REMOVAL(mq_send_many)
NAMING_REMOVAL(mq_receive_many)
NAMING_REMOVAL(mq_peek)

static PyMethodDef mq_methods[] = {
    {"send", UNIXIPC_FASTCALL(mq_send_named), METH_FASTCALL | METH_KEYWORDS,
     "send($self, /, data, type=1, *, block=True, timeout=None, _cancel=None)\n--\n\n"
     "Append one message to the queue (msgsnd).\n\n"
     "Args:\n"
     "    data: the message text, any bytes-like object (not str).\n"
     "    type: the message type, an int >= 1 (a C long).\n"
     "    block: False: raise BlockingIOError instead of waiting when the\n"
     "        queue is full (IPC_NOWAIT).\n"
     "    timeout: seconds to wait for room (None: forever; 0: one attempt).\n\n"
     "Raises:\n"
     "    TypeError, ValueError: bad arguments, or a message larger than the\n"
     "        system's msgmax or the queue's max_bytes (it could never be sent).\n"
     "    BlockingIOError: block=False and the queue is full.\n"
     "    TimeoutError: the timeout ran out while the queue stayed full.\n"
     "    ObjectRemovedError: the queue was removed (also while waiting).\n"
     "    PermissionError: no write permission on the queue."},
    {"receive", UNIXIPC_FASTCALL(mq_receive_named), METH_FASTCALL | METH_KEYWORDS,
     "receive($self, /, type=0, *, block=True, timeout=None, max_size=None, "
     "truncate=False, exclude=False, _cancel=None)\n--\n\n"
     "Take one message off the queue (msgrcv) and return it as a Message.\n\n"
     "Args:\n"
     "    type: 0: the first message; > 0: the first message of that type\n"
     "        (of any other type with exclude=True); < 0: the first message\n"
     "        of the lowest type <= abs(type).\n"
     "    block: False: raise BlockingIOError instead of waiting when no\n"
     "        message matches (IPC_NOWAIT).\n"
     "    timeout: seconds to wait for a message (None: forever; 0: one attempt).\n"
     "    max_size: the largest text accepted (None: any message).\n"
     "    truncate: cut a longer message to max_size instead of raising\n"
     "        MessageTooLongError (MSG_NOERROR).\n"
     "    exclude: with type > 0, take the first message NOT of that type\n"
     "        (MSG_EXCEPT).\n\n"
     "Raises:\n"
     "    TypeError, ValueError: bad arguments (exclude=True with type < 0).\n"
     "    MessageTooLongError: the message is longer than max_size; it stays\n"
     "        on the queue.\n"
     "    BlockingIOError: block=False and no message matches.\n"
     "    TimeoutError: the timeout ran out.\n"
     "    ObjectRemovedError: the queue was removed (also while waiting).\n"
     "    PermissionError: no read permission on the queue."},
    {"send_many", UNIXIPC_FASTCALL(mq_send_many_named), METH_FASTCALL | METH_KEYWORDS,
     "send_many($self, /, messages, type=1, *, block=True, timeout=None)\n--\n\n"
     "Send a sequence of messages in one call, in order, and return how many\n"
     "were sent.\n\n"
     "Each item is bytes-like (sent with `type`) or a (type, data) pair such\n"
     "as a Message. Every item is checked before the first is sent. The\n"
     "system calls run in one loop with the GIL released. Waiting for room\n"
     "follows block/timeout, one deadline for the whole batch. When the\n"
     "batch stops part way (queue full with block=False, timeout, the queue\n"
     "removed) the number sent so far is returned and the error shows on the\n"
     "next call; it is raised only when nothing was sent.\n\n"
     "Raises:\n"
     "    TypeError, ValueError: a bad item (nothing is sent).\n"
     "    BlockingIOError, TimeoutError, ObjectRemovedError, PermissionError:\n"
     "        as send(), when not even the first message was sent."},
    {"receive_many", UNIXIPC_FASTCALL(mq_receive_many_named),
     METH_FASTCALL | METH_KEYWORDS,
     "receive_many($self, /, max_count, type=0, *, block=True, timeout=None, "
     "max_size=None, truncate=False, exclude=False)\n--\n\n"
     "Receive up to max_count messages in one call; return them as a list.\n\n"
     "Waits for the first message as receive() does (block, timeout), then\n"
     "takes the matching messages already queued, without waiting, until\n"
     "max_count is reached or none is left. The system calls run in a loop\n"
     "with the GIL released. A failure after the first message (say a\n"
     "message longer than max_size) ends the batch: the messages received so\n"
     "far are returned, the failing message stays queued and the error shows\n"
     "on the next call. Arguments are as for receive().\n\n"
     "Raises:\n"
     "    As receive(), only when no message was received."},
    {"_peek", UNIXIPC_FASTCALL(mq_peek_named), METH_FASTCALL | METH_KEYWORDS,
     "_peek($self, /, index=0, *, max_size=None)\n--\n\n"
     "Copy the message at position index without removing it (MSG_COPY)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef mq_members[] = {
    {"_msqid", T_INT, offsetof(MQBase, msqid), 0, "the queue id (-1: none yet)"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot mq_slots[] = {
    {Py_tp_new, mq_new},
    {Py_tp_dealloc, mq_dealloc},
    {Py_tp_methods, mq_methods},
    {Py_tp_members, mq_members},
    {Py_tp_doc, "The C part of unixipc.MessageQueue: send and receive on a queue id."},
    {0, NULL},
};

static PyType_Spec mq_spec = {
    .name = "unixipc._core.MessageQueueBase",
    .basicsize = sizeof(MQBase),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .slots = mq_slots,
};

static PyObject *
set_message_type(PyObject *module, PyObject *cls)
{
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "_msg_set_message_type needs a tuple subclass");
        return NULL;
    }
    Py_INCREF(cls);
    Py_XSETREF(message_type, cls);
    Py_RETURN_NONE;
}

static PyObject *
set_receive_eager(PyObject *module, PyObject *flag)
{
    int on = 0;
    if (!unixipc_conv_bool(flag, &on))
        return NULL;
    int was = rcv_eager;
    rcv_eager = on;
    return PyBool_FromLong(was);
}

PyMethodDef unixipc_msg_io_methods[] = {
    {"_msg_set_message_type", set_message_type, METH_O,
     "Register the Message class that receive() returns."},
    {"_msg_receive_eager", set_receive_eager, METH_O,
     "_msg_receive_eager(on, /) -> previous setting: try a non-blocking msgrcv "
     "with the GIL held before waiting (default on); for benchmarks."},
    {NULL, NULL, 0, NULL},
};

int
unixipc_msg_io_exec(PyObject *module)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &mq_spec, NULL);
    if (type == NULL)
        return -1;
    if (PyModule_AddObject(module, "MessageQueueBase", type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    UNIXIPC_ADD_INT(module, MSG_NOERROR);
    UNIXIPC_ADD_INT(module, MSG_EXCEPT);
    UNIXIPC_ADD_INT(module, MSG_COPY);
    if (PyModule_AddIntConstant(module, "MSG_RECEIVE_DIRECT", DIRECT_LAYOUT) < 0)
        return -1;
    return 0;
}
