// hold READYFILE MIB: allocates MIB MiB of incompressible data, writes READYFILE, then waits.
// The benchmark checkpoints and restores it; after a restore it checks its data and writes
// READYFILE.restored ("ok" or "corrupt") when it receives SIGUSR1.
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t check;
static void on_usr1(int sig) { (void)sig; check = 1; }

static uint64_t sum(const uint64_t *p, size_t n) {
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    size_t words = ((size_t)atol(argv[2]) << 20) / 8;
    uint64_t *data = malloc(words * 8), x = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < words; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; data[i] = x; }
    uint64_t expected = sum(data, words);
    signal(SIGUSR1, on_usr1);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "ready\n", 6) != 6) return 3;
    close(fd);
    for (;;) {
        pause();
        if (check) {
            check = 0;
            char path[4096];
            snprintf(path, sizeof path, "%s.restored", argv[1]);
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            const char *verdict = sum(data, words) == expected ? "ok\n" : "corrupt\n";
            if (fd >= 0 && write(fd, verdict, strlen(verdict)) > 0) close(fd);
        }
    }
}
