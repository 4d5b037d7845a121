/* System V message queues: msgget, msgsnd, msgrcv, msgctl.
 *
 * The hot path (send/receive and their batch forms) lives on a C base type,
 * _core.MessageQueueBase, that holds the msqid; unixipc.MessageQueue
 * subclasses it in Python for everything else. Message types are C `long`
 * end to end. A single receive writes straight into the bytes object it
 * returns (see receive_into_bytes).
 */
#define _GNU_SOURCE
#include "core.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif
#ifndef MSG_STAT_ANY
#define MSG_STAT_ANY 13 /* Linux >= 4.17: MSG_STAT without the read check */
#endif
#ifndef MSG_EXCEPT
#define MSG_EXCEPT 020000
#endif

/* A send buffer this large lives on the stack; larger ones are malloc'd. */
#define STACK_MSG 8192

/* The Message named tuple class, handed over by msgqueue.py. */
static PyObject *message_type = NULL;

/* The system's largest message (msgmax), cached; re-read on E2BIG. */
static Py_ssize_t cached_msgmax = 0;

static Py_ssize_t
query_msgmax(void)
{
    struct msginfo info;
    if (msgctl(0, IPC_INFO, (struct msqid_ds *)&info) < 0)
        return 8192; /* Linux's default */
    cached_msgmax = info.msgmax > 0 ? info.msgmax : 8192;
    return cached_msgmax;
}

static Py_ssize_t
msgmax(void)
{
    return cached_msgmax > 0 ? cached_msgmax : query_msgmax();
}

/* ---- argument conversion --------------------------------------------------- */

static int
long_arg(PyObject *obj, long default_value, const char *what, long *out)
{
    if (obj == NULL) {
        *out = default_value;
        return 0;
    }
    if (!PyLong_Check(obj) || PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    *out = PyLong_AsLong(obj);
    if (*out == -1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "%s does not fit in a C long", what);
        }
        return -1;
    }
    return 0;
}

/* max_size: None -> -1 (any message up to msgmax), else a size >= 0. */
static int
size_arg(PyObject *obj, Py_ssize_t *out)
{
    if (obj == NULL || obj == Py_None) {
        *out = -1;
        return 0;
    }
    if (!PyLong_Check(obj) || PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "max_size must be an int or None, not %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    Py_ssize_t n = PyLong_AsSsize_t(obj);
    if (n == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "max_size is too large");
        return -1;
    }
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "max_size must be >= 0");
        return -1;
    }
    if (n > INT_MAX - (Py_ssize_t)sizeof(long)) {
        PyErr_SetString(PyExc_ValueError, "max_size is too large");
        return -1;
    }
    *out = n;
    return 0;
}

/* Wait flags from block= and timeout=: IPC_NOWAIT when block is false. */
static int
wait_args(PyObject *block_obj, PyObject *timeout_obj, int *flags,
          unixipc_deadline *deadline)
{
    int block = unixipc_bool_arg(block_obj, 1);
    if (block < 0)
        return -1;
    if (unixipc_deadline_from_timeout(timeout_obj, deadline) < 0)
        return -1;
    if (!block) {
        *flags |= IPC_NOWAIT;
        deadline->infinite = 1; /* a timeout means nothing without blocking */
    }
    return 0;
}

/* ---- the base type ----------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    int msqid;
    long max_bytes;       /* msg_qbytes as last seen; -1 unknown */
    Py_ssize_t size_hint; /* first buffer size tried by receive */
} MQBase;

/* A message longer than the queue's byte limit would block msgsnd forever
 * (Linux only rejects sizes above msgmax): refuse it with ValueError. The
 * limit is cached; a larger message re-reads it first, so the check costs
 * nothing on the normal path and a raised limit is honoured. */
static int
check_fits_queue(MQBase *self, Py_ssize_t len)
{
    if (self->max_bytes >= 0 && len <= self->max_bytes)
        return 0;
    struct msqid_ds ds;
    if (msgctl(self->msqid, IPC_STAT, &ds) < 0) {
        unixipc_raise_errno("msgctl(IPC_STAT)", errno);
        return -1;
    }
    self->max_bytes = (long)ds.msg_qbytes;
    if (len > self->max_bytes) {
        PyErr_Format(PyExc_ValueError,
                     "a message of %zd bytes can never fit in this queue (its limit "
                     "is %ld bytes): it would block forever",
                     len, self->max_bytes);
        return -1;
    }
    return 0;
}

