/* C baseline for bench/msg.py: the same workloads with msgsnd/msgrcv.
 * Prints one JSON object per line: {"workload", "value", "unit"}.
 *   round trip:  parent sends type 1, the child echoes it as type 2
 *   one-way:     parent sends COUNT messages of type 1, the child receives
 *                them all and acknowledges with one message of type 2
 *   pair:        send + receive of 64 bytes in one process
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct message {
    long mtype;
    char mtext[65536];
};

static struct message out, in;

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

static double
round_trip(int q, size_t size, int count)
{
    int warm = count / 10;
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < count + warm; i++) {
            ssize_t n = msgrcv(q, &in, sizeof in.mtext, 1, 0);
            check(n, "msgrcv");
            in.mtype = 2;
            check(msgsnd(q, &in, (size_t)n, 0), "msgsnd");
        }
        _exit(0);
    }
    out.mtype = 1;
    memset(out.mtext, 'x', size);
    for (int i = 0; i < warm; i++) {
        check(msgsnd(q, &out, size, 0), "msgsnd");
        check(msgrcv(q, &in, sizeof in.mtext, 2, 0), "msgrcv");
    }
    double t0 = now();
    for (int i = 0; i < count; i++) {
        check(msgsnd(q, &out, size, 0), "msgsnd");
        check(msgrcv(q, &in, sizeof in.mtext, 2, 0), "msgrcv");
    }
    double t = (now() - t0) / count;
    waitpid(pid, NULL, 0);
    return t * 1e6;
}

static double
one_way(int q, size_t size, int count)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < count; i++)
            check(msgrcv(q, &in, sizeof in.mtext, 1, 0), "msgrcv");
        in.mtype = 2;
        check(msgsnd(q, &in, 1, 0), "msgsnd");
        _exit(0);
    }
    out.mtype = 1;
    memset(out.mtext, 'y', size);
    double t0 = now();
    for (int i = 0; i < count; i++)
        check(msgsnd(q, &out, size, 0), "msgsnd");
    check(msgrcv(q, &in, sizeof in.mtext, 2, 0), "msgrcv");
    double rate = count / (now() - t0);
    waitpid(pid, NULL, 0);
    return rate;
}

static double
pair(int q, int count)
{
    out.mtype = 1;
    memset(out.mtext, 'p', 64);
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        for (int i = 0; i < count; i++) {
            check(msgsnd(q, &out, 64, 0), "msgsnd");
            check(msgrcv(q, &in, sizeof in.mtext, 0, 0), "msgrcv");
        }
        double t = (now() - t0) / count;
        if (t < best)
            best = t;
    }
    return best * 1e6;
}

int
main(int argc, char **argv)
{
    int trips = argc > 1 ? atoi(argv[1]) : 20000;
    int msgs = argc > 2 ? atoi(argv[2]) : 200000;
    int pairs = argc > 3 ? atoi(argv[3]) : 200000;
    int q = msgget(IPC_PRIVATE, 0600);
    check(q, "msgget");
    printf("{\"workload\": \"msg round trip 64 B\", \"value\": %.4f, \"unit\": \"us\"}\n",
           round_trip(q, 64, trips));
    size_t sizes[] = {64, 4096, 8192};
    for (int i = 0; i < 3; i++) {
        int n = sizes[i] == 64 ? msgs : msgs / 4;
        printf("{\"workload\": \"msg one-way %zu B\", \"value\": %.1f, \"unit\": \"msg/s\"}\n",
               sizes[i], one_way(q, sizes[i], n));
    }
    printf("{\"workload\": \"msg in-process pair 64 B\", \"value\": %.4f, \"unit\": \"us\"}\n",
           pair(q, pairs));
    msgctl(q, IPC_RMID, NULL);
    return 0;
}
