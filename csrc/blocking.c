/* The one helper every blocking system call goes through.
 *
 * It releases the GIL, makes the call, keeps errno, takes the GIL back, runs
 * Python signal handlers after EINTR and retries with the remaining time
 * (PEP 475), against a CLOCK_MONOTONIC deadline.
 *
 * Calls with no timed form (msgsnd, msgrcv, open of a FIFO) are bounded by a
 * per-thread POSIX timer (timer_create with SIGEV_THREAD_ID) that sends
 * UNIXIPC_TIMER_SIGNAL to the calling thread at the deadline. The signal's
 * handler does nothing and is installed without SA_RESTART, so the blocked
 * call returns EINTR; System V IPC calls are never restarted anyway. The timer
 * keeps firing every UNIXIPC_TIMER_REFIRE_NS after the deadline until the call
 * returns, so a signal that lands between our deadline check and the call's
 * entry into the kernel cannot leave the call blocked. Before the deadline
 * nothing wakes up: no polling, no spinning.
 */
#define _GNU_SOURCE 1
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NSEC_PER_SEC 1000000000L
#define UNIXIPC_TIMER_REFIRE_NS 2000000L /* 2 ms, only after the deadline */

#if defined(__linux__) && defined(SIGEV_THREAD_ID)
#define HAVE_THREAD_TIMER 1
#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif
#else
#define HAVE_THREAD_TIMER 0
#endif

/* ---- deadlines ----------------------------------------------------------- */

static void
timespec_add_seconds(struct timespec *ts, double seconds)
{
    time_t whole = (time_t)seconds;
    long nsec = (long)((seconds - (double)whole) * 1e9);
    ts->tv_sec += whole;
    ts->tv_nsec += nsec;
    if (ts->tv_nsec >= NSEC_PER_SEC) {
        ts->tv_sec += 1;
        ts->tv_nsec -= NSEC_PER_SEC;
    }
}

int
unixipc_deadline_from_timeout(PyObject *timeout, unixipc_deadline *out)
{
    if (timeout == NULL || timeout == Py_None) {
        out->infinite = 1;
        return 0;
    }
    if (PyBool_Check(timeout)) { /* True would silently mean one second */
        PyErr_SetString(PyExc_TypeError, "timeout must be None or a number of seconds, not bool");
        return -1;
    }
    double seconds = PyFloat_AsDouble(timeout);
    if (seconds == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Format(PyExc_TypeError,
                         "timeout must be None or a number of seconds, not %.100s",
                         Py_TYPE(timeout)->tp_name);
        }
        return -1;
    }
    if (!(seconds >= 0.0)) { /* also rejects NaN */
        PyErr_SetString(PyExc_ValueError, "timeout must be >= 0 (or None to wait forever)");
        return -1;
    }
    if (seconds > 1e9) { /* ~31 years: treat as forever, avoids time_t overflow */
        out->infinite = 1;
        return 0;
    }
    out->infinite = 0;
    clock_gettime(CLOCK_MONOTONIC, &out->at);
    timespec_add_seconds(&out->at, seconds);
    return 0;
}

void
unixipc_deadline_remaining(const unixipc_deadline *d, struct timespec *out)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    out->tv_sec = d->at.tv_sec - now.tv_sec;
    out->tv_nsec = d->at.tv_nsec - now.tv_nsec;
    if (out->tv_nsec < 0) {
        out->tv_sec -= 1;
        out->tv_nsec += NSEC_PER_SEC;
    }
    if (out->tv_sec < 0) {
        out->tv_sec = 0;
        out->tv_nsec = 0;
    }
}

static int
deadline_passed(const unixipc_deadline *d)
{
    struct timespec left;
    if (d->infinite)
        return 0;
    unixipc_deadline_remaining(d, &left);
    return left.tv_sec == 0 && left.tv_nsec == 0;
}

/* ---- the per-thread timer ------------------------------------------------ */

#if HAVE_THREAD_TIMER

static int timer_signal = 0; /* chosen at module exec: SIGRTMAX - 2 */
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;
static int handler_error = 0;
static pthread_key_t timer_key;

typedef struct {
    timer_t id;
} thread_timer;

static void
on_timer_signal(int signo)
{
    /* Nothing: the point is that the blocked call returns EINTR. */
    (void)signo;
}

static void
delete_thread_timer(void *p)
{
    thread_timer *t = p;
    timer_delete(t->id);
    free(t);
}

/* POSIX timers are not inherited by fork(), but thread-specific data is:
 * the child must not use the parent's timer id. */
