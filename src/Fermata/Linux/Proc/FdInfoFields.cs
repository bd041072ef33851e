using System.Globalization;
using Fermata.Errors;

namespace Fermata.Linux.Proc;

/// <summary>
/// The "name:value" pairs of one fdinfo line that lists an entry (epoll's "tfd: 5 events: 19
/// data: 4  pos:0 ino:406 sdev:10", inotify's "inotify wd:1 ino:2dc ..."): a name ends with a
/// colon, and its value follows it directly or as the next word.
/// </summary>
internal sealed class FdInfoFields
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly string _line;

    private FdInfoFields(string line) => _line = line;

    public static FdInfoFields Parse(string line)
    {
        var fields = new FdInfoFields(line);
        var words = line.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < words.Length; i++)
        {
            int colon = words[i].IndexOf(':');
            if (colon <= 0) continue;
            string name = words[i][..colon], value = words[i][(colon + 1)..];
            if (value.Length == 0 && i + 1 < words.Length && !words[i + 1].Contains(':')) value = words[++i];
            fields._values.TryAdd(name, value);
        }
        return fields;
    }

    /// <summary>Every line of an fdinfo text that starts with <paramref name="prefix"/>, parsed.</summary>
    public static IEnumerable<FdInfoFields> Lines(string text, string prefix) =>
        text.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).Select(Parse);

    public bool Has(string name) => _values.ContainsKey(name);

    public string Text(string name) =>
        _values.TryGetValue(name, out var v) ? v : throw Malformed($"has no {name}");

    public ulong Hex(string name) => Number(name, NumberStyles.AllowHexSpecifier);

    public ulong Decimal(string name) => Number(name, NumberStyles.None);

    public long Signed(string name) =>
        long.TryParse(Text(name), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) ? v : throw Malformed($"has a malformed {name}");

    private ulong Number(string name, NumberStyles style) =>
        ulong.TryParse(Text(name), style, CultureInfo.InvariantCulture, out ulong v) ? v : throw Malformed($"has a malformed {name}");

    private FermataException Malformed(string what) => new($"the fdinfo line '{_line.Trim()}' {what}");
}
