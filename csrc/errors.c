/* Error mapping: errno -> exception class, with the system call named.
 *
 * The table itself lives in Python (unixipc/errors.py) and is handed to C once
 * at import through _core._set_error_table(); C only looks classes up in it.
 * Errnos missing from the table get OSError's own PEP 3151 mapping
 * (EEXIST -> FileExistsError, EAGAIN -> BlockingIOError, ...). */
#include "core.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

static PyObject *error_table = NULL; /* dict int -> exception class */

static PyObject *
raise_with_message(PyObject *cls, int err, PyObject *msg)
{
    if (msg == NULL)
        return NULL;
    PyObject *exc = PyObject_CallFunction(cls, "iO", err, msg);
    Py_DECREF(msg);
    if (exc == NULL)
        return NULL;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

PyObject *
unixipc_raise_errno(const char *syscall, int err)
{
    PyObject *cls = PyExc_OSError;
    if (error_table != NULL) {
        PyObject *key = PyLong_FromLong(err);
        if (key == NULL)
            return NULL;
        PyObject *found = PyDict_GetItemWithError(error_table, key);
        Py_DECREF(key);
        if (found != NULL)
            cls = found;
        else if (PyErr_Occurred())
            return NULL;
    }
    /* The GIL is held, so strerror's static buffer is not shared. */
    return raise_with_message(cls, err,
                              PyUnicode_FromFormat("%s: %s", syscall, strerror(err)));
}

PyObject *
unixipc_raise_timeout(const char *syscall)
{
    return raise_with_message(PyExc_TimeoutError, ETIMEDOUT,
                              PyUnicode_FromFormat("%s: timed out", syscall));
}

PyObject *
unixipc_closed_error(PyObject *obj)
{
    if (obj == NULL) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on closed file");
        return NULL;
    }
    PyObject *text = PyObject_Repr(obj);
    if (text == NULL) {
        PyErr_Clear();
        return PyErr_Format(PyExc_ValueError, "I/O operation on closed <%.100s object>",
                            Py_TYPE(obj)->tp_name);
    }
    PyErr_Format(PyExc_ValueError, "I/O operation on closed %U", text);
    Py_DECREF(text);
    return NULL;
}

PyObject *
unixipc_name_removed(const char *noun, int id, int (*exists)(int id))
{
    PyObject *type = NULL, *value = NULL, *tb = NULL, *removed_cls = NULL, *name = NULL;
    if (error_table == NULL || !PyErr_ExceptionMatches(PyExc_OSError))
        return NULL;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyOSErrorObject *exc = (PyOSErrorObject *)value;
    long err = exc->myerrno != NULL && PyLong_Check(exc->myerrno)
                   ? PyLong_AsLong(exc->myerrno) : -1;
    int named = exc->filename != NULL && exc->filename != Py_None;
    if (!named && (err == EIDRM || (err == EINVAL && !exists(id)))) {
        PyObject *key = PyLong_FromLong(EIDRM);
        if (key != NULL) {
            removed_cls = PyDict_GetItemWithError(error_table, key); /* borrowed */
            Py_DECREF(key);
        }
        name = PyUnicode_FromFormat("%s %d (removed)", noun, id);
    }
    if (removed_cls == NULL || name == NULL) { /* not ours, or out of memory: unchanged */
        Py_XDECREF(name);
        PyErr_Clear();
        PyErr_Restore(type, value, tb);
        return NULL;
    }
    PyObject *replaced = PyObject_CallFunction(removed_cls, "lON", err,
                                               exc->strerror ? exc->strerror : Py_None, name);
    if (replaced != NULL) {
        if (tb != NULL)
            PyException_SetTraceback(replaced, tb);
        PyErr_SetObject((PyObject *)Py_TYPE(replaced), replaced);
        Py_DECREF(replaced);
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return NULL;
}

static PyObject *
set_error_table(PyObject *module, PyObject *table)
{
    if (!PyDict_Check(table)) {
        PyErr_SetString(PyExc_TypeError, "error table must be a dict");
        return NULL;
    }
    Py_INCREF(table);
    Py_XSETREF(error_table, table);
    Py_RETURN_NONE;
}

static PyObject *
raise_errno(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"syscall", "errno", NULL};
    const char *syscall;
    int err = 0;
    PyObject *v[2];
    if (unixipc_parse_args("_raise_errno", args, nargs, NULL, names, 2, 2, v) < 0)
        return NULL;
    syscall = PyUnicode_AsUTF8(v[0]);
    if (syscall == NULL)
        return NULL;
    if (!unixipc_conv_int_in(v[1], 0, INT_MAX, "errno", &err))
        return NULL;
    return unixipc_raise_errno(syscall, err);
}

PyMethodDef unixipc_errors_methods[] = {
    {"_set_error_table", set_error_table, METH_O,
     "Install the errno -> exception class table used by the C core."},
    {"_raise_errno", UNIXIPC_FASTCALL(raise_errno), METH_FASTCALL,
     "Raise the exception the C core raises for (syscall, errno)."},
    {NULL, NULL, 0, NULL},
};

int
unixipc_errors_exec(PyObject *module)
{
    return 0;
}
