/* C baseline for bench/posix.py: POSIX message queues and named semaphores.
 * Prints one JSON object per line: {"workload", "value", "unit"}.
 *   mq round trip:  the parent sends on one queue, the child echoes on another
 *   mq one-way:     the parent sends COUNT messages, the child receives them
 *                   all and acknowledges on the other queue
 *   mq pair:        mq_send + mq_receive of 64 bytes in one process
 *   psem pair:      sem_wait + sem_post in one process (value 1)
 *   psem ping-pong: two processes hand a token over two named semaphores
 * With two or more CPUs allowed, the parent runs on the first and every
 * child on the second (bench/posix.py pins its Python processes the same).
 * Queues have the defaults of the namespace (msg_default, msgsize_default),
 * as the Python side's; every receive buffer is mq_msgsize long.
 *
 *   posix_bench TRIPS MSGS PAIRS
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <mqueue.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char name_a[64], name_b[64];
static int cpus[2] = {-1, -1}; /* parent's, child's: see main */

static void
pin(int cpu)
{
    cpu_set_t set;
    if (cpu < 0)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}
static char *inbuf;
static long msgsize;

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
check(long r, const char *what)
{
    if (r < 0) {
        perror(what);
        exit(1);
    }
}

static void
open_queues(mqd_t *a, mqd_t *b)
{
    *a = mq_open(name_a, O_RDWR | O_CREAT | O_EXCL, 0600, NULL);
    check(*a == (mqd_t)-1 ? -1 : 0, "mq_open");
    *b = mq_open(name_b, O_RDWR | O_CREAT | O_EXCL, 0600, NULL);
    check(*b == (mqd_t)-1 ? -1 : 0, "mq_open");
    struct mq_attr attr;
    check(mq_getattr(*a, &attr), "mq_getattr");
    msgsize = attr.mq_msgsize;
    inbuf = realloc(inbuf, (size_t)msgsize);
}

static void
close_queues(mqd_t a, mqd_t b)
{
    mq_close(a);
    mq_close(b);
    mq_unlink(name_a);
    mq_unlink(name_b);
}

/* Best of 5 blocks, after a warm-up of a tenth (as the Python side). */
static double
mq_round_trip(size_t size, int count)
{
    mqd_t a, b;
    open_queues(&a, &b);
    int warm = count / 10, block = count / 5;
    int total = warm + 5 * block;
    char *out = malloc(size);
    memset(out, 'x', size);
    pid_t pid = fork();
    if (pid == 0) {
        pin(cpus[1]);
        for (int i = 0; i < total; i++) {
            ssize_t n = mq_receive(a, inbuf, (size_t)msgsize, NULL);
            check(n, "mq_receive");
            check(mq_send(b, inbuf, (size_t)n, 0), "mq_send");
        }
        _exit(0);
    }
    for (int i = 0; i < warm; i++) {
        check(mq_send(a, out, size, 0), "mq_send");
        check(mq_receive(b, inbuf, (size_t)msgsize, NULL), "mq_receive");
    }
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        for (int i = 0; i < block; i++) {
            check(mq_send(a, out, size, 0), "mq_send");
            check(mq_receive(b, inbuf, (size_t)msgsize, NULL), "mq_receive");
        }
        double t = (now() - t0) / block;
        if (t < best)
            best = t;
    }
    waitpid(pid, NULL, 0);
    close_queues(a, b);
    free(out);
    return best * 1e6;
}

static double
mq_one_way(size_t size, int count)
{
    mqd_t a, b;
    open_queues(&a, &b);
    char *out = malloc(size);
    memset(out, 'y', size);
    pid_t pid = fork();
    if (pid == 0) {
        pin(cpus[1]);
        for (int i = 0; i < count; i++)
            check(mq_receive(a, inbuf, (size_t)msgsize, NULL), "mq_receive");
        check(mq_send(b, "k", 1, 0), "mq_send");
        _exit(0);
    }
    double t0 = now();
    for (int i = 0; i < count; i++)
        check(mq_send(a, out, size, 0), "mq_send");
    check(mq_receive(b, inbuf, (size_t)msgsize, NULL), "mq_receive");
    double elapsed = now() - t0;
    waitpid(pid, NULL, 0);
    close_queues(a, b);
    free(out);
    return count / elapsed;
}

