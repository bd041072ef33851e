namespace Fermata;

/// <summary>What <see cref="FermataEngine.Verify"/> found: one verdict per image (a job's
/// directory holds several).</summary>
public sealed record VerifyOutcome
{
    /// <summary>The path verified (full).</summary>
    public required string Path { get; init; }
    /// <summary>The path is a job's directory, whose checkpoints were verified one by one.</summary>
    public bool IsJob { get; init; }
    /// <summary>One verdict per image, in order.</summary>
    public required IReadOnlyList<ImageVerdict> Images { get; init; }
    /// <summary>Every image is sound.</summary>
    public bool Ok => Images.All(i => i.Ok);
}

/// <summary>Whether one image is sound: every checksum, record and reference (parents, files) checked.</summary>
/// <param name="Directory">The image's directory.</param>
/// <param name="Problem">What is wrong with it, in one line; null when it is sound.</param>
public sealed record ImageVerdict(string Directory, string? Problem)
{
    /// <summary>The image is sound.</summary>
    public bool Ok => Problem == null;
}
