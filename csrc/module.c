/* Module definition: registers every subsystem's functions and constants.
 * The bodies live in one file per subsystem (see core.h). */
#include "core.h"

#include <sys/ipc.h>

typedef struct {
    PyMethodDef *methods;
    int (*exec)(PyObject *module);
} subsystem;

static const subsystem subsystems[] = {
    {unixipc_errors_methods, unixipc_errors_exec},
    {unixipc_blocking_methods, unixipc_blocking_exec},
    {unixipc_keys_methods, unixipc_keys_exec},
    {unixipc_msg_methods, unixipc_msg_exec},
    {unixipc_sem_methods, unixipc_sem_exec},
    {unixipc_shm_methods, unixipc_shm_exec},
    {unixipc_pipe_methods, unixipc_pipe_exec},
    {unixipc_netdb_methods, unixipc_netdb_exec},
    {unixipc_sock_methods, unixipc_sock_exec},
    {unixipc_shmch_methods, unixipc_shmch_exec},
};

static int
core_exec(PyObject *module)
{
    for (size_t i = 0; i < sizeof(subsystems) / sizeof(subsystems[0]); i++) {
        if (subsystems[i].methods[0].ml_name != NULL &&
            PyModule_AddFunctions(module, subsystems[i].methods) < 0)
            return -1;
        if (subsystems[i].exec(module) < 0)
            return -1;
    }
    UNIXIPC_ADD_INT(module, IPC_PRIVATE);
    UNIXIPC_ADD_INT(module, IPC_CREAT);
    UNIXIPC_ADD_INT(module, IPC_EXCL);
    UNIXIPC_ADD_INT(module, IPC_NOWAIT);
    UNIXIPC_ADD_INT(module, IPC_RMID);
    UNIXIPC_ADD_INT(module, IPC_SET);
    UNIXIPC_ADD_INT(module, IPC_STAT);
#ifdef IPC_INFO
    UNIXIPC_ADD_INT(module, IPC_INFO);
#endif
    return 0;
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
    {0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "unixipc._core",
    .m_doc = "The C core of unixipc: thin wrappers over the IPC system calls.",
    .m_size = 0,
    .m_slots = core_slots,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&core_module);
}

/* ---- argument helpers ---------------------------------------------------- */

int
unixipc_parse_args(const char *funcname, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames, const char *const *names,
                   Py_ssize_t max_positional, Py_ssize_t required, PyObject **values)
{
    Py_ssize_t nnames = 0;
    while (names[nnames] != NULL)
        values[nnames++] = NULL;
    if (nargs > max_positional) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes at most %zd positional arguments (%zd given)",
                     funcname, max_positional, nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++)
        values[i] = args[i];
    if (kwnames != NULL) {
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t k = 0; k < nkw; k++) {
            PyObject *key = PyTuple_GET_ITEM(kwnames, k);
            const char *ks = PyUnicode_AsUTF8(key);
            if (ks == NULL)
                return -1;
            Py_ssize_t j = 0;
            for (; j < nnames; j++)
                if (strcmp(ks, names[j]) == 0)
                    break;
            if (j == nnames) {
                PyErr_Format(PyExc_TypeError,
                             "%s() got an unexpected keyword argument '%s'",
                             funcname, ks);
                return -1;
            }
            if (values[j] != NULL) {
                PyErr_Format(PyExc_TypeError,
                             "%s() got multiple values for argument '%s'",
                             funcname, ks);
                return -1;
            }
            values[j] = args[nargs + k];
        }
    }
    for (Py_ssize_t i = 0; i < required; i++) {
        if (values[i] == NULL) {
            PyErr_Format(PyExc_TypeError,
                         "%s() missing required argument '%s'", funcname, names[i]);
            return -1;
        }
    }
    return 0;
}

int
unixipc_bool_arg(PyObject *obj, int default_value)
{
    if (obj == NULL)
        return default_value;
    if (obj == Py_True)
        return 1;
    if (obj == Py_False)
        return 0;
    return PyObject_IsTrue(obj);
}

int
unixipc_long_arg(PyObject *obj, long default_value, long lo, long hi, const char *what,
                 long *out)
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
    int overflow;
    long v = PyLong_AsLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow || v < lo || v > hi) {
        PyErr_Format(PyExc_ValueError, "%s must be in %ld..%ld", what, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int
unixipc_add_type(PyObject *module, PyType_Spec *spec, const char *name, PyObject **out)
{
    PyObject *type = PyType_FromSpec(spec);
    if (type == NULL)
        return -1;
    if (out != NULL) {
        Py_INCREF(type);
        *out = type;
    }
    if (PyModule_AddObject(module, name, type) < 0) {
        Py_DECREF(type);
        if (out != NULL)
            Py_CLEAR(*out);
        return -1;
    }
    return 0;
}
