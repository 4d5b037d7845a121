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
    {unixipc_msg_ctl_methods, unixipc_msg_ctl_exec},
    {unixipc_msg_io_methods, unixipc_msg_io_exec},
    {unixipc_sem_methods, unixipc_sem_exec},
    {unixipc_shm_methods, unixipc_shm_exec},
    {unixipc_pipe_methods, unixipc_pipe_exec},
    {unixipc_netdb_methods, unixipc_netdb_exec},
    {unixipc_sock_methods, unixipc_sock_exec},
    {unixipc_shmch_methods, unixipc_shmch_exec},
    {unixipc_psem_methods, unixipc_psem_exec},
    {unixipc_pmq_methods, unixipc_pmq_exec},
    {unixipc_pshm_methods, unixipc_pshm_exec},
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