static void
forget_timer_in_child(void)
{
    thread_timer *t = pthread_getspecific(timer_key);
    if (t != NULL) {
        free(t);
        pthread_setspecific(timer_key, NULL);
    }
}

static void
install_handler(void)
{
    struct sigaction sa, old;
    if (pthread_key_create(&timer_key, delete_thread_timer) != 0) {
        handler_error = EAGAIN;
        return;
    }
    if (pthread_atfork(NULL, NULL, forget_timer_in_child) != 0) {
        handler_error = ENOMEM;
        return;
    }
    if (sigaction(timer_signal, NULL, &old) < 0) {
        handler_error = errno;
        return;
    }
    if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN &&
        old.sa_handler != on_timer_signal) {
        /* Somebody else owns this signal: do not take it from them. */
        handler_error = EBUSY;
        return;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_timer_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the blocked call must return EINTR */
    if (sigaction(timer_signal, &sa, NULL) < 0)
        handler_error = errno;
}

/* Returns this thread's timer, creating it on first use; NULL with errno. */
static thread_timer *
get_thread_timer(void)
{
    pthread_once(&handler_once, install_handler);
    if (handler_error) {
        errno = handler_error;
        return NULL;
    }
    thread_timer *t = pthread_getspecific(timer_key);
    if (t != NULL)
        return t;
    t = malloc(sizeof *t);
    if (t == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = timer_signal;
    sev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
    if (timer_create(CLOCK_MONOTONIC, &sev, &t->id) < 0) {
        int saved = errno;
        free(t);
        errno = saved;
        return NULL;
    }
    if (pthread_setspecific(timer_key, t) != 0) {
        timer_delete(t->id);
        free(t);
        errno = ENOMEM;
        return NULL;
    }
    return t;
}

static int
arm_timer(thread_timer *t, const unixipc_deadline *d)
{
    struct itimerspec spec;
    spec.it_value = d->at;
    spec.it_interval.tv_sec = 0;
    spec.it_interval.tv_nsec = UNIXIPC_TIMER_REFIRE_NS;
    return timer_settime(t->id, TIMER_ABSTIME, &spec, NULL);
}

static void
disarm_timer(thread_timer *t)
{
    struct itimerspec spec;
    memset(&spec, 0, sizeof spec);
    timer_settime(t->id, 0, &spec, NULL);
}

#endif /* HAVE_THREAD_TIMER */

/* ---- the helper ------------------------------------------------------------ */

long
unixipc_blocking_call(const char *syscall, unixipc_syscall_fn fn, void *ctx,
                      const unixipc_deadline *deadline, enum unixipc_wait_kind kind)
{
    return unixipc_blocking_call_recheck(syscall, fn, ctx, deadline, kind, NULL);
}

long
unixipc_blocking_call_recheck(const char *syscall, unixipc_syscall_fn fn, void *ctx,
                              const unixipc_deadline *deadline, enum unixipc_wait_kind kind,
                              int (*recheck)(void *ctx))
{
    const struct timespec *remaining_p;
    struct timespec remaining;
    long result;
    int err;
#if HAVE_THREAD_TIMER
    thread_timer *timer = NULL;
    sigset_t unblock, saved_mask;
    int restore_mask = 0;
#endif

    for (;;) {
        if (deadline->infinite) {
            remaining_p = NULL;
        } else {
            unixipc_deadline_remaining(deadline, &remaining);
            remaining_p = &remaining;
        }
        int use_timer = (kind == UNIXIPC_WAIT_TIMER && remaining_p != NULL &&
                         (remaining.tv_sec != 0 || remaining.tv_nsec != 0));
        if (use_timer) {
#if HAVE_THREAD_TIMER
            if (timer == NULL) {
                timer = get_thread_timer();
                if (timer == NULL) {
                    unixipc_raise_errno("timer_create", errno);
                    return -1;
                }
                /* The timer signal must reach this thread while it waits. */
                sigemptyset(&unblock);
                sigaddset(&unblock, timer_signal);
                pthread_sigmask(SIG_UNBLOCK, &unblock, &saved_mask);
                restore_mask = sigismember(&saved_mask, timer_signal) == 1;
            }
            Py_BEGIN_ALLOW_THREADS
            if (arm_timer(timer, deadline) < 0) {
                result = -1;
            } else {
                result = fn(ctx, remaining_p);
                err = errno;
                disarm_timer(timer);
                errno = err;
            }
            err = errno;
            Py_END_ALLOW_THREADS
#else
            PyErr_Format(PyExc_NotImplementedError,
                         "%s: timeout= needs per-thread timers (Linux)", syscall);
            return -1;
#endif
        } else {
            Py_BEGIN_ALLOW_THREADS
            result = fn(ctx, remaining_p);
            err = errno;
            Py_END_ALLOW_THREADS
        }
        if (result >= 0)
            break;
        if (err != EINTR) {
            if (err == ETIMEDOUT)
                unixipc_raise_timeout(syscall);
            else
                unixipc_raise_errno(syscall, err);
            break;
        }
        /* EINTR: Python handlers first (KeyboardInterrupt and friends). */
        if (PyErr_CheckSignals() < 0)
            break;
        if (recheck != NULL && recheck(ctx) < 0)
            break;
        if (deadline_passed(deadline)) {
            unixipc_raise_timeout(syscall);
            break;
        }
    }
#if HAVE_THREAD_TIMER
    if (restore_mask)
        pthread_sigmask(SIG_BLOCK, &unblock, NULL);
#endif
    return result >= 0 ? result : -1;
}

/* ---- cancellation of async twins' worker calls (see core.h) -------------- */

int
unixipc_cancelled(const char *token)
{
    if (token != NULL && __atomic_load_n(token, __ATOMIC_ACQUIRE)) {
        errno = ECANCELED;
        return 1;
    }
    return 0;
}

int
unixipc_cancel_arg(PyObject *obj, Py_buffer *view, const char **token)
{
    *token = NULL;
    view->obj = NULL;
    if (obj == NULL || obj == Py_None)
        return 0;
    if (!PyByteArray_Check(obj) || PyByteArray_GET_SIZE(obj) < 1) {
        PyErr_SetString(PyExc_TypeError, "_cancel must be a non-empty bytearray");
        return -1;
    }
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE) < 0)
        return -1;
    *token = view->buf;
    return 0;
}

