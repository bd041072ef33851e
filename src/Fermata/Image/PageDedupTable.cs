namespace Fermata.Image;

/// <summary>
/// Page identity to the store page holding it, shared by every worker of a
/// <see cref="PageStoreWriter"/>: the first worker to claim an identity stores the page, the
/// others refer to it. It holds an entry for every page stored, so its size grows with the
/// target's memory: open addressing over three arrays (24 bytes an entry, sized for three
/// quarters full when every declared page is stored: 32 bytes a page, 8 MiB per GiB), where a
/// dictionary of the same pairs took 52 (its 48-byte entries, as a 128-bit key is 16-byte
/// aligned, and a bucket). It is split in stripes, each with its own lock, so that workers
/// seldom wait for each other.
/// </summary>
internal sealed class PageDedupTable
{
    private const int Stripes = 64;
    private readonly Stripe[] _stripes = new Stripe[Stripes];

    /// <param name="pages">How many pages may be claimed at most (all declared).</param>
    public PageDedupTable(ulong pages)
    {
        long each = (long)(pages / Stripes) + 16;
        for (int i = 0; i < Stripes; i++) _stripes[i] = new Stripe(each);
    }

    /// <summary>Claims <paramref name="identity"/> for <paramref name="page"/>; false, with the
    /// page that claimed it first, when an earlier page did.</summary>
    public bool TryClaim(UInt128 identity, ulong page, out ulong earlier)
    {
        // XXH3-128 spreads its bits evenly: the low ones choose the stripe, the high ones the slot.
        var stripe = _stripes[(int)((ulong)identity % Stripes)];
        lock (stripe) return stripe.TryClaim((ulong)identity, (ulong)(identity >> 64), page, out earlier);
    }

    private sealed class Stripe
    {
        private ulong[] _low, _high, _page; // _page holds page + 1: 0 marks a free slot
        private long _count;

        public Stripe(long expected)
        {
            long slots = expected * 4 / 3 + 1;
            _low = new ulong[slots];
            _high = new ulong[slots];
            _page = new ulong[slots];
        }

        public bool TryClaim(ulong low, ulong high, ulong page, out ulong earlier)
        {
            if ((_count + 1) * 4 > (long)_page.Length * 3) Grow();
            long slot = Find(low, high);
            if (_page[slot] != 0)
            {
                earlier = _page[slot] - 1;
                return false;
            }
            _low[slot] = low;
            _high[slot] = high;
            _page[slot] = page + 1;
            _count++;
            earlier = 0;
            return true;
        }

        /// <summary>The slot holding the identity, or the free slot where it belongs.</summary>
        private long Find(ulong low, ulong high)
        {
            long slot = (long)(high % (ulong)_page.Length);
            while (_page[slot] != 0 && (_low[slot] != low || _high[slot] != high))
                if (++slot == _page.Length) slot = 0;
            return slot;
        }

        /// <summary>Only when more pages are claimed than declared (never, as the writer sizes
        /// it): twice the slots.</summary>
        private void Grow()
        {
            var (low, high, page) = (_low, _high, _page);
            _low = new ulong[low.Length * 2];
            _high = new ulong[low.Length * 2];
            _page = new ulong[low.Length * 2];
            for (long i = 0; i < low.Length; i++)
            {
                if (page[i] == 0) continue;
                long slot = Find(low[i], high[i]);
                (_low[slot], _high[slot], _page[slot]) = (low[i], high[i], page[i]);
            }
        }
    }
}
