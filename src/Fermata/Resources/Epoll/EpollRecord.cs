using Fermata.Image.Wire;

namespace Fermata.Resources.Epoll;

/// <summary>One entry of an epoll instance's interest list.</summary>
internal sealed class EpollTargetRecord : IWireRecord<EpollTargetRecord>
{
    /// <summary>The descriptor number it was added under: the kernel keys an entry by file and
    /// number, and the program's EPOLL_CTL_MOD and EPOLL_CTL_DEL name it by that number.</summary>
    public int Fd { get; set; }
    public uint Events { get; set; }
    public ulong Data { get; set; }
    /// <summary>The open file description watched, which some process of the image holds.</summary>
    public uint DescriptionId { get; set; }
    /// <summary>Edge-triggered: an event was waiting to be reported at the checkpoint.</summary>
    public bool Ready { get; set; }

    public static RecordSchema<EpollTargetRecord> Schema { get; } = new RecordSchema<EpollTargetRecord>("EpollTargetRecord", "epoll entry",
            "One entry of an epoll instance's interest list.")
        .PlusOne(1, "fd", r => r.Fd, (r, v) => r.Fd = v, "the descriptor number it was added under")
        .UInt32(2, "events", r => r.Events, (r, v) => r.Events = v, "EPOLL* as the kernel keeps them; an EPOLLONESHOT entry that fired has only EPOLLONESHOT, EPOLLET, EPOLLWAKEUP left", Show.Hex)
        .UInt64(3, "data", r => r.Data, (r, v) => r.Data = v, "the program's epoll_data", Show.Hex)
        .UInt32(4, "description", r => r.DescriptionId, (r, v) => r.DescriptionId = v, "the open file description it watches")
        .Bool(5, "ready", r => r.Ready, (r, v) => r.Ready = v, "EPOLLET: an event not yet reported at the checkpoint (true where that could not be told)")
        .Check(r => r.DescriptionId == 0 ? "the description it watches" : null);
}

/// <summary>An epoll instance and its interest list.</summary>
internal sealed class EpollRecord : IWireRecord<EpollRecord>
{
    public uint Id { get; set; }
    public List<EpollTargetRecord> Targets { get; set; } = [];

    public static RecordSchema<EpollRecord> Schema { get; } = new RecordSchema<EpollRecord>("EpollRecord", "epoll instance",
            "An epoll instance and its interest list.")
        .UInt32(1, "id", r => r.Id, (r, v) => r.Id = v)
        .Messages(2, "targets", r => r.Targets, "its interest list");
}
