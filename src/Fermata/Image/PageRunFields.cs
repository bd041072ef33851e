using Fermata.Image.Wire;

namespace Fermata.Image;

/// <summary>Page runs on the wire: packed quadruples (first page, count, store, page).</summary>
internal static class PageRunFields
{
    public static RecordSchema<T> PageRuns<T>(this RecordSchema<T> schema, int number, string name,
        Func<T, List<PageRun>> get, Action<T, List<PageRun>> set, string doc = "") where T : new() =>
        schema.PackedTuples(number, name, get, set, PageRun.Pack, PageRun.Unpack, ["first_page", "count", "store", "page"], doc);
}