/* msgsnd ------------------------------------------------------------------- */

typedef struct {
    int msqid;
    void *buf; /* struct msgbuf: long mtype + text */
    size_t size;
    int flags;
} send_ctx;

static long
send_fn(void *p, const struct timespec *remaining)
{
    send_ctx *c = p;
    int flags = c->flags;
    int zero = remaining != NULL && remaining->tv_sec == 0 && remaining->tv_nsec == 0;
    if (zero)
        flags |= IPC_NOWAIT;
    int rc = msgsnd(c->msqid, c->buf, c->size, flags);
    if (rc < 0 && zero && errno == EAGAIN && !(c->flags & IPC_NOWAIT))
        errno = ETIMEDOUT;
    return rc;
}

/* Sends one message already in `c->buf`, through the blocking helper unless
 * it is a non-blocking call (no need to give up the GIL for those). */
static int
send_one(send_ctx *c, const unixipc_deadline *deadline)
{
    /* First a non-blocking attempt with the GIL held: a queue with room
     * takes the message at once, and releasing the GIL for that would cost
     * more than the call. Only a full queue goes through the blocking helper
     * (the kernel gives no side effect to a refused IPC_NOWAIT send). */
    if (msgsnd(c->msqid, c->buf, c->size, c->flags | IPC_NOWAIT) == 0)
        return 0;
    if (errno != EAGAIN || (c->flags & IPC_NOWAIT)) {
        unixipc_raise_errno("msgsnd", errno);
        return -1;
    }
    return unixipc_blocking_call("msgsnd", send_fn, c, deadline, UNIXIPC_WAIT_TIMER) < 0 ? -1 : 0;
}

static int
check_send_type(long mtype)
{
    if (mtype < 1) {
        PyErr_Format(PyExc_ValueError, "message type must be >= 1, not %ld", mtype);
        return -1;
    }
    return 0;
}

static int
get_data_buffer(PyObject *data, Py_buffer *view)
{
    if (PyUnicode_Check(data)) {
        PyErr_SetString(PyExc_TypeError,
                        "message data must be bytes-like, not str (encode it first)");
        return -1;
    }
    if (PyObject_GetBuffer(data, view, PyBUF_SIMPLE) < 0)
        return -1;
    if (view->len > INT_MAX - (Py_ssize_t)sizeof(long)) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "message data is too large");
        return -1;
    }
    return 0;
}

