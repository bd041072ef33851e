namespace Fermata.Tests.PublicApi;

/// <summary>The lines one text has and the other lacks, in order: enough for sorted listings,
/// where a line that moved is a line that changed.</summary>
internal static class LineDiff
{
    public static string Of(string expected, string actual)
    {
        var before = expected.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var after = actual.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var removed = before.Except(after).Select(l => "- " + l);
        var added = after.Except(before).Select(l => "+ " + l);
        return string.Join('\n', removed.Concat(added));
    }
}
