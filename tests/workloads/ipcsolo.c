// ipcsolo MODE OUTFILE TICKS INTERVAL_MS
//
// A process alone (not a job) using one System V or POSIX IPC object of the host's IPC
// namespace, which a checkpoint must refuse naming: MODE "undo" holds a SEM_UNDO adjustment on a
// private semaphore set, "segment" has a private segment attached, "queue" holds a POSIX message
// queue open (its name unlinked at once, so nothing is left behind). It ticks into OUTFILE and
// removes its objects before writing "check MODE ok" and "done".
#define _GNU_SOURCE
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#include "checks.h"

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: ipcsolo undo|segment|queue OUTFILE TICKS INTERVAL_MS\n"); return 2; }
    const char *mode = argv[1];
    out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[2]); return 2; }
    int sem = -1, shm = -1;
    mqd_t q = -1;
    char name[64];
    if (!strcmp(mode, "undo")) {
        sem = semget(IPC_PRIVATE, 1, 0600);
        struct sembuf up = { 0, 3, SEM_UNDO };
        if (sem < 0 || semop(sem, &up, 1) != 0) { perror("sem"); return 2; }
    } else if (!strcmp(mode, "segment")) {
        shm = shmget(IPC_PRIVATE, 8192, 0600);
        if (shm < 0 || shmat(shm, NULL, 0) == (void *)-1) { perror("shm"); return 2; }
        shmctl(shm, IPC_RMID, NULL); // it goes with the process
    } else if (!strcmp(mode, "queue")) {
        snprintf(name, sizeof name, "/fermata-solo-%d", getpid());
        q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, NULL);
        if (q < 0) { perror("mq_open"); return 2; }
        mq_unlink(name);
    } else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }
    ticking(atoi(argv[3]), atoi(argv[4]));
    if (sem >= 0) semctl(sem, 0, IPC_RMID);
    snprintf(line, sizeof line, "check %s ok\ndone\n", mode);
    say(line);
    return 0;
}
