namespace Fermata;

// Public, and in the library's root namespace, though it lives in Engine: the engine reports it,
// and no layer may name the facade above it (tests/Fermata.Tests/LayeringTests.cs).

/// <summary>The phases of a checkpoint or a restore, in the order they happen.</summary>
public enum OperationPhase
{
    /// <summary>Checkpoint: stopping every thread of every process.</summary>
    Freezing,
    /// <summary>Checkpoint: reading the processes' state (threads, descriptors, mappings...).</summary>
    Collecting,
    /// <summary>Checkpoint: capturing the regular files the processes write.</summary>
    Files,
    /// <summary>Checkpoint: copying the processes' memory into the image; bytes are counted.</summary>
    Memory,
    /// <summary>Checkpoint: syncing, checking and atomically committing the image.</summary>
    Committing,
    /// <summary>Restore: verifying every checksum of the image; bytes are counted.</summary>
    Reading,
    /// <summary>Restore: checking the files the image needs, putting captured files back and
    /// creating the processes.</summary>
    Preparing,
    /// <summary>Restore: writing the saved pages into the new processes; bytes are counted.</summary>
    Restoring,
    /// <summary>Restore: descriptors, threads, registers; then the processes are let go.</summary>
    Releasing,
}

/// <summary>How far a checkpoint or a restore has come. Reported when a phase starts, then at most
/// every 64 MiB or 100 ms while it counts bytes, and once more when it ends (with
/// <see cref="BytesDone"/> equal to <see cref="BytesTotal"/>). Within a phase, bytes done never go
/// back.</summary>
/// <param name="Phase">The phase under way.</param>
/// <param name="BytesDone">Bytes the phase has done so far (0 for phases that count none).</param>
/// <param name="BytesTotal">Bytes the phase will do in all (0 for phases that count none).</param>
public readonly record struct OperationProgress(OperationPhase Phase, long BytesDone, long BytesTotal)
{
    /// <summary>The part done, from 0 to 1 (1 for a phase that counts no bytes).</summary>
    public double Fraction => BytesTotal <= 0 ? 1 : Math.Clamp((double)BytesDone / BytesTotal, 0, 1);
}
