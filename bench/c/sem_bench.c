/* C baseline for semaphores and shared memory, measured beside unixipc.
 *
 *   sem_bench pair N            semop -1 then +1 on one semaphore, one process
 *   sem_bench pingpong N        two processes hand a token over two semaphores
 *   sem_bench shm N SIZE        copy SIZE-byte blocks parent -> child through a
 *                               segment guarded by two semaphores
 * One JSON object per line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void op(int id, unsigned short num, short delta)
{
    struct sembuf b = {num, delta, 0};
    if (semop(id, &b, 1) < 0) {
        perror("semop");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    const char *mode = argv[1];
    long n = atol(argv[2]);
    int id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    if (strcmp(mode, "pair") == 0) {
        op(id, 0, 1);
        double best = 1e9;
        for (int rep = 0; rep < 5; rep++) {
            double t0 = now();
            for (long i = 0; i < n; i++) {
                op(id, 0, -1);
                op(id, 0, 1);
            }
            double per = (now() - t0) / n;
            best = per < best ? per : best;
        }
        printf("{\"workload\": \"sem acquire+release in one process\", \"value\": %.4f, "
               "\"unit\": \"us\"}\n", best * 1e6);
    } else if (strcmp(mode, "pingpong") == 0) {
        /* Best of 5 timed blocks after a warm-up, as the Python side does. */
        long block = n / 5 > 0 ? n / 5 : 1;
        pid_t pid = fork();
        if (pid == 0) {
            for (long i = 0; i < n / 10 + 5 * block; i++) {
                op(id, 0, -1);
                op(id, 1, 1);
            }
            _exit(0);
        }
        for (long i = 0; i < n / 10; i++) {
            op(id, 0, 1);
            op(id, 1, -1);
        }
        double best = 1e9;
        for (int rep = 0; rep < 5; rep++) {
            double t0 = now();
            for (long i = 0; i < block; i++) {
                op(id, 0, 1);
                op(id, 1, -1);
            }
            double per = (now() - t0) / block;
            best = per < best ? per : best;
        }
        waitpid(pid, NULL, 0);
        printf("{\"workload\": \"sem ping-pong round trip\", \"value\": %.4f, \"unit\": \"us\"}\n",
               best * 1e6);
    } else if (strcmp(mode, "shm") == 0) {
        size_t size = (size_t)atol(argv[3]);
        int shmid = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
        char *seg = shmat(shmid, NULL, 0);
        char *src = malloc(size), *dst = malloc(size);
        memset(src, 'x', size);
        pid_t pid = fork();
        if (pid == 0) {
            for (long i = 0; i < n; i++) {
                op(id, 0, -1); /* a block is ready */
                memcpy(dst, seg, size);
                op(id, 1, 1); /* the segment is free again */
            }
            _exit(0);
        }
        op(id, 1, 1);
        double t0 = now();
        for (long i = 0; i < n; i++) {
            op(id, 1, -1);
            memcpy(seg, src, size);
            op(id, 0, 1);
        }
        op(id, 1, -1);
        double elapsed = now() - t0;
        waitpid(pid, NULL, 0);
        printf("{\"workload\": \"shm+sem copy %zu B blocks\", \"value\": %.1f, \"unit\": \"MB/s\"}\n",
               size, n * (double)size / elapsed / 1e6);
        shmdt(seg);
        shmctl(shmid, IPC_RMID, NULL);
    }
    semctl(id, 0, IPC_RMID);
    return 0;
}
