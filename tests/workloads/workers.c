// workers LOGFILE DATAFILE RECORDS INTERVAL_MS GATE_AT GATEFILE
//
// A parent and 3 forked workers that share two things a restart must keep shared:
//  - a counter in MAP_SHARED|MAP_ANONYMOUS memory, which each worker increments atomically;
//  - one open file description of DATAFILE, opened by the parent before the fork without
//    O_APPEND: each worker writes its fixed-size records with write(2) through it, so the
//    records follow each other only while the offset stays shared (separate offsets would
//    overwrite each other's records).
// Each worker writes RECORDS records "wK NNNNNN CHECKSUM", pausing INTERVAL_MS after each, and
// waits after record GATE_AT until GATEFILE exists (so a checkpoint lands mid-run); worker 0 also
// appends "tick N" to LOGFILE after its record N. The parent waits for the workers, then checks
// the counter, the shared offset and every record, appends "verdict ok ..." or "verdict FAILED
// ..." and "done" to LOGFILE, and exits 0 only if everything is right.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 3
#define RECORD 19 // "wK NNNNNN XXXXXXXX\n"

static int log_fd;

static void say(const char *text) {
    size_t n = strlen(text);
    if (write(log_fd, text, n) != (ssize_t)n) _exit(3);
}

static void pause_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static uint32_t checksum(int worker, long i) {
    uint64_t x = (uint64_t)worker * 1000003u + (uint64_t)i;
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33;
    return (uint32_t)x;
}

static void work(int worker, int data_fd, long *counter, long records, long interval, long gate_at, const char *gate) {
    char rec[64], line[64];
    for (long i = 1; i <= records; i++) {
        __atomic_fetch_add(counter, 1, __ATOMIC_SEQ_CST);
        snprintf(rec, sizeof rec, "w%d %06ld %08x\n", worker, i % 1000000, checksum(worker, i));
        if (write(data_fd, rec, RECORD) != RECORD) _exit(3);
        if (worker == 0) {
            snprintf(line, sizeof line, "tick %ld\n", i);
            say(line);
        }
        if (i == gate_at)
            while (access(gate, F_OK) != 0) pause_ms(10);
        pause_ms(interval);
    }
    _exit(0);
}

// Every record intact, and each worker's records 1..records in order, each exactly once.
static int check_records(const char *path, long records, char *why, size_t why_size) {
    long total = WORKERS * records;
    char *buf = malloc((size_t)total * RECORD + 1);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, (size_t)total * RECORD + 1);
    if (fd >= 0) close(fd);
    if (n != total * RECORD) {
        snprintf(why, why_size, "file holds %zd bytes, expected %ld", n, total * RECORD);
        free(buf);
        return 0;
    }
    long next[WORKERS] = { 1, 1, 1 };
    for (long r = 0; r < total; r++) {
        char *rec = buf + r * RECORD;
        int worker; long i; unsigned sum;
        if (sscanf(rec, "w%d %6ld %8x", &worker, &i, &sum) != 3 || rec[RECORD - 1] != '\n'
            || worker < 0 || worker >= WORKERS || i != next[worker] || sum != checksum(worker, i)) {
            snprintf(why, why_size, "record %ld is wrong: %.18s", r, rec);
            free(buf);
            return 0;
        }
        next[worker]++;
    }
    free(buf);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: workers LOGFILE DATAFILE RECORDS INTERVAL_MS GATE_AT GATEFILE\n"); return 2; }
    log_fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    int data_fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log_fd < 0 || data_fd < 0) { perror("open"); return 2; }
    long records = atol(argv[3]), interval = atol(argv[4]), gate_at = atol(argv[5]);
    long *counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (counter == MAP_FAILED) { perror("mmap"); return 2; }
    say("start\n");

    pid_t pids[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        pids[w] = fork();
        if (pids[w] < 0) { perror("fork"); return 2; }
        if (pids[w] == 0) work(w, data_fd, counter, records, interval, gate_at, argv[6]);
    }

    char verdict[256] = "";
    for (int w = 0; w < WORKERS; w++) {
        int status;
        if (waitpid(pids[w], &status, 0) != pids[w] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            snprintf(verdict, sizeof verdict, "worker %d did not exit cleanly (status 0x%x)", w, status);
    }
    long total = WORKERS * records;
    long count = __atomic_load_n(counter, __ATOMIC_SEQ_CST);
    off_t offset = lseek(data_fd, 0, SEEK_CUR);
    char why[128];
    if (verdict[0]) { }
    else if (count != total) snprintf(verdict, sizeof verdict, "shared counter is %ld, expected %ld", count, total);
    else if (offset != total * RECORD) snprintf(verdict, sizeof verdict, "shared offset is %lld, expected %ld", (long long)offset, total * RECORD);
    else if (!check_records(argv[2], records, why, sizeof why)) snprintf(verdict, sizeof verdict, "%s", why);

    char line[320];
    if (verdict[0]) snprintf(line, sizeof line, "verdict FAILED %s\ndone\n", verdict);
    else snprintf(line, sizeof line, "verdict ok counter %ld records %ld\ndone\n", count, total);
    say(line);
    return verdict[0] ? 1 : 0;
}
