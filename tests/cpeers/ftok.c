/* Prints ftok(path, id) as a signed decimal: the C library's answer. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: ftok PATH ID\n");
        return 2;
    }
    key_t key = ftok(argv[1], atoi(argv[2]));
    if (key == (key_t)-1) {
        perror("ftok");
        return 1;
    }
    printf("%ld\n", (long)key);
    return 0;
}