static void
on_cancel_signal(int signo)
{
    (void)signo; /* nothing: the blocked call returns EINTR */
}

/* Installs (once) the no-op handler of the cancel signal (SIGRTMAX-3),
 * without SA_RESTART, and returns its number; EBUSY if the program already
 * uses that signal. */
static PyObject *
cancel_signal(PyObject *module, PyObject *unused)
{
    static int installed = 0;
    int signo = SIGRTMAX - 3;
    if (!installed) {
        struct sigaction sa, old;
        if (sigaction(signo, NULL, &old) < 0)
            return unixipc_raise_errno("sigaction", errno);
        if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN &&
            old.sa_handler != on_cancel_signal)
            return unixipc_raise_errno("sigaction", EBUSY);
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_cancel_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;
        if (sigaction(signo, &sa, NULL) < 0)
            return unixipc_raise_errno("sigaction", errno);
        installed = 1;
    }
    return PyLong_FromLong(signo);
}

/* ---- Python-visible: a blocking sleep used by the tests of the helper ----- */

static long
sleep_forever_fn(void *ctx, const struct timespec *remaining)
{
    /* pause() has no timed form: exercises the timer path. With no time
     * left, the non-blocking attempt the contract asks for is "would block". */
    (void)ctx;
    if (remaining != NULL && remaining->tv_sec == 0 && remaining->tv_nsec == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    return pause();
}

static PyObject *
_wait_interruptible(PyObject *module, PyObject *timeout)
{
    unixipc_deadline deadline;
    if (unixipc_deadline_from_timeout(timeout, &deadline) < 0)
        return NULL;
    if (unixipc_blocking_call("pause", sleep_forever_fn, NULL, &deadline,
                              UNIXIPC_WAIT_TIMER) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyMethodDef unixipc_blocking_methods[] = {
    {"_cancel_signal", cancel_signal, METH_NOARGS,
     "_cancel_signal() -> signo: install the no-op handler of the signal that "
     "interrupts a worker thread's blocked call when its async twin is cancelled."},
    {"_pause", _wait_interruptible, METH_O,
     "_pause(timeout) -> never returns normally: waits in pause() through the "
     "blocking helper until `timeout` runs out (TimeoutError) or a Python "
     "signal handler raises. For testing the helper."},
    {NULL, NULL, 0, NULL},
};

int
unixipc_blocking_exec(PyObject *module)
{
#if HAVE_THREAD_TIMER
    timer_signal = SIGRTMAX - 2;
    if (PyModule_AddIntConstant(module, "TIMER_SIGNAL", timer_signal) < 0)
        return -1;
#endif
    return 0;
}
