/* C baseline for bench/pipe.py: round trip and one-way throughput over two
 * pipes or two FIFOs between a parent and a forked child, with plain
 * read(2)/write(2). Prints one JSON object per line:
 *   {"workload": "...", "impl": "C", "value": ..., "unit": "us"|"msg/s"|"MB/s"}
 * usage: pipe_bench DIR [trips]   (DIR: where the FIFOs are made) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void write_all(int fd, const char *buf, size_t len) {
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) { perror("write"); exit(1); }
        buf += n; len -= (size_t)n;
    }
}

static void read_all(int fd, char *buf, size_t len) {
    while (len) {
        ssize_t n = read(fd, buf, len);
        if (n <= 0) { perror("read"); exit(1); }
        buf += n; len -= (size_t)n;
    }
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void fifo_pair(const char *dir, const char *name, int fds[2]) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    if (mkfifo(path, 0600) < 0) { perror("mkfifo"); exit(1); }
    fds[0] = open(path, O_RDONLY | O_NONBLOCK);
    fds[1] = open(path, O_WRONLY);
    if (fds[0] < 0 || fds[1] < 0) { perror("open fifo"); exit(1); }
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) & ~O_NONBLOCK);
    unlink(path);
}

/* Two channels (parent->child, child->parent) as pipes or FIFOs. */
static void open_link(int fifo, const char *dir, int p2c[2], int c2p[2]) {
    if (fifo) {
        fifo_pair(dir, "c_p2c", p2c);
        fifo_pair(dir, "c_c2p", c2p);
    } else if (pipe(p2c) < 0 || pipe(c2p) < 0) {
        perror("pipe");
        exit(1);
    }
}

static void round_trip(const char *mech, int p2c[2], int c2p[2], size_t size, int count) {
    char *buf = malloc(size);
    double *samples = malloc(sizeof(double) * (size_t)count);
    int warm = count / 10;
    memset(buf, 'x', size);
    pid_t pid = fork();
    if (pid == 0) {
        close(p2c[1]); close(c2p[0]);
        for (int i = 0; i < count + warm; i++) {
            read_all(p2c[0], buf, size);
            write_all(c2p[1], buf, size);
        }
        _exit(0);
    }
    close(p2c[0]); close(c2p[1]);
    for (int i = 0; i < warm; i++) {
        write_all(p2c[1], buf, size);
        read_all(c2p[0], buf, size);
    }
    for (int i = 0; i < count; i++) {
        double t0 = now();
        write_all(p2c[1], buf, size);
        read_all(c2p[0], buf, size);
        samples[i] = now() - t0;
    }
    waitpid(pid, NULL, 0);
    close(p2c[1]); close(c2p[0]);
    qsort(samples, (size_t)count, sizeof(double), cmp);
    printf("{\"workload\": \"%s round trip %zu B\", \"impl\": \"C\", \"value\": %.3f, "
           "\"unit\": \"us\", \"p99_us\": %.3f}\n", mech, size,
           samples[count / 2] * 1e6, samples[(int)(count * 0.99)] * 1e6);
    free(buf); free(samples);
}

static void one_way(const char *mech, int p2c[2], int c2p[2], size_t size, int count) {
    char *buf = malloc(size);
    memset(buf, 'y', size);
    pid_t pid = fork();
    if (pid == 0) {
        close(p2c[1]); close(c2p[0]);
        for (int i = 0; i < count; i++)
            read_all(p2c[0], buf, size);
        write_all(c2p[1], buf, size);
        _exit(0);
    }
    close(p2c[0]); close(c2p[1]);
    double t0 = now();
    for (int i = 0; i < count; i++)
        write_all(p2c[1], buf, size);
    read_all(c2p[0], buf, size);
    double elapsed = now() - t0;
    waitpid(pid, NULL, 0);
    close(p2c[1]); close(c2p[0]);
    double rate = count / elapsed;
    printf("{\"workload\": \"%s one-way %zu B\", \"impl\": \"C\", \"value\": %.3f, "
           "\"unit\": \"msg/s\"}\n", mech, size, rate);
    printf("{\"workload\": \"%s one-way %zu B MB/s\", \"impl\": \"C\", \"value\": %.3f, "
           "\"unit\": \"MB/s\"}\n", mech, size, rate * size / 1e6);
    free(buf);
}

int main(int argc, char **argv) {
    int p2c[2], c2p[2];
    if (argc < 2) { fprintf(stderr, "usage: pipe_bench DIR [trips]\n"); return 2; }
    int trips = argc > 2 ? atoi(argv[2]) : 5000;
    const char *mechs[] = {"pipe", "fifo"};
    size_t sizes[] = {4096, 65536};
    for (int m = 0; m < 2; m++) {
        open_link(m, argv[1], p2c, c2p);
        round_trip(mechs[m], p2c, c2p, 64, trips);
        for (int s = 0; s < 2; s++) {
            open_link(m, argv[1], p2c, c2p);
            one_way(mechs[m], p2c, c2p, sizes[s], sizes[s] > 8192 ? trips : trips * 4);
        }
    }
    return 0;
}
