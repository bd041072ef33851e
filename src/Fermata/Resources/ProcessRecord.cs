using Fermata.Image.Wire;
using Fermata.Resources.Files;
using Fermata.Resources.Memory;
using Fermata.Resources.Process;
using Fermata.Resources.Signals;
using Fermata.Resources.Threads;

namespace Fermata.Resources;

/// <summary>
/// One process of an image: its identity and per-process state, and the records of each
/// resource kind it holds. Objects that processes can share (files, open file descriptions,
/// pipes) are image-level records that these refer to by id.
/// </summary>
public sealed class ProcessRecord : IWireRecord
{
    public int Pid { get; set; }
    public int ParentPid { get; set; }
    public int ProcessGroup { get; set; }
    public int Session { get; set; }
    public string Comm { get; set; } = "";
    /// <summary>The executable (/proc/PID/exe) as a <see cref="FileRecord.Id"/>.</summary>
    public uint ExeFileId { get; set; }
    public string Cwd { get; set; } = "/";
    public string Root { get; set; } = "/";
    public uint Umask { get; set; }
    public uint Personality { get; set; }
    public int ParentDeathSignal { get; set; }
    public int Dumpable { get; set; }
    public bool WasStopped { get; set; }
    public bool ThpDisabled { get; set; }
    public bool ChildSubreaper { get; set; }
    public ulong XcompPermission { get; set; }
    public ulong TimerSlackNanoseconds { get; set; }
    /// <summary>The process has exited and its parent has not collected it yet (a zombie).</summary>
    public bool Zombie { get; set; }
    /// <summary>A zombie's wait status, as wait(2) will report it to the parent.</summary>
    public int ExitStatus { get; set; }
    public MmRecord Mm { get; set; } = new();
    public CredentialsRecord Credentials { get; set; } = new();
    public List<LimitRecord> Limits { get; set; } = [];
    public SignalsRecord Signals { get; set; } = new();
    public List<ThreadRecord> Threads { get; set; } = [];
    public List<MappingRecord> Mappings { get; set; } = [];
    public List<DescriptorRecord> Descriptors { get; set; } = [];

    public void Write(WireWriter w)
    {
        w.UInt64(1, (ulong)Pid);
        w.UInt64(2, (ulong)ParentPid);
        w.UInt64(3, (ulong)ProcessGroup);
        w.UInt64(4, (ulong)Session);
        w.String(5, Comm);
        w.UInt64(6, ExeFileId);
        w.String(7, Cwd);
        w.String(8, Root);
        w.UInt64(9, Umask);
        w.UInt64(10, Personality);
        w.UInt64(11, (ulong)ParentDeathSignal);
        w.UInt64(12, (ulong)Dumpable);
        w.Bool(13, WasStopped);
        w.Bool(14, ThpDisabled);
        w.Bool(15, ChildSubreaper);
        w.UInt64(16, XcompPermission);
        w.UInt64(17, TimerSlackNanoseconds);
        w.Bool(18, Zombie);
        w.UInt64(19, (ulong)ExitStatus);
        w.Message(20, Mm);
        w.Message(21, Credentials);
        w.Messages(22, Limits);
        w.Message(23, Signals);
        w.Messages(24, Threads);
        w.Messages(25, Mappings);
        w.Messages(26, Descriptors);
    }

    public static ProcessRecord Read(WireReader r)
    {
        var p = new ProcessRecord();
        while (r.Next(out int field))
        {
            switch (field)
            {
                case 1: p.Pid = r.Int32Unsigned(); break;
                case 2: p.ParentPid = r.Int32Unsigned(); break;
                case 3: p.ProcessGroup = r.Int32Unsigned(); break;
                case 4: p.Session = r.Int32Unsigned(); break;
                case 5: p.Comm = r.String(); break;
                case 6: p.ExeFileId = r.UInt32(); break;
                case 7: p.Cwd = r.String(); break;
                case 8: p.Root = r.String(); break;
                case 9: p.Umask = r.UInt32(); break;
                case 10: p.Personality = r.UInt32(); break;
                case 11: p.ParentDeathSignal = r.Int32Unsigned(); break;
                case 12: p.Dumpable = r.Int32Unsigned(); break;
                case 13: p.WasStopped = r.Bool(); break;
                case 14: p.ThpDisabled = r.Bool(); break;
                case 15: p.ChildSubreaper = r.Bool(); break;
                case 16: p.XcompPermission = r.UInt64(); break;
                case 17: p.TimerSlackNanoseconds = r.UInt64(); break;
                case 18: p.Zombie = r.Bool(); break;
                case 19: p.ExitStatus = r.Int32Unsigned(); break;
                case 20: p.Mm = r.Message(MmRecord.Read, "memory layout"); break;
                case 21: p.Credentials = r.Message(CredentialsRecord.Read, "credentials"); break;
                case 22: p.Limits.Add(r.Message(LimitRecord.Read, "resource limit")); break;
                case 23: p.Signals = r.Message(SignalsRecord.Read, "signals"); break;
                case 24: p.Threads.Add(r.Message(ThreadRecord.Read, "thread")); break;
                case 25: p.Mappings.Add(r.Message(MappingRecord.Read, "mapping")); break;
                case 26: p.Descriptors.Add(r.Message(DescriptorRecord.Read, "descriptor")); break;
                default: r.Skip(); break;
            }
        }
        if (p.Pid <= 0) throw r.Missing("a process id");
        if (p.Threads.Count == 0 && !p.Zombie) throw r.Missing("threads");
        return p;
    }
}
