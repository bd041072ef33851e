// hold READYFILE MIB [random|mixed]: allocates MIB MiB of data, writes READYFILE, then waits.
//   random: incompressible bytes (the default);
//   mixed:  the first half compressible (no two pages alike, none all-zero, so neither the zero
//           page check nor deduplication can shortcut it: a third int32 arrays of slowly rising
//           counters, a third text records with counters, a third slowly varying doubles), the
//           second half random bytes.
// The benchmark checkpoints and restores it; after a restore it checks its data and writes
// READYFILE.restored ("ok" or "corrupt") when it receives SIGUSR1. On SIGUSR2 it rewrites one
// word in every 20th page (5% of its pages, spread over the whole range), takes the new checksum
// and writes READYFILE.dirtied.
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096

static volatile sig_atomic_t check, dirty;
static void on_usr1(int sig) { (void)sig; check = 1; }
static void on_usr2(int sig) { (void)sig; dirty = 1; }

static uint64_t sum(const uint64_t *p, size_t n) {
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t xorshift(uint64_t *x) { *x ^= *x << 13; *x ^= *x >> 7; *x ^= *x << 17; return *x; }

static void fill_random(uint8_t *p, size_t bytes, uint64_t seed) {
    uint64_t *w = (uint64_t *)p, x = seed;
    for (size_t i = 0; i < bytes / 8; i++) w[i] = xorshift(&x);
}

// Writes n as exactly `width` decimal digits.
static char *digits(char *o, uint64_t n, int width) {
    for (int i = width - 1; i >= 0; i--) { o[i] = (char)('0' + n % 10); n /= 10; }
    return o + width;
}

// "step 00001234 particle 01234 x=0.1234 y=0.5678 state=hot\n", one after the other.
static void fill_text(uint8_t *p, size_t bytes) {
    static const char *states[] = {"ok", "hot", "cold"};
    char line[96], *end = (char *)p + bytes, *o = (char *)p;
    uint64_t x = 0x2545f4914f6cdd1dULL;
    for (uint64_t step = 0; o < end; step++) {
        char *l = line;
        memcpy(l, "step ", 5); l = digits(l + 5, step, 8);
        memcpy(l, " particle ", 10); l = digits(l + 10, xorshift(&x) % 20000, 5);
        memcpy(l, " x=0.", 5); l = digits(l + 5, xorshift(&x) % 10000, 4);
        memcpy(l, " y=0.", 5); l = digits(l + 5, xorshift(&x) % 10000, 4);
        const char *s = states[xorshift(&x) % 3];
        memcpy(l, " state=", 7); l += 7;
        size_t n = strlen(s); memcpy(l, s, n); l += n; *l++ = '\n';
        size_t len = (size_t)(l - line);
        if (len > (size_t)(end - o)) len = (size_t)(end - o);
        memcpy(o, line, len);
        o += len;
    }
}

static void fill_mixed(uint8_t *p, size_t bytes, uint64_t seed) {
    size_t half = bytes / 2 / PAGE * PAGE, third = half / 3 / PAGE * PAGE;
    int32_t *ints = (int32_t *)p;
    for (size_t i = 0; i < third / 4; i++) ints[i] = (int32_t)(i / 3);
    fill_text(p + third, third);
    double *field = (double *)(p + 2 * third);
    for (size_t i = 0; i < (half - 2 * third) / 8; i++) field[i] = 300.0 + 20.0 * sin((double)i / 500.0) + (double)i * 1e-6;
    fill_random(p + half, bytes - half, seed);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    size_t bytes = ((size_t)atol(argv[2]) << 20), words = bytes / 8;
    uint8_t *data = malloc(bytes);
    if (!data) return 4;
    // Each holder its own random bytes (seeded by its READYFILE), so that the processes of a job
    // hold no pages alike for the checkpoint to store once.
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (const char *c = argv[1]; *c; c++) seed = (seed ^ (uint8_t)*c) * 0x100000001b3ULL;
    if (seed == 0) seed = 1;
    if (argc > 3 && strcmp(argv[3], "mixed") == 0) fill_mixed(data, bytes, seed);
    else fill_random(data, bytes, seed);
    uint64_t expected = sum((uint64_t *)data, words), round = 0;
    signal(SIGUSR1, on_usr1);
    signal(SIGUSR2, on_usr2);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "ready\n", 6) != 6) return 3;
    close(fd);
    char path[4096];
    for (;;) {
        pause();
        if (dirty) {
            dirty = 0;
            round++;
            for (size_t page = 0; page < bytes / PAGE; page += 20)
                ((uint64_t *)(data + page * PAGE))[(page / 20 + round) % (PAGE / 8)] ^= 0x5851f42d4c957f2dULL * round;
            expected = sum((uint64_t *)data, words);
            snprintf(path, sizeof path, "%s.dirtied", argv[1]);
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0 && write(fd, "dirtied\n", 8) > 0) close(fd);
        }
        if (check) {
            check = 0;
            snprintf(path, sizeof path, "%s.restored", argv[1]);
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            const char *verdict = sum((uint64_t *)data, words) == expected ? "ok\n" : "corrupt\n";
            if (fd >= 0 && write(fd, verdict, strlen(verdict)) > 0) close(fd);
        }
    }
}