static PyObject *
mq_send(MQBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"data", "type", "block", "timeout", NULL};
    PyObject *v[4];
    long mtype;
    int flags = 0;
    unixipc_deadline deadline;
    Py_buffer view;
    char stack[sizeof(long) + STACK_MSG];

    if (unixipc_parse_args("send", args, nargs, kwnames, names, 2, 1, v) < 0)
        return NULL;
    if (long_arg(v[1], 1, "type", &mtype) < 0 || check_send_type(mtype) < 0)
        return NULL;
    if (wait_args(v[2], v[3], &flags, &deadline) < 0)
        return NULL;
    if (get_data_buffer(v[0], &view) < 0)
        return NULL;
    if (check_fits_queue(self, view.len) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }

    size_t total = sizeof(long) + (size_t)view.len;
    char *buf = total <= sizeof stack ? stack : PyMem_Malloc(total);
    if (buf == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    memcpy(buf, &mtype, sizeof(long));
    memcpy(buf + sizeof(long), view.buf, (size_t)view.len);
    send_ctx c = {self->msqid, buf, (size_t)view.len, flags};
    int rc = send_one(&c, &deadline);
    if (buf != stack)
        PyMem_Free(buf);
    PyBuffer_Release(&view);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* send_many(messages, type=1, *, block=True, timeout=None) -> count.
 * Items are bytes-like (sent with `type`) or (type, data) pairs. Everything
 * is validated before the first message is sent. If a send fails part way,
 * the exception raised carries `.count`, the number already sent. */
static PyObject *
mq_send_many(MQBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"messages", "type", "block", "timeout", NULL};
    PyObject *v[4];
    long default_type;
    int flags = 0;
    unixipc_deadline deadline;

    if (unixipc_parse_args("send_many", args, nargs, kwnames, names, 2, 1, v) < 0)
        return NULL;
    if (long_arg(v[1], 1, "type", &default_type) < 0 || check_send_type(default_type) < 0)
        return NULL;
    if (wait_args(v[2], v[3], &flags, &deadline) < 0)
        return NULL;
    PyObject *seq = PySequence_Fast(v[0], "messages must be an iterable");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_buffer *views = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof(Py_buffer));
    long *types = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof(long));
    char *buf = NULL;
    Py_ssize_t pinned = 0, sent = 0, largest = 0;
    PyObject *result = NULL;
    if (views == NULL || types == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* Validate and pin every message first: nothing is sent on bad input. */
    for (; pinned < n; pinned++) {
        PyObject *item = items[pinned];
        PyObject *data = item;
        types[pinned] = default_type;
        if (PyTuple_Check(item)) {
            if (PyTuple_GET_SIZE(item) != 2) {
                PyErr_SetString(PyExc_ValueError, "a message pair must be (type, data)");
                goto done;
            }
            if (long_arg(PyTuple_GET_ITEM(item, 0), 1, "type", &types[pinned]) < 0 ||
                check_send_type(types[pinned]) < 0)
                goto done;
            data = PyTuple_GET_ITEM(item, 1);
        }
        if (get_data_buffer(data, &views[pinned]) < 0)
            goto done;
        if (check_fits_queue(self, views[pinned].len) < 0) {
            PyBuffer_Release(&views[pinned]);
            goto done;
        }
        if (views[pinned].len > largest)
            largest = views[pinned].len;
    }
    buf = PyMem_Malloc(sizeof(long) + (size_t)largest);
    if (buf == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; sent < n; sent++) {
        memcpy(buf, &types[sent], sizeof(long));
        memcpy(buf + sizeof(long), views[sent].buf, (size_t)views[sent].len);
        send_ctx c = {self->msqid, buf, (size_t)views[sent].len, flags};
        if (send_one(&c, &deadline) < 0) {
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            PyErr_NormalizeException(&type, &value, &tb);
            PyObject *count = PyLong_FromSsize_t(sent);
            if (value != NULL && count != NULL)
                PyObject_SetAttrString(value, "count", count);
            Py_XDECREF(count);
            PyErr_Restore(type, value, tb);
            goto done;
        }
    }
    result = PyLong_FromSsize_t(sent);
done:
    for (Py_ssize_t i = 0; i < pinned; i++)
        PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(types);
    PyMem_Free(buf);
    Py_DECREF(seq);
    return result;
}

/* msgrcv ------------------------------------------------------------------- */

typedef struct {
    int msqid;
    void *buf;
    size_t size;
    long mtype;
    int flags;
} recv_ctx;

static long
recv_fn(void *p, const struct timespec *remaining)
{
    recv_ctx *c = p;
    int flags = c->flags;
    int zero = remaining != NULL && remaining->tv_sec == 0 && remaining->tv_nsec == 0;
    if (zero)
        flags |= IPC_NOWAIT;
    ssize_t n = msgrcv(c->msqid, c->buf, c->size, c->mtype, flags);
    if (n < 0 && zero && errno == ENOMSG && !(c->flags & IPC_NOWAIT))
        errno = ETIMEDOUT;
    return (long)n;
}

static long
recv_one(recv_ctx *c, const unixipc_deadline *deadline)
{
    if (c->flags & IPC_NOWAIT) {
        ssize_t n = msgrcv(c->msqid, c->buf, c->size, c->mtype, c->flags);
        if (n < 0) {
            unixipc_raise_errno("msgrcv", errno);
            return -1;
        }
        return (long)n;
    }
    return unixipc_blocking_call("msgrcv", recv_fn, c, deadline, UNIXIPC_WAIT_TIMER);
}

