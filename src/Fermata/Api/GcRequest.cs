namespace Fermata;

/// <summary>What <see cref="FermataEngine.Gc"/> keeps.</summary>
public sealed record GcRequest
{
    /// <summary>How many of the newest checkpoints to keep, with every image they take pages from
    /// (at least 1).</summary>
    public int Keep { get; init; } = 1;
}
