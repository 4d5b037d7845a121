/* System V message queues, control: msgget and msgctl (IPC_STAT, IPC_SET,
 * IPC_RMID, IPC_INFO/MSG_INFO, MSG_STAT/MSG_STAT_ANY). Sending and
 * receiving are in msg_io.c. */
#define _GNU_SOURCE 1
#include "msg.h"

#include <errno.h>
#include <limits.h>

Py_ssize_t unixipc_msgmax = 0;

Py_ssize_t
unixipc_msg_query_max(void)
{
    struct msginfo info;
    if (msgctl(0, IPC_INFO, (struct msqid_ds *)(void *)&info) >= 0 && info.msgmax > 0)
        unixipc_msgmax = info.msgmax;
    else if (unixipc_msgmax <= 0)
        unixipc_msgmax = 8192; /* Linux's default, if IPC_INFO is unavailable */
    return unixipc_msgmax;
}

int
unixipc_msg_queue_exists(int msqid)
{
    struct msqid_ds ds;
    return msgctl(msqid, IPC_STAT, &ds) == 0 || (errno != EINVAL && errno != EIDRM);
}

PyObject *
unixipc_msg_raise(int msqid, const char *syscall, int err)
{
    unixipc_raise_errno(syscall, err);
    return unixipc_name_removed("message queue", msqid, unixipc_msg_queue_exists);
}

static const char *const msgget_names[] = {"key", "flags", NULL};

static PyObject *
py_msgget(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *v[2];
    int key = 0, flags = 0, id;
    if (unixipc_parse_args("msgget", args, nargs, NULL, msgget_names, 2, 2, v) < 0 ||
        !unixipc_conv_int_in(v[0], INT_MIN, INT_MAX, "key", &key) ||
        !unixipc_conv_int_in(v[1], 0, INT_MAX, "flags", &flags))
        return NULL;
    id = msgget((key_t)key, flags);
    if (id < 0)
        return unixipc_raise_errno("msgget", errno);
    return PyLong_FromLong(id);
}

static PyObject *
stat_dict(const struct msqid_ds *ds)
{
    return Py_BuildValue(
        "{s:i,s:k,s:k,s:k,s:k,s:I,s:i,s:L,s:L,s:L,s:k,s:k,s:k,s:l,s:l}",
        "key", (int)ds->msg_perm.__key, "uid", (unsigned long)ds->msg_perm.uid,
        "gid", (unsigned long)ds->msg_perm.gid, "cuid", (unsigned long)ds->msg_perm.cuid,
        "cgid", (unsigned long)ds->msg_perm.cgid, "mode",
        (unsigned int)(ds->msg_perm.mode & 0777), "seq", (int)ds->msg_perm.__seq,
        "send_time", (long long)ds->msg_stime, "receive_time", (long long)ds->msg_rtime,
        "change_time", (long long)ds->msg_ctime, "current_bytes",
        (unsigned long)ds->__msg_cbytes, "message_count", (unsigned long)ds->msg_qnum,
        "max_bytes", (unsigned long)ds->msg_qbytes, "last_send_pid", (long)ds->msg_lspid,
        "last_receive_pid", (long)ds->msg_lrpid);
}

static PyObject *
py_msgctl_stat(PyObject *module, PyObject *arg)
{
    struct msqid_ds ds;
    int msqid = -1;
    if (!unixipc_conv_int_in(arg, 0, INT_MAX, "msqid", &msqid))
        return NULL;
    if (msgctl(msqid, IPC_STAT, &ds) < 0)
        return unixipc_msg_raise(msqid, "msgctl(IPC_STAT)", errno);
    return stat_dict(&ds);
}

static const char *const set_names[] = {"msqid", "mode", "uid", "gid", "qbytes", NULL};

/* msgctl_set(msqid, mode, uid, gid, qbytes): -1 keeps a field. */
static PyObject *
py_msgctl_set(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *v[5];
    struct msqid_ds ds;
    int msqid = -1;
    long long mode = -1, uid = -1, gid = -1, qbytes = -1;
    if (unixipc_parse_args("msgctl_set", args, nargs, NULL, set_names, 5, 5, v) < 0 ||
        !unixipc_conv_int_in(v[0], 0, INT_MAX, "msqid", &msqid) ||
        !unixipc_conv_llong_in(v[1], 0, 0777, "mode", &mode) ||
        !unixipc_conv_llong_in(v[2], 0, (long long)UINT_MAX - 1, "uid", &uid) ||
        !unixipc_conv_llong_in(v[3], 0, (long long)UINT_MAX - 1, "gid", &gid) ||
        !unixipc_conv_llong_in(v[4], 0, LLONG_MAX, "qbytes", &qbytes))
        return NULL;
    /* No IPC_STAT first (it needs read permission, IPC_SET only ownership):
     * the kernel takes just these four fields from the struct. */
    memset(&ds, 0, sizeof ds);
    ds.msg_perm.mode = (unsigned short)mode;
    ds.msg_perm.uid = (uid_t)uid;
    ds.msg_perm.gid = (gid_t)gid;
    ds.msg_qbytes = (msglen_t)qbytes;
    if (msgctl(msqid, IPC_SET, &ds) < 0)
        return unixipc_msg_raise(msqid, "msgctl(IPC_SET)", errno);
    Py_RETURN_NONE;
}