static PyObject *
make_message(long mtype, PyObject *data)
{
    PyObject *type_obj = PyLong_FromLong(mtype);
    if (type_obj == NULL) {
        Py_DECREF(data);
        return NULL;
    }
    if (message_type == NULL) {
        PyObject *t = PyTuple_Pack(2, type_obj, data);
        Py_DECREF(type_obj);
        Py_DECREF(data);
        return t;
    }
    /* Message is a tuple subclass without __dict__: fill it like a tuple. */
    PyTypeObject *cls = (PyTypeObject *)message_type;
    PyObject *msg = cls->tp_alloc(cls, 2);
    if (msg == NULL) {
        Py_DECREF(type_obj);
        Py_DECREF(data);
        return NULL;
    }
    PyTuple_SET_ITEM(msg, 0, type_obj);
    PyTuple_SET_ITEM(msg, 1, data);
    return msg;
}

/* Receives one message straight into a new bytes object.
 *
 * msgrcv wants `long mtype` immediately followed by the text. In CPython's
 * PyBytesObject the field just before the text (ob_sval) is ob_shash, a
 * Py_hash_t of the same size as long on every ABI we build for: the kernel
 * writes the type there and the text lands in the bytes object itself. The
 * hash cache is reset to -1 ("not computed") before the object is used.
 * Where the layout differs, a fallback receives into a scratch buffer. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#define BYTES_TYPE_SLOT_FITS \
    (offsetof(PyBytesObject, ob_sval) - offsetof(PyBytesObject, ob_shash) == sizeof(long))

static const int bytes_type_slot_fits = BYTES_TYPE_SLOT_FITS;

static inline void
forget_bytes_hash(PyObject *bytes)
{
    ((PyBytesObject *)bytes)->ob_shash = -1;
}
#pragma GCC diagnostic pop

/* errno of the OSError being raised, or 0; the exception stays set. */
static int
pending_errno(void)
{
    PyObject *type, *value, *tb;
    int err = 0;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && PyObject_TypeCheck(value, (PyTypeObject *)PyExc_OSError)) {
        PyObject *e = ((PyOSErrorObject *)value)->myerrno;
        if (e != NULL && PyLong_Check(e))
            err = (int)PyLong_AsLong(e);
    }
    PyErr_Restore(type, value, tb);
    return err;
}

/* First guess of a message's size when any size is accepted: small
 * messages then cost a small allocation, not msgmax bytes. */
#define FIRST_SIZE_HINT 256

static PyObject *
receive_into_bytes(int msqid, Py_ssize_t max_size, long mtype, int flags,
                   const unixipc_deadline *deadline, long *got_type, Py_ssize_t *hint)
{
    int any_size = max_size < 0;
    for (;;) {
        Py_ssize_t full = any_size ? msgmax() : max_size;
        Py_ssize_t cap = full;
        /* With any size allowed (and no truncation), try the size hint
         * first: a larger message makes msgrcv fail with E2BIG and stay
         * queued, and we retry at once with room for any message. */
        int guessing = any_size && hint != NULL && !(flags & MSG_NOERROR) && *hint < full;
        if (guessing)
            cap = *hint;
        PyObject *bytes = PyBytes_FromStringAndSize(NULL, cap);
        if (bytes == NULL)
            return NULL;
        char *scratch = NULL;
        void *target;
        if (bytes_type_slot_fits && cap > 0) { /* size 0 is a shared singleton */
            target = (char *)PyBytes_AS_STRING(bytes) - sizeof(long);
        } else {
            scratch = PyMem_Malloc(sizeof(long) + (size_t)cap);
            if (scratch == NULL) {
                Py_DECREF(bytes);
                return PyErr_NoMemory();
            }
            target = scratch;
        }
        recv_ctx c = {msqid, target, (size_t)cap, mtype, flags};
        long n = recv_one(&c, deadline);
        if (n >= 0) {
            memcpy(got_type, target, sizeof(long));
            if (scratch != NULL) {
                memcpy(PyBytes_AS_STRING(bytes), scratch + sizeof(long), (size_t)n);
                PyMem_Free(scratch);
            } else {
                forget_bytes_hash(bytes);
            }
            if (n != cap && _PyBytes_Resize(&bytes, n) < 0)
                return NULL;
            return bytes;
        }
        PyMem_Free(scratch);
        /* The header was overwritten only by a successful msgrcv, so the
         * object is intact here. */
        Py_DECREF(bytes);
        if (any_size && pending_errno() == E2BIG) {
            Py_ssize_t old = cached_msgmax;
            if (guessing) {
                *hint = full; /* larger messages come here: stop guessing small */
                PyErr_Clear();
                continue;
            }
            if (query_msgmax() > old) { /* msgmax was raised since we cached it */
                PyErr_Clear();
                continue;
            }
        }
        return NULL;
    }
}

