/* System V keys: ftok. */
#include "core.h"

#include <errno.h>
#include <limits.h>
#include <sys/ipc.h>

static PyObject *
core_ftok(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *path_bytes = NULL;
    static const char *const names[] = {"path", "proj_id", NULL};
    PyObject *v[2];
    if (unixipc_parse_args("ftok", args, nargs, NULL, names, 2, 2, v) < 0)
        return NULL;
    int proj_id = 0;
    if (!unixipc_conv_int_in(v[1], INT_MIN, INT_MAX, "proj_id", &proj_id) ||
        !PyUnicode_FSConverter(v[0], &path_bytes))
        return NULL;
    key_t key;
    Py_BEGIN_ALLOW_THREADS
    key = ftok(PyBytes_AS_STRING(path_bytes), proj_id);
    Py_END_ALLOW_THREADS
    int err = errno;
    Py_DECREF(path_bytes);
    if (key == (key_t)-1)
        return unixipc_raise_errno("ftok", err);
    return PyLong_FromLong((long)key);
}

PyMethodDef unixipc_keys_methods[] = {
    {"ftok", UNIXIPC_FASTCALL(core_ftok), METH_FASTCALL,
     "ftok(path, proj_id) -> key: the C library's ftok (stat of path)."},
    {NULL, NULL, 0, NULL},
};

int
unixipc_keys_exec(PyObject *module)
{
    return 0;
}
