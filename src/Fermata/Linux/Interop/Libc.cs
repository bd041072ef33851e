using System.Runtime.InteropServices;
using Fermata.Errors;

namespace Fermata.Linux.Interop;

/// <summary>
/// Typed entry points into the C library, grouped by syscall family in the partial files beside
/// this one. No policy lives here: a failing call turns into a <see cref="SystemCallException"/>
/// that names what was being done. errno is read immediately after the call, before any other
/// P/Invoke can reset it.
/// </summary>
internal static unsafe partial class Libc
{
    internal const string Name = "libc";

    /// <summary>glibc's syscall(2). Written in assembly, so passing integer arguments to it as a
    /// non-variadic function is safe on x86_64.</summary>
    [LibraryImport(Name, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall(long number, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0, long a6 = 0);

    /// <summary>The errno of the call that just failed, wrapped with what was being done.</summary>
    internal static SystemCallException Error(string operation) =>
        new(operation, Marshal.GetLastPInvokeError());

    internal static long Check(long result, string operation) =>
        result < 0 ? throw Error(operation) : result;

    internal static int LastErrno => Marshal.GetLastPInvokeError();
}
