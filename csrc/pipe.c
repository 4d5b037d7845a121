/* pipe subsystem: filled in by its issue. */
#include "core.h"

PyMethodDef unixipc_pipe_methods[] = {
    {NULL, NULL, 0, NULL},
};

int
unixipc_pipe_exec(PyObject *module)
{
    return 0;
}
