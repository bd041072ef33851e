// ipcjob OUTFILE ITEMS INTERVAL_MS GATE_AT GATEFILE
//
// A job of two processes sharing System V objects and POSIX message queues, for checkpointing
// as a job. The parent (producer) and its child (consumer) pass ITEMS numbers through a ring in
// a System V shared memory segment, guarded by two semaphores of one set (free slots, full
// slots); the parent writes "tick N" per item and after item GATE_AT waits until GATEFILE exists.
// Before the first item the parent also makes: a message queue (key 0x4a0b) holding three
// messages of types 1, 7 and 3; a segment (key 0x4a0c) no process attaches, filled with a
// pattern; a segment attached read-only by the child; a segment removed (IPC_RMID) while
// attached; a POSIX queue /fermata-q (5 messages of 64 bytes at most) holding three messages of
// priorities 1, 9 and 1, and one unlinked while open holding one. The child adds 5 to the third
// semaphore with SEM_UNDO, the parent 2: when the child exits, its exit takes its 5 away.
// Once the gate opens, each side checks what a checkpoint must have kept and writes
// "check NAME ok" or "check NAME FAILED ..."; the parent ends with "done".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

#define SLOTS 4
struct ring { int slot[SLOTS]; int head, tail; };

static int sem, queue, plain, removed, readonly;
static mqd_t gone;
static struct ring *ring;
static char detail[512];

static void pause_ms(long ms) { struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L }; nanosleep(&ts, NULL); }

/// semop that a freeze may interrupt (EINTR is the interrupted-call tests' business).
static void op(int num, int delta, int flags) {
    struct sembuf b = { (unsigned short)num, (short)delta, (short)flags };
    while (semop(sem, &b, 1) != 0)
        if (errno != EINTR) { perror("semop"); exit(2); }
}

static void fill(char *p, size_t n, int seed) { for (size_t i = 0; i < n; i++) p[i] = (char)(i * 7 + seed); }
static int same(const char *p, size_t n, int seed) { for (size_t i = 0; i < n; i++) if (p[i] != (char)(i * 7 + seed)) return 0; return 1; }

static void consumer(int items) {
    op(2, 5, SEM_UNDO);
    char *ro = shmat(readonly, NULL, SHM_RDONLY);
    if (ro == (void *)-1) { perror("shmat"); _exit(2); }
    int ok = 1, expect = 1;
    for (int i = 0; i < items; i++) {
        op(1, -1, 0);
        int v = ring->slot[ring->tail];
        ring->tail = (ring->tail + 1) % SLOTS;
        op(0, 1, 0);
        if (v != expect++) { ok = 0; snprintf(detail, sizeof detail, "item %d read as %d", expect - 1, v); }
    }
    check("sequence", ok, detail);
    check("readonly-segment", same(ro, 3000, 3), "contents differ");
    _exit(0);
}

