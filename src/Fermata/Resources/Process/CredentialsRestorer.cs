using System.Buffers.Binary;
using Fermata.Resources.Restore;
using Fermata.Linux;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Process;

/// <summary>
/// Gives every thread its saved credentials back, as the last privileged step (creating PIDs,
/// PR_SET_MM_MAP and chroot need the restorer's privileges): bounding set, supplementary groups,
/// group and user ids (real, effective, saved, filesystem), capabilities, ambient capabilities,
/// no_new_privs. Credentials are per thread in the kernel, so each thread changes its own. Then
/// the dumpable flag, which a change of ids resets.
/// </summary>
internal static class CredentialsRestorer
{
    private const int PR_SET_DUMPABLE = 4, PR_SET_KEEPCAPS = 8, PR_CAPBSET_DROP = 24, PR_GET_SECUREBITS = 27,
        PR_SET_SECUREBITS = 28, PR_SET_NO_NEW_PRIVS = 38, PR_CAP_AMBIENT = 47, PR_CAP_AMBIENT_RAISE = 2, LastCapability = 40;
    private const uint SECBIT_KEEP_CAPS = 1 << 4, SECBIT_KEEP_CAPS_LOCKED = 1 << 5;
    private const uint CapabilityVersion3 = 0x20080522;

    public static void Restore(RestoreContext ctx)
    {
        var saved = ctx.Process.Credentials;
        var current = ProcStatus.Read(ctx.Pid);
        bool changeIds = !current.Uids.SequenceEqual(saved.Uids) || !current.Gids.SequenceEqual(saved.Gids)
            || !current.Groups.SequenceEqual(saved.Groups);
        foreach (var t in ctx.Process.Threads)
        {
            var inj = ctx.Threads[t.Tid];
            for (int cap = 0; cap <= LastCapability; cap++)
            {
                ulong bit = 1UL << cap;
                if ((current.CapBnd & bit) != 0 && (saved.CapBounding & bit) == 0)
                    inj.Check($"drop capability {cap} from the bounding set", SyscallNumbers.Prctl, PR_CAPBSET_DROP, cap);
            }
            // Securebits need CAP_SETPCAP, so they are set while we still have it; keeping
            // capabilities across the change of uid lets the saved ones be set afterwards.
            bool keepLocked = (saved.Securebits & SECBIT_KEEP_CAPS_LOCKED) != 0;
            uint bits = changeIds && !keepLocked ? saved.Securebits | SECBIT_KEEP_CAPS : saved.Securebits;
            if (bits != (uint)inj.Check("prctl(PR_GET_SECUREBITS)", SyscallNumbers.Prctl, PR_GET_SECUREBITS))
                inj.Check("restore securebits", SyscallNumbers.Prctl, PR_SET_SECUREBITS, bits);
            if (changeIds)
            {
                var groups = new byte[Math.Max(4, saved.Groups.Length * 4)];
                for (int i = 0; i < saved.Groups.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(groups.AsSpan(i * 4), saved.Groups[i]);
                ulong at = ctx.WriteScratch(groups, 0);
                inj.Check("setgroups", SyscallNumbers.Setgroups, saved.Groups.Length, (long)at);
                inj.Check("setresgid", SyscallNumbers.Setresgid, saved.Gids[0], saved.Gids[1], saved.Gids[2]);
                inj.Call(SyscallNumbers.Setfsgid, saved.Gids[3]);
                inj.Check("setresuid", SyscallNumbers.Setresuid, saved.Uids[0], saved.Uids[1], saved.Uids[2]);
                inj.Call(SyscallNumbers.Setfsuid, saved.Uids[3]);
            }
            if (changeIds || current.CapEff != saved.CapEffective || current.CapPrm != saved.CapPermitted || current.CapInh != saved.CapInheritable)
                SetCapabilities(ctx, inj, saved);
            if (bits != saved.Securebits)
                inj.Check("prctl(PR_SET_KEEPCAPS, 0)", SyscallNumbers.Prctl, PR_SET_KEEPCAPS, 0);
            for (int cap = 0; cap <= LastCapability; cap++)
                if ((saved.CapAmbient & (1UL << cap)) != 0)
                    inj.Check($"raise ambient capability {cap}", SyscallNumbers.Prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap);
            if (saved.NoNewPrivs) inj.Check("prctl(PR_SET_NO_NEW_PRIVS)", SyscallNumbers.Prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        }
        if (ctx.Process.Dumpable is 0 or 1)
            ctx.Main.Check("prctl(PR_SET_DUMPABLE)", SyscallNumbers.Prctl, PR_SET_DUMPABLE, ctx.Process.Dumpable);
    }

    private static void SetCapabilities(RestoreContext ctx, Tracing.SyscallInjector inj, CredentialsRecord saved)
    {
        var raw = new byte[8 + 24];
        BinaryPrimitives.WriteUInt32LittleEndian(raw, CapabilityVersion3);
        // pid 0: the calling thread. Then two {effective, permitted, inheritable} halves.
        ulong[] sets = [saved.CapEffective, saved.CapPermitted, saved.CapInheritable];
        for (int half = 0; half < 2; half++)
            for (int i = 0; i < 3; i++)
                BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(8 + half * 12 + i * 4), (uint)(sets[i] >> (32 * half)));
        ulong header = ctx.WriteScratch(raw, 0);
        inj.Check("capset", SyscallNumbers.Capset, (long)header, (long)header + 8);
    }
}
