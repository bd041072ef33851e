// sigprobe: a job payload for probing how Slurm signals a job (tests/slurm/README.md). Each of its
// processes logs every signal it receives (time, role, pid, process group, sender) to $PROBE_LOG.
// Roles: "batch" is the process the job script exec'd (slurmstepd's child); "childN" are processes it
// forked (same process group); "setsidN" forked and then called setsid(); with PROBE_NS=1 an
// `unshare -Urpf` child runs a second probe ("ns", pid 1 of a new PID namespace, and "nschild0").
// Environment:
//   PROBE_LOG            the log file (default stderr)
//   PROBE_CHILDREN=N     N children in the batch process's group (default 1)
//   PROBE_SETSID=1       one more child in its own session
//   PROBE_NS=1           the PID-namespace pair described above
//   PROBE_ON_USR1 / PROBE_ON_TERM = requeue | exit
//                        what the batch process does on that signal: `scontrol requeue $SLURM_JOB_ID`
//                        and exit 0, or just exit 0 (default: log and go on)
//   PROBE_DELAY=S        wait S seconds before that action (stands for a checkpoint)
//   PROBE_AFTER_REQUEUE=stay   after requeueing, do not exit
//   PROBE_RUN=S, PROBE_EXIT=C  exit with code C after S seconds (C >= 128: kill itself with signal C-128)
// Build: gcc -O2 -o sigprobe sigprobe.c
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/wait.h>
static int fd = 2; static char role[32] = "batch";
static volatile sig_atomic_t pending_action = 0;
static void logf_(const char *fmt, ...) {
  char buf[512]; struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm; localtime_r(&ts.tv_sec, &tm);
  int n = snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03ld %-7s pid=%d pgid=%d ", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec/1000000, role, getpid(), getpgid(0));
  va_list ap; va_start(ap, fmt); n += vsnprintf(buf+n, sizeof buf - n, fmt, ap); va_end(ap);
  buf[n++] = '\n'; write(fd, buf, n);
}
static void h(int sig, siginfo_t *si, void *u) {
  logf_("got SIG%s from pid=%d uid=%d code=%d", sigabbrev_np(sig), si->si_pid, si->si_uid, si->si_code);
  if (strcmp(role, "batch") == 0 || strcmp(role, "ns") == 0) {
    const char *a = getenv(sig == SIGUSR1 ? "PROBE_ON_USR1" : sig == SIGTERM ? "PROBE_ON_TERM" : "x");
    if (a && !strcmp(a, "requeue")) pending_action = 2;
    else if (a && !strcmp(a, "exit")) pending_action = 1;
  }
}
int main(void) {
  if (getenv("PROBE_ROLE")) snprintf(role, sizeof role, "%s", getenv("PROBE_ROLE"));
  char base[32]; snprintf(base, sizeof base, "%s", strcmp(role, "batch") ? role : "");
  const char *lf = getenv("PROBE_LOG");
  if (lf) fd = open(lf, O_WRONLY|O_CREAT|O_APPEND, 0644);
  struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_sigaction = h; sa.sa_flags = SA_SIGINFO|SA_RESTART;
  for (int s = 1; s < 32; s++) if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD) sigaction(s, &sa, 0);
  logf_("start job=%s restart_count=%s ppid=%d", getenv("SLURM_JOB_ID"), getenv("SLURM_RESTART_COUNT") ? getenv("SLURM_RESTART_COUNT") : "unset", getppid());
  int nc = getenv("PROBE_CHILDREN") ? atoi(getenv("PROBE_CHILDREN")) : 1;
  int ss = getenv("PROBE_SETSID") ? atoi(getenv("PROBE_SETSID")) : 0;
  for (int i = 0; i < nc + ss; i++) {
    if (fork() == 0) {
      snprintf(role, sizeof role, i < nc ? "%schild%d" : "%ssetsid%d", base, i);
      if (i >= nc) setsid();
      logf_("start ppid=%d", getppid());
      for (;;) pause();
    }
  }
  if (getenv("PROBE_NS") && atoi(getenv("PROBE_NS")) && fork() == 0) {
    setenv("PROBE_ROLE", "ns", 1); setenv("PROBE_NS", "0", 1); setenv("PROBE_SETSID", "0", 1); setenv("PROBE_CHILDREN", "1", 1);
    unsetenv("PROBE_ON_USR1"); unsetenv("PROBE_ON_TERM");
    char self[4096]; ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) _exit(127);
    self[n] = 0;
    execlp("unshare", "unshare", "-Urpf", self, (char *)0); _exit(127);
  }
  int run = getenv("PROBE_RUN") ? atoi(getenv("PROBE_RUN")) : -1;
  time_t t0 = time(0);
  for (;;) {
    sleep(1);
    while (waitpid(-1, 0, WNOHANG) > 0) {}
    if (pending_action) {
      int delay = getenv("PROBE_DELAY") ? atoi(getenv("PROBE_DELAY")) : 0;
      if (delay) { logf_("acting in %d s", delay); time_t until = time(0) + delay; while (time(0) < until) sleep(1); }
      if (pending_action == 2) {
        char cmd[128]; snprintf(cmd, sizeof cmd, "scontrol requeue %s 2>&1", getenv("SLURM_JOB_ID"));
        logf_("running: %s", cmd);
        FILE *p = popen(cmd, "r"); char b[256]; while (fgets(b, sizeof b, p)) logf_("scontrol: %s", b);
        logf_("scontrol exit=%d", pclose(p));
      }
      if (pending_action == 2 && getenv("PROBE_AFTER_REQUEUE") && !strcmp(getenv("PROBE_AFTER_REQUEUE"), "stay")) { logf_("staying"); pending_action = 0; continue; }
      logf_("exiting 0");
      exit(0);
    }
    if (run >= 0 && time(0) - t0 >= run) { int c = getenv("PROBE_EXIT") ? atoi(getenv("PROBE_EXIT")) : 0; logf_("exiting %d", c); if (c >= 128) kill(getpid(), c - 128); exit(c); }
  }
}
