/* In the manner of the notes' fifo_server: open the FIFO given as argv[1]
 * for writing (blocking: waits for a reader), write 4096 + 1024 bytes of
 * '*' in ONE write(2), report the count, exit. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BYTES (4096 + 1024)

int main(int argc, char **argv) {
    char buf[BYTES];
    if (argc != 2) {
        fprintf(stderr, "usage: fifo_writer PATH\n");
        return 2;
    }
    memset(buf, 42, sizeof buf);
    int fd = open(argv[1], O_WRONLY);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    ssize_t n = write(fd, buf, sizeof buf);
    if (n < 0) {
        perror("write");
        return 1;
    }
    printf("wrote %zd\n", n);
    close(fd);
    return 0;
}
