using System.CommandLine;

namespace Fermata.Cli;

/// <summary>Arguments shared by several commands, with errors a user understands.</summary>
internal static class Arguments
{
    public static Argument<int> Pid(string description) => new("PID")
    {
        Description = description,
        CustomParser = result =>
        {
            string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (int.TryParse(text, out int pid) && pid > 0) return pid;
            result.AddError($"'{text}' is not a process ID");
            return 0;
        },
    };

    /// <summary>--compress none|lz4|zstd (the default is chosen by measurement).</summary>
    public static Option<string?> CompressOption() => new("--compress")
    {
        Description = $"how page blocks are compressed: none, lz4 or zstd (default {Image.CompressionNames.Name(Engine.CheckpointOptions.DefaultCompression)}); incompressible blocks are stored raw",
    };

    /// <summary>--external refuse|close: pipes and connections whose other end is outside.</summary>
    public static Option<string?> ExternalOption() => new("--external")
    {
        Description = "pipes and connections whose other end is outside what is checkpointed (other than stdin, stdout and stderr, which are connected to the restoring command's own): refuse (default) or close (restore them as connections whose peer went away)",
    };

    public static Resources.ExternalPeers External(string? text) => text switch
    {
        null or "refuse" => Resources.ExternalPeers.Refuse,
        "close" => Resources.ExternalPeers.Close,
        _ => throw new Errors.FermataException($"--external {text}: choose refuse or close"),
    };

    /// <summary>--timeout SECONDS: how long a checkpoint waits for a thread to stop.</summary>
    public static Option<double?> TimeoutOption() => new("--timeout")
    {
        Description = "seconds a checkpoint waits for each thread to stop (a thread stuck in the kernel on a hung file system) before it fails naming where the thread waits and leaves the program running (default 60, or FERMATA_WAIT_TIMEOUT)",
    };

    public static TimeSpan? Timeout(double? seconds) => seconds switch
    {
        null => null,
        > 0 => TimeSpan.FromSeconds(seconds.Value),
        _ => throw new Errors.FermataException("--timeout must be a positive number of seconds"),
    };

    /// <summary>--net host|private: the job's network namespace.</summary>
    public static Option<string?> NetOption() => new("--net")
    {
        Description = "host (default): the job shares the machine's network; private: a network namespace of its own with only loopback, where an ordinary user's checkpoints can repair connections (TCP repair) and nothing outside is reachable",
    };

    public static bool PrivateNetwork(string? text) => text switch
    {
        null or "host" => false,
        "private" => true,
        _ => throw new Errors.FermataException($"--net {text}: choose host or private"),
    };

    public static Image.Compression Compression(string? text)
    {
        if (text == null) return Engine.CheckpointOptions.DefaultCompression;
        if (Image.CompressionNames.TryParse(text, out var c)) return c;
        throw new Errors.FermataException($"--compress {text}: choose none, lz4 or zstd");
    }
}
