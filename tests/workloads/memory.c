// memory OUTFILE MIB TICKS INTERVAL_MS DIRTY_PERMILLE hot|moving [AT:GATEFILE ...]
//
// A workload for page storage: compression, incremental checkpoints, write tracking. Maps MIB MiB
// of private anonymous memory and fills it deterministically: the first half compressible (each
// page its index, then a repeated text), the second half pseudo-random. Then for N = 1..TICKS it
// sleeps INTERVAL_MS, rewrites DIRTY_PERMILLE of every thousand pages (hot: the same pages every
// tick; moving: a different slice each tick), each with content that depends on the page and N
// (compressible in the first half, random in the second), and appends "tick N memory X" to
// OUTFILE, X the checksum of all the memory. After tick AT it waits until GATEFILE exists, then
// checks the memory again and appends "resume AT memory X" (the same X unless the memory changed
// while it waited, or was restored wrongly). Ends with "done". Output goes through write(2) with
// O_APPEND, unbuffered; it depends only on the arguments, so a checkpointed and restored run can
// be compared byte for byte with an uninterrupted one.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL

static int out;

static void say(const char *text) {
    size_t n = strlen(text);
    if (write(out, text, n) != (ssize_t)n) _exit(3);
}

static void pause_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static uint64_t mix(uint64_t x) { x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33; return x; }

// Page P as tick N leaves it (N = 0: as filled at start).
static void fill(uint64_t *page, size_t p, size_t pages, uint64_t n) {
    if (p < pages / 2) {
        static const char text[] = "Fermata stores this page compressed: the same words again and again. ";
        char *bytes = (char *)page;
        for (size_t i = 0; i < PAGE; i++) bytes[i] = text[i % (sizeof text - 1)];
        page[0] = p;
        page[1] = n;
    } else {
        uint64_t state = mix(p * 0x9e3779b97f4a7c15ULL + n + 1);
        for (size_t i = 0; i < PAGE / 8; i++) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; page[i] = state; }
    }
}

static uint64_t checksum(const uint64_t *mem, size_t words) {
    uint64_t a = 1, b = 2, c = 3, d = 4;
    for (size_t i = 0; i + 4 <= words; i += 4) {
        a = (a ^ mem[i]) * 0x100000001b3ULL;
        b = (b ^ mem[i + 1]) * 0x100000001b3ULL;
        c = (c ^ mem[i + 2]) * 0x100000001b3ULL;
        d = (d ^ mem[i + 3]) * 0x100000001b3ULL;
    }
    return mix(a) ^ mix(b + 1) ^ mix(c + 2) ^ mix(d + 3);
}

int main(int argc, char **argv) {
    if (argc < 7) { fprintf(stderr, "usage: memory OUTFILE MIB TICKS INTERVAL_MS DIRTY_PERMILLE hot|moving [AT:GATEFILE ...]\n"); return 2; }
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    size_t bytes = (size_t)atol(argv[2]) << 20, pages = bytes / PAGE;
    long ticks = atol(argv[3]), interval = atol(argv[4]), permille = atol(argv[5]);
    int moving = strcmp(argv[6], "moving") == 0;
    uint64_t *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) { perror("mmap"); return 2; }
    for (size_t p = 0; p < pages; p++) fill(mem + p * (PAGE / 8), p, pages, 0);

    char line[128];
    snprintf(line, sizeof line, "start %zu MiB\n", bytes >> 20);
    say(line);
    for (long n = 1; n <= ticks; n++) {
        pause_ms(interval);
        size_t shift = moving ? (size_t)n * 97 : 0;
        for (size_t p = 0; p < pages; p++)
            if ((long)((p + shift) % 1000) < permille) fill(mem + p * (PAGE / 8), p, pages, (uint64_t)n);
        snprintf(line, sizeof line, "tick %ld memory %016llx\n", n, (unsigned long long)checksum(mem, bytes / 8));
        say(line);
        for (int g = 7; g < argc; g++) {
            char *colon = strchr(argv[g], ':');
            if (!colon || atol(argv[g]) != n) continue;
            while (access(colon + 1, F_OK) != 0) pause_ms(10);
            snprintf(line, sizeof line, "resume %ld memory %016llx\n", n, (unsigned long long)checksum(mem, bytes / 8));
            say(line);
        }
    }
    say("done\n");
    return 0;
}