static int
receive_flags(PyObject *truncate_obj, PyObject *exclude_obj, long mtype, int *flags)
{
    int truncate = unixipc_bool_arg(truncate_obj, 0);
    int exclude = unixipc_bool_arg(exclude_obj, 0);
    if (truncate < 0 || exclude < 0)
        return -1;
    if (exclude && mtype <= 0) {
        PyErr_SetString(PyExc_ValueError,
                        "exclude=True needs a type > 0 (the kernel ignores MSG_EXCEPT "
                        "for type 0 and negative types)");
        return -1;
    }
    if (truncate)
        *flags |= MSG_NOERROR;
    if (exclude)
        *flags |= MSG_EXCEPT;
    return 0;
}

static PyObject *
mq_receive(MQBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"type", "block", "timeout", "max_size",
                                        "truncate", "exclude", NULL};
    PyObject *v[6];
    long mtype, got_type = 0;
    Py_ssize_t max_size;
    int flags = 0;
    unixipc_deadline deadline;

    if (unixipc_parse_args("receive", args, nargs, kwnames, names, 1, 0, v) < 0)
        return NULL;
    if (long_arg(v[0], 0, "type", &mtype) < 0 || size_arg(v[3], &max_size) < 0)
        return NULL;
    if (receive_flags(v[4], v[5], mtype, &flags) < 0)
        return NULL;
    if (wait_args(v[1], v[2], &flags, &deadline) < 0)
        return NULL;
    PyObject *data = receive_into_bytes(self->msqid, max_size, mtype, flags, &deadline,
                                        &got_type, &self->size_hint);
    if (data == NULL)
        return NULL;
    return make_message(got_type, data);
}

/* receive_many(max_count, type=0, *, block=True, timeout=None, max_size=None,
 *              truncate=False, exclude=False) -> list[Message]
 * Waits (as block/timeout say) for the first message only, then takes what
 * else is already queued without waiting, up to max_count. */
static PyObject *
mq_receive_many(MQBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"max_count", "type", "block", "timeout",
                                        "max_size", "truncate", "exclude", NULL};
    PyObject *v[7];
    long mtype, max_count, got_type = 0;
    Py_ssize_t max_size;
    int flags = 0;
    unixipc_deadline deadline;

    if (unixipc_parse_args("receive_many", args, nargs, kwnames, names, 2, 1, v) < 0)
        return NULL;
    if (long_arg(v[0], 0, "max_count", &max_count) < 0 || long_arg(v[1], 0, "type", &mtype) < 0 ||
        size_arg(v[4], &max_size) < 0)
        return NULL;
    if (max_count < 1) {
        PyErr_SetString(PyExc_ValueError, "max_count must be >= 1");
        return NULL;
    }
    if (receive_flags(v[5], v[6], mtype, &flags) < 0)
        return NULL;
    if (wait_args(v[2], v[3], &flags, &deadline) < 0)
        return NULL;
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    /* The first message: blocking as asked, straight into its bytes. */
    PyObject *data = receive_into_bytes(self->msqid, max_size, mtype, flags, &deadline,
                                        &got_type, &self->size_hint);
    PyObject *msg = data ? make_message(got_type, data) : NULL;
    if (msg == NULL || PyList_Append(list, msg) < 0) {
        Py_XDECREF(msg);
        Py_DECREF(list);
        return NULL;
    }
    Py_DECREF(msg);
    /* The rest: whatever is queued now, without giving up the GIL (the
     * calls cannot block), into one scratch buffer reused for each. */
    Py_ssize_t cap = max_size < 0 ? msgmax() : max_size;
    char *scratch = PyMem_Malloc(sizeof(long) + (size_t)cap);
    if (scratch == NULL) {
        Py_DECREF(list);
        return PyErr_NoMemory();
    }
    int nowait = flags | IPC_NOWAIT;
    for (long i = 1; i < max_count; i++) {
        ssize_t n = msgrcv(self->msqid, scratch, (size_t)cap, mtype, nowait);
        if (n < 0) {
            if (errno == ENOMSG || errno == EAGAIN)
                break;
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    goto fail;
                break;
            }
            /* E2BIG, EIDRM...: return what was received; the next call
             * reports the error with the message still queued. */
            break;
        }
        PyObject *d = PyBytes_FromStringAndSize(scratch + sizeof(long), n);
        long t;
        memcpy(&t, scratch, sizeof(long));
        PyObject *m = d ? make_message(t, d) : NULL;
        if (m == NULL || PyList_Append(list, m) < 0) {
            Py_XDECREF(m);
            goto fail;
        }
        Py_DECREF(m);
    }
    PyMem_Free(scratch);
    return list;
