/* netdb subsystem: the C library's network databases.
 *
 * Enumerations (getservent, getprotoent, getnetent, gethostent) use the glibc
 * reentrant _r variants AND one mutex per database held from set*ent to
 * end*ent: the _r variants only make each call safe, the enumeration position
 * itself is process-global, so two interleaved enumerations would each see a
 * part of the database. One C call walks the whole database under the mutex
 * (GIL released) and returns a list of short tuples; Python builds the
 * dataclasses. Lookups use the *_r functions (thread-safe on their own).
 * ERANGE from any _r call grows the buffer and retries the same entry.
 * Not found -> None (Python raises NotFoundError).
 */
#include "core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define INITIAL_BUF 1024
#define MAX_BUF (1 << 24)

/* Held for a whole walk of a database (set*ent, every get*ent_r, end*ent),
   which never needs the GIL: entries are kept in C and turned into Python
   objects after the lock is released.

   fork() while another thread walks a database: glibc's open database file
   would be inherited with its file offset shared with the parent's (one
   open file description), so the child's walk and the parent's would move
   each other's position and read entries twice or not at all; and a lock
   held by the walking thread would stay held in the child for ever. So the
   prepare handler waits until no walk is in progress: the child never
   inherits an open database, and the child handler gives it a fresh lock. */
static pthread_mutex_t walk_lock = PTHREAD_MUTEX_INITIALIZER;

static void
netdb_atfork_prepare(void)
{
    pthread_mutex_lock(&walk_lock);
}

static void
netdb_atfork_parent(void)
{
    pthread_mutex_unlock(&walk_lock);
}

static void
netdb_atfork_child(void)
{
    static const pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    walk_lock = fresh;
}

static PyObject *
aliases_tuple(char **aliases)
{
    Py_ssize_t n = 0;
    while (aliases && aliases[n])
        n++;
    PyObject *t = PyTuple_New(n);
    if (!t)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyUnicode_DecodeFSDefault(aliases[i]);
        if (!s) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, s);
    }
    return t;
}

static PyObject *
servent_tuple(const struct servent *s)
{
    return Py_BuildValue("(O&NiO&)", PyUnicode_DecodeFSDefault, s->s_name,
                         aliases_tuple(s->s_aliases), (int)ntohs((uint16_t)s->s_port),
                         PyUnicode_DecodeFSDefault, s->s_proto);
}

static PyObject *
protoent_tuple(const struct protoent *p)
{
    return Py_BuildValue("(O&Ni)", PyUnicode_DecodeFSDefault, p->p_name,
                         aliases_tuple(p->p_aliases), p->p_proto);
}

static PyObject *
netent_tuple(const struct netent *n)
{
    return Py_BuildValue("(O&NiI)", PyUnicode_DecodeFSDefault, n->n_name,
                         aliases_tuple(n->n_aliases), n->n_addrtype,
                         (unsigned int)n->n_net);
}

static PyObject *
hostent_tuple(const struct hostent *h)
{
    Py_ssize_t n = 0;
    while (h->h_addr_list && h->h_addr_list[n])
        n++;
    PyObject *addrs = PyTuple_New(n);
    if (!addrs)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        char text[INET6_ADDRSTRLEN];
        if (!inet_ntop(h->h_addrtype, h->h_addr_list[i], text, sizeof text)) {
            Py_DECREF(addrs);
            return unixipc_raise_errno("inet_ntop", errno);
        }
        PyObject *s = PyUnicode_FromString(text);
        if (!s) {
            Py_DECREF(addrs);
            return NULL;
        }
        PyTuple_SET_ITEM(addrs, i, s);
    }
    return Py_BuildValue("(O&NiN)", PyUnicode_DecodeFSDefault, h->h_name,
                         aliases_tuple(h->h_aliases), h->h_addrtype, addrs);
}

/* ---- enumerations ------------------------------------------------------ */

enum db { DB_SERV, DB_PROTO, DB_NET, DB_HOST };

union anyent {
    struct servent s;
    struct protoent p;
    struct netent n;
    struct hostent h;
};

/* One step of an enumeration: 0 and *found=1 with an entry, 0 and *found=0
 * at the end, ERANGE when buf is too small, another errno on failure. */
