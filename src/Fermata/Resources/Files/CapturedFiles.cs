namespace Fermata.Resources.Files;

/// <summary>How many of an image's files were captured, and how: what `checkpoint` reports.</summary>
internal sealed record CapturedFiles(int Cloned, ulong ClonedBytes, int Copied, ulong CopiedBytes, int ByIdentity, int Appended)
{
    public int Count => Cloned + Copied + ByIdentity + Appended;

    public static CapturedFiles Of(IEnumerable<FileRecord> files)
    {
        int cloned = 0, copied = 0, identity = 0, appended = 0;
        ulong clonedBytes = 0, copiedBytes = 0;
        foreach (var f in files)
        {
            switch (f.Capture)
            {
                case FileCapture.Clone: cloned++; clonedBytes += f.ContentLength; break;
                case FileCapture.Pages: copied++; copiedBytes += f.ContentLength; break;
                case FileCapture.Identity: identity++; break;
                case FileCapture.Append: appended++; break;
            }
        }
        return new CapturedFiles(cloned, clonedBytes, copied, copiedBytes, identity, appended);
    }
}
