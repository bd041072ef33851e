using System.Globalization;
using Fermata.Errors;

namespace Fermata.Engine.Jobs.Parts;

/// <summary>
/// The second phase's record: DIR/committed lists the checkpoints of a job of several parts that
/// every part completed ("parts 3", then one number per line, oldest first). A checkpoint counts
/// only once it is listed here; the coordinator lists it after every part said its share is
/// durable, and only then lets the parts go on. A part's image whose number is not listed (a
/// checkpoint abandoned, or cut short by a crash) is never restored, and is removed.
/// </summary>
internal sealed class CommittedCheckpoints(string jobDirectory)
{
    public const string FileName = "committed";

    private string PathOf => Path.Combine(jobDirectory, FileName);

    /// <summary>How many parts the job was checkpointed as (0: never), and its checkpoints.</summary>
    public (int Parts, List<int> Numbers) Read()
    {
        string text;
        try { text = File.ReadAllText(PathOf); }
        catch (FileNotFoundException) { return (0, []); }
        catch (DirectoryNotFoundException) { return (0, []); }
        catch (UnauthorizedAccessException) { throw new PermissionException($"not allowed to read {PathOf}"); }
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0 || !lines[0].StartsWith("parts ", StringComparison.Ordinal)
            || !int.TryParse(lines[0].AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out int parts) || parts < 1)
            throw new ImageException($"{PathOf} is damaged (it should start with \"parts N\")");
        var numbers = new List<int>();
        foreach (var line in lines.Skip(1))
        {
            if (!int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1)
                throw new ImageException($"{PathOf} is damaged (\"{line}\" is not a checkpoint number)");
            numbers.Add(n);
        }
        return (parts, numbers);
    }

    /// <summary>Adds <paramref name="number"/>, durably (written aside, fsynced, renamed, the
    /// directory fsynced), keeping the newest <paramref name="keep"/> (all when 0).</summary>
    public List<int> Add(int parts, int number, int keep)
    {
        var numbers = Read().Numbers.Where(n => n < number).Append(number).ToList();
        if (keep > 0 && numbers.Count > keep) numbers = numbers[^keep..];
        JobDirectory.WriteDurably(jobDirectory, FileName, $"parts {parts}\n" + string.Concat(numbers.Select(n => $"{n}\n")),
            UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return numbers;
    }
}
