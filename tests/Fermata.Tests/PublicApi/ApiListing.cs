using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;

namespace Fermata.Tests.PublicApi;

/// <summary>
/// An assembly's public surface as text: per namespace, per exported type (sorted), its kind,
/// base type and interfaces, then its public and protected members (sorted), each as a C#-like
/// signature with nullable annotations. Members the compiler makes for records that a caller never
/// names (<c>&lt;Clone&gt;$</c>) are left out.
/// </summary>
internal static class ApiListing
{
    private const BindingFlags Declared = BindingFlags.DeclaredOnly | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;

    public static string Of(Assembly assembly)
    {
        var text = new StringBuilder();
        foreach (var group in assembly.GetExportedTypes().GroupBy(t => t.Namespace ?? "").OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            text.Append($"namespace {group.Key}\n");
            foreach (var type in group.OrderBy(t => t.FullName, StringComparer.Ordinal))
            {
                text.Append(Header(type)).Append('\n');
                foreach (var line in Members(type).Order(StringComparer.Ordinal)) text.Append("  ").Append(line).Append('\n');
            }
            text.Append('\n');
        }
        return text.ToString();
    }

    private static string Header(Type t)
    {
        string kind = t.IsEnum ? "enum" : t.IsInterface ? "interface" : t.IsValueType ? (IsRecord(t) ? "record struct" : "struct")
            : typeof(Delegate).IsAssignableFrom(t) ? "delegate" : IsRecord(t) ? "record" : "class";
        string modifiers = t.IsAbstract && t.IsSealed && !t.IsValueType ? "static " : t.IsSealed && !t.IsValueType && !t.IsEnum ? "sealed " : t.IsAbstract && !t.IsInterface ? "abstract " : "";
        var bases = new List<string>();
        if (t.BaseType != null && t.BaseType != typeof(object) && t.BaseType != typeof(ValueType) && t.BaseType != typeof(Enum))
            bases.Add(Names.Of(t.BaseType));
        bases.AddRange(t.GetInterfaces().Where(i => i.IsPublic || i.IsNestedPublic).Select(i => Names.Of(i)).Order(StringComparer.Ordinal));
        return $"{modifiers}{kind} {Names.Of(t)}{(bases.Count > 0 ? " : " + string.Join(", ", bases) : "")}";
    }

    private static bool IsRecord(Type t) => t.GetMethod("<Clone>$") != null || (t.IsValueType && t.GetMethod("PrintMembers", BindingFlags.NonPublic | BindingFlags.Instance) != null);

    private static bool Visible(MethodBase? m) => m != null && (m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly);

    private static IEnumerable<string> Members(Type t)
    {
        if (t.IsEnum)
        {
            foreach (var f in t.GetFields(BindingFlags.Public | BindingFlags.Static))
                yield return $"{f.Name} = {Convert.ToInt64(f.GetRawConstantValue())}";
            yield break;
        }
        var nullability = new NullabilityInfoContext();
        foreach (var c in t.GetConstructors(Declared).Where(Visible))
            yield return $"{Access(c)}{Names.Of(t)}({Parameters(c, nullability)})";
        foreach (var p in t.GetProperties(Declared))
        {
            var get = p.GetMethod; var set = p.SetMethod;
            if (!Visible(get) && !Visible(set)) continue;
            var visible = Visible(get) ? get! : set!;
            bool init = set != null && set.ReturnParameter.GetRequiredCustomModifiers().Contains(typeof(IsExternalInit));
            string accessors = (Visible(get) ? "get; " : "") + (Visible(set) ? init ? "init; " : "set; " : "");
            bool required = p.IsDefined(typeof(RequiredMemberAttribute));
            yield return $"{Access(visible)}{Static(visible)}{(required ? "required " : "")}{Names.Of(p.PropertyType, nullability.Create(p))} {p.Name} {{ {accessors}}}";
        }
        foreach (var f in t.GetFields(Declared).Where(f => f.IsPublic || f.IsFamily))
            yield return $"{(f.IsPublic ? "public " : "protected ")}{(f.IsLiteral ? "const " : f.IsStatic ? "static " : "")}{(f.IsInitOnly ? "readonly " : "")}{Names.Of(f.FieldType, nullability.Create(f))} {f.Name}";
        foreach (var e in t.GetEvents(Declared).Where(e => Visible(e.AddMethod)))
            yield return $"{Access(e.AddMethod!)}event {Names.Of(e.EventHandlerType!)} {e.Name}";
        foreach (var m in t.GetMethods(Declared).Where(Visible))
        {
            if (m.IsSpecialName && !m.Name.StartsWith("op_", StringComparison.Ordinal)) continue; // accessors
            if (m.Name.Contains('<')) continue;
            yield return $"{Access(m)}{Static(m)}{Names.Of(m.ReturnType, nullability.Create(m.ReturnParameter))} {m.Name}{Generics(m)}({Parameters(m, nullability)})";
        }
    }

    private static string Access(MethodBase m) => m.IsPublic ? "public " : "protected ";
    private static string Static(MethodBase m) => m.IsStatic ? "static " : m.IsAbstract ? "abstract " : m.IsVirtual && !m.IsFinal ? "virtual " : "";
    private static string Generics(MethodInfo m) => m.IsGenericMethodDefinition ? $"<{string.Join(", ", m.GetGenericArguments().Select(a => a.Name))}>" : "";

    private static string Parameters(MethodBase m, NullabilityInfoContext nullability) =>
        string.Join(", ", m.GetParameters().Select(p =>
        {
            string type = Names.Of(p.ParameterType, nullability.Create(p));
            string prefix = p.IsOut ? "out " : p.ParameterType.IsByRef ? "ref " : "";
            string value = !p.HasDefaultValue ? "" : p.DefaultValue == null
                ? (p.ParameterType.IsValueType && Nullable.GetUnderlyingType(p.ParameterType) == null ? " = default" : " = null")
                : p.DefaultValue is bool b ? $" = {(b ? "true" : "false")}" : p.DefaultValue is string s ? $" = \"{s}\"" : $" = {p.DefaultValue}";
            return $"{prefix}{type} {p.Name}{value}";
        }));
}