static int
step(enum db db, union anyent *e, char *buf, size_t len, int *found)
{
    void *result = NULL;
    int herr = 0, rc;
    switch (db) {
    case DB_SERV:
        rc = getservent_r(&e->s, buf, len, (struct servent **)&result);
        break;
    case DB_PROTO:
        rc = getprotoent_r(&e->p, buf, len, (struct protoent **)&result);
        break;
    case DB_NET:
        rc = getnetent_r(&e->n, buf, len, (struct netent **)&result, &herr);
        break;
    default:
        rc = gethostent_r(&e->h, buf, len, (struct hostent **)&result, &herr);
        break;
    }
    *found = result != NULL;
    if (result || rc == ENOENT)
        return 0;
    return rc;
}

/* One entry of a walk: the struct and the buffer its pointers point into. */
typedef struct {
    union anyent e;
    char *buf;
} walk_entry;

/* The whole walk, without the GIL and under walk_lock. Returns 0 and the
 * entries, or an errno (ENOMEM, or the C library's) with none kept. */
static int
walk_db(enum db db, walk_entry **out, size_t *count)
{
    walk_entry *entries = NULL;
    size_t n = 0, cap = 0, len = INITIAL_BUF;
    int err = 0;

    pthread_mutex_lock(&walk_lock);
    switch (db) {
    case DB_SERV: setservent(1); break;
    case DB_PROTO: setprotoent(1); break;
    case DB_NET: setnetent(1); break;
    default: sethostent(1); break;
    }
    for (;;) {
        int found = 0, rc;
        char *buf = malloc(len);
        if (buf == NULL) {
            err = ENOMEM;
            break;
        }
        if (n == cap) {
            size_t bigger = cap ? cap * 2 : 64;
            walk_entry *grown = realloc(entries, bigger * sizeof(*grown));
            if (grown == NULL) {
                free(buf);
                err = ENOMEM;
                break;
            }
            entries = grown;
            cap = bigger;
        }
        rc = step(db, &entries[n].e, buf, len, &found);
        while (rc == ERANGE && len < MAX_BUF) {
            char *larger = realloc(buf, len * 2);
            if (larger == NULL)
                break;
            buf = larger;
            len *= 2;
            rc = step(db, &entries[n].e, buf, len, &found);
        }
        if (rc || !found) {
            free(buf);
            err = rc;
            break;
        }
        entries[n++].buf = buf;
    }
    switch (db) {
    case DB_SERV: endservent(); break;
    case DB_PROTO: endprotoent(); break;
    case DB_NET: endnetent(); break;
    default: endhostent(); break;
    }
    pthread_mutex_unlock(&walk_lock);
    *out = entries;
    *count = n;
    return err;
}

static PyObject *
enumerate_db(enum db db)
{
    static const char *const names[] = {"getservent_r", "getprotoent_r", "getnetent_r",
                                        "gethostent_r"};
    walk_entry *entries = NULL;
    size_t n = 0, i;
    int err;
    PyObject *list = NULL;

    Py_BEGIN_ALLOW_THREADS
    err = walk_db(db, &entries, &n);
    Py_END_ALLOW_THREADS
    if (err == ENOMEM)
        PyErr_NoMemory();
    else if (err)
        unixipc_raise_errno(names[db], err);
    else
        list = PyList_New(0);
    for (i = 0; i < n && list != NULL; i++) {
        walk_entry *w = &entries[i];
        PyObject *item = db == DB_SERV    ? servent_tuple(&w->e.s)
                         : db == DB_PROTO ? protoent_tuple(&w->e.p)
                         : db == DB_NET   ? netent_tuple(&w->e.n)
                                          : hostent_tuple(&w->e.h);
        if (item == NULL || PyList_Append(list, item) < 0)
            Py_CLEAR(list);
        Py_XDECREF(item);
    }
    for (i = 0; i < n; i++)
        free(entries[i].buf);
    free(entries);
    return list;
}

static PyObject *
core_getservent(PyObject *m, PyObject *unused) { return enumerate_db(DB_SERV); }
static PyObject *
core_getprotoent(PyObject *m, PyObject *unused) { return enumerate_db(DB_PROTO); }
static PyObject *
core_getnetent(PyObject *m, PyObject *unused) { return enumerate_db(DB_NET); }
static PyObject *
core_gethostent(PyObject *m, PyObject *unused) { return enumerate_db(DB_HOST); }

/* ---- lookups ------------------------------------------------------------ */

struct lookup {
    int kind;           /* 0 servbyname 1 servbyport 2 protobyname 3 protobynumber
                           4 netbyname 5 netbyaddr */
    const char *name;
    const char *proto;
    long number;
    int type;
};

