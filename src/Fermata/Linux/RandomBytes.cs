using Fermata.Linux.Interop;

namespace Fermata.Linux;

/// <summary>
/// Random bytes from the kernel's generator (getrandom(2)), for image and job ids, the secrets and
/// challenges of a job over several nodes. Not RandomNumberGenerator: on Linux .NET takes its
/// bytes from OpenSSL, and loading libssl and libcrypto and reading openssl.cnf, which only that
/// needed, cost every checkpoint 5-10 ms before it could begin.
/// </summary>
internal static class RandomBytes
{
    public static byte[] Get(int count)
    {
        var bytes = new byte[count];
        Fill(bytes);
        return bytes;
    }

    /// <summary><paramref name="count"/> random bytes as lowercase hexadecimal.</summary>
    public static string Hex(int count) => Convert.ToHexStringLower(Get(count));

    public static unsafe void Fill(Span<byte> into)
    {
        fixed (byte* start = into)
        {
            int done = 0;
            while (done < into.Length)
            {
                // Up to 256 bytes never come back short once the generator is seeded; larger
                // requests and signals may.
                nint got = Libc.GetRandom(start + done, (nuint)(into.Length - done), 0);
                if (got < 0)
                {
                    if (Libc.LastErrno == Errno.EINTR) continue;
                    throw Libc.Error("getrandom");
                }
                done += (int)got;
            }
        }
    }
}
