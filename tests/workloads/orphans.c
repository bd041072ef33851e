// orphans OUTFILE GATEFILE
//
// Processes whose session or process group leader has exited, as a double-forked daemon and
// what a shell that exited leave behind. The main program forks A, which calls setsid and forks
// the daemon B, then exits: B is in session A and group A, a child of the job's init. It forks C,
// which makes group C and forks D, then exits: D is in group C of the main program's session, a
// child of init too. The main program writes "tick N" every 20 ms until GATEFILE exists; B and D
// check their session, group and parent, write "check daemon ok" and "check group ok" (or
// FAILED), and the main program, once both have, writes "done".
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

static void pause_ms(long ms) { struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L }; nanosleep(&ts, NULL); }

static void orphan(const char *name, const char *gate, pid_t sid, pid_t pgid) {
    while (access(gate, F_OK) != 0) pause_ms(20);
    char detail[160];
    snprintf(detail, sizeof detail, "session %d group %d parent %d, expected %d %d 1", getsid(0), getpgrp(), getppid(), sid, pgid);
    check(name, getsid(0) == sid && getpgrp() == pgid && getppid() == 1, detail);
    _exit(0);
}

static int saw(const char *path, const char *text) {
    char buf[65536];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0) close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    return strstr(buf, text) != NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: orphans OUTFILE GATEFILE\n"); return 2; }
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[1]); return 2; }
    const char *gate = argv[2];
    pid_t a = fork();
    if (a == 0) {
        setsid();
        if (fork() == 0) orphan("daemon", gate, getsid(0), getpgrp());
        _exit(0);
    }
    waitpid(a, NULL, 0);
    pid_t session = getsid(0);
    pid_t c = fork();
    if (c == 0) {
        setpgid(0, 0);
        if (fork() == 0) orphan("group", gate, session, getpgrp());
        _exit(0);
    }
    waitpid(c, NULL, 0);
    for (int i = 1; access(gate, F_OK) != 0; i++) {
        snprintf(line, sizeof line, "tick %d\n", i);
        say(line);
        pause_ms(20);
    }
    while (!(saw(argv[1], "check daemon") && saw(argv[1], "check group"))) pause_ms(20);
    say("done\n");
    return 0;
}
