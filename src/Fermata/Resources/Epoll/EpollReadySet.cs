using Fermata.Resources.Dump;
using Fermata.Linux.Proc;

namespace Fermata.Resources.Epoll;

/// <summary>
/// Which edge-triggered entries of an epoll instance have an event waiting to be reported. The
/// kernel shows no such thing: an entry either sits on the instance's ready list or not, and
/// only taking the events tells. So, inside the frozen process that holds the instance, every
/// ready event is taken (epoll_wait without waiting), and each edge-triggered or EPOLLONESHOT
/// entry that was reported is given back its events unchanged (EPOLL_CTL_MOD), which puts it
/// back on the ready list as its file is still ready: the program finds the instance as it
/// left it (level-triggered entries the kernel puts back by itself). That needs the process to
/// hold each such entry's file at the entry's own number; where it does not, or for an
/// edge-triggered EPOLLEXCLUSIVE entry (which cannot be modified), nothing is taken and every
/// edge-triggered entry counts as having an event waiting: after a restore it may report one
/// event more, never one less. Entries are told apart by their data; entries sharing data with
/// one that was reported count as reported. Two effects remain: entries given back go to the end
/// of the ready list, so an epoll_wait asking for fewer events than are ready may get them in
/// another order; and giving one back wakes what watches the instance, so an edge-triggered
/// entry of another epoll instance watching this one gets an edge. A controller killed between
/// taking and giving back would leave those entries without their event.
/// </summary>
internal static class EpollReadySet
{
    public static bool[] Capture(DumpContext ctx, int efd, IReadOnlyList<EpollEntryInfo> entries, IReadOnlyList<bool> atItsNumber)
    {
        var ready = new bool[entries.Count];
        var giveBack = Enumerable.Range(0, entries.Count)
            .Where(i => !EpollEvents.Fired(entries[i].Events) && (EpollEvents.IsEdgeTriggered(entries[i].Events) || EpollEvents.IsOneShot(entries[i].Events)))
            .ToList();
        if (giveBack.Count == 0) return ready;
        bool canGiveBack = giveBack.All(i => atItsNumber[i] && !EpollEvents.IsExclusive(entries[i].Events));
        if (!canGiveBack)
        {
            for (int i = 0; i < entries.Count; i++) ready[i] = EpollEvents.IsEdgeTriggered(entries[i].Events);
            return ready;
        }
        var epoll = new InjectedEpoll(ctx.ProcessInjector, efd, $"process {ctx.Pid}");
        var reported = epoll.TakeReady(entries.Count).Select(e => e.Data).ToHashSet();
        foreach (int i in giveBack.Where(i => reported.Contains(entries[i].Data)))
            epoll.Control(EpollEvents.CtlMod, entries[i].Tfd, entries[i].Events, entries[i].Data);
        for (int i = 0; i < entries.Count; i++)
            ready[i] = EpollEvents.IsEdgeTriggered(entries[i].Events) && reported.Contains(entries[i].Data);
        return ready;
    }
}
