using System.CommandLine;
using Fermata.Engine.Jobs.Parts;

namespace Fermata.Cli.Commands;

/// <summary>`fermata checkpoint-agent`, hidden: the process a part of a job over several nodes
/// takes a checkpoint in, started by the part's launcher with its socket as descriptor 3
/// (<see cref="CheckpointAgent"/>). Nobody types it.</summary>
internal static class CheckpointAgentCommand
{
    public static Command Create()
    {
        var command = new Command(CheckpointAgentProcess.CommandName, "The checkpoint agent of a part of a job (started by the part's launcher)") { Hidden = true };
        command.SetAction(_ => CheckpointAgentProcess.Run());
        return command;
    }
}
