// interrupted OUTFILE GATEFILE
//
// One thread blocked in each call that Linux makes fail with EINTR when a stop interrupts it,
// without any signal handler (signal(7)): epoll_wait, epoll_pwait, semop, semtimedop, msgrcv,
// msgsnd, sigtimedwait, sigwaitinfo, recv on a socket with SO_RCVTIMEO, send on one with
// SO_SNDTIMEO (the timeouts are 60 s: none expires). A freeze must not make any of them fail. The
// main thread writes "tick N" every 20 ms until GATEFILE exists, then gives each call what it
// waits for; each thread writes "check CALL ok", or "check CALL FAILED" with the error its call
// returned; then "done". Run it as a job (semop and msgrcv need the job's IPC namespace).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

enum { EPOLL_WAIT, EPOLL_PWAIT, SEMOP, SEMTIMEDOP, MSGRCV, MSGSND, SIGTIMEDWAIT, SIGWAITINFO, RECV, SEND, CALLS };
static const char *names[CALLS] = { "epoll_wait", "epoll_pwait", "semop", "semtimedop", "msgrcv", "msgsnd", "sigtimedwait", "sigwaitinfo", "recv", "send" };

static int ep[2], ev[2], sem, inbox, full, rs[2], ss[2];
static pid_t tids[CALLS];
static pthread_mutex_t say_lock = PTHREAD_MUTEX_INITIALIZER;
static struct timespec long_wait = { 60, 0 };
struct message { long type; char text[40]; };

static void report(int call, long r) {
    char detail[128];
    snprintf(detail, sizeof detail, "%s", r < 0 ? strerror(errno) : "");
    pthread_mutex_lock(&say_lock);
    check(names[call], r >= 0, detail);
    pthread_mutex_unlock(&say_lock);
}

static void *waiter(void *arg) {
    int call = (int)(long)arg;
    tids[call] = (pid_t)syscall(SYS_gettid);
    struct epoll_event e;
    struct sembuf down = { (unsigned short)(call == SEMOP ? 0 : 1), -1, 0 };
    struct message m = { 1, "" };
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, call == SIGTIMEDWAIT ? SIGUSR1 : SIGUSR2);
    char c;
    long r;
    switch (call) {
    case EPOLL_WAIT: r = epoll_wait(ep[0], &e, 1, 60000); break;
    case EPOLL_PWAIT: r = epoll_pwait(ep[1], &e, 1, 60000, &set); break;
    case SEMOP: r = semop(sem, &down, 1); break;
    case SEMTIMEDOP: r = semtimedop(sem, &down, 1, &long_wait); break;
    case MSGRCV: r = msgrcv(inbox, &m, sizeof m.text, 0, 0); break;
    case MSGSND: r = msgsnd(full, &m, 30, 0); break;
    case SIGTIMEDWAIT: r = sigtimedwait(&set, NULL, &long_wait); break;
    case SIGWAITINFO: r = sigwaitinfo(&set, NULL); break;
    case RECV: r = recv(rs[0], &c, 1, 0); break;
    default: r = send(ss[0], "x", 1, 0); break;
    }
    report(call, r);
    return NULL;
}

static void pause_ms(long ms) { struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L }; nanosleep(&ts, NULL); }

static void setup(void) {
    for (int k = 0; k < 2; k++) {
        ep[k] = epoll_create1(0);
        ev[k] = eventfd(0, EFD_NONBLOCK);
        struct epoll_event e = { EPOLLIN, { .u32 = 1 } };
        if (ep[k] < 0 || ev[k] < 0 || epoll_ctl(ep[k], EPOLL_CTL_ADD, ev[k], &e) != 0) { perror("epoll"); exit(2); }
    }
    sem = semget(IPC_PRIVATE, 2, 0600);
    inbox = msgget(IPC_PRIVATE, 0600);
    full = msgget(IPC_PRIVATE, 0600);
    struct msqid_ds ds;
    if (sem < 0 || inbox < 0 || full < 0 || msgctl(full, IPC_STAT, &ds) != 0) { perror("ipc"); exit(2); }
    ds.msg_qbytes = 60; // two messages of 30 bytes fill it
    struct message m = { 1, "" };
    if (msgctl(full, IPC_SET, &ds) != 0 || msgsnd(full, &m, 30, 0) != 0 || msgsnd(full, &m, 30, 0) != 0) { perror("fill the queue"); exit(2); }
    struct timeval minute = { 60, 0 };
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, rs) || socketpair(AF_UNIX, SOCK_STREAM, 0, ss)
        || setsockopt(rs[0], SOL_SOCKET, SO_RCVTIMEO, &minute, sizeof minute) || setsockopt(ss[0], SOL_SOCKET, SO_SNDTIMEO, &minute, sizeof minute)) {
        perror("sockets");
        exit(2);
    }
    // Fill the sending socket until a send would block.
    char block[4096] = { 0 };
    while (send(ss[0], block, sizeof block, MSG_DONTWAIT) > 0) {}
    if (errno != EAGAIN) { perror("fill the socket"); exit(2); }
}

static void release(void) {
    uint64_t one = 1;
    struct sembuf up[2] = { { 0, 1, 0 }, { 1, 1, 0 } };
    struct message m = { 1, "hello" };
    if (write(ev[0], &one, 8) != 8 || write(ev[1], &one, 8) != 8 || semop(sem, up, 2) != 0 || msgsnd(inbox, &m, 6, 0) != 0
        || msgrcv(full, &m, sizeof m.text, 0, 0) < 0 || send(rs[1], "y", 1, 0) != 1) {
        perror("release");
        exit(2);
    }
    syscall(SYS_tgkill, getpid(), tids[SIGTIMEDWAIT], SIGUSR1);
    syscall(SYS_tgkill, getpid(), tids[SIGWAITINFO], SIGUSR2);
    char drain[65536];
    while (recv(ss[1], drain, sizeof drain, MSG_DONTWAIT) > 0) {}
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: interrupted OUTFILE GATEFILE\n"); return 2; }
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    setup();
    sigset_t usr;
    sigemptyset(&usr);
    sigaddset(&usr, SIGUSR1);
    sigaddset(&usr, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &usr, NULL); // for the threads that wait for them
    pthread_t threads[CALLS];
    for (long k = 0; k < CALLS; k++) pthread_create(&threads[k], NULL, waiter, (void *)k);
    for (int i = 1; access(argv[2], F_OK) != 0; i++) {
        pthread_mutex_lock(&say_lock);
        snprintf(line, sizeof line, "tick %d\n", i);
        say(line);
        pthread_mutex_unlock(&say_lock);
        pause_ms(20);
    }
    release();
    for (int k = 0; k < CALLS; k++) pthread_join(threads[k], NULL);
    say("done\n");
    return 0;
}
