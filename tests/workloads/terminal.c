// terminal keys LOG
//   A keyboard-driven program on its terminal (standard input), as an editor is: it turns off
//   canonical mode and echo (keeping ISIG), says "ready COLSxROWS fg=F", then for each key
//   appends "key C raw=R fg=F tty=T" to LOG (R: the terminal still has its settings; F: its
//   process group is the terminal's foreground; T: /dev/tty opens), "interrupt", "winch
//   COLSxROWS" and "cont" as SIGINT, SIGWINCH and SIGCONT arrive (on SIGCONT it sets its settings
//   again, as editors do); 'q' ends it ("done", status 0).
//
// terminal lines LOG GATE COUNT
//   Run under `script`: prints "check ..." lines about its terminal (a pseudo-terminal that is its
//   controlling terminal, in the foreground), then "line 1".."line COUNT" on standard output,
//   stopping halfway (appending "half" to LOG) until GATE exists, then checks that its terminal,
//   window size and settings are the ones it had, reads standard input to its end ("got ..."
//   per line), and prints "done".
//
// terminal pty LOG GATE PACKET
//   Makes a pseudo-terminal pair itself: a child leads a session on the slave, whose foreground
//   is a grandchild's process group; the grandchild writes "out1\nout2" and the parent types
//   "one\ntwo\nx^Dpart" (x ended by end-of-file, "part" unfinished); neither side reads until
//   GATE exists (PACKET 1: the master is in packet mode; the slave is locked meanwhile). Then the
//   grandchild checks its terminal and reads what was typed, the parent finishes the line
//   ("ial\n") and reads everything the master has, until the grandchild's "bye". Each side
//   appends what it read to LOG, escaped.
//
// terminal suspended LOG GATE HOW
//   Makes a pseudo-terminal pair whose output is suspended (HOW "stop": the parent types ^S, IXON
//   being on; "tcflow": the child calls tcflow(TCOOFF); "stop-packet": ^S with the master in packet
//   mode, the parent reading the status it queues at once), the parent types "one\nabc" (its echo
//   waits for output to resume), and a child on the slave writes "out1 out2." (which blocks). Once
//   GATE exists the parent checks the output is still suspended and nothing can be read, resumes
//   it (^Q, or tcflow(TCOON) on a slave of its own), reads the child's output, finishes the line
//   ("def\n") and reads until the child's "bye". The child logs the lines it read; the parent logs
//   what the master gave, with the echo of "one\nabc" taken out (output and echo race once
//   resumed).
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int logfd;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...) {
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (write(logfd, text, (size_t)n) != n) _exit(3);
}

static void wait_for(const char *gate) {
    struct stat st;
    while (stat(gate, &st) != 0) usleep(20000);
}

static const char *escaped(const char *s, size_t n) {
    static char out[8192];
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < sizeof out; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 32 && c < 127 && c != '\\') out[o++] = (char)c;
        else o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
    }
    out[o] = 0;
    return out;
}

static int size_of(int fd, int *cols, int *rows) {
    struct winsize w;
    if (ioctl(fd, TIOCGWINSZ, &w) != 0) return -1;
    *cols = w.ws_col;
    *rows = w.ws_row;
    return 0;
}

// ---- keys -------------------------------------------------------------------------------

static volatile sig_atomic_t interrupts, winches, conts;
static void on_int(int s) { (void)s; interrupts++; }
static void on_winch(int s) { (void)s; winches++; }
static void on_cont(int s) { (void)s; conts++; }

