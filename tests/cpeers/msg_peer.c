/* C side of the message-queue interop test: sends three messages, then
 * receives type 7 and type 3 (what the Python side sends back) and prints
 * "type length hex" for each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

struct message {
    long mtype;
    char mtext[8192];
};

static void send_msg(int id, long type, const void *data, size_t len)
{
    struct message m;
    m.mtype = type;
    memcpy(m.mtext, data, len);
    if (msgsnd(id, &m, len, 0) < 0) {
        perror("msgsnd");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    int id = atoi(argv[1]);
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    send_msg(id, 1, "hello from C", 12);
    send_msg(id, 42, all, sizeof all);
    send_msg(id, 1L << 40, "", 0);
    long wanted[2] = {7, 3};
    for (int k = 0; k < 2; k++) {
        struct message m;
        ssize_t n = msgrcv(id, &m, sizeof m.mtext, wanted[k], 0);
        if (n < 0) {
            perror("msgrcv");
            return 1;
        }
        printf("%ld %zd ", m.mtype, n);
        for (ssize_t i = 0; i < n; i++)
            printf("%02x", (unsigned char)m.mtext[i]);
        printf("\n");
    }
    return 0;
}
