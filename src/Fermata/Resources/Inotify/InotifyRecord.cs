using Fermata.Image.Wire;

namespace Fermata.Resources.Inotify;

/// <summary>One watch of an inotify instance.</summary>
internal sealed class InotifyWatchRecord : IWireRecord<InotifyWatchRecord>
{
    /// <summary>The watch descriptor the program knows it by.</summary>
    public int Wd { get; set; }
    /// <summary>IN_* events, with IN_ONESHOT and IN_EXCL_UNLINK.</summary>
    public uint Mask { get; set; }
    public string Path { get; set; } = "";
    public ulong Device { get; set; }
    public ulong Inode { get; set; }

    public static RecordSchema<InotifyWatchRecord> Schema { get; } = new RecordSchema<InotifyWatchRecord>("InotifyWatchRecord", "inotify watch",
            "One watch of an inotify instance: what it watches and for which events.")
        .NonNegative(1, "wd", r => r.Wd, (r, v) => r.Wd = v, "the watch descriptor")
        .UInt32(2, "mask", r => r.Mask, (r, v) => r.Mask = v, "IN_* events, with IN_ONESHOT and IN_EXCL_UNLINK", Show.Hex)
        .String(3, "path", r => r.Path, (r, v) => r.Path = v, "the file or directory watched; a restore watches what is there")
        .UInt64(4, "device", r => r.Device, (r, v) => r.Device = v, "st_dev of the file at checkpoint time")
        .UInt64(5, "inode", r => r.Inode, (r, v) => r.Inode = v, "at checkpoint time")
        .Check(r => r.Wd <= 0 ? "a watch descriptor" : !r.Path.StartsWith('/') ? "an absolute path" : null);
}

/// <summary>An inotify instance and its watches. Events queued and not yet read are not saved:
/// a checkpoint refuses an instance that has any.</summary>
internal sealed class InotifyRecord : IWireRecord<InotifyRecord>
{
    public uint Id { get; set; }
    public List<InotifyWatchRecord> Watches { get; set; } = [];

    public static RecordSchema<InotifyRecord> Schema { get; } = new RecordSchema<InotifyRecord>("InotifyRecord", "inotify instance",
            "An inotify instance and its watches.")
        .UInt32(1, "id", r => r.Id, (r, v) => r.Id = v)
        .Messages(2, "watches", r => r.Watches);
}