static int keys(void) {
    struct termios mine;
    if (tcgetattr(0, &mine) != 0) { logf_("no terminal: %s\n", strerror(errno)); return 2; }
    mine.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    mine.c_cc[VMIN] = 1;
    mine.c_cc[VTIME] = 0;
    if (tcsetattr(0, TCSANOW, &mine) != 0) { logf_("tcsetattr: %s\n", strerror(errno)); return 2; }
    struct sigaction sa = {0};
    sa.sa_handler = on_int; sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_winch; sigaction(SIGWINCH, &sa, NULL);
    sa.sa_handler = on_cont; sigaction(SIGCONT, &sa, NULL);
    int cols, rows;
    size_of(0, &cols, &rows);
    logf_("ready %dx%d fg=%d\n", cols, rows, tcgetpgrp(0) == getpgrp());
    int seen_int = 0, seen_winch = 0, seen_cont = 0;
    for (;;) {
        char c;
        ssize_t n = read(0, &c, 1);
        for (; seen_int < interrupts; seen_int++) logf_("interrupt\n");
        for (; seen_winch < winches; seen_winch++) { size_of(0, &cols, &rows); logf_("winch %dx%d\n", cols, rows); }
        // Continued after ^Z: the shell had the terminal in its own settings meanwhile, and a
        // program sets its own again (as editors do).
        for (; seen_cont < conts; seen_cont++) { tcsetattr(0, TCSANOW, &mine); logf_("cont\n"); }
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { logf_("end of input\n"); return 1; }
        struct termios now;
        tcgetattr(0, &now);
        int raw = now.c_lflag == mine.c_lflag && now.c_iflag == mine.c_iflag && now.c_cc[VMIN] == 1;
        int tty = open("/dev/tty", O_RDWR | O_NOCTTY);
        if (tty >= 0) close(tty);
        logf_("key %c raw=%d fg=%d tty=%d\n", c, raw, tcgetpgrp(0) == getpgrp(), tty >= 0);
        if (c == 'q') { logf_("done\n"); return 0; }
    }
}

// ---- lines ------------------------------------------------------------------------------

static int lines(const char *gate, int count) {
    char before[256] = "", after[256] = "";
    ttyname_r(0, before, sizeof before);
    int cols, rows, cols2, rows2;
    size_of(0, &cols, &rows);
    struct termios t1, t2;
    memset(&t1, 0, sizeof t1); // the padding too, for the memcmp below
    memset(&t2, 0, sizeof t2);
    tcgetattr(0, &t1);
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY);
    printf("check on a pseudo-terminal %s\n", strncmp(before, "/dev/pts/", 9) == 0 ? "ok" : "FAILED");
    printf("check controlling terminal %s\n", tty >= 0 ? "ok" : "FAILED");
    printf("check foreground %s\n", tcgetpgrp(0) == getpgrp() ? "ok" : "FAILED");
    fflush(stdout);
    for (int i = 1; i <= count; i++) {
        printf("line %d\n", i);
        fflush(stdout);
        if (i == count / 2) { logf_("half\n"); wait_for(gate); }
    }
    ttyname_r(0, after, sizeof after);
    size_of(0, &cols2, &rows2);
    tcgetattr(0, &t2);
    printf("check same terminal %s\n", strcmp(before, after) == 0 ? "ok" : "FAILED");
    printf("check same size %s\n", cols == cols2 && rows == rows2 ? "ok" : "FAILED");
    printf("check same settings %s\n", memcmp(&t1, &t2, sizeof t1) == 0 ? "ok" : "FAILED");
    printf("check /dev/tty still open %s\n", tty >= 0 && isatty(tty) ? "ok" : "FAILED");
    fflush(stdout);
    char line[512];
    while (fgets(line, sizeof line, stdin)) printf("got %s", line);
    printf("done\n");
    return 0;
}

// ---- pty --------------------------------------------------------------------------------

static void check(const char *what, int ok) { logf_("check %s %s\n", what, ok ? "ok" : "FAILED"); }

static int grandchild(const char *gate, const char *name, int ready) {
    while (tcgetpgrp(0) != getpgrp()) usleep(1000);
    if (write(1, "out1\nout2", 9) != 9) return 4;
    if (write(ready, "g", 1) != 1) return 4;
    wait_for(gate);
    char now[256] = "";
    ttyname_r(0, now, sizeof now);
    int cols = 0, rows = 0;
    size_of(0, &cols, &rows);
    struct termios t;
    tcgetattr(0, &t);
    pid_t sid = 0;
    int controlling = ioctl(0, TIOCGSID, &sid) == 0; // only the controlling terminal answers (opening /dev/tty fails while the slave is locked)
    check("same pseudo-terminal", strcmp(now, name) == 0);
    check("window size 77x33", cols == 77 && rows == 33);
    check("canonical with echo", (t.c_lflag & (ICANON | ECHO)) == (ICANON | ECHO));
    check("foreground", tcgetpgrp(0) == getpgrp());
    check("session led by its parent", getsid(0) == getppid());
    check("controlling terminal", controlling && sid == getppid());
    char buf[256];
    for (int i = 0; i < 4; i++) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0) { logf_("read failed: %s\n", strerror(errno)); return 5; }
        logf_("in %d [%s]\n", i, escaped(buf, (size_t)n));
    }
    if (write(1, "bye\n", 4) != 4) return 4;
    return 0;
}

