/* System V message queues, shared by msg_ctl.c (msgget, msgctl: stat, set,
 * remove, limits, the slot walk) and msg_io.c (msgsnd, msgrcv: the
 * MessageQueueBase type). */
#ifndef UNIXIPC_MSG_H
#define UNIXIPC_MSG_H

#include "core.h"

#include <sys/ipc.h>
#include <sys/msg.h>

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif
#ifndef MSG_STAT_ANY
#define MSG_STAT_ANY 13
#endif

/* The system's msgmax as IPC_INFO last said (0 before the first query);
 * touched with the GIL held only. It bounds sends and sizes the first
 * receive buffer; the kernel checks every call itself, so a stale value
 * costs a retry, never a buffer overrun. */
extern Py_ssize_t unixipc_msgmax;

/* Asks IPC_INFO again and returns the new unixipc_msgmax (Linux's default,
 * 8192, when IPC_INFO is unavailable and nothing was cached). */
Py_ssize_t unixipc_msg_query_max(void);

/* Whether msqid names a queue now (readable or not): the probe behind
 * unixipc_name_removed. */
int unixipc_msg_queue_exists(int msqid);

/* The error of a call on queue msqid; use after removal says so. NULL. */
PyObject *unixipc_msg_raise(int msqid, const char *syscall, int err);

#endif
