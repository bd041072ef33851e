using System.Text;
using System.Text.Json;
using Fermata.Engine;
using Fermata.Image;
using Fermata.Resources;
using Fermata.Resources.Files;
using Fermata.Resources.Memory;
using Fermata.Resources.Process;
using Fermata.Tracing;

namespace Fermata.Cli.Inspect;

/// <summary>'fermata inspect --json': the image as one JSON document, for scripts.
/// Addresses are hexadecimal strings; sizes are numbers of bytes.</summary>
internal static class ImageJson
{
    public static string Render(CheckpointImage image)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            var m = image.Manifest;
            w.WriteStartObject();
            w.WriteString("directory", image.Directory);
            w.WriteNumber("format", ImageFormat.Version);
            w.WriteStartObject("info");
            w.WriteString("tool_version", m.Info.ToolVersion);
            w.WriteString("created", DateTimeOffset.FromUnixTimeMilliseconds(m.Info.CreatedUnixMilliseconds).ToString("o"));
            w.WriteString("hostname", m.Info.Hostname);
            w.WriteString("kernel", m.Info.KernelRelease);
            w.WriteString("xfeatures", $"0x{m.Info.XFeatures:x}");
            w.WriteNumber("frozen_seconds", m.Info.FrozenNanoseconds / 1e9);
            w.WriteBoolean("left_running", m.Info.LeftRunning);
            w.WriteString("command_line", m.Info.CommandLine);
            w.WriteString("id", m.Info.Id);
            w.WriteString("parent_id", m.Info.ParentId);
            w.WriteNumber("depth", m.Info.Depth);
            w.WriteEndObject();
            var st = m.Info.Stats;
            w.WriteStartObject("pages");
            w.WriteString("compression", CompressionNames.Name(st.Compression));
            w.WriteNumber("total", st.PagesTotal);
            w.WriteNumber("stored", st.PagesStored);
            w.WriteNumber("stored_bytes", st.BytesStored);
            w.WriteNumber("compressed_bytes", st.BytesCompressed);
            w.WriteNumber("inherited", st.PagesInherited);
            w.WriteNumber("inherited_by_tracking", st.PagesInheritedByTracking);
            w.WriteNumber("inherited_by_comparison", st.PagesInheritedByComparison);
            w.WriteNumber("zero", st.PagesZero);
            w.WriteNumber("deduplicated", st.PagesDeduplicated);
            w.WriteEndObject();
            w.WriteStartArray("parents");
            foreach (var parent in m.Parents.OrderBy(p => p.Store))
            {
                w.WriteStartObject();
                w.WriteString("path", parent.Path);
                w.WriteString("id", parent.Id);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("size");
            w.WriteNumber("page_bytes", m.Blocks.Aggregate(0UL, (n, b) => n + b.StoredLength));
            w.WriteNumber("blocks", m.Blocks.Count);
            w.WriteNumber("manifest_bytes", new FileInfo(Path.Combine(image.Directory, ImageFormat.ManifestFile)).Length);
            w.WriteEndObject();
            w.WriteStartArray("processes");
            foreach (var p in m.Processes) WriteProcess(w, image, p);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteProcess(Utf8JsonWriter w, CheckpointImage image, ProcessRecord p)
    {
        w.WriteStartObject();
        w.WriteNumber("pid", p.Pid);
        w.WriteNumber("ppid", p.ParentPid);
        w.WriteNumber("pgid", p.ProcessGroup);
        w.WriteNumber("sid", p.Session);
        w.WriteString("comm", p.Comm);
        w.WriteString("exe", p.ExeFileId != 0 ? image.File(p.ExeFileId).Path : null);
        w.WriteString("cwd", p.Cwd);
        w.WriteString("root", p.Root);
        w.WriteString("umask", Convert.ToString(p.Umask, 8).PadLeft(4, '0'));
        w.WriteBoolean("stopped", p.WasStopped);
        w.WriteStartObject("credentials");
        WriteNumbers(w, "uids", p.Credentials.Uids);
        WriteNumbers(w, "gids", p.Credentials.Gids);
        WriteNumbers(w, "groups", p.Credentials.Groups);
        w.WriteString("cap_effective", $"0x{p.Credentials.CapEffective:x}");
        w.WriteEndObject();

        w.WriteStartArray("threads");
        foreach (var t in p.Threads)
        {
            var regs = UserRegs.FromBytes(t.Registers);
            w.WriteStartObject();
            w.WriteNumber("tid", t.Tid);
            w.WriteString("name", t.Name);
            w.WriteString("rip", $"0x{regs.Rip:x}");
            w.WriteString("rsp", $"0x{regs.Rsp:x}");
            w.WriteString("fs_base", $"0x{regs.FsBase:x}");
            if (regs.InRestartableSyscall) w.WriteString("in_syscall", SyscallNames.Name((long)regs.OrigRax));
            w.WriteString("signal_mask", $"0x{t.SignalMask:x}");
            w.WriteString("rseq", $"0x{t.RseqAddress:x}");
            w.WriteString("robust_list", $"0x{t.RobustListHead:x}");
            w.WriteString("clear_child_tid", $"0x{t.ClearChildTid:x}");
            w.WriteNumber("fpu_state_bytes", t.ExtendedState.Length);
            w.WriteNumber("pending_signals", t.PendingSignals.Count);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteStartArray("mappings");
        foreach (var m in p.Mappings)
        {
            w.WriteStartObject();
            w.WriteString("start", $"0x{m.Start:x}");
            w.WriteString("end", $"0x{m.End:x}");
            w.WriteString("prot", m.Permissions);
            w.WriteString("kind", m.Kind.ToString());
            w.WriteString("name", m.Name);
            if (m.Kind == MappingKind.File)
            {
                w.WriteString("file", image.File(m.FileId).Path);
                w.WriteNumber("offset", m.FileOffset);
            }
            w.WriteString("vm_flags", m.VmFlags.ToString());
            w.WriteNumber("pages_saved", m.SavedPages);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteStartArray("descriptors");
        foreach (var d in p.Descriptors)
        {
            var desc = image.Description(d.DescriptionId);
            w.WriteStartObject();
            w.WriteNumber("fd", d.Fd);
            w.WriteString("kind", desc.Kind.ToString());
            if (desc.Kind == DescriptionKind.File)
            {
                var f = image.File(desc.ObjectId);
                w.WriteString("path", f.Path);
                w.WriteString("file_kind", f.Kind.ToString());
                w.WriteBoolean("deleted", f.Deleted);
                w.WriteNumber("size", f.Size);
            }
            else if (desc.Kind != DescriptionKind.External) w.WriteNumber("buffered_bytes", image.Pipe(desc.ObjectId).Contents.Length);
            w.WriteString("flags", $"0{Convert.ToString(desc.Flags, 8)}");
            w.WriteNumber("position", desc.Position);
            w.WriteBoolean("cloexec", d.CloseOnExec);
            w.WriteNumber("description", d.DescriptionId);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteStartArray("signal_handlers");
        foreach (var a in p.Signals.Actions)
        {
            w.WriteStartObject();
            w.WriteString("signal", Linux.Signals.Name(a.Signal));
            w.WriteString("handler", a.Handler switch { 0 => "default", 1 => "ignore", _ => $"0x{a.Handler:x}" });
            w.WriteString("flags", $"0x{a.Flags:x}");
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("pending_signals", p.Signals.PendingShared.Count);
        w.WriteStartObject("limits");
        foreach (var l in p.Limits)
        {
            w.WriteStartArray(LimitRecord.Names[l.Resource]);
            WriteLimit(w, l.Soft);
            WriteLimit(w, l.Hard);
            w.WriteEndArray();
        }
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteLimit(Utf8JsonWriter w, ulong v)
    {
        if (v == ulong.MaxValue) w.WriteStringValue("unlimited"); else w.WriteNumberValue(v);
    }

    private static void WriteNumbers(Utf8JsonWriter w, string name, uint[] values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }
}
