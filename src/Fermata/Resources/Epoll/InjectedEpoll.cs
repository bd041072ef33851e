using System.Buffers.Binary;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Tracing;

namespace Fermata.Resources.Epoll;

/// <summary>
/// epoll_ctl and epoll_wait on an epoll instance, run by a process that holds it (injected).
/// epoll_ctl must be: the kernel finds an entry's file through the caller's descriptor number.
/// epoll_wait must be too, because a signalfd's readiness is that of the process that polls it.
/// The event structures go through the injector's scratch memory: struct epoll_event is packed
/// on x86_64, 12 bytes (u32 events, u64 data).
/// </summary>
internal sealed class InjectedEpoll(SyscallInjector injector, int efd, string owner)
{
    private const int EventSize = 12;
    private const ulong ControlAt = 0, EventsAt = 64;

    /// <summary>epoll_ctl(op, fd) with events and data; throws naming what was being done.</summary>
    public void Control(int op, int fd, uint events, ulong data)
    {
        Span<byte> ev = stackalloc byte[EventSize];
        BinaryPrimitives.WriteUInt32LittleEndian(ev, events);
        BinaryPrimitives.WriteUInt64LittleEndian(ev[4..], data);
        injector.Memory.Write(injector.Scratch.At(ControlAt), ev);
        long r = injector.Call(SyscallNumbers.EpollCtl, efd, op, fd, (long)injector.Scratch.At(ControlAt));
        if (r < 0)
        {
            string what = op == EpollEvents.CtlAdd ? "add" : "modify";
            throw new SystemCallException($"{what} the entry for fd {fd} (events 0x{events:x}) of the epoll instance at fd {efd} of {owner}", (int)-r);
        }
    }

    /// <summary>
    /// Takes every event ready now, as the program's epoll_wait would (without waiting): what
    /// this reports, an edge-triggered entry no longer has, and an EPOLLONESHOT entry is disarmed;
    /// level-triggered entries stay ready. Enough calls are made that every entry that was ready
    /// is reported at least once: the kernel reports the entries it has not reached yet before
    /// those it put back.
    /// </summary>
    public List<(uint Events, ulong Data)> TakeReady(int entries)
    {
        int perCall = (int)Math.Min((injector.Scratch.Size - EventsAt) / EventSize, 1024);
        var taken = new List<(uint, ulong)>();
        for (int call = 0; call <= entries / perCall; call++)
        {
            ulong at = injector.Scratch.At(EventsAt);
            long n = injector.Call(SyscallNumbers.EpollWait, efd, (long)at, perCall, 0);
            if (n < 0) throw new SystemCallException($"epoll_wait on the epoll instance at fd {efd} of {owner}", (int)-n);
            var bytes = injector.Memory.Read(at, (int)n * EventSize);
            for (int i = 0; i < n; i++)
                taken.Add((BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i * EventSize)), BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(i * EventSize + 4))));
            if (n < perCall) break;
        }
        return taken;
    }
}
