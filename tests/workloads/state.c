// state MODE OUTFILE WORKDIR TICKS INTERVAL_MS [UID]
//
// One kind of per-process or per-thread kernel state, chosen by MODE, set up by the process (and
// by worker threads where the state is per thread), then ticks (the checkpoint lands there), then
// checks that every piece is still exactly as it was set up and writes one line per check:
// "check NAME ok" or "check NAME FAILED ...". "set NAME ..." lines say what the setup achieved
// (an ordinary user cannot set everything root can), so a test can tell a check that had
// something to check. Nothing printed holds an address or a PID, so a restored run's output must
// equal an uninterrupted run's. With UID, the process drops to that user after the setup, before
// ticking, so a restore must put back as root what the user could not set itself.
//
//   sched        main SCHED_BATCH nice 5; threads SCHED_IDLE, SCHED_RR 7 with reset-on-fork,
//                SCHED_OTHER with a time slice of its own, SCHED_DEADLINE (the last two as root)
//   ioprio       main best-effort 6; threads idle, best-effort 2, real-time 1 (as root)
//   oom          oom_score_adj 350
//   autogroup    a session of its own whose autogroup has nice 7
//   timerslack   main 123456 ns; 200 threads each a slack of its own
//   mlockall     mlockall(MCL_CURRENT | MCL_FUTURE): mappings made later are locked
//   mlockonfault mlockall(MCL_FUTURE | MCL_ONFAULT)
//   prctl        PR_MCE_KILL early and late, PR_SET_TSC SIGSEGV, ARCH_SET_CPUID 0 (per thread),
//                PR_SET_MEMORY_MERGE, PR_SET_MDWE
//   madvise      MADV_RANDOM, MADV_SEQUENTIAL, MAP_DROPPABLE, a guard region (MADV_GUARD_INSTALL)
//   mseal        a sealed page between two that are not
//   memfd        sealable without seals, MFD_NOEXEC_SEAL, not sealable, sealed, chmod'ed
//   async        O_ASYNC pipes whose owners are the process, a thread and the process group,
//                with F_SETSIG; checked by the signals a write sends
//   asyncforeign an O_ASYNC pipe owned by the parent, outside any checkpoint (to be refused)
//   lease        a read lease with F_SETSIG; checked by the signal a conflicting open sends
//   numa         thread policies (bind static, interleave, preferred) and mbind'ed ranges
//   signals      process- and thread-directed signals queued, in order; a thread in sigsuspend
//   stopsignal   a worker that takes SIGUSR1, which the main thread blocks
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// Newer than this system's headers.
#define SCHED_FLAG_RESET_ON_FORK 0x01
#define MFD_NOEXEC_SEAL_ 0x0008U
#define F_SEAL_EXEC_ 0x0020
#define PR_SET_MEMORY_MERGE_ 67
#define PR_GET_MEMORY_MERGE_ 68
#define PR_SET_MDWE_ 65
#define PR_GET_MDWE_ 66
#define ARCH_GET_CPUID_ 0x1011
#define ARCH_SET_CPUID_ 0x1012
#define MAP_DROPPABLE_ 0x08
#define MADV_GUARD_INSTALL_ 102
#define MPOL_PREFERRED 1
#define MPOL_BIND 2
#define MPOL_INTERLEAVE 3
#define MPOL_LOCAL 4
#define MPOL_F_STATIC_NODES (1 << 15)
#define MPOL_F_ADDR (1 << 1)
#define SYS_mseal_ 462
#define PAGE 4096

struct sched_attr_ {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
    uint32_t util_min, util_max;
};

static int out;
static char line[1024];
static const char *mode;

static void say(const char *text) { size_t n = strlen(text); if (write(out, text, n) != (ssize_t)n) _exit(3); }
static void sayf(const char *format, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void sayf(const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(line, sizeof line, format, args);
    va_end(args);
    say(line);
}
static void check(const char *name, int ok, const char *detail) {
    sayf("check %s %s%s%s\n", name, ok ? "ok" : "FAILED", ok ? "" : " ", ok ? "" : detail);
}
static pid_t gettid_(void) { return (pid_t)syscall(SYS_gettid); }

// ---- worker threads: each sets up, waits for the go, checks ------------------------------------

#define MAX_WORKERS 200
static int workers;
static pthread_t threads[MAX_WORKERS];
static pid_t tids[MAX_WORKERS];
static char results[MAX_WORKERS][256]; // "" when the thread's check passed, else what differs
static pthread_barrier_t ready, finished;
static pthread_mutex_t go_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static int go;
static void (*setup_thread)(int i);
static void (*check_thread)(int i);
static void (*wait_thread)(int i);

static void wait_for_go(int i) {
    (void)i;
    pthread_mutex_lock(&go_lock);
    while (!go) pthread_cond_wait(&go_cond, &go_lock);
    pthread_mutex_unlock(&go_lock);
}

static void *worker(void *arg) {
    int i = (int)(intptr_t)arg;
    tids[i] = gettid_();
    setup_thread(i);
    pthread_barrier_wait(&ready);
    (wait_thread ? wait_thread : wait_for_go)(i);
    check_thread(i);
    pthread_barrier_wait(&finished);
    return NULL;
}

static void start_workers(int n, void (*setup)(int), void (*checker)(int)) {
    workers = n;
    setup_thread = setup;
    check_thread = checker;
    pthread_barrier_init(&ready, NULL, n + 1);
    pthread_barrier_init(&finished, NULL, n + 1);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 << 10);
    for (int i = 0; i < n; i++)
        if (pthread_create(&threads[i], &attr, worker, (void *)(intptr_t)i) != 0) { perror("pthread_create"); exit(2); }
    pthread_barrier_wait(&ready);
}

