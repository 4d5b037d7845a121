/* System V keys: ftok. */
#include "core.h"

#include <errno.h>
#include <sys/ipc.h>

static PyObject *
core_ftok(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *path_bytes = NULL;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "ftok(path, proj_id) takes 2 arguments");
        return NULL;
    }
    if (!PyUnicode_FSConverter(args[0], &path_bytes))
        return NULL;
    int proj_id = (int)PyLong_AsLong(args[1]);
    if (proj_id == -1 && PyErr_Occurred()) {
        Py_DECREF(path_bytes);
        return NULL;
    }
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
    {"ftok", (PyCFunction)(void (*)(void))core_ftok, METH_FASTCALL,
     "ftok(path, proj_id) -> key: the C library's ftok (stat of path)."},
    {NULL, NULL, 0, NULL},
};

int
unixipc_keys_exec(PyObject *module)
{
    return 0;
}