static int pty(const char *gate, int packet) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0) { logf_("posix_openpt: %s\n", strerror(errno)); return 2; }
    char name[256];
    ptsname_r(m, name, sizeof name);
    struct winsize w = { .ws_row = 33, .ws_col = 77 };
    ioctl(m, TIOCSWINSZ, &w);
    int ready[2];
    if (pipe(ready) != 0) return 2;
    pid_t child = fork();
    if (child == 0) {
        close(m);
        setsid();
        int s = open(name, O_RDWR); // the session's controlling terminal
        if (s < 0) _exit(6);
        dup2(s, 0); dup2(s, 1); dup2(s, 2);
        if (s > 2) close(s);
        pid_t g = fork();
        if (g == 0) _exit(grandchild(gate, name, ready[1]));
        setpgid(g, g);
        tcsetpgrp(0, g);
        int status;
        waitpid(g, &status, 0);
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 9);
    }
    char c;
    if (read(ready[0], &c, 1) != 1) return 2;
    if (packet) { int on = 1; ioctl(m, TIOCPKT, &on); }
    if (write(m, "one\ntwo\nx\004part", 14) != 14) return 2;
    int lock = 1;
    ioctl(m, TIOCSPTLCK, &lock);
    logf_("parent ready\n");
    wait_for(gate);
    int locked = 0, pkt = -1;
    ioctl(m, TIOCGPTLCK, &locked);
    ioctl(m, TIOCGPKT, &pkt);
    if (write(m, "ial\n", 4) != 4) return 2;
    char all[4096];
    size_t have = 0;
    while (have < 6 || memmem(all, have, "bye\r\n", 5) == NULL) {
        char buf[1024];
        ssize_t n = read(m, buf, sizeof buf);
        if (n <= 0) break;
        size_t from = packet ? 1 : 0;
        if (packet && buf[0] != 0) { logf_("packet status 0x%x\n", (unsigned char)buf[0]); continue; }
        memcpy(all + have, buf + from, (size_t)n - from);
        have += (size_t)n - from;
    }
    // Only now, after the grandchild's last line: the log is in one order.
    check("slave locked", locked == 1);
    check("packet mode as set", pkt == packet);
    logf_("master [%s]\n", escaped(all, have));
    int status;
    waitpid(child, &status, 0);
    logf_("child %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status));
    return 0;
}

// ---- suspended --------------------------------------------------------------------------

static int writable(int fd) {
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
}

