/* System V shared memory: shmget, shmat/shmdt, shmctl.
 *
 * An attached segment is an _core.Attachment: it exports the segment's
 * memory through the buffer protocol (memoryview, numpy.frombuffer) and
 * counts its exports the way CPython's mmap does, so it cannot be detached
 * while a view of it exists: detach() raises BufferError instead of leaving
 * a dangling pointer that would crash the process.
 */
#define _GNU_SOURCE 1
#include "core.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15 /* Linux >= 4.17 */
#endif


/* Whether shmid names a segment now (readable or not): the probe behind
 * unixipc_name_removed. */
static int
segment_exists(int shmid)
{
    struct shmid_ds ds;
    return shmctl(shmid, IPC_STAT, &ds) == 0 || (errno != EINVAL && errno != EIDRM);
}

/* The error of a call on segment shmid; use after removal says so. NULL. */
static PyObject *
raise_on_segment(int shmid, const char *syscall, int err)
{
    unixipc_raise_errno(syscall, err);
    return unixipc_name_removed("shared memory segment", shmid, segment_exists);
}

/* ---- Attachment ------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    void *addr;          /* NULL once detached */
    Py_ssize_t size;
    int readonly;
    Py_ssize_t exports;  /* buffer views alive */
} Attachment;

static int
att_getbuffer(Attachment *self, Py_buffer *view, int flags)
{
    if (self->addr == NULL) {
        PyErr_SetString(PyExc_ValueError, "the segment is detached");
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)self, self->addr, self->size, self->readonly,
                          flags) < 0)
        return -1;
    self->exports++;
    return 0;
}

static void
att_releasebuffer(Attachment *self, Py_buffer *view)
{
    self->exports--;
}

static PyObject *
att_detach(Attachment *self, PyObject *unused)
{
    if (self->addr == NULL)
        Py_RETURN_NONE;
    if (self->exports > 0) {
        PyErr_Format(PyExc_BufferError,
                     "cannot detach: %zd view(s) of the segment still exist "
                     "(release them first, e.g. view.release())",
                     self->exports);
        return NULL;
    }
    if (shmdt(self->addr) < 0)
        return unixipc_raise_errno("shmdt", errno);
    self->addr = NULL;
    Py_RETURN_NONE;
}