static PyObject *
py_msgctl_rmid(PyObject *module, PyObject *arg)
{
    int msqid = -1;
    if (!unixipc_conv_int_in(arg, 0, INT_MAX, "msqid", &msqid))
        return NULL;
    if (msgctl(msqid, IPC_RMID, NULL) < 0)
        return unixipc_msg_raise(msqid, "msgctl(IPC_RMID)", errno);
    Py_RETURN_NONE;
}

static PyObject *
py_msgctl_info(PyObject *module, PyObject *arg)
{
    struct msginfo info;
    int cmd = -1;
    if (!unixipc_conv_int_in(arg, INT_MIN, INT_MAX, "cmd", &cmd))
        return NULL;
    if (cmd != IPC_INFO && cmd != MSG_INFO) {
        PyErr_SetString(PyExc_ValueError, "msgctl_info: cmd must be IPC_INFO or MSG_INFO");
        return NULL;
    }
    int highest = msgctl(0, cmd, (struct msqid_ds *)(void *)&info);
    if (highest < 0)
        return unixipc_raise_errno(cmd == IPC_INFO ? "msgctl(IPC_INFO)" : "msgctl(MSG_INFO)",
                                   errno);
    if (cmd == IPC_INFO && info.msgmax > 0)
        unixipc_msgmax = info.msgmax;
    return Py_BuildValue("(i{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i})", highest, "msgpool",
                         info.msgpool, "msgmap", info.msgmap, "msgmax", info.msgmax,
                         "msgmnb", info.msgmnb, "msgmni", info.msgmni, "msgssz",
                         info.msgssz, "msgtql", info.msgtql, "msgseg",
                         (int)info.msgseg);
}

static const char *const msg_stat_names[] = {"index", "any", NULL};

static PyObject *
py_msgctl_msg_stat(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *v[2];
    struct msqid_ds ds;
    int index = -1, any = 0;
    if (unixipc_parse_args("msgctl_msg_stat", args, nargs, NULL, msg_stat_names, 2, 2, v) < 0 ||
        !unixipc_conv_int_in(v[0], 0, INT_MAX, "index", &index) ||
        !unixipc_conv_bool(v[1], &any))
        return NULL;
    int msqid = msgctl(index, any ? MSG_STAT_ANY : MSG_STAT, &ds);
    if (msqid < 0)
        return unixipc_raise_errno(any ? "msgctl(MSG_STAT_ANY)" : "msgctl(MSG_STAT)", errno);
    PyObject *d = stat_dict(&ds);
    if (d == NULL)
        return NULL;
    return Py_BuildValue("(iN)", msqid, d);
}

PyMethodDef unixipc_msg_ctl_methods[] = {
    {"msgget", UNIXIPC_FASTCALL(py_msgget), METH_FASTCALL,
     "msgget(key, flags, /) -> msqid: open or create a queue."},
    {"msgctl_stat", py_msgctl_stat, METH_O,
     "msgctl_stat(msqid, /) -> dict of the msqid_ds fields (IPC_STAT)."},
    {"msgctl_set", UNIXIPC_FASTCALL(py_msgctl_set), METH_FASTCALL,
     "msgctl_set(msqid, mode, uid, gid, qbytes, /): IPC_SET with exactly these "
     "values, all given."},
    {"msgctl_rmid", py_msgctl_rmid, METH_O, "msgctl_rmid(msqid, /): remove the queue."},
    {"msgctl_info", py_msgctl_info, METH_O,
     "msgctl_info(cmd, /) -> (highest index, dict of struct msginfo): IPC_INFO or "
     "MSG_INFO."},
    {"msgctl_msg_stat", UNIXIPC_FASTCALL(py_msgctl_msg_stat), METH_FASTCALL,
     "msgctl_msg_stat(index, any, /) -> (msqid, dict): MSG_STAT (or MSG_STAT_ANY) "
     "of a kernel slot index."},
    {NULL, NULL, 0, NULL},
};

int
unixipc_msg_ctl_exec(PyObject *module)
{
    unixipc_msg_query_max();
    UNIXIPC_ADD_INT(module, MSG_STAT);
    UNIXIPC_ADD_INT(module, MSG_INFO);
    UNIXIPC_ADD_INT(module, MSG_STAT_ANY);
    return 0;
}
