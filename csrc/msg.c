/* msg subsystem: filled in by its issue. */
#include "core.h"

PyMethodDef unixipc_msg_methods[] = {
    {NULL, NULL, 0, NULL},
};

int
unixipc_msg_exec(PyObject *module)
{
    return 0;
}
