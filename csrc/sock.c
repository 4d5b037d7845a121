/* sock subsystem: filled in by its issue. */
#include "core.h"

PyMethodDef unixipc_sock_methods[] = {
    {NULL, NULL, 0, NULL},
};

int
unixipc_sock_exec(PyObject *module)
{
    return 0;
}
