// filejob FILE MIB READY: the job of the benchmark's files section. Fills FILE with MIB MiB of
// incompressible bytes (fsynced), keeps it open read-write, and writes "0" to READY. On each
// SIGUSR1 it rewrites one word in every 20th page of the file in place (5% of its pages, spread
// over all of it), with pwrite, then writes the round number to READY. Otherwise it sleeps.
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t asked;

static void on_usr1(int sig) { (void)sig; asked++; }

static uint64_t state = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static void announce(const char *path, long round) {
    char tmp[4096], text[32];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int n = snprintf(text, sizeof text, "%ld\n", round);
    if (fd < 0 || write(fd, text, n) != n || close(fd) != 0 || rename(tmp, path) != 0) { perror(path); exit(2); }
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: filejob FILE MIB READY\n"); return 2; }
    long mib = atol(argv[2]);
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror(argv[1]); return 2; }
    static uint64_t chunk[1 << 17]; // 1 MiB
    for (long m = 0; m < mib; m++) {
        for (size_t i = 0; i < sizeof chunk / sizeof chunk[0]; i++) chunk[i] = next();
        if (write(fd, chunk, sizeof chunk) != sizeof chunk) { perror("write"); return 2; }
    }
    if (fsync(fd) != 0) { perror("fsync"); return 2; }
    struct sigaction sa = { .sa_handler = on_usr1 };
    sigaction(SIGUSR1, &sa, NULL);
    // SIGUSR1 is blocked but while waiting for it, so none arrives unseen between the check and the wait.
    sigset_t usr1, waiting;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &waiting);
    sigdelset(&waiting, SIGUSR1);
    announce(argv[3], 0);
    long pages = mib * 256, round = 0;
    for (;;) {
        while (asked == round) sigsuspend(&waiting);
        round++;
        for (long p = round % 20; p < pages; p += 20) {
            uint64_t word = next();
            if (pwrite(fd, &word, sizeof word, p * 4096 + (long)(next() % 512) * 8) != sizeof word) { perror("pwrite"); return 3; }
        }
        announce(argv[3], round);
    }
}
