/* POSIX shared memory by name: shm_open and shm_unlink.
 *
 * _core.pshm_open(name, oflag, mode) returns the descriptor, nothing more:
 * Python (unixipc.posix.SharedMemory) checks the name, owns the descriptor
 * and does the rest with os (ftruncate, fstat, posix_fallocate,
 * memfd_create) and mmap. O_NOFOLLOW and O_CLOEXEC are always added: a
 * symlink planted in /dev/shm under the name is never followed (ELOOP),
 * and the descriptor does not leak into exec'd programs.
 */
#define _GNU_SOURCE 1
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>

static PyObject *
core_pshm_open(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"name", "oflag", "mode", NULL};
    PyObject *v[3];
    const char *name;
    int oflag, mode, fd;
    if (unixipc_parse_args("pshm_open", args, nargs, NULL, names, 3, 3, v) < 0)
        return NULL;
    if (!unixipc_conv_str(v[0], &name) ||
        !unixipc_conv_int_in(v[1], 0, INT_MAX, "oflag", &oflag) ||
        !unixipc_conv_int_in(v[2], 0, 07777, "mode", &mode))
        return NULL;
    if (oflag & ~(O_RDWR | O_CREAT | O_EXCL)) {
        PyErr_SetString(PyExc_ValueError, "oflag may hold O_RDWR, O_CREAT and O_EXCL only");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    fd = shm_open(name, oflag | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
    Py_END_ALLOW_THREADS
    if (fd < 0)
        return unixipc_raise_errno("shm_open", errno);
    return PyLong_FromLong(fd);
}

static PyObject *
core_pshm_unlink(PyObject *module, PyObject *arg)
{
    const char *name;
    if (!unixipc_conv_str(arg, &name))
        return NULL;
    if (shm_unlink(name) < 0)
        return unixipc_raise_errno("shm_unlink", errno);
    Py_RETURN_NONE;
}

PyMethodDef unixipc_pshm_methods[] = {
    {"pshm_open", UNIXIPC_FASTCALL(core_pshm_open), METH_FASTCALL,
     "pshm_open(name, oflag, mode, /)\n--\n\n"
     "shm_open(name, oflag | O_NOFOLLOW | O_CLOEXEC, mode): the descriptor."},
    {"pshm_unlink", (PyCFunction)core_pshm_unlink, METH_O,
     "pshm_unlink(name, /)\n--\n\nshm_unlink."},
    {NULL, NULL, 0, NULL},
};

int
unixipc_pshm_exec(PyObject *module)
{
    return 0;
}
