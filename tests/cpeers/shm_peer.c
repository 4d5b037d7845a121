/* Attaches a segment by id, prints the string at offset 0 and writes
 * "C wrote this" at offset 1024. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>

int main(int argc, char **argv)
{
    char *p = shmat(atoi(argv[1]), NULL, 0);
    if (p == (void *)-1) {
        perror("shmat");
        return 1;
    }
    printf("%s\n", p);
    memcpy(p + 1024, "C wrote this", 12);
    shmdt(p);
    return 0;
}
