// resources OUTFILE WORKDIR TICKS INTERVAL_MS [UID]
//
// Sets up one of each kind of state a checkpoint must carry, ticks for a while (the checkpoint
// lands here), then checks every piece and writes one line per check ("check NAME ok" or
// "check NAME FAILED ..."). The lines hold no addresses or PIDs, so a restored run's output must
// equal an uninterrupted run's. With UID, the process drops to that user before ticking.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define TIB (1ULL << 40)
#define PAGE 4096

static int out;
static char line[512];
static volatile sig_atomic_t usr1_count, usr2_count;
static void on_usr1(int s) { (void)s; usr1_count++; }
static void on_usr2(int s) { (void)s; usr2_count++; }

static void say(const char *text) { size_t n = strlen(text); if (write(out, text, n) != (ssize_t)n) _exit(3); }
static void check(const char *name, int ok, const char *detail) {
    snprintf(line, sizeof line, "check %s %s%s%s\n", name, ok ? "ok" : "FAILED", ok ? "" : " ", ok ? "" : detail);
    say(line);
}
static void fill(unsigned char *p, size_t n, unsigned seed) { for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 31 + seed); }
static int same(const unsigned char *p, size_t n, unsigned seed) { for (size_t i = 0; i < n; i++) if (p[i] != (unsigned char)(i * 31 + seed)) return 0; return 1; }

// The permissions /proc/self/maps shows for the mapping holding addr ("rw-p"...).
static void perms_at(void *addr, char perms[5]) {
    strcpy(perms, "????");
    FILE *f = fopen("/proc/self/maps", "r");
    unsigned long a = (unsigned long)addr, s, e;
    char p[5];
    while (f && fscanf(f, "%lx-%lx %4s%*[^\n]", &s, &e, p) == 3)
        if (a >= s && a < e) { memcpy(perms, p, 5); break; }
    if (f) fclose(f);
}

