/* C baseline for System V message queues, measured beside unixipc.
 *
 *   msg_bench pair N SIZE       send+receive of SIZE bytes in one process
 *   msg_bench rtt N SIZE        round trip between a parent and a child
 *   msg_bench oneway N SIZE     one-way throughput parent -> child
 *
 * Prints one JSON object per line: {"workload": ..., "value": ..., "unit": ...}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct msg {
    long mtype;
    char mtext[65536];
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: msg_bench pair|rtt|oneway N SIZE\n");
        return 2;
    }
    const char *mode = argv[1];
    long n = atol(argv[2]);
    size_t size = (size_t)atol(argv[3]);
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (id < 0)
        die("msgget");
    static struct msg out, in;
    memset(out.mtext, 'x', size);

    if (strcmp(mode, "pair") == 0) {
        out.mtype = 1;
        double best = 1e9;
        for (int rep = 0; rep < 5; rep++) {
            double t0 = now();
            for (long i = 0; i < n; i++) {
                if (msgsnd(id, &out, size, 0) < 0)
                    die("msgsnd");
                if (msgrcv(id, &in, sizeof in.mtext, 0, 0) < 0)
                    die("msgrcv");
            }
            double per = (now() - t0) / n;
            if (per < best)
                best = per;
        }
        printf("{\"workload\": \"mq send+receive in one process %zu B\", \"value\": %.4f, "
               "\"unit\": \"us\"}\n", size, best * 1e6);
    } else if (strcmp(mode, "rtt") == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            struct msg m;
            for (long i = 0; i < n + n / 10; i++) {
                ssize_t got = msgrcv(id, &m, sizeof m.mtext, 1, 0);
                if (got < 0)
                    die("child msgrcv");
                m.mtype = 2;
                if (msgsnd(id, &m, (size_t)got, 0) < 0)
                    die("child msgsnd");
            }
            _exit(0);
        }
        out.mtype = 1;
        for (long i = 0; i < n / 10; i++) {
            msgsnd(id, &out, size, 0);
            msgrcv(id, &in, sizeof in.mtext, 2, 0);
        }
        double *samples = malloc(sizeof(double) * n);
        for (long i = 0; i < n; i++) {
            double t0 = now();
            if (msgsnd(id, &out, size, 0) < 0)
                die("msgsnd");
            if (msgrcv(id, &in, sizeof in.mtext, 2, 0) < 0)
                die("msgrcv");
            samples[i] = now() - t0;
        }
        waitpid(pid, NULL, 0);
        /* median */
        for (long i = 1; i < n; i++) {
            double v = samples[i];
            long j = i - 1;
            while (j >= 0 && samples[j] > v) {
                samples[j + 1] = samples[j];
                j--;
            }
            samples[j + 1] = v;
        }
        printf("{\"workload\": \"mq round trip %zu B\", \"value\": %.4f, \"unit\": \"us\", "
               "\"p99_us\": %.4f}\n", size, samples[n / 2] * 1e6, samples[(n * 99) / 100] * 1e6);
    } else if (strcmp(mode, "oneway") == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            struct msg m;
            for (long i = 0; i < n; i++)
                if (msgrcv(id, &m, sizeof m.mtext, 1, 0) < 0)
                    die("child msgrcv");
            m.mtype = 2;
            msgsnd(id, &m, size, 0);
            _exit(0);
        }
        out.mtype = 1;
        double t0 = now();
        for (long i = 0; i < n; i++)
            if (msgsnd(id, &out, size, 0) < 0)
                die("msgsnd");
        msgrcv(id, &in, sizeof in.mtext, 2, 0);
        double elapsed = now() - t0;
        waitpid(pid, NULL, 0);
        printf("{\"workload\": \"mq one-way %zu B\", \"value\": %.1f, \"unit\": \"msg/s\"}\n",
               size, n / elapsed);
    }
    msgctl(id, IPC_RMID, NULL);
    return 0;
}
