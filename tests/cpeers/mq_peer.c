/* A POSIX message queue peer for the interop tests.
 *   mq_peer NAME send DATA:PRIO ...   mq_send each DATA with its priority
 *   mq_peer NAME recv N               mq_receive N messages, print "PRIO DATA"
 */
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    mqd_t mq = mq_open(argv[1], O_RDWR);
    if (mq == (mqd_t)-1) {
        perror("mq_open");
        return 1;
    }
    if (strcmp(argv[2], "send") == 0) {
        for (int i = 3; i < argc; i++) {
            char *colon = strrchr(argv[i], ':');
            if (colon == NULL)
                return 2;
            *colon = '\0';
            if (mq_send(mq, argv[i], strlen(argv[i]), (unsigned)atoi(colon + 1)) < 0) {
                perror("mq_send");
                return 1;
            }
        }
    } else {
        struct mq_attr attr;
        mq_getattr(mq, &attr);
        char *buf = malloc(attr.mq_msgsize + 1);
        for (int i = 0, n = atoi(argv[3]); i < n; i++) {
            unsigned prio;
            ssize_t len = mq_receive(mq, buf, attr.mq_msgsize, &prio);
            if (len < 0) {
                perror("mq_receive");
                return 1;
            }
            buf[len] = '\0';
            printf("%u %s\n", prio, buf);
        }
        free(buf);
    }
    mq_close(mq);
    return 0;
}
