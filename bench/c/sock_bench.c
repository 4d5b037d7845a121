/* C baseline for bench/sock.py: framed messages (8-byte length header +
 * payload, one sendmsg with two iovecs; the receiver reads the header then
 * the payload) over a Unix stream socketpair and TCP loopback, and plain
 * records over a Unix seqpacket socketpair. Round trip 64 B (median) and
 * one-way 4 KiB / 64 KiB (MB/s). One JSON object per line. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int seqpacket;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r <= 0) { perror("read"); exit(1); }
        p += r; n -= (size_t)r;
    }
}

static void send_msg(int fd, const char *data, uint64_t n)
{
    if (seqpacket) {
        if (send(fd, data, n, MSG_NOSIGNAL) != (ssize_t)n) { perror("send"); exit(1); }
        return;
    }
    struct iovec iov[2] = {{&n, 8}, {(void *)data, n}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    size_t left = 8 + n;
    while (left) {
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (w < 0) { perror("sendmsg"); exit(1); }
        left -= (size_t)w;
        while (w > 0 && mh.msg_iovlen) {
            if ((size_t)w >= mh.msg_iov->iov_len) {
                w -= mh.msg_iov->iov_len; mh.msg_iov++; mh.msg_iovlen--;
            } else {
                mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + w;
                mh.msg_iov->iov_len -= (size_t)w; w = 0;
            }
        }
    }
}

static uint64_t recv_msg(int fd, char *buf, size_t cap)
{
    if (seqpacket) {
        ssize_t r = recv(fd, buf, cap, 0);
        if (r < 0) { perror("recv"); exit(1); }
        return (uint64_t)r;
    }
    uint64_t n;
    read_all(fd, &n, 8);
    if (n > cap) { fprintf(stderr, "frame too big\n"); exit(1); }
    read_all(fd, buf, n);
    return n;
}

static void pair(const char *transport, int sv[2])
{
    if (strcmp(transport, "tcp") != 0) {
        if (socketpair(AF_UNIX, seqpacket ? SOCK_SEQPACKET : SOCK_STREAM, 0, sv) < 0) {
            perror("socketpair"); exit(1);
        }
        return;
    }
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(l, (struct sockaddr *)&a, sizeof a);
    listen(l, 1);
    getsockname(l, (struct sockaddr *)&a, &len);
    sv[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(sv[0], (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); exit(1); }
    sv[1] = accept(l, NULL, NULL);
    close(l);
    setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(sv[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void round_trip(const char *transport, int count)
{
    int sv[2];
    char buf[65536], payload[64];
    memset(payload, 'x', sizeof payload);
    pair(transport, sv);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        for (int i = 0; i < count + count / 10; i++) {
            uint64_t n = recv_msg(sv[1], buf, sizeof buf);
            send_msg(sv[1], buf, n);
        }
        _exit(0);
    }
    close(sv[1]);
    double *samples = malloc(sizeof(double) * count);
    for (int i = 0; i < count / 10; i++) {
        send_msg(sv[0], payload, 64);
        recv_msg(sv[0], buf, sizeof buf);
    }
    for (int i = 0; i < count; i++) {
        double t0 = now();
        send_msg(sv[0], payload, 64);
        recv_msg(sv[0], buf, sizeof buf);
        samples[i] = now() - t0;
    }
    waitpid(pid, NULL, 0);
    close(sv[0]);
    qsort(samples, count, sizeof(double), cmp);
    printf("{\"workload\": \"%s round trip 64 B\", \"value\": %.3f, \"unit\": \"us\", "
           "\"p99_us\": %.3f}\n", transport, samples[count / 2] * 1e6,
           samples[(int)(count * 0.99)] * 1e6);
    free(samples);
}

static void one_way(const char *transport, size_t size, int count)
{
    int sv[2];
    char *buf = malloc(size), *payload = malloc(size);
    memset(payload, 'y', size);
    pair(transport, sv);
    if (seqpacket) {
        int big = 1 << 20;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        for (int i = 0; i < count; i++)
            recv_msg(sv[1], buf, size);
        send_msg(sv[1], payload, size);
        _exit(0);
    }
    close(sv[1]);
    double t0 = now();
    for (int i = 0; i < count; i++)
        send_msg(sv[0], payload, size);
    recv_msg(sv[0], buf, size);
    double elapsed = now() - t0;
    waitpid(pid, NULL, 0);
    close(sv[0]);
    printf("{\"workload\": \"%s one-way %zu B MB/s\", \"value\": %.3f, \"unit\": \"MB/s\"}\n",
           transport, size, count / elapsed * size / 1e6);
    free(buf);
    free(payload);
}

int main(int argc, char **argv)
{
    double scale = argc > 1 ? atof(argv[1]) : 1.0;
    const char *transports[] = {"unix stream", "unix seqpacket", "tcp"};
    for (int t = 0; t < 3; t++) {
        seqpacket = t == 1;
        round_trip(transports[t], (int)(5000 * scale) < 100 ? 100 : (int)(5000 * scale));
        one_way(transports[t], 4096, (int)(20000 * scale) < 100 ? 100 : (int)(20000 * scale));
        one_way(transports[t], 65536, (int)(4000 * scale) < 100 ? 100 : (int)(4000 * scale));
    }
    return 0;
}
