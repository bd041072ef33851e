// writes OUTFILE GATEDIR MODE          (MODE: plain, fork, or own-uffd)
//
// A workload for write tracking. Maps 64 MiB of private anonymous memory R (2 MiB aligned, its
// first 4 MiB madvised for transparent huge pages), fills every page (page i starts with i),
// and prints "ready R D" (D: a 16-page PROT_NONE area mremap moves pages to). Then it waits for
// the file GATEDIR/go1 and writes a known set of pages of R, each in a different way:
//   plain stores     0 1 100 1000 4095 4096 16383, and 2000..2063
//   MADV_DONTNEED    5000..5015 dropped, then 5003 written again
//   mremap           6000..6015 moved to D (R loses them)
//   mprotect         7000..7015 made read-only and writable again, then 7005 written
//   read(2)          8000..8003 filled by the kernel from GATEDIR/data (16 KiB)
//   read only        10000 loaded, never stored
//   fork (MODE fork) the child writes 9000..9009 of its copy and prints "child PID"; the
//                    parent writes 9100 after the fork
// and prints "done1". It then waits for GATEDIR/go2, checks its memory (every page still
// starts with its index, written pages carry their mark) and whether it holds a userfaultfd,
// prints "verified ok" or "CORRUPT ..." and "uffd none" or "uffd N", and exits (a child first
// waits for GATEDIR/child-end). Every page written at go1 gets 0x5a at byte 8. MODE own-uffd
// opens a userfaultfd of its own before "ready" (and registers nothing with it).
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define PAGES 16384UL
#define MARK 0x5a

static int out;
static const char *gates;

static void say(const char *text) {
    size_t n = strlen(text);
    if (write(out, text, n) != (ssize_t)n) _exit(3);
}

static void await(const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", gates, name);
    struct timespec ts = { 0, 2000000 };
    while (access(path, F_OK) != 0) nanosleep(&ts, NULL);
}

static void mark(char *r, unsigned long page) { r[page * PAGE + 8] = MARK; }

static int holds_uffd(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = -1;
    while (d && (e = readdir(d))) {
        char link[512], target[256];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = 0;
        if (strcmp(target, "anon_inode:[userfaultfd]") == 0) found = atoi(e->d_name);
    }
    if (d) closedir(d);
    return found;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: writes OUTFILE GATEDIR MODE\n"); return 2; }
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    gates = argv[2];
    int forking = strcmp(argv[3], "fork") == 0;
    if (strcmp(argv[3], "own-uffd") == 0 && syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | 1) < 0) { perror("userfaultfd"); return 2; }

    size_t size = PAGES * PAGE;
    char *raw = mmap(NULL, size + (2UL << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) { perror("mmap"); return 2; }
    char *r = (char *)(((uintptr_t)raw + (2UL << 20) - 1) & ~((2UL << 20) - 1));
    madvise(r, 4UL << 20, MADV_HUGEPAGE);
    for (unsigned long i = 0; i < PAGES; i++) {
        memset(r + i * PAGE, 0x11, PAGE);
        *(uint64_t *)(r + i * PAGE) = i;
    }
    char *d = mmap(NULL, 16 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (d == MAP_FAILED) { perror("mmap"); return 2; }
    char path[4096];
    snprintf(path, sizeof path, "%s/data", gates);
    int data = open(path, O_RDONLY);
    if (data < 0) { perror(path); return 2; }

    char line[256];
    snprintf(line, sizeof line, "ready %lx %lx\n", (unsigned long)r, (unsigned long)d);
    say(line);
    await("go1");

    static const unsigned long plain[] = { 0, 1, 100, 1000, 4095, 4096, 16383 };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) mark(r, plain[i]);
    for (unsigned long p = 2000; p < 2064; p++) mark(r, p);

    madvise(r + 5000 * PAGE, 16 * PAGE, MADV_DONTNEED);
    *(uint64_t *)(r + 5003 * PAGE) = 5003;
    mark(r, 5003);

    if (mremap(r + 6000 * PAGE, 16 * PAGE, 16 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, d) != d) { perror("mremap"); return 2; }

    mprotect(r + 7000 * PAGE, 16 * PAGE, PROT_READ);
    mprotect(r + 7000 * PAGE, 16 * PAGE, PROT_READ | PROT_WRITE);
    mark(r, 7005);

    // The kernel writes these pages; the file holds each page's index and mark at the right place.
    if (pread(data, r + 8000 * PAGE, 4 * PAGE, 0) != (ssize_t)(4 * PAGE)) { perror("read"); return 2; }

    volatile uint64_t sink = *(volatile uint64_t *)(r + 10000 * PAGE);
    (void)sink;

    pid_t child = 0;
    if (forking) {
        child = fork();
        if (child == 0) {
            for (unsigned long p = 9000; p < 9010; p++) mark(r, p);
            snprintf(line, sizeof line, "child %d\n", getpid());
            say(line);
            await("child-end");
            _exit(0);
        }
        mark(r, 9100);
    }
    say("done1\n");
    await("go2");

    int bad = 0;
    for (unsigned long i = 0; i < PAGES && !bad; i++) {
        if (i >= 6000 && i < 6016) continue;
        if (i >= 5000 && i < 5016 && i != 5003) {
            if (*(uint64_t *)(r + i * PAGE) != 0) bad = 1;
            continue;
        }
        if (*(uint64_t *)(r + i * PAGE) != i) bad = 1;
        int written = i == 0 || i == 1 || i == 100 || i == 1000 || i == 4095 || i == 4096 || i == 16383
            || (i >= 2000 && i < 2064) || i == 5003 || i == 7005 || (i >= 8000 && i < 8004) || (forking && i == 9100);
        if ((r[i * PAGE + 8] == MARK) != written) bad = 1;
        if (bad) { snprintf(line, sizeof line, "CORRUPT page %lu\n", i); say(line); }
    }
    for (unsigned long i = 0; i < 16 && !bad; i++)
        if (*(uint64_t *)(d + i * PAGE) != 6000 + i) { bad = 1; snprintf(line, sizeof line, "CORRUPT moved page %lu\n", i); say(line); }
    if (!bad) say("verified ok\n");
    int uffd = holds_uffd();
    if (uffd < 0) say("uffd none\n");
    else { snprintf(line, sizeof line, "uffd %d\n", uffd); say(line); }
    if (child > 0) {
        await("child-end");
        waitpid(child, NULL, 0);
    }
    say("end\n");
    return 0;
}
