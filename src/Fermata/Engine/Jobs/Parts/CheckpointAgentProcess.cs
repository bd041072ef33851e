using System.Net.Sockets;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Engine.Jobs.Parts;

/// <summary>
/// The checkpoint agent itself: a process a part's launcher starts for each checkpoint
/// (`fermata checkpoint-agent`, hidden; <see cref="CheckpointAgent"/>). It takes the checkpoint
/// the launcher sends it, reaching the launcher's barrier and program channels through the socket
/// on its descriptor 3, and ends with the result. It dies with its launcher (a launcher that
/// dies takes its part's processes with it, and nobody would hear the agent's answer).
/// </summary>
internal static class CheckpointAgentProcess
{
    public const string CommandName = "checkpoint-agent";

    private const int PR_SET_PDEATHSIG = 1, AgentFd = 3;

    public static int Run()
    {
        int launcher = Libc.GetPPid();
        Libc.Prctl(PR_SET_PDEATHSIG, (ulong)Signals.SIGKILL, 0, 0, 0);
        if (Libc.GetPPid() != launcher || launcher == 1) return 1; // the launcher is gone already
        if (Libc.GetIntOption(AgentFd, Libc.SOL_SOCKET, Libc.SO_TYPE) != Libc.SOCK_STREAM)
        {
            Console.Error.WriteLine("fermata: checkpoint-agent is started by the launcher of a part of a job, with its socket as descriptor 3");
            return 1;
        }
        using var channel = new AgentChannel(new Socket(new SafeSocketHandle(AgentFd, ownsHandle: true)));
        var request = channel.Receive();
        if (request is not { Kind: AgentMessageKind.Checkpoint, Options: { } options })
        {
            Console.Error.WriteLine("fermata: the checkpoint agent got no checkpoint to take from its launcher");
            return 1;
        }
        var launcherSide = new LauncherSide(channel);
        try
        {
            var result = Checkpointer.Checkpoint(request.Init, options with
            {
                Barrier = request.Barrier ? launcherSide : null,
                LauncherChannels = request.Channels ? launcherSide : null,
            });
            channel.Send(new AgentMessage(AgentMessageKind.Result, Result: result));
            return 0;
        }
        catch (Exception e)
        {
            if (Environment.GetEnvironmentVariable("FERMATA_DEBUG") is { Length: > 0 }) Console.Error.WriteLine(e);
            channel.Send(AgentFailure.Of(e));
            return 1;
        }
    }

    /// <summary>The launcher's barrier and program channels, each call a question answered at once.</summary>
    private sealed class LauncherSide(AgentChannel channel) : ICheckpointBarrier, Resources.Sockets.ILauncherChannels
    {
        private readonly Lock _asking = new();

        private AgentMessage Ask(AgentMessage question)
        {
            lock (_asking)
            {
                var answer = channel.Send(question) ? channel.Receive() : null;
                if (answer == null) throw new Errors.FermataException("the part's launcher went away in the middle of the checkpoint");
                if (answer.Kind == AgentMessageKind.Failed) throw AgentFailure.Rebuild(answer);
                return answer;
            }
        }

        void ICheckpointBarrier.Frozen() => Ask(new AgentMessage(AgentMessageKind.Frozen));

        void ICheckpointBarrier.Durable(IReadOnlyList<Resources.Sockets.PartEnd> ends) =>
            Ask(new AgentMessage(AgentMessageKind.Durable, Ends: [.. ends]));

        void Resources.Sockets.ILauncherChannels.Frozen() => Ask(new AgentMessage(AgentMessageKind.Accept));

        byte[]? Resources.Sockets.ILauncherChannels.Freeze(ulong launcherInode) =>
            Ask(new AgentMessage(AgentMessageKind.Freeze, Inode: launcherInode)).State;

        void Resources.Sockets.ILauncherChannels.Adopt(SafeFd launcherEnd, byte[] state) =>
            throw new InvalidOperationException("a checkpoint agent restores nothing");
    }
}