// Lets the workers check, waits for them, and reports each one's result.
static void check_workers(const char *name) {
    pthread_mutex_lock(&go_lock);
    go = 1;
    pthread_cond_broadcast(&go_cond);
    pthread_mutex_unlock(&go_lock);
    pthread_barrier_wait(&finished);
    if (workers > 20) { // one line for many threads
        int bad = 0;
        const char *first = "";
        for (int i = 0; i < workers; i++) if (results[i][0]) { if (!bad) first = results[i]; bad++; }
        char detail[512];
        snprintf(detail, sizeof detail, "%d of %d threads differ, first: %s", bad, workers, first);
        check(name, bad == 0, detail);
        return;
    }
    for (int i = 0; i < workers; i++) {
        char thread_name[64];
        snprintf(thread_name, sizeof thread_name, "%s-thread%d", name, i + 1);
        check(thread_name, results[i][0] == 0, results[i]);
    }
}

// ---- small helpers ------------------------------------------------------------------------------

static int sched_get(struct sched_attr_ *a) {
    memset(a, 0, sizeof *a);
    return (int)syscall(SYS_sched_getattr, 0, a, sizeof *a, 0);
}

static int sched_set(uint32_t policy, uint64_t flags, int nice, uint32_t priority, uint64_t runtime, uint64_t deadline, uint64_t period) {
    struct sched_attr_ a = { sizeof a, policy, flags, nice, priority, runtime, deadline, period, 0, 0 };
    return (int)syscall(SYS_sched_setattr, 0, &a, 0);
}

static const char *policy_name(uint32_t p) {
    switch (p) {
    case SCHED_OTHER: return "SCHED_OTHER";
    case SCHED_FIFO: return "SCHED_FIFO";
    case SCHED_RR: return "SCHED_RR";
    case SCHED_BATCH: return "SCHED_BATCH";
    case SCHED_IDLE: return "SCHED_IDLE";
    case 6: return "SCHED_DEADLINE";
    default: return "?";
    }
}

// The VmFlags of the mapping holding addr, from /proc/self/smaps ("" when none).
static void vmflags_at(const void *addr, char *flags, size_t size) {
    flags[0] = 0;
    FILE *f = fopen("/proc/self/smaps", "r");
    char buf[512];
    unsigned long a = (unsigned long)addr, s, e;
    int in = 0;
    while (f && fgets(buf, sizeof buf, f)) {
        if (sscanf(buf, "%lx-%lx ", &s, &e) == 2 && strchr(buf, '-') < strchr(buf, ' ')) in = a >= s && a < e;
        else if (in && !strncmp(buf, "VmFlags:", 8)) { snprintf(flags, size, "%s", buf + 8); break; }
    }
    if (f) fclose(f);
    size_t n = strlen(flags);
    if (n && flags[n - 1] == '\n') flags[n - 1] = 0;
}

static int has_flag(const char *flags, const char *flag) {
    char padded[300], want[8];
    snprintf(padded, sizeof padded, " %s ", flags);
    snprintf(want, sizeof want, " %s ", flag);
    return strstr(padded, want) != NULL;
}

static void fill(unsigned char *p, size_t n, unsigned seed) { for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 31 + seed); }
static int same(const unsigned char *p, size_t n, unsigned seed) { for (size_t i = 0; i < n; i++) if (p[i] != (unsigned char)(i * 31 + seed)) return 0; return 1; }

static int read_int_file(const char *path) {
    char buf[64] = "";
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -99999;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? atoi(buf) : -99999;
}

static int write_file_text(const char *path, const char *text) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) return -errno;
    int r = write(fd, text, strlen(text)) < 0 ? -errno : 0;
    close(fd);
    return r;
}

// Whether reading the byte at p faults (SIGSEGV), as a guard page does.
static sigjmp_buf touch_jump;
static void on_touch_fault(int sig) { (void)sig; siglongjmp(touch_jump, 1); }
static int touch_faults(const volatile unsigned char *p) {
    struct sigaction sa = { 0 }, old;
    sa.sa_handler = on_touch_fault;
    sigaction(SIGSEGV, &sa, &old);
    int faulted = 1;
    if (sigsetjmp(touch_jump, 1) == 0) { (void)*p; faulted = 0; }
    sigaction(SIGSEGV, &old, NULL);
    return faulted;
}

// ---- sched ---------------------------------------------------------------------------------------

static struct sched_attr_ sched_expected[5];

static void sched_setup(int i) {
    switch (i) {
    case 0: sched_set(SCHED_IDLE, 0, 0, 0, 0, 0, 0); break;
    case 1: sched_set(SCHED_RR, SCHED_FLAG_RESET_ON_FORK, 0, 7, 0, 0, 0); break;
    case 2: sched_set(SCHED_OTHER, 0, 0, 0, 3000000, 0, 0); break; // a slice of its own
    case 3: sched_set(6, 0, 0, 0, 1000000, 30000000, 30000000); break;
    }
    sched_get(&sched_expected[i]);
}

static int sched_same(const struct sched_attr_ *a, const struct sched_attr_ *b, char *detail, size_t size) {
    int ok = a->policy == b->policy && a->flags == b->flags && a->nice == b->nice && a->priority == b->priority
        && a->runtime == b->runtime && a->deadline == b->deadline && a->period == b->period;
    if (!ok)
        snprintf(detail, size, "%s flags %llx nice %d prio %u runtime %llu/%llu/%llu, expected %s flags %llx nice %d prio %u runtime %llu/%llu/%llu",
            policy_name(a->policy), (unsigned long long)a->flags, a->nice, a->priority,
            (unsigned long long)a->runtime, (unsigned long long)a->deadline, (unsigned long long)a->period,
            policy_name(b->policy), (unsigned long long)b->flags, b->nice, b->priority,
            (unsigned long long)b->runtime, (unsigned long long)b->deadline, (unsigned long long)b->period);
    return ok;
}

