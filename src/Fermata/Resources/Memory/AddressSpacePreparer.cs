using Fermata.Resources.Restore;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Memory;

/// <summary>
/// Empties the new process's address space for the target: it starts as a copy of the blank
/// process, so the blank program, its stack and descriptors go, a helper region (a page with a
/// syscall instruction, then scratch memory) is placed where the target has nothing, and the
/// kernel's vDSO and vvar pages are moved to exactly where the target had them. They must move
/// together with their layout intact: the vDSO code finds its data at a fixed offset, and the
/// program (glibc) has cached the vDSO's address.
/// </summary>
internal static class AddressSpacePreparer
{
    public static void Prepare(RestoreContext ctx)
    {
        var current = SmapsReader.Parse(File.ReadAllText($"/proc/{ctx.Pid}/maps"));
        var target = ctx.Process.Mappings;

        ctx.HelperAddress = FindHole(RestoreContext.HelperSize, current.Select(m => (m.Start, m.End)).Concat(target.Select(m => (m.Start, m.End))));
        long r = ctx.Main.Call(SyscallNumbers.Mmap, (long)ctx.HelperAddress, (long)RestoreContext.HelperSize,
            Libc.PROT_READ | Libc.PROT_WRITE | Libc.PROT_EXEC, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_FIXED_NOREPLACE, -1, 0);
        if ((ulong)r != ctx.HelperAddress) throw new SystemCallException($"map the helper region in process {ctx.Pid}", r < 0 ? (int)-r : Errno.EEXIST);
        ctx.Memory.Write(ctx.HelperAddress, [0x0f, 0x05, 0xcc]); // syscall; int3
        var batches = Tracing.BatchArea.In(ctx.HelperAddress + RestoreContext.BatchAreaOffset);
        foreach (var injector in ctx.Threads.Values)
        {
            injector.SyscallAddress = ctx.HelperAddress;
            injector.Scratch = new Tracing.ScratchArea(ctx.HelperAddress + PageSize.Bytes, RestoreContext.BatchAreaOffset - PageSize.Bytes);
            injector.Batches = batches;
        }

        // The restoring command's stdin, stdout and stderr (a job's launcher's), which the new
        // process inherited, are kept above the target's descriptors for the descriptions that
        // stand for them; so are shared objects it made already as it was created (the
        // pseudo-terminal a session leader took as its controlling terminal).
        var keep = new SortedSet<int>(ctx.KeptForOthers);
        var calls = new Tracing.SyscallQueue(ctx.Main);
        if (ctx.Session.InheritsStdio)
        {
            for (int k = 0; k <= 2; k++)
            {
                int fd = k;
                calls.Add(copy =>
                {
                    ctx.ExternalFds[fd] = copy < 0 ? -1 : (int)copy;
                    if (copy >= 0) keep.Add((int)copy);
                }, SyscallNumbers.Fcntl, k, Libc.F_DUPFD_CLOEXEC, ctx.HighFd);
            }
            calls.Flush();
        }
        // The rest in one batch: none of these calls needs another's result.
        int from = 0;
        foreach (int kept in keep)
        {
            if (kept > from) calls.Check("close inherited descriptors", SyscallNumbers.CloseRange, from, kept - 1, 0);
            from = kept + 1;
        }
        calls.Check("close inherited descriptors", SyscallNumbers.CloseRange, from, uint.MaxValue, 0);
        foreach (var m in current)
        {
            if (m.Path is "[vdso]" or "[vvar]" or "[vvar_vclock]" or "[vsyscall]") continue;
            calls.Check($"unmap {m.Describe()}", SyscallNumbers.Munmap, (long)m.Start, (long)m.Length);
        }
        MoveVdso(ctx, current, calls);
        calls.Flush();
    }

    private static readonly (string Name, MappingKind Kind)[] VdsoParts =
        [("[vvar]", MappingKind.Vvar), ("[vvar_vclock]", MappingKind.VvarVclock), ("[vdso]", MappingKind.Vdso)];

    private static void MoveVdso(RestoreContext ctx, List<MapsEntry> current, Tracing.SyscallQueue calls)
    {
        var ours = VdsoParts.Select(p => (p.Kind, Entry: current.FirstOrDefault(m => m.Path == p.Name)))
            .Where(p => p.Entry != null).ToList();
        var theirs = ctx.Process.Mappings.Where(m => m.Kind is MappingKind.Vdso or MappingKind.Vvar or MappingKind.VvarVclock).ToList();
        if (theirs.Count == 0)
        {
            // The target ran without a vDSO: take ours away too.
            foreach (var (_, e) in ours) calls.Check("unmap the vDSO", SyscallNumbers.Munmap, (long)e!.Start, (long)e.Length);
            return;
        }
        var ourVdso = ours.FirstOrDefault(p => p.Kind == MappingKind.Vdso).Entry;
        var theirVdso = theirs.FirstOrDefault(m => m.Kind == MappingKind.Vdso);
        bool sameLayout = ourVdso != null && theirVdso != null && ours.Count == theirs.Count && ours.All(p =>
        {
            var t = theirs.FirstOrDefault(m => m.Kind == p.Kind);
            return t != null && t.Length == p.Entry!.Length && t.Start - theirVdso.Start == p.Entry.Start - ourVdso.Start;
        });
        if (!sameLayout)
            throw new ImageException("the image comes from a kernel whose vDSO layout differs from this one's; restore it on the kernel it was taken on");

        // Two steps, through a free area, so no move lands on a part not yet moved.
        ulong low = ours.Min(p => p.Entry!.Start), high = ours.Max(p => p.Entry!.End);
        var occupied = ours.Select(p => (p.Entry!.Start, p.Entry.End))
            .Concat(theirs.Select(m => (m.Start, m.End)))
            .Concat(ctx.Process.Mappings.Select(m => (m.Start, m.End)))
            .Append((ctx.HelperAddress, ctx.HelperAddress + RestoreContext.HelperSize));
        ulong temp = FindHole(high - low, occupied);
        foreach (var (_, e) in ours) Remap(ctx, calls, e!.Start, e.Length, temp + (e.Start - low));
        foreach (var (kind, e) in ours)
        {
            var t = theirs.First(m => m.Kind == kind);
            Remap(ctx, calls, temp + (e!.Start - low), e.Length, t.Start);
        }
    }

    private static void Remap(RestoreContext ctx, Tracing.SyscallQueue calls, ulong from, ulong length, ulong to) =>
        calls.Add(r =>
        {
            if ((ulong)r != to) throw new SystemCallException($"move the vDSO from {from:x} to {to:x} in process {ctx.Pid}", r < 0 ? (int)-r : Errno.EINVAL);
        }, SyscallNumbers.Mremap, (long)from, (long)length, (long)length, Libc.MREMAP_MAYMOVE | Libc.MREMAP_FIXED, (long)to);

    /// <summary>The lowest page-aligned address from 1 MiB up where <paramref name="size"/> bytes
    /// touch none of <paramref name="occupied"/>.</summary>
    public static ulong FindHole(ulong size, IEnumerable<(ulong Start, ulong End)> occupied)
    {
        ulong candidate = 1UL << 20;
        foreach (var (start, end) in occupied.OrderBy(o => o.Start))
        {
            if (end <= candidate) continue;
            if (start >= candidate + size) break;
            candidate = PageSize.AlignUp(end);
        }
        const ulong userTop = 0x7ffffffff000;
        if (candidate + size > userTop) throw new ImageException("no free address range left for the restore helper");
        return candidate;
    }
}
