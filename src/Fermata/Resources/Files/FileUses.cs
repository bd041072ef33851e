using Fermata.Engine;
using Fermata.Linux.Interop;
using Fermata.Resources.Memory;
using Fermata.Resources.Process;

namespace Fermata.Resources.Files;

/// <summary>How the live processes of an image use one file.</summary>
/// <param name="Written">Some process has it open for writing, or maps it shared and writable.</param>
/// <param name="AppendOnly">Written, but only through descriptions opened with O_APPEND, and not
/// mapped shared and writable: output that only grows.</param>
/// <param name="Opened">Some process has a descriptor of it.</param>
/// <param name="Mapped">Some process maps it (or runs it).</param>
/// <param name="User">The credentials of a process that writes it (else of one that uses it):
/// whom a restore acts as when it puts the file back or truncates it.</param>
public sealed record FileUse(bool Written, bool AppendOnly, bool Opened, bool Mapped, CredentialsRecord User);

/// <summary>
/// Which files the processes of an image write and which they only read, derived from their
/// descriptors' open flags and their mappings: the checkpoint decides from it what to capture,
/// and the restore what to put back, truncate or check, from the very same records.
/// </summary>
public static class FileUses
{
    public static Dictionary<uint, FileUse> Of(CheckpointManifest manifest)
    {
        var descriptions = manifest.Descriptions.Where(d => d.Kind == DescriptionKind.File).ToDictionary(d => d.Id);
        var seen = new Dictionary<uint, Seen>();
        Seen For(uint file, CredentialsRecord user) => seen.TryGetValue(file, out var s) ? s : seen[file] = new Seen { User = user };
        foreach (var p in manifest.Processes.Where(p => !p.Zombie))
        {
            foreach (var id in p.Descriptors.Select(d => d.DescriptionId).Distinct())
            {
                // An O_PATH descriptor neither reads nor writes the file.
                if (!descriptions.TryGetValue(id, out var d) || (d.Flags & Libc.O_PATH) != 0) continue;
                var s = For(d.ObjectId, p.Credentials);
                s.Opened = true;
                if ((d.Flags & Libc.O_ACCMODE) == Libc.O_RDONLY) continue;
                s.NoteWriter(p.Credentials, appends: (d.Flags & Libc.O_APPEND) != 0);
            }
            foreach (var m in p.Mappings.Where(m => m.Kind == MappingKind.File))
            {
                var s = For(m.FileId, p.Credentials);
                s.Mapped = true;
                // A shared mapping whose file was opened for writing may be made writable later.
                if (m.Shared && ((m.Prot & Libc.PROT_WRITE) != 0 || (m.VmFlags & Linux.Proc.VmFlags.MayWrite) != 0))
                    s.NoteWriter(p.Credentials, appends: false);
            }
            if (p.ExeFileId != 0) For(p.ExeFileId, p.Credentials).Mapped = true;
        }
        return seen.ToDictionary(e => e.Key, e => new FileUse(e.Value.Written, e.Value.Written && !e.Value.Rewritten,
            e.Value.Opened, e.Value.Mapped, e.Value.User));
    }

    private sealed class Seen
    {
        public bool Written, Rewritten, Opened, Mapped;
        public required CredentialsRecord User;

        public void NoteWriter(CredentialsRecord user, bool appends)
        {
            if (!Written) User = user;
            Written = true;
            Rewritten |= !appends;
        }
    }
}
