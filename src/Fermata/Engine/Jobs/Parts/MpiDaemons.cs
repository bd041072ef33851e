using Fermata.Errors;

namespace Fermata.Engine.Jobs.Parts;

/// <summary>
/// MPI ranks on several nodes (<c>fermata run --mpi</c>): the MPI launcher (mpirun, mpiexec) runs
/// in part 0 and starts its daemons on the other nodes (Open MPI's orted, MPICH's
/// hydra_pmi_proxy) through a remote-shell command it lets the user choose, which the daemons'
/// ranks then descend from. Fermata gives it one, the <em>agent</em>: instead of ssh, it asks the
/// node's part to run the daemon, so that every daemon and rank is a process of some part and is
/// checkpointed with it (a daemon that ssh or slurmstepd started would be no process of the job).
///
/// Everything goes through files in DIR/mpi, the job directory every node shares, and through
/// two small POSIX shell programs, so that what runs inside the job is ordinary processes that
/// any checkpoint restores:
///  - each part K writes the names its node answers to (Slurm's node name, the host name) to
///    DIR/mpi/part-K/names before it joins the job;
///  - the agent (DIR/mpi/agent) finds the part whose names hold the host it is asked for,
///    writes the command there as TOKEN.command and waits for TOKEN.status (the daemon's exit
///    status), which it exits with, as ssh would;
///  - the program of every part but 0 is a loop that runs each command that appears in its
///    directory, in the background, and ends once part 0's program has ended (DIR/mpi/end) and
///    its daemons have.
/// </summary>
internal static class MpiDaemons
{
    /// <summary>The argv[0] the other parts' program shows in ps and in the log.</summary>
    private const string NodeProgramName = "fermata-mpi-node";

    private static string Area(string top) => Path.Combine(top, "mpi");

    private static string PartArea(string top, int index) => Path.Combine(Area(top), $"part-{index}");

    private static string EndMarker(string top) => Path.Combine(Area(top), "end");

    public static string AgentPath(string top) => Path.Combine(Area(top), "agent");

    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Part 0, before it starts the other parts of a job that starts afresh: what an
    /// earlier run left (requests never taken, its end) must not reach this one.</summary>
    public static void Clear(string top)
    {
        string area = Area(top);
        if (Directory.Exists(area)) Directory.Delete(area, recursive: true);
    }

    /// <summary>Every part, at every start, before it joins: the names its node answers to
    /// (a requeued job may land on other nodes), and for part 0 the agent.</summary>
    public static void Announce(string top, JobPart part)
    {
        Directory.CreateDirectory(Area(top), Private);
        string mine = PartArea(top, part.Index);
        Directory.CreateDirectory(mine, Private);
        var names = new List<string>();
        foreach (var name in new[] { Environment.GetEnvironmentVariable("SLURMD_NODENAME"), Environment.MachineName, ShortName(Environment.MachineName) })
            if (!string.IsNullOrEmpty(name) && !names.Contains(name)) names.Add(name);
        WriteAtomically(Path.Combine(mine, "names"), string.Concat(names.Select(n => n + "\n")), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        if (part.Coordinates) WriteAtomically(AgentPath(top), AgentScript(Area(top)), Private);
    }

    private static string ShortName(string host) => host.Split('.')[0];

    /// <summary>What part 0's program (the MPI launcher) is told, so that it starts its daemons
    /// through the agent, whether it is Open MPI's or MPICH's, instead of through srun or ssh.</summary>
    public static void AddLauncherEnvironment(string top, IDictionary<string, string> environment)
    {
        string agent = AgentPath(top);
        environment["OMPI_MCA_plm"] = "rsh";
        environment["OMPI_MCA_plm_rsh_agent"] = agent;
        environment["HYDRA_LAUNCHER"] = "rsh";
        environment["HYDRA_LAUNCHER_EXEC"] = agent;
        environment["FERMATA_MPI_AGENT"] = agent;
    }

    /// <summary>The program of part <paramref name="part"/> (not 0): the loop that runs the daemons.</summary>
    public static (string Program, string[] Argv) NodeProgram(string top, JobPart part)
    {
        if (part.Coordinates) throw new InvalidOperationException("part 0 runs the MPI launcher itself");
        return ("/bin/sh", [NodeProgramName, "-c", NodeScript, NodeProgramName, PartArea(top, part.Index), EndMarker(top)]);
    }

    /// <summary>Part 0's program ended: once their daemons have, the other parts' programs end too.</summary>
    public static void End(string top)
    {
        try { WriteAtomically(EndMarker(top), "", UnixFileMode.UserRead | UnixFileMode.UserWrite); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FermataException($"cannot tell the other nodes' parts that the MPI launcher ended ({EndMarker(top)}): {e.Message}");
        }
    }

    private static void WriteAtomically(string path, string text, UnixFileMode mode)
    {
        string temporary = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllText(temporary, text);
        File.SetUnixFileMode(temporary, mode);
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>
    /// The node's loop, $1 its directory, $2 the end marker. A command is taken by renaming it
    /// (so that a restored loop never runs it twice) and run by sh in the background, as ssh would
    /// run it; its status is written aside and renamed, so the agent never reads half of it.
    /// </summary>
    private const string NodeScript = """
        dir="$1"; end="$2"
        while :; do
          taken=
          for request in "$dir"/*.command; do
            [ -e "$request" ] || continue
            job="${request%.command}"
            mv "$request" "$job.running" 2>/dev/null || continue
            taken=1
            ( sh -c "$(cat "$job.running")" </dev/null; echo $? >"$job.status.tmp"; mv "$job.status.tmp" "$job.status" ) &
          done
          if [ -z "$taken" ] && [ -e "$end" ]; then wait; exit 0; fi
          [ -n "$taken" ] || sleep 0.5
        done
        """;

    /// <summary>The agent, with the job's DIR/mpi written in. It takes what ssh takes: options
    /// (-x), a host, and the command's words, which it joins for a shell as ssh does.</summary>
    private static string AgentScript(string area) => $$"""
        #!/bin/sh
        # Fermata's remote-shell agent for MPI launchers (OMPI_MCA_plm_rsh_agent, HYDRA_LAUNCHER_EXEC):
        # runs a daemon on a node of the job as a process of that node's part (see docs/mpi.md).
        area='{{area.Replace("'", "'\\''", StringComparison.Ordinal)}}'
        while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
        host="$1"
        [ -n "$host" ] || { echo "fermata agent: usage: agent [-x] HOST COMMAND..." >&2; exit 255; }
        shift
        part=
        for d in "$area"/part-*; do
          if grep -qxF -- "$host" "$d/names" 2>/dev/null; then part="$d"; break; fi
        done
        if [ -z "$part" ]; then
          echo "fermata agent: $host is no node of this job (its nodes: $(cat "$area"/part-*/names 2>/dev/null | tr '\n' ' '))" >&2
          exit 255
        fi
        if [ "$part" = "$area/part-0" ]; then exec /bin/sh -c "$*"; fi
        token="$(date +%s%N).$$"
        printf '%s' "$*" >"$part/$token.tmp" && mv "$part/$token.tmp" "$part/$token.command" || exit 255
        # Quick while the daemon starts, then seldom: this waits as long as the daemon runs.
        waited=0
        while [ ! -e "$part/$token.status" ]; do
          if [ "$waited" -lt 20 ]; then sleep 0.25; waited=$((waited + 1)); else sleep 2; fi
        done
        exit "$(cat "$part/$token.status")"
        """ + "\n";
}
