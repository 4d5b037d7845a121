/* Opens the FIFO given as argv[1] for reading (blocking: waits for a
 * writer), reads until end of file, prints "<bytes> <sum of bytes>". */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    unsigned char buf[8192];
    unsigned long long total = 0, sum = 0;
    if (argc != 2) {
        fprintf(stderr, "usage: fifo_reader PATH\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            perror("read");
            return 1;
        }
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            sum += buf[i];
        total += (unsigned long long)n;
    }
    printf("%llu %llu\n", total, sum);
    return 0;
}