static void make_objects(void) {
    sem = semget(IPC_PRIVATE, 3, 0600);
    unsigned short init[3] = { SLOTS, 0, 0 };
    union { int val; unsigned short *array; } arg = { .array = init };
    int ring_id = shmget(IPC_PRIVATE, 10000, 0600);
    queue = msgget(0x4a0b, IPC_CREAT | IPC_EXCL | 0620);
    plain = shmget(0x4a0c, 20000, IPC_CREAT | IPC_EXCL | 0640);
    removed = shmget(IPC_PRIVATE, 5000, 0600);
    readonly = shmget(IPC_PRIVATE, 3000, 0604);
    if (sem < 0 || ring_id < 0 || queue < 0 || plain < 0 || removed < 0 || readonly < 0 || semctl(sem, 0, SETALL, arg) != 0) { perror("ipc"); exit(2); }
    ring = shmat(ring_id, NULL, 0);
    char *p = shmat(plain, NULL, 0), *r = shmat(removed, NULL, 0), *ro = shmat(readonly, NULL, 0);
    if (ring == (void *)-1 || p == (void *)-1 || r == (void *)-1 || ro == (void *)-1) { perror("shmat"); exit(2); }
    fill(p, 20000, 1);
    fill(r, 5000, 2);
    fill(ro, 3000, 3);
    shmdt(p);
    shmdt(ro);
    shmctl(removed, IPC_RMID, NULL);
    struct { long type; char text[16]; } m;
    const long types[3] = { 1, 7, 3 };
    const char *texts[3] = { "one", "seven", "three" };
    for (int i = 0; i < 3; i++) {
        m.type = types[i];
        strcpy(m.text, texts[i]);
        if (msgsnd(queue, &m, strlen(texts[i]) + 1, 0) != 0) { perror("msgsnd"); exit(2); }
    }
    struct mq_attr attr = { 0, 5, 64, 0 };
    mqd_t q = mq_open("/fermata-q", O_CREAT | O_EXCL | O_WRONLY, 0640, &attr);
    gone = mq_open("/fermata-gone", O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    if (q < 0 || gone < 0) { perror("mq_open"); exit(2); }
    if (mq_send(q, "low-a", 6, 1) || mq_send(q, "high", 5, 9) || mq_send(q, "low-b", 6, 1) || mq_send(gone, "kept", 5, 4)) { perror("mq_send"); exit(2); }
    mq_close(q);
    mq_unlink("/fermata-gone");
    (void)r;
}

static void check_objects(void) {
    check("queue-id", msgget(0x4a0b, 0) == queue, "msgget found another identifier");
    check("segment-id", shmget(0x4a0c, 0, 0) == plain, "shmget found another identifier");
    struct msqid_ds mq;
    struct shmid_ds sd;
    check("queue-mode", msgctl(queue, IPC_STAT, &mq) == 0 && (mq.msg_perm.mode & 0777) == 0620 && mq.msg_qnum == 3, "mode or count differ");
    struct { long type; char text[16]; } m;
    const char *want[3] = { "one", "seven", "three" };
    int ok = 1;
    for (int i = 0; i < 3; i++)
        if (msgrcv(queue, &m, sizeof m.text, 0, IPC_NOWAIT) < 0 || strcmp(m.text, want[i]) != 0) { ok = 0; snprintf(detail, sizeof detail, "message %d: %s", i, strerror(errno)); }
    check("queue-messages", ok, detail);
    char *p = shmat(plain, NULL, SHM_RDONLY);
    check("unattached-segment", p != (void *)-1 && shmctl(plain, IPC_STAT, &sd) == 0 && sd.shm_segsz == 20000 && (sd.shm_perm.mode & 0777) == 0640 && same(p, 20000, 1), "size, mode or contents differ");
    struct shmid_ds rd;
    int rmok = shmctl(removed, IPC_STAT, &rd) == 0 && (rd.shm_perm.mode & SHM_DEST) && rd.shm_perm.__key == IPC_PRIVATE;
    char *r = NULL;
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    while (maps && fgets(line, sizeof line, maps)) {
        unsigned long start; unsigned long ino; char path[256] = "";
        if (sscanf(line, "%lx-%*x %*s %*s %*s %lu %255s", &start, &ino, path) == 3 && (int)ino == removed && strncmp(path, "/SYSV", 5) == 0) r = (char *)start;
    }
    if (maps) fclose(maps);
    check("removed-segment", rmok && r && same(r, 5000, 2), "not marked removed, not attached or contents differ");
    struct mq_attr a;
    mqd_t q = mq_open("/fermata-q", O_RDONLY);
    char buf[64];
    unsigned prio;
    ok = q >= 0 && mq_getattr(q, &a) == 0 && a.mq_maxmsg == 5 && a.mq_msgsize == 64 && a.mq_curmsgs == 3;
    const char *order[3] = { "high", "low-a", "low-b" };
    const unsigned prios[3] = { 9, 1, 1 };
    for (int i = 0; ok && i < 3; i++) ok = mq_receive(q, buf, sizeof buf, &prio) > 0 && strcmp(buf, order[i]) == 0 && prio == prios[i];
    check("posix-queue", ok, "attributes or messages differ");
    check("unlinked-posix-queue", mq_receive(gone, buf, sizeof buf, &prio) == 5 && strcmp(buf, "kept") == 0 && prio == 4 && mq_open("/fermata-gone", O_RDONLY) < 0, "message differs or it has a name");
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: ipcjob OUTFILE ITEMS INTERVAL_MS GATE_AT GATEFILE\n"); return 2; }
    int items = atoi(argv[2]), interval = atoi(argv[3]), at = atoi(argv[4]);
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    make_objects();
    say("start\n");
    op(2, 2, SEM_UNDO);
    pid_t child = fork();
    if (child == 0) consumer(items);
    for (int i = 1; i <= items; i++) {
        op(0, -1, 0);
        ring->slot[ring->head] = i;
        ring->head = (ring->head + 1) % SLOTS;
        op(1, 1, 0);
        snprintf(line, sizeof line, "tick %d\n", i);
        say(line);
        pause_ms(interval);
        if (i == at) while (access(argv[5], F_OK) != 0) pause_ms(10);
    }
    int status;
    waitpid(child, &status, 0);
    check("child", WIFEXITED(status) && WEXITSTATUS(status) == 0, "the consumer failed");
    int v = semctl(sem, 2, GETVAL);
    snprintf(detail, sizeof detail, "the third semaphore is %d after the child's exit, not 2", v);
    check("sem-undo", v == 2, detail);
    check_objects();
    say("done\n");
    return 0;
}
