namespace MemRL.Grains.Shard;

/// <summary>
/// A page by sequence without an index by sequence: one pass over the items keeping the <c>limit</c> lowest sequences
/// after a cursor (a bounded max-heap), for the rare calls that page through a shard (listing, slot-move export).
/// </summary>
internal static class SequencePage
{
    /// <summary>
    /// The matching items with sequence above <paramref name="after"/>, lowest first, at most <paramref name="limit"/>;
    /// and how many matched in all (more than the page's length means more pages remain).
    /// </summary>
    public static (T[] Page, int Matching) Lowest<T>(IEnumerable<T> items, Func<T, long> sequence, long after, int limit, Func<T, bool> matches)
    {
        var lowest = new PriorityQueue<T, long>(limit + 1, Comparer<long>.Create(static (a, b) => b.CompareTo(a)));
        int matching = 0;
        foreach (var item in items)
        {
            long s = sequence(item);
            if (s <= after || !matches(item))
            {
                continue;
            }

            matching++;
            lowest.Enqueue(item, s);
            if (lowest.Count > limit)
            {
                lowest.Dequeue();
            }
        }

        var page = new T[lowest.Count];
        for (int i = page.Length - 1; i >= 0; i--)
        {
            page[i] = lowest.Dequeue();
        }

        return (page, matching);
    }
}
