// statefile MODE OUTFILE STATEFILE STEPS INTERVAL_MS GATE_AT GATEFILE [INPUTFILE]
//
// A job that rewrites its state file in place every step, as restart files, HDF5 outputs and
// embedded databases are rewritten. The state is 16 pages (64 KiB): each step reads all of it
// back, folds it into a sum, rewrites the first page (a step counter and the sum) and one of
// the others, and appends "tick N SUM" to OUTFILE (O_APPEND). Each step's line depends on what
// the file held before it, so a run that finds the file of a later step diverges at once.
//   MODE pwrite: through a descriptor kept open read-write (pread, pwrite in place);
//   MODE mmap: through a MAP_SHARED mapping of the file (its descriptor closed after mmap);
//   MODE input: as pwrite, and each step also folds in the first 8 bytes of INPUTFILE, which
//   it keeps open read-only (an input).
// After step GATE_AT it waits until GATEFILE exists (looking every 10 ms, holding no descriptor
// for it), so a test can kill it at a known step. A fresh STATEFILE is made; an existing one
// (a restart) is used as it is. OUTFILE's content depends only on the arguments (and the input).
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define PAGES 16

static int out;

static void say(const char *text) {
    size_t n = strlen(text);
    if (write(out, text, n) != (ssize_t)n) _exit(3);
}

static void pause_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static uint64_t fold(const unsigned char *state) {
    uint64_t sum = 1469598103934665603ULL;
    for (size_t i = 0; i < PAGE * PAGES; i++) sum = (sum ^ state[i]) * 1099511628211ULL;
    return sum;
}

/// Rewrites the state for step STEP: the counter page and one data page, in place.
static void step_state(unsigned char *state, long step, uint64_t sum) {
    uint64_t head[2] = { (uint64_t)step, sum };
    memcpy(state, head, sizeof head);
    unsigned char *page = state + PAGE * (1 + step % (PAGES - 1));
    for (int i = 0; i < PAGE; i++) page[i] = (unsigned char)(sum >> (8 * (i % 8))) ^ (unsigned char)i;
}

int main(int argc, char **argv) {
    if (argc < 8) { fprintf(stderr, "usage: statefile pwrite|mmap|input OUTFILE STATEFILE STEPS INTERVAL_MS GATE_AT GATEFILE [INPUTFILE]\n"); return 2; }
    const char *mode = argv[1];
    out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[2]); return 2; }
    long steps = atol(argv[4]), interval = atol(argv[5]), gate_at = atol(argv[6]);
    int input = -1;
    if (strcmp(mode, "input") == 0) {
        if (argc < 9) { fprintf(stderr, "statefile input needs INPUTFILE\n"); return 2; }
        input = open(argv[8], O_RDONLY);
        if (input < 0) { perror(argv[8]); return 2; }
    }
    int fd = open(argv[3], O_RDWR | O_CREAT, 0644);
    if (fd < 0 || ftruncate(fd, PAGE * PAGES) != 0) { perror(argv[3]); return 2; }
    unsigned char *state;
    static unsigned char buffer[PAGE * PAGES];
    int mapped = strcmp(mode, "mmap") == 0;
    if (mapped) {
        state = mmap(NULL, PAGE * PAGES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (state == MAP_FAILED) { perror("mmap"); return 2; }
        close(fd);
    } else state = buffer;
    char line[128];
    say("start\n");
    for (long i = 1; i <= steps; i++) {
        if (!mapped && pread(fd, state, PAGE * PAGES, 0) != PAGE * PAGES) { perror("pread"); return 3; }
        uint64_t sum = fold(state);
        if (input >= 0) {
            uint64_t value = 0;
            if (pread(input, &value, sizeof value, 0) < 0) { perror("pread input"); return 3; }
            sum ^= value;
        }
        step_state(state, i, sum);
        if (!mapped && pwrite(fd, state, PAGE * PAGES, 0) != PAGE * PAGES) { perror("pwrite"); return 3; }
        snprintf(line, sizeof line, "tick %ld %016llx\n", i, (unsigned long long)sum);
        say(line);
        if (i == gate_at)
            while (access(argv[7], F_OK) != 0) pause_ms(10);
        pause_ms(interval);
    }
    snprintf(line, sizeof line, "done %016llx\n", (unsigned long long)fold(state));
    say(line);
    return 0;
}
