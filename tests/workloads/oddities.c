// oddities MODE OUTFILE WORKDIR TICKS INTERVAL_MS
//
// One piece of state that once made a checkpoint succeed and its restore fail (the process was
// lost), chosen by MODE; it ticks (the checkpoint lands there), then checks that the state works
// and writes "check MODE ok" or "check MODE FAILED ...".
//   tmpfile     an O_TMPFILE descriptor with contents, never linked
//   deletedcwd  a working directory that was deleted
//   deletedfifo a named FIFO held open read-write, with bytes in it, whose name and directory were
//               removed (as Open MPI's mpirun holds its session directory's FIFO while the
//               directory goes): still a FIFO with its bytes, and still without a name
//   procself    an open /proc/self/status, read again after the ticks
//   aio         a Linux AIO context (io_setup), whose ring is an [aio] mapping
//   uring       an io_uring instance (io_uring_setup), held as a descriptor
//   chroot      a root directory WORKDIR/root (made here; needs root), which the test may remove
//   vfork       after the ticks, vfork a child that sleeps 3 s before it exits: meanwhile the
//               parent waits in the kernel, deaf to ptrace's interrupt (as a thread on a hung NFS
//               server is), then ticks again
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: oddities MODE OUTFILE WORKDIR TICKS INTERVAL_MS\n"); return 2; }
    const char *mode = argv[1];
    int ticks = atoi(argv[4]), interval = atoi(argv[5]);
    out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0) { perror(argv[2]); return 2; }
    int fd = -1;
    aio_context_t aio = 0;
    char detail[256] = "";
    if (!strcmp(mode, "tmpfile")) {
        fd = open(argv[3], O_TMPFILE | O_RDWR, 0600);
        if (fd < 0 || write(fd, "temporary contents\n", 19) != 19) { perror("O_TMPFILE"); return 2; }
    } else if (!strcmp(mode, "deletedcwd")) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/gone", argv[3]);
        if (mkdir(dir, 0755) != 0 || chdir(dir) != 0 || rmdir(dir) != 0) { perror(dir); return 2; }
    } else if (!strcmp(mode, "deletedfifo")) {
        char dir[4096], fifo[4200];
        snprintf(dir, sizeof dir, "%s/session", argv[3]);
        snprintf(fifo, sizeof fifo, "%s/fifo", dir);
        if (mkdir(dir, 0700) != 0 || mkfifo(fifo, 0600) != 0) { perror(fifo); return 2; }
        fd = open(fifo, O_RDWR);
        if (fd < 0 || write(fd, "in flight\n", 10) != 10 || unlink(fifo) != 0 || rmdir(dir) != 0) { perror(fifo); return 2; }
    } else if (!strcmp(mode, "procself")) {
        fd = open("/proc/self/status", O_RDONLY);
        if (fd < 0) { perror("/proc/self/status"); return 2; }
    } else if (!strcmp(mode, "aio")) {
        if (syscall(SYS_io_setup, 16, &aio) != 0) { perror("io_setup"); return 2; }
    } else if (!strcmp(mode, "uring")) {
        struct io_uring_params params;
        memset(&params, 0, sizeof params);
        fd = (int)syscall(SYS_io_uring_setup, 4, &params);
        if (fd < 0) { perror("io_uring_setup"); return 2; }
    } else if (!strcmp(mode, "chroot")) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/root", argv[3]);
        if (mkdir(dir, 0755) != 0 || chroot(dir) != 0 || chdir("/") != 0) { perror(dir); return 2; }
    } else if (strcmp(mode, "vfork")) { fprintf(stderr, "unknown mode %s\n", mode); return 2; }

    ticking(ticks, interval);

    int ok = 0;
    if (!strcmp(mode, "tmpfile")) {
        char buf[64] = "";
        struct stat st;
        ok = pread(fd, buf, sizeof buf - 1, 0) == 19 && !strcmp(buf, "temporary contents\n")
            && fstat(fd, &st) == 0 && st.st_nlink == 0 && lseek(fd, 0, SEEK_CUR) == 19;
        snprintf(detail, sizeof detail, "read '%s'", buf);
    } else if (!strcmp(mode, "deletedcwd")) {
        struct stat st;
        char cwd[4096];
        ok = stat(".", &st) == 0 && st.st_nlink == 0 && getcwd(cwd, sizeof cwd) == NULL && errno == ENOENT;
        snprintf(detail, sizeof detail, "links %lu", (unsigned long)st.st_nlink);
    } else if (!strcmp(mode, "deletedfifo")) {
        char buf[64] = "", dir[4096];
        struct stat st, gone;
        snprintf(dir, sizeof dir, "%s/session", argv[3]);
        ok = fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_nlink == 0 && read(fd, buf, 10) == 10 && !strcmp(buf, "in flight\n")
            && write(fd, "again\n", 6) == 6 && read(fd, buf, sizeof buf - 1) == 6 && stat(dir, &gone) != 0 && errno == ENOENT;
        snprintf(detail, sizeof detail, "fifo %d, links %lu, read '%s'", S_ISFIFO(st.st_mode), (unsigned long)st.st_nlink, buf);
    } else if (!strcmp(mode, "procself")) {
        // The PID as /proc counts it (in a job, the job's own /proc) is /proc/self's name.
        char buf[8192] = "", want[64], self[32] = "";
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        if (readlink("/proc/self", self, sizeof self - 1) < 0) strcpy(self, "?");
        snprintf(want, sizeof want, "\nPid:\t%s\n", self);
        ok = n > 0 && strstr(buf, want) != NULL;
        snprintf(detail, sizeof detail, "read %zd bytes, want %s", n, want + 1);
    } else if (!strcmp(mode, "chroot")) {
        struct stat st;
        ok = stat("/", &st) == 0;
    } else if (!strcmp(mode, "vfork")) {
        say("vforking\n");
        pid_t child = vfork();
        if (child == 0) {
            struct timespec three = { 3, 0 };
            nanosleep(&three, NULL);
            _exit(0);
        }
        int status = 0;
        ok = child > 0 && waitpid(child, &status, 0) == child;
        struct timespec tenth = { 0, 100000000L };
        for (int i = 1; i <= 3; i++) { snprintf(line, sizeof line, "after %d\n", i); say(line); nanosleep(&tenth, NULL); }
    } else if (!strcmp(mode, "aio")) {
        ok = syscall(SYS_io_destroy, aio) == 0;
        snprintf(detail, sizeof detail, "io_destroy: %s", strerror(errno));
    } else if (!strcmp(mode, "uring")) {
        ok = close(fd) == 0;
        snprintf(detail, sizeof detail, "close: %s", strerror(errno));
    }
    check(mode, ok, detail);
    say("done\n");
    return 0;
}