fail:
    PyMem_Free(scratch);
    Py_DECREF(list);
    return NULL;
}

/* peek(index, max_size=None) -> Message: a copy of the message at position
 * `index` (0 = oldest), left on the queue (MSG_COPY, Linux >= 3.8 with
 * CONFIG_CHECKPOINT_RESTORE; ENOSYS elsewhere). Never blocks. */
static PyObject *
mq_peek(MQBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"index", "max_size", NULL};
    PyObject *v[2];
    long index, got_type = 0;
    Py_ssize_t max_size;
    unixipc_deadline forever = {1, {0, 0}};

    if (unixipc_parse_args("peek", args, nargs, kwnames, names, 2, 1, v) < 0)
        return NULL;
    if (long_arg(v[0], 0, "index", &index) < 0 || size_arg(v[1], &max_size) < 0)
        return NULL;
    if (index < 0) {
        PyErr_SetString(PyExc_ValueError, "index must be >= 0");
        return NULL;
    }
    PyObject *data = receive_into_bytes(self->msqid, max_size, index,
                                        MSG_COPY | IPC_NOWAIT, &forever,
                                        &got_type, NULL);
    if (data == NULL)
        return NULL;
    return make_message(got_type, data);
}

static int
mq_init(MQBase *self, PyObject *args, PyObject *kwds)
{
    /* The Python subclass sets msqid through _bind(); a bare base is unbound. */
    self->msqid = -1;
    self->max_bytes = -1;
    self->size_hint = FIRST_SIZE_HINT;
    return 0;
}

static PyObject *
mq_bind(MQBase *self, PyObject *arg)
{
    long id = PyLong_AsLong(arg);
    if (id == -1 && PyErr_Occurred())
        return NULL;
    if (id < 0 || id > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "msqid must be a non-negative int");
        return NULL;
    }
    self->msqid = (int)id;
    self->max_bytes = -1;
    Py_RETURN_NONE;
}

static PyObject *
mq_get_id(MQBase *self, void *closure)
{
    return PyLong_FromLong(self->msqid);
}

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)
#define CAST(f) (PyCFunction)(void (*)(void))(f)

