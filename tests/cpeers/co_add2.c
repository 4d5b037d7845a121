/* The notes' add2 filter: read lines "a b", answer "a+b" or
 * "invalid parameter.", flushing stdout after every line so a coprocess
 * parent on a pipe sees each answer at once. */
#include <stdio.h>
#include <string.h>

#define LINE_MAX_ 100

int main(void) {
    char line[LINE_MAX_ + 1];
    int a, b;
    while (fgets(line, LINE_MAX_, stdin) != NULL) {
        if (sscanf(line, "%d%d", &a, &b) == 2)
            printf("%d\n", a + b);
        else
            printf("invalid parameter.\n");
        fflush(stdout);
    }
    return 0;
}