static void write_file(const char *path, size_t n, unsigned seed) {
    unsigned char *buf = malloc(n);
    fill(buf, n, seed);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || fchmod(fd, 0644) != 0 || write(fd, buf, n) != (ssize_t)n) { perror(path); exit(2); }
    close(fd);
    free(buf);
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: resources OUTFILE WORKDIR TICKS INTERVAL_MS [UID]\n"); return 2; }
    out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0666);
    const char *workdir = argv[2];
    long ticks = atol(argv[3]), interval = atol(argv[4]);
    if (chdir(workdir) != 0) { perror(workdir); return 2; }

    // Process attributes.
    umask(027);
    prctl(PR_SET_NAME, "fermata-res");
    struct rlimit nofile = { 1000, 2000 };
    setrlimit(RLIMIT_NOFILE, &nofile);

    // Memory: a 1 TiB PROT_NONE reservation with a used window, shared anonymous memory, a guard
    // page, private and shared file mappings, a deleted file and a memfd.
    unsigned char *reserve = mmap(NULL, TIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    unsigned char *window = reserve + (TIB / 2);
    mprotect(window, 1 << 20, PROT_READ | PROT_WRITE);
    fill(window, 1 << 20, 1);
    unsigned char *shared_anon = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    fill(shared_anon, 4 << 20, 2);
    // The pages stay in the shared object but leave this process's page tables.
    madvise(shared_anon, 4 << 20, MADV_DONTNEED);
    unsigned char *guarded = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fill(guarded, PAGE, 3);
    fill(guarded + 2 * PAGE, PAGE, 4);
    mprotect(guarded + PAGE, PAGE, PROT_NONE);
    unsigned char *hidden = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fill(hidden, PAGE, 9);
    mprotect(hidden, PAGE, PROT_NONE); // written, then made unreadable
    write_file("data.bin", 8 * PAGE, 5);
    int data_fd = open("data.bin", O_RDONLY);
    unsigned char *private_file = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, data_fd, 0);
    close(data_fd);
    memset(private_file, 0xAB, PAGE); // copy-on-write: the file keeps its bytes
    write_file("shared.bin", 4 * PAGE, 6);
    int shared_fd = open("shared.bin", O_RDWR);
    unsigned char *shared_file = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, shared_fd, 0);
    close(shared_fd);
    memset(shared_file + PAGE, 0xCD, PAGE); // reaches the file
    write_file("gone.bin", 3 * PAGE + 100, 7);
    int gone_fd = open("gone.bin", O_RDONLY);
    unsigned char *gone_map = mmap(NULL, 3 * PAGE + 100, PROT_READ, MAP_PRIVATE, gone_fd, 0);
    unlink("gone.bin");
    int memfd = memfd_create("fermata-memfd", MFD_CLOEXEC);
    if (ftruncate(memfd, 16 * PAGE) != 0) return 2;
    unsigned char *memfd_map = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    fill(memfd_map, 16 * PAGE, 8);

    // Descriptors: O_APPEND, a directory, a memory device, two descriptors sharing one offset,
    // close-on-exec.
    int append_fd = open("append.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (write(append_fd, "first\n", 6) != 6) return 2;
    int dir_fd = open(workdir, O_RDONLY | O_DIRECTORY);
    int urandom_fd = open("/dev/urandom", O_RDONLY);
    int rw_fd = open("data.bin", O_RDWR);
    lseek(rw_fd, 12345, SEEK_SET);
    int dup_fd = dup(rw_fd);
    int cloexec_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_NONBLOCK) != 0 || write(pipe_fds[1], "in flight", 9) != 9) return 2;
    // Move the read end above the write end: the lowest descriptor of the pipe is now its write end.
    int high_read = fcntl(pipe_fds[0], F_DUPFD, 200);
    close(pipe_fds[0]);
    pipe_fds[0] = high_read;
    prctl(PR_SET_PDEATHSIG, SIGWINCH); // ignored by default: harmless if the parent goes

    // Signals: a handler with SA_RESTART, an ignored signal, a pending blocked signal, an
    // alternate stack, an interval timer.
    struct sigaction sa = { 0 };
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_usr2;
    sa.sa_flags = 0;
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, NULL);
    raise(SIGUSR2); // stays pending until unblocked at the end
    static char altstack[64 << 10];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
    struct itimerval timer = { { 1000, 0 }, { 1000, 0 } };
    setitimer(ITIMER_REAL, &timer, NULL);

    if (argc > 5) {
        // An ordinary user that keeps one capability (to bind low ports), as services do.
        uid_t uid = (uid_t)atol(argv[5]);
        prctl(PR_SET_KEEPCAPS, 1);
        if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0) { perror("drop"); return 2; }
        struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct data[2] = { { 0 } };
        data[0].effective = data[0].permitted = 1u << CAP_NET_BIND_SERVICE;
        if (syscall(SYS_capset, &header, data) != 0) { perror("capset"); return 2; }
        prctl(PR_SET_KEEPCAPS, 0);
        prctl(PR_SET_PDEATHSIG, SIGWINCH); // a change of ids clears it
    }

    say("start\n");
    for (long i = 1; i <= ticks; i++) {
        struct timespec ts = { interval / 1000, (interval % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        snprintf(line, sizeof line, "tick %ld\n", i);
        say(line);
    }

    char perms[5], buf[256], link[256];
    char cwd[4096];
    check("cwd", getcwd(cwd, sizeof cwd) && strcmp(cwd, workdir) == 0, cwd);
    mode_t mask = umask(0);
    umask(mask);
    check("umask", mask == 027, "");
    char name[17] = { 0 };
    prctl(PR_GET_NAME, name);
    check("name", strcmp(name, "fermata-res") == 0, name);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    check("rlimit", rl.rlim_cur == 1000 && rl.rlim_max == 2000, "");

    perms_at(reserve, perms);
    check("reservation", strcmp(perms, "---p") == 0, perms);
    perms_at(window, perms);
    check("reservation-window", strcmp(perms, "rw-p") == 0 && same(window, 1 << 20, 1), perms);
    check("shared-anonymous", same(shared_anon, 4 << 20, 2), "");
    perms_at(guarded + PAGE, perms);
    check("guard-page", strcmp(perms, "---p") == 0 && same(guarded, PAGE, 3) && same(guarded + 2 * PAGE, PAGE, 4), perms);
    perms_at(hidden, perms);
    int hidden_perms = strcmp(perms, "---p") == 0;
    mprotect(hidden, PAGE, PROT_READ);
    check("unreadable-page", hidden_perms && same(hidden, PAGE, 9), perms);
    int cow = 1;
    for (int i = 0; i < PAGE; i++) if (private_file[i] != 0xAB) cow = 0;
    check("private-file-mapping", cow && same(private_file + PAGE, 7 * PAGE, 5 + (PAGE * 31) % 256), "");
    unsigned char page[PAGE];
    int fd = open("shared.bin", O_RDONLY);
    int shared_ok = pread(fd, page, PAGE, PAGE) == PAGE && page[0] == 0xCD && page[PAGE - 1] == 0xCD && shared_file[PAGE] == 0xCD;
    close(fd);
    check("shared-file-mapping", shared_ok, "");
    memset(buf, 0, sizeof buf);
    snprintf(buf, sizeof buf, "/proc/self/fd/%d", gone_fd);
    ssize_t n = readlink(buf, link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    unsigned char head[100];
    int gone_ok = pread(gone_fd, head, 100, 3 * PAGE) == 100 && same(gone_map, 3 * PAGE, 7) && strstr(link, "gone.bin (deleted)") != NULL;
    check("deleted-file", gone_ok, link);
    snprintf(buf, sizeof buf, "/proc/self/fd/%d", memfd);
    n = readlink(buf, link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    check("memfd", same(memfd_map, 16 * PAGE, 8) && strncmp(link, "/memfd:fermata-memfd", 20) == 0 && (fcntl(memfd, F_GETFD) & FD_CLOEXEC), link);
    check("append", (fcntl(append_fd, F_GETFL) & O_APPEND) && write(append_fd, "second\n", 7) == 7, "");
    struct stat st;
    check("directory", fstat(dir_fd, &st) == 0 && S_ISDIR(st.st_mode), "");
    check("urandom", read(urandom_fd, buf, 16) == 16, "");
    off_t at = lseek(rw_fd, 0, SEEK_CUR);
    lseek(dup_fd, 100, SEEK_SET);
    check("shared-offset", at == 12345 && lseek(rw_fd, 0, SEEK_CUR) == 100, "");
    check("cloexec", (fcntl(cloexec_fd, F_GETFD) & FD_CLOEXEC) && !(fcntl(rw_fd, F_GETFD) & FD_CLOEXEC), "");
    char flight[16] = { 0 };
    check("pipe-in-flight", read(pipe_fds[0], flight, sizeof flight) == 9 && strcmp(flight, "in flight") == 0
          && (fcntl(pipe_fds[0], F_GETFL) & O_NONBLOCK) && read(pipe_fds[0], flight, 1) == -1 && errno == EAGAIN, flight);
    raise(SIGUSR1);
    struct sigaction q;
    sigaction(SIGUSR1, NULL, &q);
    check("handler", usr1_count == 1 && q.sa_handler == on_usr1 && (q.sa_flags & SA_RESTART), "");
    sigaction(SIGPIPE, NULL, &q);
    check("ignored", q.sa_handler == SIG_IGN, "");
    sigset_t pending;
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGUSR2);
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    check("pending-signal", was_pending && usr2_count == 1, "");
    stack_t now;
    sigaltstack(NULL, &now);
    check("altstack", now.ss_sp == altstack && now.ss_size == sizeof altstack && !(now.ss_flags & SS_DISABLE), "");
    struct itimerval left;
    getitimer(ITIMER_REAL, &left);
    check("itimer", left.it_interval.tv_sec == 1000 && left.it_value.tv_sec > 900, "");
    int pdeath = 0;
    prctl(PR_GET_PDEATHSIG, &pdeath);
    check("parent-death-signal", pdeath == SIGWINCH, "");
    if (argc > 5) {
        check("uid", getuid() == (uid_t)atol(argv[5]) && geteuid() == (uid_t)atol(argv[5]), "");
        struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct data[2] = { { 0 } };
        syscall(SYS_capget, &header, data);
        check("capabilities", data[0].effective == (1u << CAP_NET_BIND_SERVICE) && data[0].permitted == (1u << CAP_NET_BIND_SERVICE), "");
    }
    say("done\n");
    return 0;
}
