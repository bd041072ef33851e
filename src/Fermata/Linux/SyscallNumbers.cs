namespace Fermata.Linux;

/// <summary>x86_64 system call numbers, for raw calls from the controller and for injection.</summary>
internal static class SyscallNumbers
{
    public const int Read = 0, Write = 1, Open = 2, Close = 3, Stat = 4, Fstat = 5, Lstat = 6, Poll = 7, LSeek = 8,
        Mmap = 9, Mprotect = 10, Munmap = 11, Brk = 12, RtSigaction = 13, RtSigprocmask = 14,
        RtSigreturn = 15, Ioctl = 16, Pread64 = 17, Pwrite64 = 18, Readv = 19, Writev = 20, Pipe = 22,
        Mremap = 25, Madvise = 28, Dup = 32, Dup2 = 33, Pause = 34, Nanosleep = 35, Getitimer = 36,
        Alarm = 37, Setitimer = 38, Getpid = 39, Socket = 41, Clone = 56, Fork = 57, Vfork = 58,
        Execve = 59, Exit = 60, Wait4 = 61, Kill = 62, Fcntl = 72, Flock = 73, Fsync = 74,
        Ftruncate = 77, Getcwd = 79, Chdir = 80, Fchdir = 81, Fchown = 93, Umask = 95, Getrlimit = 97, Ptrace = 101,
        Getuid = 102, Geteuid = 107, Getegid = 108, Setuid = 105, Setgid = 106, Setpgid = 109, Getppid = 110, Setsid = 112,
        Setgroups = 116, Setresuid = 117, Setresgid = 119, Getpgid = 121, Setfsuid = 122,
        Setfsgid = 123, Getsid = 124, Capget = 125, Capset = 126, RtSigpending = 127, RtSigtimedwait = 128,
        RtSigqueueinfo = 129, Sigaltstack = 131, Personality = 135, Getpriority = 140,
        Setpriority = 141, Mlock = 149, Prctl = 157, ArchPrctl = 158, Setrlimit = 160, Chroot = 161,
        Gettid = 186, Tkill = 200, Futex = 202, SchedSetaffinity = 203, SchedGetaffinity = 204,
        SetTidAddress = 218, RestartSyscall = 219, TimerCreate = 222, TimerSettime = 223,
        TimerGettime = 224, TimerDelete = 226, ClockGettime = 228, ClockNanosleep = 230, ExitGroup = 231, Tgkill = 234,
        Openat = 257, Mkdirat = 258, Mknodat = 259, NewFstatAt = 262, Unlinkat = 263, Unshare = 272, SetRobustList = 273, GetRobustList = 274,
        Dup3 = 292, Pipe2 = 293, RtTgsigqueueinfo = 297, Prlimit64 = 302, Setns = 308,
        ProcessVmReadv = 310, ProcessVmWritev = 311, RenameAt2 = 316, Seccomp = 317,
        MemfdCreate = 319, Userfaultfd = 323, Mlock2 = 325, Rseq = 334, PidfdSendSignal = 424,
        PidfdOpen = 434, Clone3 = 435, CloseRange = 436, Openat2 = 437, PidfdGetfd = 438, CopyFileRange = 326,
        // sockets
        Connect = 42, Accept = 43, Sendto = 44, Recvfrom = 45, Sendmsg = 46, Recvmsg = 47, Shutdown = 48,
        Bind = 49, Listen = 50, Getsockname = 51, Getpeername = 52, Socketpair = 53, Setsockopt = 54,
        Getsockopt = 55, Accept4 = 288,
        // event objects
        EpollWait = 232, EpollCtl = 233, EpollPwait = 281, EpollCreate1 = 291, Eventfd2 = 290,
        TimerfdCreate = 283, TimerfdSettime = 286, TimerfdGettime = 287, Signalfd4 = 289,
        InotifyInit1 = 294, InotifyAddWatch = 254, InotifyRmWatch = 255, NameToHandleAt = 303,
        OpenByHandleAt = 304, Kcmp = 312,
        // scheduling, memory policy and locking
        SchedSetscheduler = 144, SchedGetscheduler = 145, SchedSetparam = 142, SchedGetparam = 143,
        SchedSetattr = 314, SchedGetattr = 315, IoprioSet = 251, IoprioGet = 252, Mbind = 237,
        SetMempolicy = 238, GetMempolicy = 239, Mlockall = 151, Munlockall = 152, Mseal = 462, Mincore = 27,
        IoSetup = 206, IoUringSetup = 425,
        // System V IPC and POSIX message queues
        Shmget = 29, Shmat = 30, Shmctl = 31, Semget = 64, Semop = 65, Semctl = 66, Shmdt = 67,
        Msgget = 68, Msgsnd = 69, Msgrcv = 70, Msgctl = 71, Semtimedop = 220, MqOpen = 240,
        MqUnlink = 241, MqTimedsend = 242, MqTimedreceive = 243, MqNotify = 244, MqGetsetattr = 245,
        // file system, clocks and timers
        Mount = 165, Fchmod = 91, TimerGetoverrun = 225,
        EpollPwait2 = 441, Recvmmsg = 299, Sendmmsg = 307;
}