static void sched_check(int i) {
    struct sched_attr_ now;
    sched_get(&now);
    sched_same(&now, &sched_expected[i], results[i], sizeof results[i]);
}

// ---- ioprio --------------------------------------------------------------------------------------

#define IOPRIO(class, level) (((class) << 13) | (level))
static int ioprio_expected[4];

static void ioprio_setup(int i) {
    static const int wanted[] = { IOPRIO(3, 0), IOPRIO(2, 2), IOPRIO(1, 1) };
    syscall(SYS_ioprio_set, 1, 0, wanted[i]);
    ioprio_expected[i] = (int)syscall(SYS_ioprio_get, 1, 0);
}

static void ioprio_check(int i) {
    int now = (int)syscall(SYS_ioprio_get, 1, 0);
    if (now != ioprio_expected[i]) snprintf(results[i], sizeof results[i], "ioprio %#x, expected %#x", now, ioprio_expected[i]);
}

// ---- timer slack ---------------------------------------------------------------------------------

static void slack_setup(int i) { prctl(PR_SET_TIMERSLACK, 10000UL + (unsigned long)i * 1000); }

static void slack_check(int i) {
    long now = prctl(PR_GET_TIMERSLACK);
    if (now != 10000L + i * 1000L) snprintf(results[i], sizeof results[i], "thread %d has %ld ns, expected %ld", i + 1, now, 10000L + i * 1000L);
}

// ---- prctl ---------------------------------------------------------------------------------------

static int prctl_mce[3], prctl_tsc[3];
static long prctl_cpuid[3];

static void prctl_setup(int i) {
    if (i == 0) prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_LATE, 0, 0);
    if (i == 1) prctl(PR_SET_TSC, PR_TSC_SIGSEGV);
    if (i == 2) syscall(SYS_arch_prctl, ARCH_SET_CPUID_, 0);
    prctl_mce[i] = prctl(PR_MCE_KILL_GET, 0, 0, 0, 0);
    prctl(PR_GET_TSC, &prctl_tsc[i]);
    prctl_cpuid[i] = syscall(SYS_arch_prctl, ARCH_GET_CPUID_, 0);
}

static void prctl_check(int i) {
    int mce = prctl(PR_MCE_KILL_GET, 0, 0, 0, 0), tsc = 0;
    prctl(PR_GET_TSC, &tsc);
    long cpuid = syscall(SYS_arch_prctl, ARCH_GET_CPUID_, 0);
    if (mce != prctl_mce[i] || tsc != prctl_tsc[i] || cpuid != prctl_cpuid[i])
        snprintf(results[i], sizeof results[i], "mce %d tsc %d cpuid %ld, expected %d %d %ld", mce, tsc, cpuid, prctl_mce[i], prctl_tsc[i], prctl_cpuid[i]);
}

// ---- numa ----------------------------------------------------------------------------------------

static int numa_mode_expected[3];
static unsigned long numa_mask_expected[3];

static void numa_get(void *addr, int *mode_out, unsigned long *mask_out) {
    unsigned long mask[16] = { 0 };
    int m = -1;
    syscall(SYS_get_mempolicy, &m, mask, 1025, addr, addr ? MPOL_F_ADDR : 0);
    *mode_out = m;
    *mask_out = mask[0];
}

static void numa_setup(int i) {
    unsigned long node0 = 1;
    if (i == 0) syscall(SYS_set_mempolicy, MPOL_INTERLEAVE, &node0, 1025);
    if (i == 1) syscall(SYS_set_mempolicy, MPOL_PREFERRED, &node0, 1025);
    numa_get(NULL, &numa_mode_expected[i], &numa_mask_expected[i]);
}

static void numa_check(int i) {
    int m;
    unsigned long mask;
    numa_get(NULL, &m, &mask);
    if (m != numa_mode_expected[i] || mask != numa_mask_expected[i])
        snprintf(results[i], sizeof results[i], "policy %#x nodes %lx, expected %#x %lx", m, mask, numa_mode_expected[i], numa_mask_expected[i]);
}

// ---- async, lease and signals --------------------------------------------------------------------

static volatile sig_atomic_t got_signal[64], got_fd[64], got_code[64], got_thread[64];

static void on_signal(int sig, siginfo_t *info, void *context) {
    (void)context;
    got_fd[sig] = info->si_fd;
    got_code[sig] = info->si_code;
    got_thread[sig] = (sig_atomic_t)gettid_();
    got_signal[sig]++;
}

static void handle(int sig) {
    struct sigaction sa = { 0 };
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(sig, &sa, NULL);
}

static int wait_for_signal(int sig) {
    for (int i = 0; i < 400 && !got_signal[sig]; i++) { struct timespec ts = { 0, 5000000 }; nanosleep(&ts, NULL); }
    return got_signal[sig];
}

static void nothing_setup(int i) { (void)i; }
static void nothing_check(int i) { (void)i; }

static sigset_t suspend_real, suspend_temp;
static volatile sig_atomic_t suspended;

static void suspend_setup(int i) {
    (void)i;
    sigset_t extra;
    sigemptyset(&extra);
    sigaddset(&extra, SIGURG);
    sigaddset(&extra, SIGWINCH);
    pthread_sigmask(SIG_BLOCK, &extra, NULL);
    pthread_sigmask(SIG_BLOCK, NULL, &suspend_real);
    suspend_temp = suspend_real;
    sigdelset(&suspend_temp, SIGURG);
    sigdelset(&suspend_temp, SIGWINCH);
}

// Waits in sigsuspend with a mask of its own until SIGWINCH comes; its own mask must be back after.
static void suspend_wait(int i) {
    (void)i;
    suspended = 1;
    while (!got_signal[SIGWINCH]) sigsuspend(&suspend_temp);
}

