using Fermata.Linux.Interop;
using Fermata.Resources.Memory;

namespace Fermata.Resources.Files;

/// <summary>How the live processes of an image use one file.</summary>
/// <param name="Written">Some process has it open for writing, or maps it shared and writable.</param>
/// <param name="AppendOnly">Written, but only through descriptions opened with O_APPEND, and not
/// mapped shared and writable: output that only grows.</param>
/// <param name="Opened">Some process has a descriptor of it.</param>
/// <param name="Mapped">Some process maps it (or runs it).</param>
internal sealed record FileUse(bool Written, bool AppendOnly, bool Opened, bool Mapped);

/// <summary>
/// Which files the processes of an image write and which they only read, derived from their
/// descriptors' open flags and their mappings: the checkpoint decides from it what to capture,
/// and the restore what to put back, truncate or check, from the very same records.
/// </summary>
internal static class FileUses
{
    public static Dictionary<uint, FileUse> Of(CheckpointManifest manifest)
    {
        var descriptions = manifest.Descriptions.Where(d => d.Kind == DescriptionKind.File).ToDictionary(d => d.Id);
        var seen = new Dictionary<uint, Seen>();
        Seen For(uint file) => seen.TryGetValue(file, out var s) ? s : seen[file] = new Seen();
        foreach (var p in manifest.Processes.Where(p => !p.Zombie))
        {
            foreach (var id in p.Descriptors.Select(d => d.DescriptionId).Distinct())
            {
                // An O_PATH descriptor neither reads nor writes the file.
                if (!descriptions.TryGetValue(id, out var d) || (d.Flags & Libc.O_PATH) != 0) continue;
                var s = For(d.ObjectId);
                s.Opened = true;
                if ((d.Flags & Libc.O_ACCMODE) == Libc.O_RDONLY) continue;
                s.NoteWriter(appends: (d.Flags & Libc.O_APPEND) != 0);
            }
            foreach (var m in p.Mappings.Where(m => m.Kind == MappingKind.File))
            {
                var s = For(m.FileId);
                s.Mapped = true;
                // A shared mapping whose file was opened for writing may be made writable later.
                if (m.Shared && ((m.Prot & Libc.PROT_WRITE) != 0 || (m.VmFlags & Linux.Proc.VmFlags.MayWrite) != 0))
                    s.NoteWriter(appends: false);
            }
            if (p.ExeFileId != 0) For(p.ExeFileId).Mapped = true;
        }
        return seen.ToDictionary(e => e.Key, e => new FileUse(e.Value.Written, e.Value.Written && !e.Value.Rewritten, e.Value.Opened, e.Value.Mapped));
    }

    private sealed class Seen
    {
        public bool Written, Rewritten, Opened, Mapped;

        public void NoteWriter(bool appends)
        {
            Written = true;
            Rewritten |= !appends;
        }
    }
}