static int
lookup_once(const struct lookup *q, union anyent *e, char *buf, size_t len, void **result)
{
    int herr = 0;
    switch (q->kind) {
    case 0:
        return getservbyname_r(q->name, q->proto, &e->s, buf, len,
                               (struct servent **)result);
    case 1:
        return getservbyport_r((int)htons((uint16_t)q->number), q->proto, &e->s, buf, len,
                               (struct servent **)result);
    case 2:
        return getprotobyname_r(q->name, &e->p, buf, len, (struct protoent **)result);
    case 3:
        return getprotobynumber_r((int)q->number, &e->p, buf, len,
                                  (struct protoent **)result);
    case 4:
        return getnetbyname_r(q->name, &e->n, buf, len, (struct netent **)result, &herr);
    default:
        return getnetbyaddr_r((uint32_t)q->number, q->type, &e->n, buf, len,
                              (struct netent **)result, &herr);
    }
}

static PyObject *
lookup(const struct lookup *q, const char *syscall)
{
    size_t len = INITIAL_BUF;
    char *buf = NULL;
    union anyent e;
    void *result = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        char *bigger = realloc(buf, len);
        if (!bigger) {
            rc = ENOMEM;
            break;
        }
        buf = bigger;
        result = NULL;
        rc = lookup_once(q, &e, buf, len, &result);
        if (rc != ERANGE || len >= MAX_BUF)
            break;
        len *= 2;
    }
    Py_END_ALLOW_THREADS
    PyObject *out;
    if (result)
        out = q->kind <= 1 ? servent_tuple(&e.s)
              : q->kind <= 3 ? protoent_tuple(&e.p)
                             : netent_tuple(&e.n);
    else if (rc == 0 || rc == ENOENT)
        out = Py_NewRef(Py_None);
    else
        out = unixipc_raise_errno(syscall, rc);
    free(buf);
    return out;
}

static PyObject *
core_getservbyname_r(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"name", "proto", NULL};
    PyObject *v[2];
    struct lookup q = {0};
    if (unixipc_parse_args("getservbyname_r", args, nargs, NULL, names, 2, 2, v) < 0 ||
        !unixipc_conv_str(v[0], &q.name) || !unixipc_conv_opt_str(v[1], &q.proto))
        return NULL;
    return lookup(&q, "getservbyname_r");
}

static PyObject *
core_getservbyport_r(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"port", "proto", NULL};
    PyObject *v[2];
    struct lookup q = {.kind = 1};
    if (unixipc_parse_args("getservbyport_r", args, nargs, NULL, names, 2, 2, v) < 0 ||
        !unixipc_conv_long_in(v[0], 0, 65535, "port", &q.number) ||
        !unixipc_conv_opt_str(v[1], &q.proto))
        return NULL;
    return lookup(&q, "getservbyport_r");
}

static PyObject *
core_getprotobyname_r(PyObject *m, PyObject *arg)
{
    struct lookup q = {.kind = 2};
    if (!unixipc_conv_str(arg, &q.name))
        return NULL;
    return lookup(&q, "getprotobyname_r");
}

static PyObject *
core_getprotobynumber_r(PyObject *m, PyObject *arg)
{
    struct lookup q = {.kind = 3};
    if (!unixipc_conv_long_in(arg, INT_MIN, INT_MAX, "number", &q.number))
        return NULL;
    return lookup(&q, "getprotobynumber_r");
}

static PyObject *
core_getnetbyname_r(PyObject *m, PyObject *arg)
{
    struct lookup q = {.kind = 4};
    if (!unixipc_conv_str(arg, &q.name))
        return NULL;
    return lookup(&q, "getnetbyname_r");
}

static PyObject *
core_getnetbyaddr_r(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"net", "type", NULL};
    PyObject *v[2];
    struct lookup q = {.kind = 5};
    long long net = 0;
    if (unixipc_parse_args("getnetbyaddr_r", args, nargs, NULL, names, 2, 2, v) < 0 ||
        !unixipc_conv_llong_in(v[0], 0, UINT32_MAX, "network", &net) ||
        !unixipc_conv_int_in(v[1], INT_MIN, INT_MAX, "type", &q.type))
        return NULL;
    q.number = (long)(uint32_t)net;
    return lookup(&q, "getnetbyaddr_r");
}

/* ---- getaddrinfo / getnameinfo ----------------------------------------- */

static PyObject *
sockaddr_tuple(const struct sockaddr *sa)
{
    char text[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        return Py_BuildValue("(si)", text, (int)ntohs(in->sin_port));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        return Py_BuildValue("(siII)", text, (int)ntohs(in6->sin6_port),
                             (unsigned int)ntohl(in6->sin6_flowinfo),
                             (unsigned int)in6->sin6_scope_id);
    }
    return Py_BuildValue("(i)", (int)sa->sa_family);
}