static int readable(int fd) {
    // A poll of a terminal with nothing to read also runs the work that moves bytes in flight
    // into it.
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static int suspended_child(int ready, int go, int by_tcflow) {
    if (by_tcflow && tcflow(0, TCOOFF) != 0) { logf_("tcflow: %s\n", strerror(errno)); return 4; }
    char c;
    if (write(ready, "r", 1) != 1 || read(go, &c, 1) != 1) return 4;
    // The parent's ^S and "abc" reach the line discipline asynchronously.
    for (int i = 0; writable(0); i++) {
        if (i > 5000) { logf_("output never suspended\n"); return 4; }
        usleep(1000);
    }
    readable(0);
    if (write(ready, "w", 1) != 1) return 4;
    if (write(1, "out1 out2.", 10) != 10) return 4; // blocks until output resumes
    for (int i = 0; i < 2; i++) {
        char line[256];
        ssize_t n = read(0, line, sizeof line);
        if (n < 0) { logf_("read failed: %s\n", strerror(errno)); return 5; }
        logf_("in [%s]\n", escaped(line, (size_t)n));
    }
    if (write(1, "bye\n", 4) != 4) return 4;
    return 0;
}

// Reads the master into all[] until it holds `until`; in packet mode without the status bytes.
static size_t read_until(int m, int packet, char *all, size_t have, size_t size, const char *until) {
    while (memmem(all, have, until, strlen(until)) == NULL && have < size) {
        char buf[1024];
        ssize_t n = read(m, buf, sizeof buf);
        if (n <= 0) break;
        size_t from = packet ? 1 : 0;
        if (packet && buf[0] != 0) continue; // a status (start or stop) alone
        if ((size_t)n - from > size - have) n = (ssize_t)(size - have + from);
        memcpy(all + have, buf + from, (size_t)n - from);
        have += (size_t)n - from;
    }
    return have;
}

static int suspended(const char *gate, const char *how) {
    int by_tcflow = strcmp(how, "tcflow") == 0, packet = strcmp(how, "stop-packet") == 0;
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0) { logf_("posix_openpt: %s\n", strerror(errno)); return 2; }
    char name[256];
    ptsname_r(m, name, sizeof name);
    int mine = open(name, O_RDWR | O_NOCTTY | O_NONBLOCK); // to check the output's flow, and tcflow(TCOON)
    int ready[2], go[2];
    if (mine < 0 || pipe(ready) != 0 || pipe(go) != 0) return 2;
    pid_t child = fork();
    if (child == 0) {
        close(m);
        close(mine);
        setsid();
        int s = open(name, O_RDWR); // the session's controlling terminal, IXON and echo on
        if (s < 0) _exit(6);
        dup2(s, 0); dup2(s, 1); dup2(s, 2);
        if (s > 2) close(s);
        _exit(suspended_child(ready[1], go[0], by_tcflow));
    }
    char c;
    if (read(ready[0], &c, 1) != 1) return 2;
    if (packet) { int on = 1; ioctl(m, TIOCPKT, &on); }
    if (!by_tcflow && write(m, "\023", 1) != 1) return 2; // ^S
    if (write(m, "one\nabc", 7) != 7 || write(go[1], "g", 1) != 1) return 2;
    if (read(ready[0], &c, 1) != 1) return 2;
    if (packet) {
        unsigned char status = 0;
        if (read(m, &status, 1) != 1) return 2;
        check("stop status", status == TIOCPKT_STOP);
    }
    logf_("parent ready\n");
    wait_for(gate);
    check("output suspended", !writable(mine));
    check("nothing to read", !readable(m));
    if (by_tcflow ? tcflow(mine, TCOON) != 0 : write(m, "\021", 1) != 1) return 2; // ^Q
    char all[4096];
    size_t have = read_until(m, packet, all, 0, sizeof all, "out1 out2.");
    if (write(m, "def\n", 4) != 4) return 2;
    have = read_until(m, packet, all, have, sizeof all, "bye\r\n");
    // The echo of "one\nabc" comes when output resumes (^Q), or with the next echo or write
    // (tcflow): before or after the child's output (whole, each written under one lock), once.
    const char *typed = "one\r\nabc";
    size_t length = strlen(typed);
    char *echo = memmem(all, have, typed, length);
    int once = echo != NULL && memmem(echo + length, have - (size_t)(echo + length - all), typed, length) == NULL;
    char *def = memmem(all, have, "def", 3);
    check("one and abc echoed once, before def", once && def != NULL && echo < def);
    if (echo) { memmove(echo, echo + length, have - (size_t)(echo + length - all)); have -= length; }
    logf_("master [%s]\n", escaped(all, have));
    int status;
    waitpid(child, &status, 0);
    logf_("child %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status));
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    logfd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) return 2;
    if (strcmp(argv[1], "keys") == 0) return keys();
    if (strcmp(argv[1], "lines") == 0 && argc == 5) return lines(argv[3], atoi(argv[4]));
    if (strcmp(argv[1], "pty") == 0 && argc == 5) return pty(argv[3], atoi(argv[4]));
    if (strcmp(argv[1], "suspended") == 0 && argc == 5) return suspended(argv[3], argv[4]);
    return 2;
}
