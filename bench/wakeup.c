// wakeup READYFILE MIB: fills MIB MiB with random bytes, takes their checksum and writes
// READYFILE, then looks at the clock every millisecond. When it finds it has not run for more
// than 100 ms (it was checkpointed, and now runs again after a restore), it writes the time it
// runs again (CLOCK_REALTIME in nanoseconds) to READYFILE.running: what the benchmark reports as
// time to running, seen by the program itself. Only then does it read all its data and write
// READYFILE.restored: "ok" when the checksum matches, "corrupt" when not. It then exits.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t sum(const uint64_t *p, size_t n) {
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static int64_t now(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void put(const char *base, const char *suffix, const char *text) {
    char path[4096], tmp[4100];
    snprintf(path, sizeof path, "%s%s", base, suffix);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) _exit(3);
    close(fd);
    rename(tmp, path);
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    size_t words = ((size_t)atol(argv[2]) << 20) / 8;
    uint64_t *data = malloc(words * 8);
    if (!data) return 2;
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < words; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        data[i] = x;
    }
    uint64_t expected = sum(data, words);
    put(argv[1], "", "ready\n");
    int64_t last = now(CLOCK_REALTIME);
    for (;;) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        int64_t t = now(CLOCK_REALTIME);
        if (t - last > 100000000) break;
        last = t;
    }
    char text[64];
    snprintf(text, sizeof text, "%lld\n", (long long)now(CLOCK_REALTIME));
    put(argv[1], ".running", text);
    put(argv[1], ".restored", sum(data, words) == expected ? "ok\n" : "corrupt\n");
    return 0;
}