static PyMethodDef mq_methods[] = {
    {"send", CAST(mq_send), FASTKW,
     "send($self, /, data, type=1, *, block=True, timeout=None)\n--\n\n"
     "Send one message (see unixipc.MessageQueue.send)."},
    {"receive", CAST(mq_receive), FASTKW,
     "receive($self, /, type=0, *, block=True, timeout=None, max_size=None, truncate=False, "
     "exclude=False)\n--\n\nReceive one message (see unixipc.MessageQueue.receive)."},
    {"send_many", CAST(mq_send_many), FASTKW,
     "send_many($self, /, messages, type=1, *, block=True, timeout=None)\n--\n\n"
     "Send many messages in one call; returns how many were sent."},
    {"receive_many", CAST(mq_receive_many), FASTKW,
     "receive_many($self, /, max_count, type=0, *, block=True, timeout=None, max_size=None, "
     "truncate=False, exclude=False)\n--\n\n"
     "Wait for one message, then take up to max_count - 1 more already queued."},
    {"peek", CAST(mq_peek), FASTKW,
     "peek($self, /, index, max_size=None)\n--\n\nCopy the message at position index (MSG_COPY)."},
    {"_bind", (PyCFunction)mq_bind, METH_O, "Set the msqid this object uses."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef mq_getset[] = {
    {"id", (getter)mq_get_id, NULL, "The queue's identifier (msqid).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot mq_slots[] = {
    {Py_tp_doc, "Base of unixipc.MessageQueue: the msqid and the hot calls."},
    {Py_tp_init, mq_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_methods, mq_methods},
    {Py_tp_getset, mq_getset},
    {0, NULL},
};

static PyType_Spec mq_spec = {
    .name = "unixipc._core.MessageQueueBase",
    .basicsize = sizeof(MQBase),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .slots = mq_slots,
};

/* ---- module-level functions ------------------------------------------------- */

static PyObject *
core_msgget(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long key, flags;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "msgget(key, flags)");
        return NULL;
    }
    if (long_arg(args[0], 0, "key", &key) < 0 || long_arg(args[1], 0, "flags", &flags) < 0)
        return NULL;
    int id = msgget((key_t)key, (int)flags);
    if (id < 0)
        return unixipc_raise_errno("msgget", errno);
    return PyLong_FromLong(id);
}

static PyObject *
stat_dict(const struct msqid_ds *ds)
{
    return Py_BuildValue(
        "{sl sl sl sl sl si si sl sl sl sk sk sk si si}",
        "key", (long)ds->msg_perm.__key, "uid", (long)ds->msg_perm.uid,
        "gid", (long)ds->msg_perm.gid, "cuid", (long)ds->msg_perm.cuid,
        "cgid", (long)ds->msg_perm.cgid, "mode", (int)(ds->msg_perm.mode & 0777),
        "seq", (int)ds->msg_perm.__seq, "send_time", (long)ds->msg_stime,
        "receive_time", (long)ds->msg_rtime, "change_time", (long)ds->msg_ctime,
        "current_bytes", (unsigned long)ds->__msg_cbytes,
        "message_count", (unsigned long)ds->msg_qnum,
        "max_bytes", (unsigned long)ds->msg_qbytes,
        "last_send_pid", (int)ds->msg_lspid, "last_receive_pid", (int)ds->msg_lrpid);
}

static PyObject *
core_msgctl_stat(PyObject *module, PyObject *arg)
{
    long id;
    struct msqid_ds ds;
    if (long_arg(arg, 0, "msqid", &id) < 0)
        return NULL;
    if (msgctl((int)id, IPC_STAT, &ds) < 0)
        return unixipc_raise_errno("msgctl(IPC_STAT)", errno);
    return stat_dict(&ds);
}

/* msgctl_set(msqid, uid, gid, mode, max_bytes): IPC_SET; -1 keeps a field. */
static PyObject *
core_msgctl_set(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long v[5];
    struct msqid_ds ds;
    static const char *const what[] = {"msqid", "uid", "gid", "mode", "max_bytes"};
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "msgctl_set(msqid, uid, gid, mode, max_bytes)");
        return NULL;
    }
    for (int i = 0; i < 5; i++)
        if (long_arg(args[i], 0, what[i], &v[i]) < 0)
            return NULL;
    if (msgctl((int)v[0], IPC_STAT, &ds) < 0)
        return unixipc_raise_errno("msgctl(IPC_STAT)", errno);
    if (v[1] >= 0)
        ds.msg_perm.uid = (uid_t)v[1];
    if (v[2] >= 0)
        ds.msg_perm.gid = (gid_t)v[2];
    if (v[3] >= 0)
        ds.msg_perm.mode = (ds.msg_perm.mode & ~0777) | (v[3] & 0777);
    if (v[4] >= 0)
        ds.msg_qbytes = (msglen_t)v[4];
    if (msgctl((int)v[0], IPC_SET, &ds) < 0)
        return unixipc_raise_errno("msgctl(IPC_SET)", errno);
    Py_RETURN_NONE;
}

static PyObject *
core_msgctl_rmid(PyObject *module, PyObject *arg)
{
    long id;
    if (long_arg(arg, 0, "msqid", &id) < 0)
        return NULL;
    if (msgctl((int)id, IPC_RMID, NULL) < 0)
        return unixipc_raise_errno("msgctl(IPC_RMID)", errno);
    Py_RETURN_NONE;
}

