// memfdviews OUTFILE TICKS INTERVAL_MS AT GATE KEEP
//
// A memfd mapped shared three times, as a JIT's W^X double mapping does: a read-write view and a
// read-execute view of the whole file, and a read-write view of its middle page alone. With KEEP
// 0 its descriptor is closed, so only the mappings reach it (what an ordinary user's controller
// cannot open through /proc/PID/map_files); with KEEP 1 it stays open. It writes a pattern through
// the first view, ticks, waits at tick AT until GATE exists (the checkpoint lands there), writes
// again through each writable view, and checks that every view still shows the one file: the
// pattern intact, each write seen through the others, and with KEEP 1 the descriptor's size and
// contents too. With KEEP 2 the file is a page longer than its views and its descriptor is
// closed: what no view shows would be lost, so an ordinary user's checkpoint must refuse it. KEEP 3
// is KEEP 0 with a child that exits at once and is collected only at the end: a zombie through
// the checkpoint, whose descriptor table an ordinary user may not list (it must hold nothing,
// not stop the search for the memfd), and which must still give its status after the restart. Besides, as the .NET runtime's "dotnet_ipc_created", an empty memfd mapped one
// page, PROT_NONE and private, its descriptor closed: after the restart reading that page must
// still fault (SIGBUS: it lies past the end of the file).
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks.h"

#define PAGES 3

static sigjmp_buf faulted;
static void on_bus(int sig) { siglongjmp(faulted, sig); }

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: memfdviews OUTFILE TICKS INTERVAL_MS AT GATE KEEP\n"); return 2; }
    int ticks = atoi(argv[2]), interval = atoi(argv[3]), at = atoi(argv[4]), keep = atoi(argv[6]);
    const char *gate = argv[5];
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    long page = sysconf(_SC_PAGESIZE);
    size_t size = (size_t)PAGES * page;
    int longer = keep == 2, zombie = keep == 3;
    if (longer || zombie) keep = 0;
    int fd = memfd_create("views", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)(size + (longer ? page : 0))) != 0) { perror("memfd"); return 2; }
    unsigned char *rw = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    unsigned char *rx = mmap(NULL, size, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    unsigned char *middle = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, page);
    if (rw == MAP_FAILED || rx == MAP_FAILED || middle == MAP_FAILED) { perror("mmap"); return 2; }
    for (size_t i = 0; i < size; i++) rw[i] = (unsigned char)('A' + (i / page) * 7 + i % 13);
    if (!keep) close(fd);
    int efd = memfd_create("empty", MFD_CLOEXEC);
    unsigned char *none = efd < 0 ? MAP_FAILED : mmap(NULL, page, PROT_NONE, MAP_PRIVATE, efd, 0);
    if (none == MAP_FAILED) { perror("empty memfd"); return 2; }
    close(efd);
    pid_t child = zombie ? fork() : 0;
    if (child < 0) { perror("fork"); return 2; }
    if (zombie && child == 0) _exit(7);

    for (int i = 1; i <= ticks; i++) {
        snprintf(line, sizeof line, "tick %d\n", i);
        say(line);
        usleep((useconds_t)interval * 1000);
        if (i == at) while (access(gate, F_OK) != 0) usleep(10000);
    }

    char detail[256];
    size_t bad = size;
    for (size_t i = 0; i < size && bad == size; i++)
        if (rx[i] != (unsigned char)('A' + (i / page) * 7 + i % 13)) bad = i;
    snprintf(detail, sizeof detail, "byte %zu differs", bad);
    check("contents", bad == size, detail);

    rw[2 * page + 100] = 0x5a;
    middle[10] = 0xa5;
    snprintf(detail, sizeof detail, "rx shows %02x and %02x, rw %02x", rx[2 * page + 100], rx[page + 10], rw[page + 10]);
    check("aliases", rx[2 * page + 100] == 0x5a && rx[page + 10] == 0xa5 && rw[page + 10] == 0xa5, detail);

    signal(SIGBUS, on_bus);
    volatile int sig = 0;
    if (mprotect(none, page, PROT_READ) != 0) sig = -1;
    else if ((sig = sigsetjmp(faulted, 1)) == 0) { volatile unsigned char b = none[0]; (void)b; }
    snprintf(detail, sizeof detail, "reading it gave signal %d", sig);
    check("empty", sig == SIGBUS, detail);

    if (keep) {
        struct stat st;
        unsigned char b = 0;
        int ok = fstat(fd, &st) == 0 && st.st_size == (off_t)size && pread(fd, &b, 1, page + 10) == 1 && b == 0xa5;
        snprintf(detail, sizeof detail, "size %lld, byte %02x", (long long)st.st_size, b);
        check("descriptor", ok, detail);
    }
    if (zombie) {
        int status = 0;
        pid_t got = waitpid(child, &status, 0);
        snprintf(detail, sizeof detail, "waitpid gave %d (status %d) for %d", (int)got, status, (int)child);
        check("zombie", got == child && WIFEXITED(status) && WEXITSTATUS(status) == 7, detail);
    }
    say("done\n");
    return 0;
}
