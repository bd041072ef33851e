// remaps OUTFILE MIB GATEFILE
//
// A workload for a lazy restore: what a program does to memory whose pages may not be in yet.
// Fills four areas of MIB MiB each (A, B, C, D) with a pseudo-random pattern, appends "ready"
// to OUTFILE and waits until GATEFILE exists (the checkpoint comes here). Then, touching none of
// them first: moves A with mremap (growing it by half: the new part must read as zeros), drops
// the first half of B with madvise(MADV_DONTNEED) (zeros there, the pattern in the rest), forks
// a child that appends C's checksum and exits, unmaps the second half
// of D; and appends one line per area with its checksum, then "done". Output goes through
// write(2) with O_APPEND and depends only on the arguments.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int out;

static void say(const char *text) {
    size_t n = strlen(text);
    if (write(out, text, n) != (ssize_t)n) _exit(3);
}

static uint64_t sum(const unsigned char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i += 8) h = (h ^ *(const uint64_t *)(p + i)) * 1099511628211ULL;
    return h;
}

static unsigned char *area(size_t size, uint64_t seed) {
    unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) _exit(4);
    uint64_t x = seed;
    for (size_t i = 0; i < size; i += 8) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        *(uint64_t *)(p + i) = x;
    }
    return p;
}

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) return 2;
    size_t size = (size_t)atol(argv[2]) << 20, half = size / 2;
    unsigned char *a = area(size, 1), *b = area(size, 2), *c = area(size, 3), *d = area(size, 4);
    char line[160];
    say("ready\n");
    while (access(argv[3], F_OK) != 0) usleep(10000);

    unsigned char *moved = mremap(a, size, size + half, MREMAP_MAYMOVE);
    if (moved == MAP_FAILED) _exit(5);
    if (madvise(b, half, MADV_DONTNEED) != 0) _exit(6);
    uint64_t cs = 0;
    pid_t child = fork();
    if (child == 0) {
        snprintf(line, sizeof line, "child c %016llx\n", (unsigned long long)sum(c, size));
        say(line);
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    cs = sum(c, size);
    if (munmap(d + half, half) != 0) _exit(7);

    snprintf(line, sizeof line, "a %016llx grown %016llx\n", (unsigned long long)sum(moved, size), (unsigned long long)sum(moved + size, half));
    say(line);
    snprintf(line, sizeof line, "b %016llx %016llx\n", (unsigned long long)sum(b, half), (unsigned long long)sum(b + half, half));
    say(line);
    snprintf(line, sizeof line, "c %016llx child %s\n", (unsigned long long)cs, WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ended" : "FAILED");
    say(line);
    snprintf(line, sizeof line, "d %016llx\n", (unsigned long long)sum(d, half));
    say(line);
    say("done\n");
    return 0;
}
