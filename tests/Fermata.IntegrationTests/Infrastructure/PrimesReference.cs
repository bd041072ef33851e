using System.Text;

namespace Fermata.IntegrationTests.Infrastructure;

/// <summary>
/// What tests/workloads/primes.c prints when it runs uninterrupted, computed here in a second
/// with a sieve (the program itself divides for minutes, so that it outlives Slurm time limits).
/// </summary>
public static class PrimesReference
{
    public static string Output(uint limit, uint steps)
    {
        var composite = new bool[limit + 1];
        for (ulong i = 2; i * i <= limit; i++)
            if (!composite[i])
                for (ulong j = i * i; j <= limit; j += i) composite[j] = true;
        const uint table = 8u << 20;
        var gaps = new uint[table];
        var sb = new StringBuilder();
        ulong count = 0;
        uint last = 0;
        for (uint step = 1; step <= steps; step++)
        {
            uint from = (uint)((ulong)limit * (step - 1) / steps) + 1, to = (uint)((ulong)limit * step / steps);
            for (uint n = Math.Max(from, 2); n <= to; n++)
            {
                if (composite[n]) continue;
                count++;
                if (last != 0) gaps[(n - last) % table]++;
                last = n;
            }
            sb.Append($"up to {to}: {count} primes\n");
        }
        ulong check = 0;
        foreach (uint g in gaps) check = unchecked(check * 31 + g);
        sb.Append($"done: {count} primes up to {limit}, gap table {check:x16}\n");
        return sb.ToString();
    }
}
