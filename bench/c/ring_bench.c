/* C baseline for bench/shmch.py: the physical limit of a message ring in
 * shared memory on this machine. One producer and one consumer per ring
 * (no locks, no crash safety, no wake-ups: both sides spin), records of a
 * 4-byte length and the payload, 8-byte aligned, in a MAP_SHARED anonymous
 * mapping inherited by a forked child. Prints one JSON object per line:
 *   {"workload": "...", "impl": "C ring", "value": ..., "unit": "us"|"msg/s"|"MB/s"}
 * With two or more CPUs allowed, the parent runs on the first and the
 * child on the second, as bench/shmch.py pins its Python processes (an
 * unpinned pair of spinners may share one CPU and measure the scheduler).
 * usage: ring_bench [trips] */
#define _GNU_SOURCE 1
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RING_BYTES (1u << 22)

typedef struct {
    _Alignas(64) uint64_t head; /* written by the consumer */
    _Alignas(64) uint64_t tail; /* written by the producer */
    _Alignas(64) char data[RING_BYTES];
} ring;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static inline uint64_t rec_bytes(uint32_t len) { return (4 + (uint64_t)len + 7) & ~7ull; }

/* Records never wrap: a length of UINT32_MAX means "skip to the start". */
static void put(ring *r, const char *msg, uint32_t len) {
    uint64_t t = r->tail, need = rec_bytes(len);
    uint64_t off = t % RING_BYTES;
    if (off + need > RING_BYTES) {
        while (t + (RING_BYTES - off) - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) > RING_BYTES)
            relax();
        *(uint32_t *)(r->data + off) = UINT32_MAX;
        t += RING_BYTES - off;
        off = 0;
    }
    while (t + need - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) > RING_BYTES)
        relax();
    *(uint32_t *)(r->data + off) = len;
    memcpy(r->data + off + 4, msg, len);
    __atomic_store_n(&r->tail, t + need, __ATOMIC_RELEASE);
}

static uint32_t get(ring *r, char *out) {
    uint64_t h = r->head;
    for (;;) {
        while (__atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) == h)
            relax();
        uint64_t off = h % RING_BYTES;
        uint32_t len = *(uint32_t *)(r->data + off);
        if (len == UINT32_MAX) {
            h += RING_BYTES - off;
            __atomic_store_n(&r->head, h, __ATOMIC_RELEASE);
            continue;
        }
        memcpy(out, r->data + off + 4, len);
        __atomic_store_n(&r->head, h + rec_bytes(len), __ATOMIC_RELEASE);
        return len;
    }
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cpus[2] = {-1, -1}; /* parent's, child's */

static void pin(int cpu) {
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static ring *new_ring(void) {
    ring *r = mmap(NULL, sizeof(ring), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) { perror("mmap"); exit(1); }
    memset(r, 0, sizeof *r); /* touch every page before timing */
    return r;
}

static void round_trip(int trips) {
    ring *down = new_ring(), *up = new_ring();
    char buf[64], msg[64];
    memset(msg, 'x', sizeof msg);
    int warm = trips / 10;
    pid_t pid = fork();
    if (pid == 0) {
        pin(cpus[1]);
        for (int i = 0; i < trips + warm; i++)
            put(up, buf, get(down, buf));
        _exit(0);
    }
    double *s = malloc(sizeof(double) * trips);
    for (int i = 0; i < warm; i++) { put(down, msg, 64); get(up, buf); }
    for (int i = 0; i < trips; i++) {
        double t0 = now();
        put(down, msg, 64);
        get(up, buf);
        s[i] = now() - t0;
    }
    waitpid(pid, NULL, 0);
    qsort(s, trips, sizeof(double), cmp);
    printf("{\"workload\": \"shmch round trip 64 B\", \"impl\": \"C ring\", \"value\": %.3f, "
           "\"unit\": \"us\", \"p99_us\": %.3f}\n", s[trips / 2] * 1e6, s[trips * 99 / 100] * 1e6);
    free(s);
    munmap(down, sizeof(ring));
    munmap(up, sizeof(ring));
}

static void one_way(uint32_t size, int count) {
    ring *down = new_ring(), *up = new_ring();
    char *msg = malloc(size + 1), *buf = malloc(size + 1);
    memset(msg, 'y', size);
    pid_t pid = fork();
    if (pid == 0) {
        pin(cpus[1]);
        for (int i = 0; i < count; i++)
            get(down, buf);
        put(up, buf, 1);
        _exit(0);
    }
    double t0 = now();
    for (int i = 0; i < count; i++)
        put(down, msg, size);
    get(up, buf);
    double el = now() - t0;
    waitpid(pid, NULL, 0);
    double rate = count / el;
    printf("{\"workload\": \"shmch one-way %u B\", \"impl\": \"C ring\", \"value\": %.1f, "
           "\"unit\": \"msg/s\"}\n", size, rate);
    printf("{\"workload\": \"shmch one-way %u B MB/s\", \"impl\": \"C ring\", \"value\": %.1f, "
           "\"unit\": \"MB/s\"}\n", size, rate * size / 1e6);
    free(msg);
    free(buf);
    munmap(down, sizeof(ring));
    munmap(up, sizeof(ring));
}

int main(int argc, char **argv) {
    int trips = argc > 1 ? atoi(argv[1]) : 100000;
    if (trips < 10) trips = 10;
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) >= 2) {
        for (int c = 0, n = 0; c < CPU_SETSIZE && n < 2; c++)
            if (CPU_ISSET(c, &allowed))
                cpus[n++] = c;
        pin(cpus[0]);
    }
    round_trip(trips);
    one_way(64, trips * 20);
    one_way(4096, trips * 4);
    one_way(65536, trips / 2 > 0 ? trips / 2 : 1);
    fflush(stdout);
    return 0;
}