static void suspend_check(int i) {
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    if (!sigismember(&now, SIGURG) || !sigismember(&now, SIGWINCH))
        snprintf(results[i], sizeof results[i], "after sigsuspend SIGURG blocked %d, SIGWINCH blocked %d", sigismember(&now, SIGURG), sigismember(&now, SIGWINCH));
}

static unsigned long long status_mask(const char *path, const char *key);
static unsigned long long bit(int sig);

// Its own queue first (thread-self: the TID it knows is not the host's in a job), then takes them.
static void signals_check_worker(int i) {
    unsigned long long pending = status_mask("/proc/thread-self/status", "SigPnd:");
    if (pending != (bit(SIGUSR2) | bit(SIGRTMIN + 2))) {
        snprintf(results[i], sizeof results[i], "pending to the worker %llx", pending);
        return;
    }
    sigset_t set;
    siginfo_t info;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 2);
    int got = sigwaitinfo(&set, &info);
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    int got2 = sigwaitinfo(&set, &info);
    if (got != SIGRTMIN + 2 || got2 != SIGUSR2) snprintf(results[i], sizeof results[i], "thread-directed signals: %d %d", got, got2);
}

static void (*signals_checks[])(int) = { signals_check_worker, suspend_check };
static void signals_setup_dispatch(int i) { if (i == 1) suspend_setup(i); }
static void signals_check_dispatch(int i) { signals_checks[i](i); }
static void signals_wait_dispatch(int i) { if (i == 1) suspend_wait(i); else wait_for_go(i); }

static unsigned long long status_mask(const char *path, const char *key) {
    FILE *f = fopen(path, "r");
    char buf[256];
    unsigned long long v = ~0ULL;
    while (f && fgets(buf, sizeof buf, f))
        if (!strncmp(buf, key, strlen(key))) v = strtoull(buf + strlen(key), NULL, 16);
    if (f) fclose(f);
    return v;
}

static unsigned long long bit(int sig) { return 1ULL << (sig - 1); }

// ---- the modes -----------------------------------------------------------------------------------

