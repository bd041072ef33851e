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

    /// <summary>--local DIR: the node-local level of a job's checkpoints.</summary>
    public static Option<string?> LocalOption() => new("--local")
    {
        Description = "write each checkpoint to this fast node-local directory first, and copy it to --dir in the background; a restart uses the newest checkpoint complete at either level",
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
    public static Option<double?> HookTimeoutOption() => new("--hook-timeout")
    {
        Description = "seconds a checkpoint waits for the job's programs registered for before_checkpoint to answer \"ready\" (docs/protocol.md) before it freezes the job without them (default 10)",
    };

    public static double HookTimeout(double? seconds) => seconds switch
    {
        null => Engine.Jobs.JobSettings.DefaultHookTimeoutSeconds,
        < 0 => throw new Errors.FermataException("--hook-timeout must be 0 or more seconds"),
        { } s => s,
    };

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

    /// <summary>--files capture|trust on the commands that take checkpoints.</summary>
    public static Option<string?> FilesOption() => new("--files")
    {
        Description = "files the job writes: capture (default) keeps them as they are at each checkpoint (a clone where the file system can, else their changed blocks) and checks the files it only reads at restore; trust leaves them to you (a restore only truncates written files back to their size at the checkpoint)",
    };

    /// <summary>--files trust on the commands that restore.</summary>
    public static Option<string?> RestoreFilesOption() => new("--files")
    {
        Description = "trust: do not put back captured files nor check inputs; only truncate the files the job writes back to their size at the checkpoint (default: as the checkpoint was taken)",
    };

    public static Resources.Files.FileHandling FileHandling(string? text) => text switch
    {
        null or "capture" => Resources.Files.FileHandling.Capture,
        "trust" => Resources.Files.FileHandling.Trust,
        _ => throw new Errors.FermataException($"--files {text}: choose capture or trust"),
    };

    /// <summary>--files-limit SIZE: the largest file copied when it cannot be cloned.</summary>
    public static Option<string?> FilesLimitOption() => new("--files-limit")
    {
        Description = $"largest file the job writes that is copied when it cannot be cloned, in bytes or with K, M, G, T (default {Resources.Files.FilesPolicy.DefaultLimit >> 30}G); a larger one is kept by size and checksum only, and a restore refuses it if it changed in a way truncation cannot undo",
    };

    public static long FilesLimit(string? text)
    {
        if (text == null) return Resources.Files.FilesPolicy.DefaultLimit;
        string t = text.Trim();
        long unit = 1;
        if (t.Length > 0 && char.ToUpperInvariant(t[^1]) is 'K' or 'M' or 'G' or 'T' && !char.IsDigit(t[^1]))
        {
            unit = char.ToUpperInvariant(t[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1L << 40 };
            t = t[..^1];
        }
        if (!long.TryParse(t, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long n) || n < 0 || n > long.MaxValue / unit)
            throw new Errors.FermataException($"--files-limit {text}: give a size in bytes, or with K, M, G or T (4G)");
        return n * unit;
    }

    /// <summary>--allow-changed PATH (repeatable): an input, or a file kept by identity, that may
    /// have changed since the checkpoint.</summary>
    public static Option<string[]> AllowChangedOption() => new("--allow-changed")
    {
        Description = "a file the job only reads (or one over the files limit) that changed since the checkpoint: continue with it as it is instead of refusing (repeat for several)",
        Arity = ArgumentArity.ZeroOrMore,
    };

    public static Image.Compression Compression(string? text)
    {
        if (text == null) return Engine.CheckpointOptions.DefaultCompression;
        if (Image.CompressionNames.TryParse(text, out var c)) return c;
        throw new Errors.FermataException($"--compress {text}: choose none, lz4 or zstd");
    }
}
