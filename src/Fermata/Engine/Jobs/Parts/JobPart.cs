namespace Fermata.Engine.Jobs.Parts;

/// <summary>
/// Which part of a job spread over the nodes of a Slurm allocation this `fermata run` runs.
/// `fermata run --per-node` in a batch script is part 0: it runs the program on its own node and
/// starts the other parts with srun, one task per other node (<see cref="PartTasks"/>). Each part
/// is a Fermata job of its own on its node (DIR/part-K), and part 0 coordinates the checkpoints
/// of them all (<see cref="PartCoordinator"/>).
/// </summary>
/// <param name="Index">The part's number: 0 for the batch script's, 1 on for srun's tasks.</param>
/// <param name="Count">How many parts the job has (the allocation's nodes).</param>
/// <param name="Step">What names this run of the job uniquely (job, requeue count and a random
/// word), so that a part never takes the coordinator of an earlier run for its own.</param>
internal sealed record JobPart(int Index, int Count, string Step)
{
    /// <summary>The environment variable part 0 gives srun's tasks: the step they belong to.</summary>
    public const string Variable = "FERMATA_PART_OF";

    public bool Coordinates => Index == 0;

    /// <summary>Part 0 of a job over every node of this Slurm allocation, or null outside one.</summary>
    public static JobPart? Lead()
    {
        if (Get("SLURM_JOB_ID") is not { Length: > 0 } job) return null;
        if (Get("SLURM_STEP_ID") is { Length: > 0 })
            throw new Errors.FermataException("--per-node belongs in the batch script itself (exec fermata run --per-node ...), not under srun: it starts the other nodes' parts itself");
        if (!int.TryParse(Get("SLURM_JOB_NUM_NODES") ?? Get("SLURM_NNODES"), out int nodes) || nodes < 1) return null;
        string word = Linux.RandomBytes.Hex(6);
        return new JobPart(0, nodes, $"{job}.{Get("SLURM_RESTART_COUNT") ?? "0"}.{word}");
    }

    /// <summary>The part this process is, as one of the tasks part 0 started with srun; null
    /// when it is not one.</summary>
    public static JobPart? FromEnvironment()
    {
        if (Get(Variable) is not { Length: > 0 } step) return null;
        if (!int.TryParse(Get("SLURM_STEP_NUM_TASKS"), out int tasks) || tasks < 1
            || !int.TryParse(Get("SLURM_PROCID"), out int index) || index < 0 || index >= tasks)
            throw new Errors.FermataException($"{Variable} is set, but this is no task of the srun step a job's part 0 starts (SLURM_PROCID, SLURM_STEP_NUM_TASKS)");
        return new JobPart(index + 1, tasks + 1, step);
    }

    private static string? Get(string name) => Environment.GetEnvironmentVariable(name);

    /// <summary>The part's own job directory inside the job's.</summary>
    public string DirectoryIn(string jobDirectory) => PartDirectory(jobDirectory, Index);

    private static string PartDirectory(string jobDirectory, int index) => Path.Combine(jobDirectory, $"part-{index}");

    /// <summary>Whether <paramref name="directory"/> holds a job over several nodes.</summary>
    public static bool IsJobOfParts(string directory) => JobDirectory.IsJobDirectory(PartDirectory(directory, 0));

    /// <summary>Whether <paramref name="path"/> is such a job's directory, one of its parts, or a
    /// checkpoint of one of them.</summary>
    public static bool Within(string path)
    {
        string? p = Path.GetFullPath(path).TrimEnd('/');
        for (int up = 0; up < 3 && p is { Length: > 0 }; up++, p = Path.GetDirectoryName(p))
            if (IsJobOfParts(p)) return true;
        return false;
    }

    /// <summary>Part 0's directory in a job over several nodes, which takes its checkpoints.</summary>
    public static string Coordinator(string directory) => PartDirectory(directory, 0);

    public override string ToString() => $"part {Index} of {Count}";
}
