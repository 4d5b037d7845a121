/* C peer for the message queue tests.
 *   msg_peer send MSQID   sends the fixed set below, in order
 *   msg_peer recv MSQID N receives N messages (any type) and prints
 *                         "TYPE HEX" per line (HEX empty for no text)
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

struct message {
    long mtype;
    char mtext[8192];
};

int
main(int argc, char **argv)
{
    static struct message m;
    if (argc < 3)
        return 2;
    int q = atoi(argv[2]);
    if (strcmp(argv[1], "send") == 0) {
        /* 1: "hello"; 7: bytes 0..255; LONG_MAX: empty; 2: 8192 x 'z' */
        m.mtype = 1;
        memcpy(m.mtext, "hello", 5);
        if (msgsnd(q, &m, 5, 0) < 0) { perror("msgsnd"); return 1; }
        m.mtype = 7;
        for (int i = 0; i < 256; i++)
            m.mtext[i] = (char)i;
        if (msgsnd(q, &m, 256, 0) < 0) { perror("msgsnd"); return 1; }
        m.mtype = LONG_MAX;
        if (msgsnd(q, &m, 0, 0) < 0) { perror("msgsnd"); return 1; }
        m.mtype = 2;
        memset(m.mtext, 'z', 8192);
        if (msgsnd(q, &m, 8192, 0) < 0) { perror("msgsnd"); return 1; }
        return 0;
    }
    if (strcmp(argv[1], "recv") == 0) {
        int n = atoi(argv[3]);
        for (int k = 0; k < n; k++) {
            ssize_t len = msgrcv(q, &m, sizeof m.mtext, 0, 0);
            if (len < 0) { perror("msgrcv"); return 1; }
            printf("%ld ", m.mtype);
            for (ssize_t i = 0; i < len; i++)
                printf("%02x", (unsigned char)m.mtext[i]);
            printf("\n");
        }
        return 0;
    }
    return 2;
}