struct memfds { int sealable, noexec, plain, sealed, chmodded; };

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: state MODE OUTFILE WORKDIR TICKS INTERVAL_MS [UID]\n"); return 2; }
    mode = argv[1];
    out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (out < 0) { perror(argv[2]); return 2; }
    const char *workdir = argv[3];
    long ticks = atol(argv[4]), interval = atol(argv[5]);
    if (chdir(workdir) != 0) { perror(workdir); return 2; }
    char detail[512] = "";
    char flags[300];

    // State each mode keeps for its checks.
    struct sched_attr_ sched_main_expected;
    int ioprio_main = 0, oom = 0, mce_main = 0;
    unsigned char *lockedpage = NULL, *random_region = NULL, *sequential_region = NULL, *droppable = NULL, *guarded = NULL, *sealed = NULL;
    int droppable_ok = 0, guard_ok = 0, merge = 0, mdwe = 0;
    struct memfds mf = { -1, -1, -1, -1, -1 };
    int pipes[3][2];
    int lease_fd = -1, lock_fds[3] = { -1, -1, -1 };
    unsigned char *numa_regions = NULL;
    int numa_region_mode[4];
    unsigned long numa_region_mask[4];
    int numa_main_mode = 0;
    unsigned long numa_main_mask = 0;

    if (!strcmp(mode, "sched")) {
        setpriority(PRIO_PROCESS, 0, 5);
        sched_set(SCHED_BATCH, 0, 5, 0, 0, 0, 0);
        sched_get(&sched_main_expected);
        start_workers(4, sched_setup, sched_check);
        sayf("set sched main %s nice %d\n", policy_name(sched_main_expected.policy), sched_main_expected.nice);
        for (int i = 0; i < 4; i++)
            sayf("set sched thread%d %s priority %u flags %llx runtime %llu\n", i + 1, policy_name(sched_expected[i].policy),
                sched_expected[i].priority, (unsigned long long)sched_expected[i].flags, (unsigned long long)sched_expected[i].runtime);
    } else if (!strcmp(mode, "ioprio")) {
        syscall(SYS_ioprio_set, 1, 0, IOPRIO(2, 6));
        ioprio_main = (int)syscall(SYS_ioprio_get, 1, 0);
        start_workers(3, ioprio_setup, ioprio_check);
        sayf("set ioprio main %#x threads %#x %#x %#x\n", ioprio_main, ioprio_expected[0], ioprio_expected[1], ioprio_expected[2]);
    } else if (!strcmp(mode, "oom")) {
        write_file_text("/proc/self/oom_score_adj", "350");
        oom = read_int_file("/proc/self/oom_score_adj");
        sayf("set oom_score_adj %d\n", oom);
    } else if (!strcmp(mode, "autogroup")) {
        setsid();
        int r = -EAGAIN;
        // Without CAP_SYS_ADMIN the kernel takes one change of any autogroup every 100 ms.
        for (int i = 0; i < 200 && r == -EAGAIN; i++) {
            r = write_file_text("/proc/self/autogroup", "7");
            if (r == -EAGAIN) { struct timespec ts = { 0, 20000000 }; nanosleep(&ts, NULL); }
        }
        sayf("set autogroup nice 7: %s\n", r == 0 ? "yes" : strerror(-r));
    } else if (!strcmp(mode, "timerslack")) {
        prctl(PR_SET_TIMERSLACK, 123456UL);
        start_workers(200, slack_setup, slack_check);
        sayf("set timerslack main %ld\n", (long)prctl(PR_GET_TIMERSLACK));
    } else if (!strcmp(mode, "mlockall") || !strcmp(mode, "mlockonfault")) {
        lockedpage = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        fill(lockedpage, PAGE, 3);
        int how = !strcmp(mode, "mlockall") ? MCL_CURRENT | MCL_FUTURE : MCL_FUTURE | MCL_ONFAULT;
        int r = mlockall(how);
        sayf("set %s: %s\n", mode, r == 0 ? "yes" : strerror(errno));
    } else if (!strcmp(mode, "prctl")) {
        prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY, 0, 0);
        mce_main = prctl(PR_MCE_KILL_GET, 0, 0, 0, 0);
        start_workers(3, prctl_setup, prctl_check);
        prctl(PR_SET_MEMORY_MERGE_, 1, 0, 0, 0);
        merge = prctl(PR_GET_MEMORY_MERGE_, 0, 0, 0, 0);
        prctl(PR_SET_MDWE_, 1, 0, 0, 0); // PR_MDWE_REFUSE_EXEC_GAIN
        mdwe = prctl(PR_GET_MDWE_, 0, 0, 0, 0);
        sayf("set prctl mce %d/%d tsc %d cpuid %ld merge %d mdwe %d\n", mce_main, prctl_mce[0], prctl_tsc[1], prctl_cpuid[2], merge, mdwe);
    } else if (!strcmp(mode, "madvise")) {
        random_region = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        fill(random_region, 4 * PAGE, 1);
        madvise(random_region, 4 * PAGE, MADV_RANDOM);
        sequential_region = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        fill(sequential_region, 4 * PAGE, 2);
        madvise(sequential_region, 4 * PAGE, MADV_SEQUENTIAL);
        droppable = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_DROPPABLE_ | MAP_ANONYMOUS, -1, 0);
        droppable_ok = droppable != MAP_FAILED;
        if (droppable_ok) droppable[0] = 1;
        guarded = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        fill(guarded, 4 * PAGE, 4);
        guard_ok = madvise(guarded + PAGE, PAGE, MADV_GUARD_INSTALL_) == 0;
        sayf("set madvise droppable %d guard %d\n", droppable_ok, guard_ok);
    } else if (!strcmp(mode, "mseal")) {
        sealed = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        fill(sealed, 3 * PAGE, 5);
        int r = (int)syscall(SYS_mseal_, sealed + PAGE, PAGE, 0);
        sayf("set mseal: %s\n", r == 0 ? "yes" : strerror(errno));
    } else if (!strcmp(mode, "memfd")) {
        mf.sealable = memfd_create("sealable", MFD_ALLOW_SEALING);
        mf.noexec = memfd_create("noexec", MFD_NOEXEC_SEAL_);
        mf.plain = memfd_create("plain", 0);
        mf.sealed = memfd_create("sealed", MFD_ALLOW_SEALING);
        mf.chmodded = memfd_create("chmodded", 0);
        if (write(mf.noexec, "noexec", 6) != 6 || write(mf.sealed, "sealed", 6) != 6) return 2;
        fcntl(mf.sealed, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW);
        fchmod(mf.chmodded, 0600);
        sayf("set memfd seals %x %x %x %x\n", fcntl(mf.sealable, F_GET_SEALS), fcntl(mf.noexec, F_GET_SEALS), fcntl(mf.plain, F_GET_SEALS), fcntl(mf.sealed, F_GET_SEALS));
    } else if (!strcmp(mode, "async") || !strcmp(mode, "asyncforeign")) {
        setpgid(0, 0); // a group it leads: a restore gives a process alone a group of its own
        handle(SIGRTMIN + 3);
        handle(SIGRTMIN + 4);
        handle(SIGIO);
        for (int k = 0; k < 3; k++) if (pipe2(pipes[k], O_NONBLOCK) != 0) return 2;
        if (!strcmp(mode, "asyncforeign")) {
            fcntl(pipes[0][0], F_SETOWN, getppid());
            fcntl(pipes[0][0], F_SETFL, O_NONBLOCK | O_ASYNC);
            say("set async foreign owner\n");
        } else {
            fcntl(pipes[0][0], F_SETOWN, getpid());
            fcntl(pipes[0][0], F_SETSIG, SIGRTMIN + 3);
            fcntl(pipes[0][0], F_SETFL, O_NONBLOCK | O_ASYNC);
            start_workers(1, nothing_setup, nothing_check);
            struct f_owner_ex owner = { F_OWNER_TID, tids[0] };
            fcntl(pipes[1][0], F_SETOWN_EX, &owner);
            fcntl(pipes[1][0], F_SETSIG, SIGRTMIN + 4);
            fcntl(pipes[1][0], F_SETFL, O_NONBLOCK | O_ASYNC);
            fcntl(pipes[2][0], F_SETOWN, -getpgrp());
            fcntl(pipes[2][0], F_SETFL, O_NONBLOCK | O_ASYNC);
            say("set async owners process thread group\n");
        }
    } else if (!strcmp(mode, "lease")) {
        int fd = open("lease.dat", O_WRONLY | O_CREAT | O_TRUNC, 0666);
        // Writable by all, so a process of the user this one may drop to can break the lease.
        if (fd < 0 || fchmod(fd, 0666) != 0 || write(fd, "leased\n", 7) != 7) return 2;
        close(fd);
        handle(SIGRTMIN + 5);
        lease_fd = open("lease.dat", O_RDONLY);
        int r = fcntl(lease_fd, F_SETLEASE, F_RDLCK);
        fcntl(lease_fd, F_SETSIG, SIGRTMIN + 5);
        sayf("set lease read: %s\n", r == 0 ? "yes" : strerror(errno));
    } else if (!strcmp(mode, "locks")) {
        // A POSIX write lock on bytes 5-14, an OFD read lock on a whole file, a shared flock.
        const char *names[3] = { "record.dat", "ofd.dat", "flock.dat" };
        for (int k = 0; k < 3; k++) {
            lock_fds[k] = open(names[k], O_RDWR | O_CREAT, 0666);
            if (lock_fds[k] < 0 || fchmod(lock_fds[k], 0666) != 0) return 2;
        }
        struct flock record = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 10 };
        struct flock ofd = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
        int r = fcntl(lock_fds[0], F_SETLK, &record) | fcntl(lock_fds[1], F_OFD_SETLK, &ofd) | flock(lock_fds[2], LOCK_SH);
        sayf("set locks: %s\n", r == 0 ? "yes" : strerror(errno));
    } else if (!strcmp(mode, "numa")) {
        unsigned long node0 = 1;
        syscall(SYS_set_mempolicy, MPOL_BIND | MPOL_F_STATIC_NODES, &node0, 1025);
        numa_get(NULL, &numa_main_mode, &numa_main_mask);
        start_workers(2, numa_setup, numa_check);
        numa_regions = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        static const int modes[] = { MPOL_INTERLEAVE, MPOL_BIND, MPOL_PREFERRED, MPOL_LOCAL };
        for (int k = 0; k < 4; k++) {
            syscall(SYS_mbind, numa_regions + k * 4 * PAGE, 4 * PAGE, modes[k], modes[k] == MPOL_LOCAL ? NULL : &node0, modes[k] == MPOL_LOCAL ? 0 : 1025, 0);
            fill(numa_regions + k * 4 * PAGE, 4 * PAGE, (unsigned)k);
            numa_get(numa_regions + k * 4 * PAGE, &numa_region_mode[k], &numa_region_mask[k]);
        }
        sayf("set numa main %#x threads %#x %#x ranges %#x %#x %#x %#x\n", numa_main_mode, numa_mode_expected[0], numa_mode_expected[1],
            numa_region_mode[0], numa_region_mode[1], numa_region_mode[2], numa_region_mode[3]);
    } else if (!strcmp(mode, "signals")) {
        handle(SIGWINCH);
        sigset_t block;
        sigemptyset(&block);
        sigaddset(&block, SIGUSR1);
        sigaddset(&block, SIGUSR2);
        sigaddset(&block, SIGRTMIN + 1);
        sigaddset(&block, SIGRTMIN + 2);
        sigprocmask(SIG_BLOCK, &block, NULL);
        wait_thread = signals_wait_dispatch;
        start_workers(2, signals_setup_dispatch, signals_check_dispatch);
        union sigval v;
        v.sival_int = 1;
        sigqueue(getpid(), SIGRTMIN + 1, v);
        v.sival_int = 2;
        sigqueue(getpid(), SIGRTMIN + 1, v);
        kill(getpid(), SIGUSR1);
        v.sival_int = 3;
        pthread_sigqueue(threads[0], SIGRTMIN + 2, v);
        pthread_kill(threads[0], SIGUSR2);
        while (!suspended) { struct timespec ts = { 0, 1000000 }; nanosleep(&ts, NULL); }
        say("set signals queued\n");
    } else if (!strcmp(mode, "stopsignal")) {
        handle(SIGUSR1);
        sigset_t block;
        sigemptyset(&block);
        sigaddset(&block, SIGUSR1);
        start_workers(1, nothing_setup, nothing_check); // takes SIGUSR1
        sigprocmask(SIG_BLOCK, &block, NULL);
        say("set stopsignal\n");
    } else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }

    if (argc > 6) {
        uid_t uid = (uid_t)atol(argv[6]);
        if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0) { perror("drop"); return 2; }
    }

    say("start\n");
    for (long i = 1; i <= ticks; i++) {
        struct timespec ts = { interval / 1000, (interval % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        sayf("tick %ld\n", i);
    }

    if (!strcmp(mode, "sched")) {
        struct sched_attr_ now;
        sched_get(&now);
        check("sched-main", sched_same(&now, &sched_main_expected, detail, sizeof detail), detail);
        check_workers("sched");
    } else if (!strcmp(mode, "ioprio")) {
        int now = (int)syscall(SYS_ioprio_get, 1, 0);
        snprintf(detail, sizeof detail, "ioprio %#x, expected %#x", now, ioprio_main);
        check("ioprio-main", now == ioprio_main, detail);
        check_workers("ioprio");
    } else if (!strcmp(mode, "oom")) {
        int now = read_int_file("/proc/self/oom_score_adj");
        snprintf(detail, sizeof detail, "oom_score_adj %d, expected %d", now, oom);
        check("oom", now == oom, detail);
    } else if (!strcmp(mode, "autogroup")) {
        char buf[128] = "";
        int fd = open("/proc/self/autogroup", O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : 0;
        if (fd >= 0) close(fd);
        buf[n > 0 ? n : 0] = 0;
        if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
        check("autogroup", strstr(buf, " nice 7") != NULL && getsid(0) == getpid(), buf);
    } else if (!strcmp(mode, "timerslack")) {
        long now = (long)prctl(PR_GET_TIMERSLACK);
        snprintf(detail, sizeof detail, "main has %ld ns", now);
        check("timerslack-main", now == 123456, detail);
        check_workers("timerslack");
    } else if (!strcmp(mode, "mlockall") || !strcmp(mode, "mlockonfault")) {
        int onfault = !strcmp(mode, "mlockonfault");
        unsigned char *fresh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        vmflags_at(fresh, flags, sizeof flags);
        check("mlock-future", has_flag(flags, "lo") && has_flag(flags, "lf") == onfault, flags);
        vmflags_at(lockedpage, flags, sizeof flags);
        check("mlock-current", same(lockedpage, PAGE, 3) && has_flag(flags, "lo") == !onfault, flags);
    } else if (!strcmp(mode, "prctl")) {
        int mce = prctl(PR_MCE_KILL_GET, 0, 0, 0, 0);
        snprintf(detail, sizeof detail, "mce %d, expected %d", mce, mce_main);
        check("prctl-mce-main", mce == mce_main, detail);
        int merge_now = prctl(PR_GET_MEMORY_MERGE_, 0, 0, 0, 0), mdwe_now = prctl(PR_GET_MDWE_, 0, 0, 0, 0);
        snprintf(detail, sizeof detail, "merge %d, expected %d", merge_now, merge);
        check("prctl-memory-merge", merge_now == merge, detail);
        unsigned char *page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int denied = mprotect(page, PAGE, PROT_READ | PROT_EXEC) != 0;
        snprintf(detail, sizeof detail, "mdwe %d (expected %d), exec denied %d", mdwe_now, mdwe, denied);
        check("prctl-mdwe", mdwe_now == mdwe && denied == (mdwe == 1), detail);
        check_workers("prctl");
    } else if (!strcmp(mode, "madvise")) {
        vmflags_at(random_region, flags, sizeof flags);
        check("madvise-random", has_flag(flags, "rr") && same(random_region, 4 * PAGE, 1), flags);
        vmflags_at(sequential_region, flags, sizeof flags);
        check("madvise-sequential", has_flag(flags, "sr") && same(sequential_region, 4 * PAGE, 2), flags);
        if (droppable_ok) {
            vmflags_at(droppable, flags, sizeof flags);
            check("map-droppable", has_flag(flags, "dp"), flags);
        }
        if (guard_ok) {
            int faults = touch_faults(guarded + PAGE), beside = touch_faults(guarded) || touch_faults(guarded + 2 * PAGE);
            snprintf(detail, sizeof detail, "guard page faults %d, its neighbours %d", faults, beside);
            check("guard-region", faults && !beside && same(guarded, PAGE, 4) && same(guarded + 2 * PAGE, 2 * PAGE, 4 + (2 * PAGE * 31) % 256), detail);
        }
    } else if (!strcmp(mode, "mseal")) {
        vmflags_at(sealed + PAGE, flags, sizeof flags);
        int unmap = munmap(sealed + PAGE, PAGE), unmap_errno = errno;
        int protect = mprotect(sealed + PAGE, PAGE, PROT_READ), protect_errno = errno;
        char neighbours[300];
        vmflags_at(sealed, neighbours, sizeof neighbours);
        snprintf(detail, sizeof detail, "flags [%s] munmap %d/%d mprotect %d/%d neighbour [%s]", flags, unmap, unmap_errno, protect, protect_errno, neighbours);
        check("mseal", has_flag(flags, "sl") && unmap == -1 && unmap_errno == EPERM && protect == -1 && protect_errno == EPERM
            && !has_flag(neighbours, "sl") && same(sealed, 3 * PAGE, 5), detail);
    } else if (!strcmp(mode, "memfd")) {
        int seals = fcntl(mf.sealable, F_GET_SEALS), added = fcntl(mf.sealable, F_ADD_SEALS, F_SEAL_GROW);
        snprintf(detail, sizeof detail, "seals %x, adding one: %d %s", seals, added, strerror(errno));
        check("memfd-sealable", seals == 0 && added == 0 && fcntl(mf.sealable, F_GET_SEALS) == F_SEAL_GROW, detail);
        struct stat st;
        fstat(mf.noexec, &st);
        seals = fcntl(mf.noexec, F_GET_SEALS);
        int wrote = (int)write(mf.noexec, "more", 4), truncated = ftruncate(mf.noexec, 100);
        snprintf(detail, sizeof detail, "seals %x mode %o write %d ftruncate %d", seals, st.st_mode & 07777, wrote, truncated);
        check("memfd-noexec", seals == F_SEAL_EXEC_ && (st.st_mode & 0111) == 0 && wrote == 4 && truncated == 0, detail);
        seals = fcntl(mf.plain, F_GET_SEALS);
        snprintf(detail, sizeof detail, "seals %x", seals);
        check("memfd-not-sealable", seals == F_SEAL_SEAL, detail);
        seals = fcntl(mf.sealed, F_GET_SEALS);
        char buf[8] = "";
        int denied = write(mf.sealed, "x", 1) == -1 && errno == EPERM;
        snprintf(detail, sizeof detail, "seals %x write denied %d", seals, denied);
        check("memfd-sealed", seals == (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW) && denied && pread(mf.sealed, buf, 6, 0) == 6 && !strcmp(buf, "sealed"), detail);
        fstat(mf.chmodded, &st);
        snprintf(detail, sizeof detail, "mode %o", st.st_mode & 07777);
        check("memfd-mode", (st.st_mode & 07777) == 0600, detail);
    } else if (!strcmp(mode, "async") || !strcmp(mode, "asyncforeign")) {
        struct f_owner_ex owner = { 0, 0 };
        fcntl(pipes[0][0], F_GETOWN_EX, &owner);
        int sig = fcntl(pipes[0][0], F_GETSIG);
        // The foreign owner (the test) must not be sent SIGIO: nothing is written then.
        if (!strcmp(mode, "async") && write(pipes[0][1], "x", 1) != 1) return 2;
        int got = !strcmp(mode, "async") ? wait_for_signal(SIGRTMIN + 3) : 0;
        snprintf(detail, sizeof detail, "owner %d/%s sig %d got %d fd %d code %d", owner.type, owner.pid == getpid() ? "self" : "other", sig, got, got_fd[SIGRTMIN + 3], got_code[SIGRTMIN + 3]);
        if (!strcmp(mode, "async")) {
            check("async-process", owner.type == F_OWNER_PID && owner.pid == getpid() && sig == SIGRTMIN + 3 && got == 1
                && got_fd[SIGRTMIN + 3] == pipes[0][0] && got_code[SIGRTMIN + 3] == POLL_IN, detail);
            fcntl(pipes[1][0], F_GETOWN_EX, &owner);
            if (write(pipes[1][1], "x", 1) != 1) return 2;
            got = wait_for_signal(SIGRTMIN + 4);
            snprintf(detail, sizeof detail, "owner %d/%s got %d in the owner thread %d", owner.type, owner.pid == tids[0] ? "worker" : "other", got, got_thread[SIGRTMIN + 4] == tids[0]);
            check("async-thread", owner.type == F_OWNER_TID && owner.pid == tids[0] && got == 1 && got_thread[SIGRTMIN + 4] == tids[0], detail);
            fcntl(pipes[2][0], F_GETOWN_EX, &owner);
            if (write(pipes[2][1], "x", 1) != 1) return 2;
            got = wait_for_signal(SIGIO);
            snprintf(detail, sizeof detail, "owner %d/%s got %d", owner.type, owner.pid == getpgrp() ? "own group" : "other", got);
            check("async-group", owner.type == F_OWNER_PGRP && owner.pid == getpgrp() && got == 1, detail);
            check_workers("async");
        } else {
            // No SIGIO for the test either when the pipe closes at exit.
            fcntl(pipes[0][0], F_SETFL, O_NONBLOCK);
            check("asyncforeign", owner.type == F_OWNER_PID && owner.pid == getppid(), "the owner changed");
        }
    } else if (!strcmp(mode, "lease")) {
        int lease = fcntl(lease_fd, F_GETLEASE);
        pid_t child = fork();
        if (child == 0) {
            int fd = open("lease.dat", O_WRONLY | O_NONBLOCK); // breaks the lease
            _exit(fd < 0 && errno == EWOULDBLOCK ? 0 : 1);
        }
        int got = wait_for_signal(SIGRTMIN + 5);
        fcntl(lease_fd, F_SETLEASE, F_UNLCK);
        int status = 0;
        waitpid(child, &status, 0);
        snprintf(detail, sizeof detail, "lease %d signal %d fd %d child %d", lease, got, got_fd[SIGRTMIN + 5] == lease_fd, status);
        check("lease", lease == F_RDLCK && got == 1 && got_fd[SIGRTMIN + 5] == lease_fd && WIFEXITED(status) && WEXITSTATUS(status) == 0, detail);
    } else if (!strcmp(mode, "locks")) {
        // A child, through descriptions of its own, finds each lock held, and by this process.
        pid_t child = fork();
        if (child == 0) {
            int record = open("record.dat", O_RDWR), ofd = open("ofd.dat", O_RDWR), fl = open("flock.dat", O_RDWR);
            struct flock probe = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 20 };
            if (fcntl(record, F_GETLK, &probe) != 0 || probe.l_type != F_WRLCK || probe.l_pid != getppid() || probe.l_start != 5 || probe.l_len != 10) _exit(1);
            struct flock wide = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
            if (fcntl(ofd, F_OFD_GETLK, &wide) != 0 || wide.l_type != F_RDLCK) _exit(2);
            if (flock(fl, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK || flock(fl, LOCK_SH | LOCK_NB) != 0) _exit(3);
            _exit(0);
        }
        int status = 0;
        waitpid(child, &status, 0);
        snprintf(detail, sizeof detail, "the probing child exited %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        check("locks", WIFEXITED(status) && WEXITSTATUS(status) == 0, detail);
    } else if (!strcmp(mode, "numa")) {
        int m;
        unsigned long mask;
        numa_get(NULL, &m, &mask);
        snprintf(detail, sizeof detail, "policy %#x nodes %lx, expected %#x %lx", m, mask, numa_main_mode, numa_main_mask);
        check("numa-main", m == numa_main_mode && mask == numa_main_mask, detail);
        for (int k = 0; k < 4; k++) {
            numa_get(numa_regions + k * 4 * PAGE, &m, &mask);
            char name[32];
            snprintf(name, sizeof name, "numa-range%d", k + 1);
            snprintf(detail, sizeof detail, "policy %#x nodes %lx, expected %#x %lx", m, mask, numa_region_mode[k], numa_region_mask[k]);
            check(name, m == numa_region_mode[k] && mask == numa_region_mask[k] && same(numa_regions + k * 4 * PAGE, 4 * PAGE, (unsigned)k), detail);
        }
        check_workers("numa");
    } else if (!strcmp(mode, "signals")) {
        unsigned long long shared = status_mask("/proc/thread-self/status", "ShdPnd:");
        unsigned long long main_pending = status_mask("/proc/thread-self/status", "SigPnd:");
        snprintf(detail, sizeof detail, "shared %llx main %llx", shared, main_pending);
        check("signals-directed", shared == (bit(SIGUSR1) | bit(SIGRTMIN + 1)) && main_pending == 0, detail);
        sigset_t set;
        siginfo_t first, second, third;
        sigemptyset(&set);
        sigaddset(&set, SIGRTMIN + 1);
        int a = sigwaitinfo(&set, &first), b = sigwaitinfo(&set, &second);
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        int c = sigwaitinfo(&set, &third);
        snprintf(detail, sizeof detail, "%d:%d %d:%d %d", a, first.si_value.sival_int, b, second.si_value.sival_int, c);
        check("signals-order", a == SIGRTMIN + 1 && first.si_value.sival_int == 1 && first.si_code == SI_QUEUE && b == SIGRTMIN + 1
            && second.si_value.sival_int == 2 && c == SIGUSR1 && third.si_code == SI_USER, detail);
        pthread_mutex_lock(&go_lock);
        go = 1;
        pthread_cond_broadcast(&go_cond);
        pthread_mutex_unlock(&go_lock);
        pthread_kill(threads[1], SIGWINCH);
        go = 0; // check_workers sets it again
        check_workers("signals");
    } else if (!strcmp(mode, "stopsignal")) {
        check_workers("stopsignal");
        snprintf(detail, sizeof detail, "taken %d times, by the worker %d", (int)got_signal[SIGUSR1], got_thread[SIGUSR1] == tids[0]);
        check("stopsignal", got_signal[SIGUSR1] == 0 || (got_signal[SIGUSR1] == 1 && got_thread[SIGUSR1] == tids[0]), detail);
    }
    say("done\n");
    return 0;
}
