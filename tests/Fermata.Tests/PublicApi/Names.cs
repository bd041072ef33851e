using System.Reflection;

namespace Fermata.Tests.PublicApi;

/// <summary>Type names as C# writes them: keywords for the built-in types, full names otherwise,
/// generic arguments in angle brackets, and ? where a type is nullable.</summary>
internal static class Names
{
    private static readonly Dictionary<Type, string> Keywords = new()
    {
        [typeof(void)] = "void", [typeof(bool)] = "bool", [typeof(byte)] = "byte", [typeof(sbyte)] = "sbyte",
        [typeof(short)] = "short", [typeof(ushort)] = "ushort", [typeof(int)] = "int", [typeof(uint)] = "uint",
        [typeof(long)] = "long", [typeof(ulong)] = "ulong", [typeof(float)] = "float", [typeof(double)] = "double",
        [typeof(decimal)] = "decimal", [typeof(char)] = "char", [typeof(string)] = "string", [typeof(object)] = "object",
    };

    public static string Of(Type type, NullabilityInfo? nullability = null)
    {
        if (type.IsByRef) return Of(type.GetElementType()!, nullability); // a ref or out parameter's nullability is its element's
        if (Nullable.GetUnderlyingType(type) is { } underlying) return Of(underlying) + "?";
        string suffix = nullability is { ReadState: NullabilityState.Nullable } && !type.IsValueType ? "?" : "";
        if (type.IsArray) return Of(type.GetElementType()!, nullability?.ElementType) + "[]" + suffix;
        if (Keywords.TryGetValue(type, out var keyword)) return keyword + suffix;
        if (type.IsGenericParameter) return type.Name + suffix;
        string name = (type.IsNested ? Of(type.DeclaringType!) + "." + type.Name : type.Namespace + "." + type.Name);
        if (!type.IsGenericType) return name + suffix;
        name = name[..name.IndexOf('`')];
        var args = type.GetGenericArguments();
        var argNullability = nullability?.GenericTypeArguments;
        var parts = args.Select((a, i) => Of(a, argNullability != null && i < argNullability.Length ? argNullability[i] : null));
        return $"{name}<{string.Join(", ", parts)}>{suffix}";
    }
}