/* msg_info(which) -> dict: IPC_INFO (limits) or MSG_INFO (usage), plus
 * "max_index", the highest used slot index (for MSG_STAT). */
static PyObject *
core_msg_info(PyObject *module, PyObject *arg)
{
    long which;
    struct msginfo info;
    if (long_arg(arg, 0, "which", &which) < 0)
        return NULL;
    if (which != IPC_INFO && which != MSG_INFO) {
        PyErr_SetString(PyExc_ValueError, "which must be IPC_INFO or MSG_INFO");
        return NULL;
    }
    memset(&info, 0, sizeof info);
    int max_index = msgctl(0, (int)which, (struct msqid_ds *)&info);
    if (max_index < 0)
        return unixipc_raise_errno(which == IPC_INFO ? "msgctl(IPC_INFO)" : "msgctl(MSG_INFO)",
                                   errno);
    return Py_BuildValue("{si si si si si si si si si}", "msgpool", info.msgpool, "msgmap",
                         info.msgmap, "msgmax", info.msgmax, "msgmnb", info.msgmnb, "msgmni",
                         info.msgmni, "msgssz", info.msgssz, "msgtql", info.msgtql, "msgseg",
                         (int)info.msgseg, "max_index", max_index);
}

/* msg_stat(index) -> (msqid, stat dict): MSG_STAT_ANY of a kernel slot
 * index (every queue, as ipcs sees them), or MSG_STAT where the kernel
 * lacks MSG_STAT_ANY (only queues we may read). */
static PyObject *
core_msg_stat(PyObject *module, PyObject *arg)
{
    long index;
    struct msqid_ds ds;
    if (long_arg(arg, 0, "index", &index) < 0)
        return NULL;
    int id = msgctl((int)index, MSG_STAT_ANY, &ds);
    if (id < 0 && errno == EINVAL)
        id = msgctl((int)index, MSG_STAT, &ds);
    if (id < 0)
        return unixipc_raise_errno("msgctl(MSG_STAT)", errno);
    PyObject *d = stat_dict(&ds);
    if (d == NULL)
        return NULL;
    return Py_BuildValue("(iN)", id, d);
}

static PyObject *
core_msg_set_message_type(PyObject *module, PyObject *cls)
{
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "the message type must be a tuple subclass");
        return NULL;
    }
    Py_INCREF(cls);
    Py_XSETREF(message_type, cls);
    Py_RETURN_NONE;
}

PyMethodDef unixipc_msg_methods[] = {
    {"msgget", CAST(core_msgget), METH_FASTCALL, "msgget(key, flags) -> msqid"},
    {"msgctl_stat", core_msgctl_stat, METH_O, "msgctl IPC_STAT -> dict of msqid_ds"},
    {"msgctl_set", CAST(core_msgctl_set), METH_FASTCALL,
     "msgctl IPC_SET (msqid, uid, gid, mode, max_bytes); -1 keeps a field"},
    {"msgctl_rmid", core_msgctl_rmid, METH_O, "msgctl IPC_RMID"},
    {"msg_info", core_msg_info, METH_O, "msgctl IPC_INFO / MSG_INFO -> dict"},
    {"msg_stat", core_msg_stat, METH_O, "msgctl MSG_STAT (slot index) -> (msqid, dict)"},
    {"_msg_set_message_type", core_msg_set_message_type, METH_O,
     "Set the named tuple class receive() returns."},
    {NULL, NULL, 0, NULL},
};

int
unixipc_msg_exec(PyObject *module)
{
    PyObject *type = PyType_FromSpec(&mq_spec);
    if (type == NULL)
        return -1;
    if (PyModule_AddObject(module, "MessageQueueBase", type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    UNIXIPC_ADD_INT(module, MSG_NOERROR);
    UNIXIPC_ADD_INT(module, MSG_EXCEPT);
    UNIXIPC_ADD_INT(module, MSG_COPY);
    UNIXIPC_ADD_INT(module, MSG_STAT);
    UNIXIPC_ADD_INT(module, MSG_INFO);
    UNIXIPC_ADD_INT(module, MSG_STAT_ANY);
    return 0;
}