static double
mq_pair(int count)
{
    mqd_t a, b;
    open_queues(&a, &b);
    char out[64];
    memset(out, 'p', sizeof out);
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        for (int i = 0; i < count; i++) {
            check(mq_send(a, out, sizeof out, 0), "mq_send");
            check(mq_receive(a, inbuf, (size_t)msgsize, NULL), "mq_receive");
        }
        double t = (now() - t0) / count;
        if (t < best)
            best = t;
    }
    close_queues(a, b);
    return best * 1e6;
}

static double
psem_pair(int count)
{
    sem_t *s = sem_open(name_a, O_CREAT | O_EXCL, 0600, 1);
    check(s == SEM_FAILED ? -1 : 0, "sem_open");
    sem_unlink(name_a);
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        for (int i = 0; i < count; i++) {
            check(sem_wait(s), "sem_wait");
            check(sem_post(s), "sem_post");
        }
        double t = (now() - t0) / count;
        if (t < best)
            best = t;
    }
    sem_close(s);
    return best * 1e6;
}

static double
psem_pingpong(int count)
{
    sem_t *ping = sem_open(name_a, O_CREAT | O_EXCL, 0600, 0);
    check(ping == SEM_FAILED ? -1 : 0, "sem_open");
    sem_t *pong = sem_open(name_b, O_CREAT | O_EXCL, 0600, 0);
    check(pong == SEM_FAILED ? -1 : 0, "sem_open");
    sem_unlink(name_a);
    sem_unlink(name_b);
    int warm = count / 10, block = count / 5;
    int total = warm + 5 * block;
    pid_t pid = fork();
    if (pid == 0) {
        pin(cpus[1]);
        for (int i = 0; i < total; i++) {
            check(sem_wait(ping), "sem_wait");
            check(sem_post(pong), "sem_post");
        }
        _exit(0);
    }
    for (int i = 0; i < warm; i++) {
        check(sem_post(ping), "sem_post");
        check(sem_wait(pong), "sem_wait");
    }
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        for (int i = 0; i < block; i++) {
            check(sem_post(ping), "sem_post");
            check(sem_wait(pong), "sem_wait");
        }
        double t = (now() - t0) / block;
        if (t < best)
            best = t;
    }
    waitpid(pid, NULL, 0);
    sem_close(ping);
    sem_close(pong);
    return best * 1e6;
}

int
main(int argc, char **argv)
{
    int trips = argc > 1 ? atoi(argv[1]) : 20000;
    int msgs = argc > 2 ? atoi(argv[2]) : 200000;
    int pairs = argc > 3 ? atoi(argv[3]) : 200000;
    cpu_set_t allowed; /* parent and child on CPUs of their own, as bench/posix.py pins them */
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) >= 2) {
        for (int c = 0, n = 0; c < CPU_SETSIZE && n < 2; c++)
            if (CPU_ISSET(c, &allowed))
                cpus[n++] = c;
        pin(cpus[0]);
    }
    snprintf(name_a, sizeof name_a, "/unixipc-cbench-a-%d", (int)getpid());
    snprintf(name_b, sizeof name_b, "/unixipc-cbench-b-%d", (int)getpid());
    printf("{\"workload\": \"mq round trip 64 B\", \"value\": %.4f, \"unit\": \"us\"}\n",
           mq_round_trip(64, trips));
    printf("{\"workload\": \"mq one-way 64 B\", \"value\": %.1f, \"unit\": \"msg/s\"}\n",
           mq_one_way(64, msgs));
    printf("{\"workload\": \"mq one-way 4096 B\", \"value\": %.1f, \"unit\": \"msg/s\"}\n",
           mq_one_way(4096, msgs / 4));
    printf("{\"workload\": \"mq in-process pair 64 B\", \"value\": %.4f, \"unit\": \"us\"}\n",
           mq_pair(pairs));
    printf("{\"workload\": \"psem acquire+release in one process\", \"value\": %.4f, "
           "\"unit\": \"us\"}\n", psem_pair(pairs * 5));
    printf("{\"workload\": \"psem ping-pong round trip\", \"value\": %.4f, \"unit\": \"us\"}\n",
           psem_pingpong(trips * 5));
    return 0;
}
