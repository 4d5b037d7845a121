/* Argument parsing and conversion: the one family every entry point uses
 * (see core.h). */
#include "core.h"

#include <limits.h>
#include <string.h>

/* ---- parsing --------------------------------------------------------------- */

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

/* ---- integers ------------------------------------------------------------ */

/* ValueError for an integer outside lo..hi; `value` NULL when it does not
 * even fit a long long (its digits are not printed: a huge int's str() may
 * itself fail). */
static void
range_error(const char *what, long long lo, long long hi, const long long *value)
{
    char range[80], got[40] = "";
    if (hi == LLONG_MAX && lo != LLONG_MIN)
        PyOS_snprintf(range, sizeof range, ">= %lld", lo);
    else
        PyOS_snprintf(range, sizeof range, "in %lld..%lld", lo, hi);
    if (value != NULL)
        PyOS_snprintf(got, sizeof got, ", not %lld", *value);
    PyErr_Format(PyExc_ValueError, "%s must be %s%s", what, range, got);
}

/* The value of an integer argument (an int or an object with __index__,
 * never a bool) within lo..hi. Every integer converter ends here, so all of
 * them refuse the same types with the same TypeError and report every value
 * out of range, however large, as the same ValueError. */
static int
integer_in(PyObject *obj, long long lo, long long hi, const char *what, long long *out)
{
    long long v;
    int overflow;
    if (PyLong_CheckExact(obj)) {
        v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    } else {
        PyObject *n;
        if (PyBool_Check(obj) || !PyIndex_Check(obj)) {
            PyErr_Format(PyExc_TypeError, "%s must be an integer, not %.100s", what,
                         Py_TYPE(obj)->tp_name);
            return 0;
        }
        n = PyNumber_Index(obj);
        if (n == NULL)
            return 0;
        v = PyLong_AsLongLongAndOverflow(n, &overflow);
        Py_DECREF(n);
    }
    if (v == -1 && !overflow && PyErr_Occurred())
        return 0;
    if (overflow || v < lo || v > hi) {
        range_error(what, lo, hi, overflow ? NULL : &v);
        return 0;
    }
    *out = v;
    return 1;
}

int
unixipc_conv_llong_in(PyObject *obj, long long lo, long long hi, const char *what,
                      long long *out)
{
    return obj == NULL || integer_in(obj, lo, hi, what, out);
}

/* The narrower forms: integer_in, the value stored in the caller's type
 * (lo..hi fit that type, so the value does). */
#define NARROW_INTEGER_IN(name, type)                                      \
    int name(PyObject *obj, type lo, type hi, const char *what, type *out) \
    {                                                                      \
        long long v;                                                       \
        if (obj == NULL)                                                   \
            return 1;                                                      \
        if (!integer_in(obj, lo, hi, what, &v))                            \
            return 0;                                                      \
        *out = (type)v;                                                    \
        return 1;                                                          \
    }
NARROW_INTEGER_IN(unixipc_conv_int_in, int)
NARROW_INTEGER_IN(unixipc_conv_long_in, long)
NARROW_INTEGER_IN(unixipc_conv_size_in, Py_ssize_t)
#undef NARROW_INTEGER_IN

int
unixipc_conv_opt_size(PyObject *obj, const char *what, Py_ssize_t *out)
{
    if (obj == Py_None) {
        *out = -1;
        return 1;
    }
    return unixipc_conv_size_in(obj, 0, PY_SSIZE_T_MAX, what, out);
}

/* ---- "O&" converters --------------------------------------------------------- */

int
unixipc_conv_bool(PyObject *obj, void *out)
{
    int truth;
    if (obj == NULL)
        return 1;
    truth = obj == Py_True ? 1 : obj == Py_False ? 0 : PyObject_IsTrue(obj);
    if (truth < 0)
        return 0;
    *(int *)out = truth;
    return 1;
}

int
unixipc_conv_nonneg_int(PyObject *obj, void *out)
{
    return unixipc_conv_int_in(obj, 0, INT_MAX, "argument", out);
}

/* ---- block= and timeout= ------------------------------------------------------- */

int
unixipc_conv_wait(PyObject *block_obj, PyObject *timeout_obj, int *block,
                  unixipc_deadline *deadline)
{
    *block = 1;
    if (!unixipc_conv_bool(block_obj, block) ||
        unixipc_deadline_from_timeout(timeout_obj, deadline) < 0)
        return 0;
    if (!*block)
        deadline->infinite = 1; /* never waits: the timeout was checked, not used */
    return 1;
}

/* ---- strings ------------------------------------------------------------------- */

int
unixipc_conv_str(PyObject *obj, void *out)
{
    Py_ssize_t len;
    const char *text;
    if (obj == NULL)
        return 1;
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "expected str, not %.100s", Py_TYPE(obj)->tp_name);
        return 0;
    }
    text = PyUnicode_AsUTF8AndSize(obj, &len);
    if (text == NULL)
        return 0;
    if ((Py_ssize_t)strlen(text) != len) {
        PyErr_SetString(PyExc_ValueError, "embedded null character");
        return 0;
    }
    *(const char **)out = text;
    return 1;
}

int
unixipc_conv_opt_str(PyObject *obj, void *out)
{
    if (obj == Py_None) {
        *(const char **)out = NULL;
        return 1;
    }
    return unixipc_conv_str(obj, out);
}

/* ---- sequences ----------------------------------------------------------------- */

PyObject *
unixipc_conv_messages(PyObject *obj, const char *funcname)
{
    /* A str or a single bytes-like object is one message, not a sequence of
     * them; a multi-dimensional memoryview (which iterates with
     * NotImplementedError) is refused here as one. */
    if (PyUnicode_Check(obj) || PyObject_CheckBuffer(obj)) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes a sequence of messages, not one message (%.100s)", funcname,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    if (PyList_Check(obj) || PyTuple_Check(obj))
        return PySequence_Fast(obj, "");
    PyObject *it = PyObject_GetIter(obj), *seq;
    if (it == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TypeError))
            PyErr_Format(PyExc_TypeError, "%s() takes a sequence of messages, not %.100s",
                         funcname, Py_TYPE(obj)->tp_name);
        return NULL;
    }
    seq = PySequence_Fast(it, "");
    Py_DECREF(it);
    return seq;
}
