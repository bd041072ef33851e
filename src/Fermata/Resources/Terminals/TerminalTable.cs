using Fermata.Linux;
using Fermata.Resources.Files;

namespace Fermata.Resources.Terminals;

/// <summary>
/// What one checkpoint learns about terminals while it dumps its processes one after the other:
/// each terminal device met (as a descriptor or as a controlling terminal), with its record; the
/// masters of pseudo-terminal pairs (the controller's copies, to read the pairs once every process
/// is dumped); and each process's controlling terminal and process group. Whether a device is a
/// pair of the checkpoint or the terminal shared with the outside is only known once every
/// process is dumped (a slave may be seen before its master): <see cref="TerminalDumper.Settle"/>
/// decides then.
/// </summary>
internal sealed class TerminalTable : IDisposable
{
    public sealed class Entry
    {
        public required TerminalRecord Record { get; init; }
        /// <summary>The terminal's device number (a pseudo-terminal's slave).</summary>
        public required ulong Device { get; init; }
        /// <summary>The controller's copy of the pair's master, once a process showed it.</summary>
        public SafeFd? Master { get; set; }
        /// <summary>Descriptions of the terminal (a slave or the outside terminal) and /dev/tty
        /// reaching it, with a process and descriptor number holding each (for messages).</summary>
        public List<(DescriptionRecord Description, int Pid, int Fd)> Opened { get; } = [];
        /// <summary>The process and descriptor that first showed the device.</summary>
        public (int Pid, int Fd) FirstHolder { get; set; }
    }

    /// <summary>A process as terminals care about it: host and image process group, session, and
    /// its controlling terminal's device (0: none).</summary>
    public sealed record ProcessFacts(ProcessRecord Record, int HostPid, int HostGroup, ulong ControllingDevice, int HostForeground);

    private readonly Dictionary<ulong, Entry> _byDevice = [];

    public IEnumerable<Entry> Entries => _byDevice.Values;
    public List<ProcessFacts> Processes { get; } = [];
    /// <summary>Settling was scheduled (once per checkpoint).</summary>
    public bool Scheduled { get; set; }
    /// <summary>The device of the terminal shared with the outside; null until found, 0 none.</summary>
    public ulong? OutsideDevice { get; set; }

    public Entry? Find(ulong device) => _byDevice.GetValueOrDefault(device);

    public Entry Get(ulong device, Func<TerminalRecord> create)
    {
        if (_byDevice.TryGetValue(device, out var entry)) return entry;
        return _byDevice[device] = new Entry { Record = create(), Device = device };
    }

    public void Dispose()
    {
        foreach (var e in _byDevice.Values) e.Master?.Dispose();
    }
}
