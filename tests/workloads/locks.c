// locks OUTFILE DIR TICKS INTERVAL_MS GATE_AT GATEFILE
//
// A job whose parent holds file locks its child probes. In DIR the parent takes a POSIX write
// lock on bytes 10-29 of "records" and a read lock from byte 100 to its end, an OFD write lock
// on bytes 0-9 of "ofd", and a flock on "flocked" through a description it then shares with the
// child by forking; it also flocks "mine" through a description only it holds. Both tick into
// OUTFILE ("tick N" from the parent); after tick GATE_AT both wait until GATEFILE exists. Then
// the child, through descriptions of its own, checks that each lock is still held, and by whom
// (F_GETLK names the parent, F_OFD_GETLK no process, flock fails with EWOULDBLOCK), and tells
// the parent, which drops its locks; the child then checks it can take each one. Each side
// writes "check NAME ok" or "check NAME FAILED ..."; the parent ends with "done".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

static char detail[256];

static void pause_ms(long ms) { struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L }; nanosleep(&ts, NULL); }

static int open_in(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) { perror(path); exit(2); }
    return fd;
}

static int range_lock(int fd, int cmd, short type, off_t start, off_t len) {
    struct flock l = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
    return fcntl(fd, cmd, &l);
}

/// Who holds a lock that conflicts with a write lock on [start, start+len): its pid, -1 for an
/// OFD lock, 0 for none.
static int holder(int fd, int cmd, off_t start, off_t len) {
    struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
    if (fcntl(fd, cmd, &l) != 0) return -2;
    return l.l_type == F_UNLCK ? 0 : l.l_pid;
}

static void child(const char *dir, int parent, int shared, int go, int done) {
    int records = open_in(dir, "records"), ofd = open_in(dir, "ofd"), flocked = open_in(dir, "flocked"), mine = open_in(dir, "mine");
    char c;
    if (read(go, &c, 1) != 1) _exit(4);
    snprintf(detail, sizeof detail, "F_GETLK names %d, %d", holder(records, F_GETLK, 10, 20), holder(records, F_GETLK, 200, 1));
    check("record-locks-held", holder(records, F_GETLK, 10, 20) == parent && holder(records, F_GETLK, 200, 1) == parent
        && holder(records, F_GETLK, 0, 10) == 0 && holder(records, F_GETLK, 30, 70) == 0, detail);
    struct flock l = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 150, .l_len = 10 };
    int read_ok = fcntl(records, F_GETLK, &l) == 0 && l.l_type == F_UNLCK; // a read lock does not conflict
    check("record-lock-types", read_ok, "the read lock from byte 100 conflicts with a read lock");
    check("ofd-lock-held", holder(ofd, F_OFD_GETLK, 0, 10) == -1, "no OFD lock on bytes 0-9");
    check("flock-held", flock(flocked, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK && flock(mine, LOCK_SH | LOCK_NB) != 0, "a flock could be taken");
    check("shared-flock", flock(shared, LOCK_EX | LOCK_NB) == 0, "the flock of the description the child shares is not its own");
    if (write(done, "x", 1) != 1) _exit(5);
    if (read(go, &c, 1) != 1) _exit(6); // the parent dropped its locks
    check("locks-released", range_lock(records, F_SETLK, F_WRLCK, 0, 0) == 0 && range_lock(ofd, F_OFD_SETLK, F_WRLCK, 0, 0) == 0
        && flock(mine, LOCK_EX | LOCK_NB) == 0, strerror(errno));
    _exit(0);
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: locks OUTFILE DIR TICKS INTERVAL_MS GATE_AT GATEFILE\n"); return 2; }
    const char *dir = argv[2], *gate = argv[6];
    int ticks = atoi(argv[3]), interval = atoi(argv[4]), at = atoi(argv[5]);
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    int records = open_in(dir, "records"), ofd = open_in(dir, "ofd"), flocked = open_in(dir, "flocked"), mine = open_in(dir, "mine");
    if (range_lock(records, F_SETLK, F_WRLCK, 10, 20) || range_lock(records, F_SETLK, F_RDLCK, 100, 0)
        || range_lock(ofd, F_OFD_SETLK, F_WRLCK, 0, 10) || flock(flocked, LOCK_EX) || flock(mine, LOCK_EX)) { perror("lock"); return 2; }
    int go[2], done[2];
    if (pipe(go) || pipe(done)) { perror("pipe"); return 2; }
    pid_t kid = fork();
    if (kid == 0) {
        close(mine);
        child(dir, getppid(), flocked, go[0], done[1]);
    }
    say("start\n");
    for (int i = 1; i <= ticks; i++) {
        snprintf(line, sizeof line, "tick %d\n", i);
        say(line);
        pause_ms(interval);
        if (i == at) while (access(gate, F_OK) != 0) pause_ms(10);
    }
    char c;
    if (write(go[1], "x", 1) != 1 || read(done[0], &c, 1) != 1) { say("check handshake FAILED\n"); return 1; }
    check("own-locks", holder(records, F_GETLK, 10, 20) == 0, "the parent's own lock conflicts with itself");
    range_lock(records, F_SETLK, F_UNLCK, 0, 0);
    range_lock(ofd, F_OFD_SETLK, F_UNLCK, 0, 0);
    flock(mine, LOCK_UN);
    if (write(go[1], "x", 1) != 1) return 1;
    int status;
    waitpid(kid, &status, 0);
    check("child", WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed");
    say("done\n");
    return 0;
}