/* getaddrinfo(host|None, service|None, family, type, protocol, flags)
 * -> (code, errno, [(family, type, protocol, canonname|None, address), ...]) */
static PyObject *
core_getaddrinfo(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"host", "service", "family", "type", "protocol",
                                        "flags", NULL};
    PyObject *v[6];
    const char *host = NULL, *serv = NULL;
    struct addrinfo hints = {0}, *res = NULL;
    if (unixipc_parse_args("getaddrinfo", args, nargs, NULL, names, 6, 6, v) < 0 ||
        !unixipc_conv_opt_str(v[0], &host) || !unixipc_conv_opt_str(v[1], &serv) ||
        !unixipc_conv_int_in(v[2], INT_MIN, INT_MAX, "family", &hints.ai_family) ||
        !unixipc_conv_int_in(v[3], INT_MIN, INT_MAX, "type", &hints.ai_socktype) ||
        !unixipc_conv_int_in(v[4], INT_MIN, INT_MAX, "protocol", &hints.ai_protocol) ||
        !unixipc_conv_int_in(v[5], INT_MIN, INT_MAX, "flags", &hints.ai_flags))
        return NULL;
    int rc, err;
    Py_BEGIN_ALLOW_THREADS
    rc = getaddrinfo(host, serv, &hints, &res);
    err = errno;
    Py_END_ALLOW_THREADS
    PyObject *list = PyList_New(0);
    if (!list) {
        if (res)
            freeaddrinfo(res);
        return NULL;
    }
    if (rc == 0) {
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            PyObject *item = Py_BuildValue(
                "(iiizN)", ai->ai_family, ai->ai_socktype, ai->ai_protocol,
                ai->ai_canonname, sockaddr_tuple(ai->ai_addr));
            if (!item || PyList_Append(list, item) < 0) {
                Py_XDECREF(item);
                Py_DECREF(list);
                freeaddrinfo(res);
                return NULL;
            }
            Py_DECREF(item);
        }
        freeaddrinfo(res);
    }
    return Py_BuildValue("(iiN)", rc, rc == EAI_SYSTEM ? err : 0, list);
}

/* getnameinfo(host, port, flowinfo, scope_id, flags) -> (code, errno, host, serv) */
static PyObject *
core_getnameinfo(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"host", "port", "flowinfo", "scope_id", "flags", NULL};
    PyObject *v[5];
    const char *host = NULL;
    int port = 0, flags = 0;
    long long flowinfo = 0, scope = 0;
    if (unixipc_parse_args("getnameinfo", args, nargs, NULL, names, 5, 5, v) < 0 ||
        !unixipc_conv_str(v[0], &host) ||
        !unixipc_conv_int_in(v[1], 0, 65535, "port", &port) ||
        !unixipc_conv_llong_in(v[2], 0, UINT32_MAX, "flowinfo", &flowinfo) ||
        !unixipc_conv_llong_in(v[3], 0, UINT32_MAX, "scope_id", &scope) ||
        !unixipc_conv_int_in(v[4], INT_MIN, INT_MAX, "flags", &flags))
        return NULL;
    struct sockaddr_storage ss = {0};
    socklen_t salen;
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        salen = sizeof *in;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        in6->sin6_flowinfo = htonl((uint32_t)flowinfo);
        in6->sin6_scope_id = (uint32_t)scope;
        salen = sizeof *in6;
    } else {
        PyErr_Format(PyExc_ValueError, "not a numeric IPv4 or IPv6 address: %R", v[0]);
        return NULL;
    }
    char hbuf[NI_MAXHOST], sbuf[NI_MAXSERV];
    int rc, err;
    Py_BEGIN_ALLOW_THREADS
    rc = getnameinfo((struct sockaddr *)&ss, salen, hbuf, sizeof hbuf, sbuf, sizeof sbuf,
                     flags);
    err = errno;
    Py_END_ALLOW_THREADS
    if (rc)
        return Py_BuildValue("(iiss)", rc, rc == EAI_SYSTEM ? err : 0, "", "");
    return Py_BuildValue("(iiO&O&)", 0, 0, PyUnicode_DecodeFSDefault, hbuf,
                         PyUnicode_DecodeFSDefault, sbuf);
}

static PyObject *
core_gai_strerror(PyObject *m, PyObject *arg)
{
    int code = 0;
    if (!unixipc_conv_int_in(arg, INT_MIN, INT_MAX, "code", &code))
        return NULL;
    return PyUnicode_FromString(gai_strerror(code));
}

