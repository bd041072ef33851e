using System.Net.Sockets;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Engine.Jobs.Parts;

/// <summary>
/// A part of a job over several nodes takes each checkpoint of its processes in an agent: a
/// process of its own, started by the part's launcher for that checkpoint
/// (<see cref="CheckpointAgentProcess"/>). The launcher stays the parent of the part's processes
/// and their link to the job; the agent does everything that can go wrong with them (freezing,
/// reading, writing the share) and reaches the launcher's barrier and program channels by asking
/// over a socket pair, which this side answers.
///
/// So a node's agent that dies in the middle of a checkpoint (killed, out of memory, a bug)
/// takes nothing with it: the kernel lets go of the processes it traced and they run on, as
/// after any controller killed mid-checkpoint; the launcher tells part 0 that its share failed,
/// the checkpoint is abandoned on every node, and the next one is taken by a new agent. Only the
/// loss of a launcher (or its node) ends the job's processes there, and the job then continues
/// from its last committed checkpoint.
/// </summary>
internal static class CheckpointAgent
{
    /// <summary>Takes checkpoint <paramref name="round"/> (counted by this launcher, for the
    /// crash points) of the job whose init is <paramref name="init"/>, in an agent. Throws what
    /// the agent's checkpoint threw, or, if the agent died before this part's share was durable,
    /// a failure that says so (the processes run on).</summary>
    public static CheckpointResult Checkpoint(int init, CheckpointOptions options, int round)
    {
        int agent = Start(round, out var channel);
        using (channel)
        {
            bool committed = false;
            channel.Send(new AgentMessage(AgentMessageKind.Checkpoint, init, options, Barrier: options.Barrier != null, Channels: options.LauncherChannels != null));
            while (true)
            {
                var message = channel.Receive();
                switch (message?.Kind)
                {
                    case null:
                        return Died(agent, init, options, committed);
                    case AgentMessageKind.Frozen:
                        Answer(channel, AgentMessageKind.Go, () => options.Barrier!.Frozen());
                        break;
                    case AgentMessageKind.Accept:
                        Answer(channel, AgentMessageKind.Accepted, () => options.LauncherChannels!.Frozen());
                        break;
                    case AgentMessageKind.Freeze:
                        channel.Send(new AgentMessage(AgentMessageKind.State, State: options.LauncherChannels!.Freeze(message.Inode)));
                        break;
                    case AgentMessageKind.Durable:
                        CrashPoints.Reach("part-durable");
                        committed = Answer(channel, AgentMessageKind.Commit, () => options.Barrier!.Durable(message.Ends ?? []));
                        break;
                    case AgentMessageKind.Result when message.Result is { } result:
                        ProcessSpawner.WaitForExit(agent);
                        return result;
                    case AgentMessageKind.Failed:
                        ProcessSpawner.WaitForExit(agent);
                        throw AgentFailure.Rebuild(message);
                    default:
                        Libc.Kill(agent, Signals.SIGKILL);
                        return Died(agent, init, options, committed);
                }
            }
        }
    }

    /// <summary>Starts an agent with its end of a new socket pair as descriptor 3; the crash
    /// points of this launcher's <paramref name="round"/>th checkpoint go with it.</summary>
    private static unsafe int Start(int round, out AgentChannel channel)
    {
        int* pair = stackalloc int[2];
        if (Libc.SocketPair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0, pair) != 0)
            throw Libc.Error("make a socket pair for the checkpoint agent");
        channel = new AgentChannel(new Socket(new SafeSocketHandle(pair[0], ownsHandle: true)));
        try
        {
            var environment = ProcessSpawner.CurrentEnvironment();
            environment.Remove(CrashPoints.Variable);
            if (CrashPoints.ForAgent(round) is { } crash) environment[CrashPoints.Variable] = crash;
            string[] argv = SelfCommand.With([CheckpointAgentProcess.CommandName]);
            return ProcessSpawner.Spawn(argv[0], argv, new ProcessSpawner.Options { StdinPath = "/dev/null", PassAsFd3 = pair[1], Environment = environment });
        }
        catch
        {
            channel.Dispose();
            throw;
        }
        finally { Libc.Close(pair[1]); }
    }

    /// <summary>Runs one of the launcher's parts of the checkpoint and tells the agent how it
    /// went (<paramref name="success"/>, or the failure it threw); true when it succeeded.</summary>
    private static bool Answer(AgentChannel channel, AgentMessageKind success, Action part)
    {
        try { part(); }
        catch (Exception e) when (e is FermataException or IOException or UnauthorizedAccessException)
        {
            channel.Send(AgentFailure.Of(e));
            return false;
        }
        channel.Send(new AgentMessage(success));
        return true;
    }

    /// <summary>
    /// The agent ended without its last word. Before the job committed the checkpoint, the
    /// share is lost and the checkpoint fails here (part 0 abandons it everywhere); the kernel
    /// let go of the processes, which run on. After, the checkpoint is the job's and only its
    /// end is missing: a checkpoint that stops the job ends this part's processes here.
    /// </summary>
    private static CheckpointResult Died(int agent, int init, CheckpointOptions options, bool committed)
    {
        int status = ProcessSpawner.WaitForExit(agent);
        string how = status > 128 ? $"was killed by {Signals.Name(status - 128)}" : $"exited with status {status}";
        if (!committed)
            throw new FermataException($"this part's checkpoint agent (process {agent}) {how} before its share was durable; the part's processes run on");
        if (!options.LeaveRunning)
        {
            Libc.Kill(init, Signals.SIGKILL); // the kernel ends every process of the job's namespace
            try { ProcessSpawner.WaitForExit(init); }
            catch (SystemCallException) { }
        }
        return new CheckpointResult
        {
            Pid = init,
            Directory = options.Directory,
            LeftRunning = options.LeaveRunning,
            Warnings = [$"the checkpoint agent (process {agent}) {how} once the job had committed the checkpoint"],
        };
    }
}
