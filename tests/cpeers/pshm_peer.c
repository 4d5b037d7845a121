/* A POSIX shared memory peer for the interop tests (shm_open + mmap).
 *   pshm_peer NAME read     print the string at offset 0, write
 *                           "C wrote this" at offset 1024
 *   pshm_peer NAME create SIZE
 *                           make the segment (O_CREAT|O_EXCL, 0600), size it,
 *                           fill byte i with i % 251
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    if (strcmp(argv[2], "create") == 0 && argc == 4) {
        size_t size = strtoul(argv[3], NULL, 10);
        int fd = shm_open(argv[1], O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
            perror("shm_open/ftruncate");
            return 1;
        }
        unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        for (size_t i = 0; i < size; i++)
            p[i] = (unsigned char)(i % 251);
        munmap(p, size);
        close(fd);
        return 0;
    }
    if (strcmp(argv[2], "read") == 0) {
        int fd = shm_open(argv[1], O_RDWR, 0);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            perror("shm_open/fstat");
            return 1;
        }
        if (st.st_size < 1024 + 12)
            return 3;
        char *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        printf("%s\n", p);
        memcpy(p + 1024, "C wrote this", 12);
        munmap(p, (size_t)st.st_size);
        close(fd);
        return 0;
    }
    return 2;
}
