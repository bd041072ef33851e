namespace Fermata;

/// <summary>What <see cref="FermataEngine.Gc"/> removed.</summary>
public sealed record GcOutcome
{
    /// <summary>The images removed.</summary>
    public required IReadOnlyList<string> Removed { get; init; }
    /// <summary>Leftovers of interrupted checkpoints removed.</summary>
    public int Temporaries { get; init; }
    /// <summary>Bytes freed.</summary>
    public long BytesFreed { get; init; }
    /// <summary>Images kept.</summary>
    public int Kept { get; init; }
}