static void
att_dealloc(Attachment *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    /* No view can be alive here: each holds a reference to us. */
    if (self->addr != NULL)
        shmdt(self->addr);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
att_get_attached(Attachment *self, void *closure)
{
    return PyBool_FromLong(self->addr != NULL);
}

static PyObject *
att_get_size(Attachment *self, void *closure)
{
    return PyLong_FromSsize_t(self->size);
}

static PyObject *
att_get_readonly(Attachment *self, void *closure)
{
    return PyBool_FromLong(self->readonly);
}

static PyObject *
att_get_exports(Attachment *self, void *closure)
{
    return PyLong_FromSsize_t(self->exports);
}

static PyObject *
att_get_address(Attachment *self, void *closure)
{
    return PyLong_FromVoidPtr(self->addr);
}

static PyMethodDef att_methods[] = {
    {"detach", (PyCFunction)att_detach, METH_NOARGS,
     "detach($self, /)\n--\n\nshmdt; BufferError while views of the segment exist."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef att_getset[] = {
    {"attached", (getter)att_get_attached, NULL, "Whether the segment is still attached.",
     NULL},
    {"size", (getter)att_get_size, NULL, "Bytes mapped.", NULL},
    {"readonly", (getter)att_get_readonly, NULL, "Attached with SHM_RDONLY.", NULL},
    {"exports", (getter)att_get_exports, NULL, "Buffer views alive.", NULL},
    {"address", (getter)att_get_address, NULL, "Where the segment is mapped.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot att_slots[] = {
    {Py_tp_doc, "An attached shared memory segment, exported through the buffer protocol."},
    {Py_tp_dealloc, att_dealloc},
    {Py_tp_methods, att_methods},
    {Py_tp_getset, att_getset},
#if PY_VERSION_HEX >= 0x03090000
    {Py_bf_getbuffer, att_getbuffer},
    {Py_bf_releasebuffer, att_releasebuffer},
#endif
    {0, NULL},
};

static PyType_Spec att_spec = {
    .name = "unixipc._core.Attachment",
    .basicsize = sizeof(Attachment),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = att_slots,
};

static PyObject *attachment_type = NULL;

/* ---- BufferForwarder -----------------------------------------------------------
 *
 * A base class for Python classes that export another object's buffer:
 * memoryview(obj) asks obj._buffer_source() for the exporting object and
 * takes the buffer from it, so the view holds (and counts as an export of)
 * that object, not obj. Python 3.12's PEP 688 lets a Python class say this
 * with __buffer__; before 3.12 only a C type's slot can, hence this type
 * (the sysv_ipc shim's SharedMemory is one subclass). */

static int
fwd_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    PyObject *source = PyObject_CallMethod(self, "_buffer_source", NULL);
    if (source == NULL)
        return -1;
    int rc = PyObject_GetBuffer(source, view, flags);
    Py_DECREF(source);
    return rc;
}

static PyType_Slot fwd_slots[] = {
    {Py_tp_doc, "A base class whose buffer is that of the object its _buffer_source() "
                "method returns."},
#if PY_VERSION_HEX >= 0x03090000
    {Py_bf_getbuffer, fwd_getbuffer},
#endif
    {0, NULL},
};

static PyType_Spec fwd_spec = {
    .name = "unixipc._core.BufferForwarder",
    .basicsize = sizeof(PyObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .slots = fwd_slots,
};

/* shmat(shmid, readonly) -> Attachment. The size exported is what IPC_STAT
 * says once the segment is attached: an attached segment keeps its id until
 * the last detach, so the id cannot name another segment (of another size)
 * by then, as it could between a stat made first and the attach. */
static PyObject *
core_shmat(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"shmid", "readonly", NULL};
    PyObject *v[2];
    int shmid = -1, readonly = 0;
    struct shmid_ds ds;
    void *addr;
    Attachment *att;

    if (unixipc_parse_args("shmat", args, nargs, NULL, names, 2, 2, v) < 0 ||
        !unixipc_conv_int_in(v[0], 0, INT_MAX, "shmid", &shmid) ||
        !unixipc_conv_bool(v[1], &readonly))
        return NULL;
    addr = shmat(shmid, NULL, readonly ? SHM_RDONLY : 0);
    if (addr == (void *)-1)
        return raise_on_segment(shmid, "shmat", errno);
    if (shmctl(shmid, IPC_STAT, &ds) < 0) {
        int err = errno;
        shmdt(addr);
        return raise_on_segment(shmid, "shmctl(IPC_STAT)", err);
    }
    att = PyObject_New(Attachment, (PyTypeObject *)attachment_type);
    if (att == NULL) {
        shmdt(addr);
        return NULL;
    }
    att->addr = addr;
    att->size = (Py_ssize_t)ds.shm_segsz;
    att->readonly = readonly;
    att->exports = 0;
    return (PyObject *)att;
}

/* ---- shmget / shmctl ------------------------------------------------------------- */

static PyObject *
core_shmget(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long key, size, flags;
    static const char *const names[] = {"key", "size", "flags", NULL};
    PyObject *v[3];
    if (unixipc_parse_args("shmget", args, nargs, NULL, names, 3, 3, v) < 0)
        return NULL;
    if (!unixipc_conv_long_in(v[0], INT_MIN, INT_MAX, "key", &key) ||
        !unixipc_conv_long_in(v[1], 0, LONG_MAX, "size", &size) ||
        !unixipc_conv_long_in(v[2], 0, INT_MAX, "flags", &flags))
        return NULL;
    int id = shmget((key_t)key, (size_t)size, (int)flags);
    if (id < 0)
        return unixipc_raise_errno("shmget", errno);
    return PyLong_FromLong(id);
}

static PyObject *
stat_dict(int shmid, const struct shmid_ds *ds)
{
    return Py_BuildValue(
        "{si sl sl sl sl sl si si sn sl sl sl si si sk sO sO}", "id", shmid, "key",
        (long)ds->shm_perm.__key, "uid", (long)ds->shm_perm.uid, "gid", (long)ds->shm_perm.gid,
        "cuid", (long)ds->shm_perm.cuid, "cgid", (long)ds->shm_perm.cgid, "mode",
        (int)(ds->shm_perm.mode & 0777), "seq", (int)ds->shm_perm.__seq, "size",
        (Py_ssize_t)ds->shm_segsz, "attach_time", (long)ds->shm_atime, "detach_time",
        (long)ds->shm_dtime, "change_time", (long)ds->shm_ctime, "creator_pid",
        (int)ds->shm_cpid, "last_pid", (int)ds->shm_lpid, "attach_count",
        (unsigned long)ds->shm_nattch, "removed",
        (ds->shm_perm.mode & SHM_DEST) ? Py_True : Py_False, "locked",
        (ds->shm_perm.mode & SHM_LOCKED) ? Py_True : Py_False);
}

static PyObject *
core_shmctl_stat(PyObject *module, PyObject *arg)
{
    long shmid;
    struct shmid_ds ds;
    if (!unixipc_conv_long_in(arg, 0, INT_MAX, "shmid", &shmid))
        return NULL;
    if (shmctl((int)shmid, IPC_STAT, &ds) < 0)
        return raise_on_segment((int)shmid, "shmctl(IPC_STAT)", errno);
    return stat_dict((int)shmid, &ds);
}

/* shmctl_set(shmid, uid, gid, mode): IPC_SET with exactly these values
 * (see semctl_set in sem.c for why there is no IPC_STAT first). */
static PyObject *
core_shmctl_set(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"shmid", "uid", "gid", "mode", NULL};
    PyObject *args_v[4];
    long v[4] = {0, 0, 0, 0};
    if (unixipc_parse_args("shmctl_set", args, nargs, NULL, names, 4, 4, args_v) < 0)
        return NULL;
    for (int i = 0; i < 4; i++)
        if (!unixipc_conv_long_in(args_v[i], 0, i == 3 ? 0777 : INT_MAX, names[i], &v[i]))
            return NULL;
    struct shmid_ds ds;
    memset(&ds, 0, sizeof ds);
    ds.shm_perm.uid = (uid_t)v[1];
    ds.shm_perm.gid = (gid_t)v[2];
    ds.shm_perm.mode = (unsigned short)v[3];
    if (shmctl((int)v[0], IPC_SET, &ds) < 0)
        return raise_on_segment((int)v[0], "shmctl(IPC_SET)", errno);
    Py_RETURN_NONE;
}

static PyObject *
core_shmctl_rmid(PyObject *module, PyObject *arg)
{
    long shmid;
    if (!unixipc_conv_long_in(arg, 0, INT_MAX, "shmid", &shmid))
        return NULL;
    if (shmctl((int)shmid, IPC_RMID, NULL) < 0)
        return raise_on_segment((int)shmid, "shmctl(IPC_RMID)", errno);
    Py_RETURN_NONE;
}

/* shmctl_lock(shmid, lock): SHM_LOCK (True) or SHM_UNLOCK (False). */
static PyObject *
core_shmctl_lock(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long shmid;
    static const char *const names[] = {"shmid", "lock", NULL};
    PyObject *v[2];
    if (unixipc_parse_args("shmctl_lock", args, nargs, NULL, names, 2, 2, v) < 0)
        return NULL;
    if (!unixipc_conv_long_in(v[0], 0, INT_MAX, "shmid", &shmid))
        return NULL;
    int lock = 0;
    if (!unixipc_conv_bool(v[1], &lock))
        return NULL;
    if (shmctl((int)shmid, lock ? SHM_LOCK : SHM_UNLOCK, NULL) < 0)
        return raise_on_segment((int)shmid, lock ? "shmctl(SHM_LOCK)" : "shmctl(SHM_UNLOCK)",
                                errno);
    Py_RETURN_NONE;
}

static PyObject *
core_shm_info(PyObject *module, PyObject *arg)
{
    long which;
    if (!unixipc_conv_long_in(arg, 0, INT_MAX, "which", &which))
        return NULL;
    if (which == IPC_INFO) {
        struct shminfo info;
        int max_index = shmctl(0, IPC_INFO, (struct shmid_ds *)&info);
        if (max_index < 0)
            return unixipc_raise_errno("shmctl(IPC_INFO)", errno);
        return Py_BuildValue("{sk sk sk sk sk si}", "shmmax", (unsigned long)info.shmmax,
                             "shmmin", (unsigned long)info.shmmin, "shmmni",
                             (unsigned long)info.shmmni, "shmseg", (unsigned long)info.shmseg,
                             "shmall", (unsigned long)info.shmall, "max_index", max_index);
    }
    if (which == SHM_INFO) {
        struct shm_info info;
        int max_index = shmctl(0, SHM_INFO, (struct shmid_ds *)&info);
        if (max_index < 0)
            return unixipc_raise_errno("shmctl(SHM_INFO)", errno);
        return Py_BuildValue("{si sk sk sk sk sk si}", "used_ids", info.used_ids, "shm_tot",
                             (unsigned long)info.shm_tot, "shm_rss",
                             (unsigned long)info.shm_rss, "shm_swp",
                             (unsigned long)info.shm_swp, "swap_attempts",
                             (unsigned long)info.swap_attempts, "swap_successes",
                             (unsigned long)info.swap_successes, "max_index", max_index);
    }
    PyErr_SetString(PyExc_ValueError, "which must be IPC_INFO or SHM_INFO");
    return NULL;
}

static PyObject *
core_shm_stat(PyObject *module, PyObject *arg)
{
    long index;
    struct shmid_ds ds;
    if (!unixipc_conv_long_in(arg, 0, INT_MAX, "index", &index))
        return NULL;
    int id = shmctl((int)index, SHM_STAT_ANY, &ds);
    if (id < 0 && errno == EINVAL)
        id = shmctl((int)index, SHM_STAT, &ds);
    if (id < 0)
        return unixipc_raise_errno("shmctl(SHM_STAT)", errno);
    return stat_dict(id, &ds);
}


PyMethodDef unixipc_shm_methods[] = {
    {"shmget", UNIXIPC_FASTCALL(core_shmget), METH_FASTCALL, "shmget(key, size, flags) -> shmid"},
    {"shmat", UNIXIPC_FASTCALL(core_shmat), METH_FASTCALL, "shmat(shmid, readonly) -> Attachment"},
    {"shmctl_stat", core_shmctl_stat, METH_O, "shmctl IPC_STAT -> dict of shmid_ds"},
    {"shmctl_set", UNIXIPC_FASTCALL(core_shmctl_set), METH_FASTCALL,
     "shmctl IPC_SET (shmid, uid, gid, mode), all fields given"},
    {"shmctl_rmid", core_shmctl_rmid, METH_O, "shmctl IPC_RMID"},
    {"shmctl_lock", UNIXIPC_FASTCALL(core_shmctl_lock), METH_FASTCALL,
     "shmctl SHM_LOCK / SHM_UNLOCK"},
    {"shm_info", core_shm_info, METH_O, "shmctl IPC_INFO / SHM_INFO -> dict"},
    {"shm_stat", core_shm_stat, METH_O, "shmctl SHM_STAT(_ANY) of a slot index -> dict"},
    {NULL, NULL, 0, NULL},
};

int
unixipc_shm_exec(PyObject *module)
{
    if (unixipc_add_type(module, &att_spec, "Attachment", &attachment_type) < 0 ||
        unixipc_add_type(module, &fwd_spec, "BufferForwarder", NULL) < 0)
        return -1;
    UNIXIPC_ADD_INT(module, SHM_RDONLY);
    UNIXIPC_ADD_INT(module, SHM_INFO);
    UNIXIPC_ADD_INT(module, SHM_STAT);
    UNIXIPC_ADD_INT(module, SHM_STAT_ANY);
    UNIXIPC_ADD_INT(module, SHM_LOCK);
    UNIXIPC_ADD_INT(module, SHM_UNLOCK);
    return 0;
}