PyMethodDef unixipc_netdb_methods[] = {
    {"getservent", core_getservent, METH_NOARGS,
     "getservent() -> [(name, aliases, port, proto)]: the whole services database."},
    {"getprotoent", core_getprotoent, METH_NOARGS,
     "getprotoent() -> [(name, aliases, number)]: the whole protocols database."},
    {"getnetent", core_getnetent, METH_NOARGS,
     "getnetent() -> [(name, aliases, addrtype, net)]: the whole networks database."},
    {"gethostent", core_gethostent, METH_NOARGS,
     "gethostent() -> [(name, aliases, addrtype, addresses)]: the whole hosts database."},
    {"getservbyname_r", UNIXIPC_FASTCALL(core_getservbyname_r), METH_FASTCALL,
     "getservbyname_r(name, proto|None) -> servent tuple or None."},
    {"getservbyport_r", UNIXIPC_FASTCALL(core_getservbyport_r), METH_FASTCALL,
     "getservbyport_r(port, proto|None) -> servent tuple or None (port in host order)."},
    {"getprotobyname_r", core_getprotobyname_r, METH_O,
     "getprotobyname_r(name) -> protoent tuple or None."},
    {"getprotobynumber_r", core_getprotobynumber_r, METH_O,
     "getprotobynumber_r(number) -> protoent tuple or None."},
    {"getnetbyname_r", core_getnetbyname_r, METH_O,
     "getnetbyname_r(name) -> netent tuple or None."},
    {"getnetbyaddr_r", UNIXIPC_FASTCALL(core_getnetbyaddr_r), METH_FASTCALL,
     "getnetbyaddr_r(net, type) -> netent tuple or None (net in host order)."},
    {"getaddrinfo", UNIXIPC_FASTCALL(core_getaddrinfo), METH_FASTCALL,
     "getaddrinfo(host, service, family, type, protocol, flags) -> (code, errno, list)."},
    {"getnameinfo", UNIXIPC_FASTCALL(core_getnameinfo), METH_FASTCALL,
     "getnameinfo(host, port, flowinfo, scope_id, flags) -> (code, errno, host, serv)."},
    {"gai_strerror", core_gai_strerror, METH_O, "gai_strerror(code) -> str."},
    {NULL, NULL, 0, NULL},
};

int
unixipc_netdb_exec(PyObject *module)
{
    static int atfork_done = 0;
    if (!atfork_done) {
        int rc = pthread_atfork(netdb_atfork_prepare, netdb_atfork_parent, netdb_atfork_child);
        if (rc != 0) {
            unixipc_raise_errno("pthread_atfork", rc);
            return -1;
        }
        atfork_done = 1;
    }
    UNIXIPC_ADD_INT(module, AI_PASSIVE);
    UNIXIPC_ADD_INT(module, AI_CANONNAME);
    UNIXIPC_ADD_INT(module, AI_NUMERICHOST);
    UNIXIPC_ADD_INT(module, AI_NUMERICSERV);
    UNIXIPC_ADD_INT(module, AI_V4MAPPED);
    UNIXIPC_ADD_INT(module, AI_ALL);
    UNIXIPC_ADD_INT(module, AI_ADDRCONFIG);
    UNIXIPC_ADD_INT(module, NI_NUMERICHOST);
    UNIXIPC_ADD_INT(module, NI_NUMERICSERV);
    UNIXIPC_ADD_INT(module, NI_NOFQDN);
    UNIXIPC_ADD_INT(module, NI_NAMEREQD);
    UNIXIPC_ADD_INT(module, NI_DGRAM);
    /* GNU extensions: internationalized domain names (IDNA) */
    UNIXIPC_ADD_INT(module, AI_IDN);
    UNIXIPC_ADD_INT(module, AI_CANONIDN);
    UNIXIPC_ADD_INT(module, NI_IDN);
    UNIXIPC_ADD_INT(module, EAI_AGAIN);
    UNIXIPC_ADD_INT(module, EAI_BADFLAGS);
    UNIXIPC_ADD_INT(module, EAI_FAIL);
    UNIXIPC_ADD_INT(module, EAI_FAMILY);
    UNIXIPC_ADD_INT(module, EAI_MEMORY);
    UNIXIPC_ADD_INT(module, EAI_NONAME);
    UNIXIPC_ADD_INT(module, EAI_SERVICE);
    UNIXIPC_ADD_INT(module, EAI_SOCKTYPE);
    UNIXIPC_ADD_INT(module, EAI_SYSTEM);
    UNIXIPC_ADD_INT(module, EAI_OVERFLOW);
    return 0;
}
