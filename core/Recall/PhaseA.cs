using MemRL.Errors;

namespace MemRL.Core.Recall;

/// <summary>
/// Phase A, similarity recall (DESIGN §1, paper Eq. 6, authors' <c>retrieve_query</c>): the global top-k1 intent keys
/// with similarity ≥ delta, expanded to their memories.
/// </summary>
public static class PhaseA
{
    /// <summary>
    /// Merges per-shard candidate lists into exactly the global top-k1 keys with similarity ≥ delta, ordered by
    /// similarity (descending), then key sequence (older first), expanded to their memories (older first).
    /// Each shard must have sent at least its own top-k1 passing keys; then the merge is exact.
    /// </summary>
    /// <returns>The kept keys and the pool; both empty when nothing passes delta (a valid, common answer).</returns>
    public static (IReadOnlyList<KeyMatch> Keys, IReadOnlyList<PoolEntry> Pool) Merge(
        IEnumerable<IReadOnlyList<KeyCandidate>> perShard, int k1, double delta)
    {
        if (k1 < 1)
        {
            throw FieldError.OutOfRange(nameof(k1), "at least 1", FieldError.Format(k1));
        }
        var passing = new List<KeyCandidate>();
        foreach (var shard in perShard)
        {
            foreach (var key in shard)
            {
                if (key.Similarity >= delta)
                {
                    passing.Add(key);
                }
            }
        }

        passing.Sort(CanonicalOrder.CompareKeys);
        int count = Math.Min(k1, passing.Count);
        var keys = new KeyMatch[count];
        var pool = new List<PoolEntry>();
        for (int i = 0; i < count; i++)
        {
            var key = passing[i];
            keys[i] = new KeyMatch(key.KeySequence, key.Similarity);
            foreach (var memory in OldestFirst(key.Memories))
            {
                pool.Add(new PoolEntry(key.KeySequence, key.Similarity, memory));
            }
        }

        return (keys, pool);
    }

    private static IEnumerable<MemoryCandidate> OldestFirst(IReadOnlyList<MemoryCandidate> memories)
    {
        for (int i = 1; i < memories.Count; i++)
        {
            if (memories[i].Sequence < memories[i - 1].Sequence)
            {
                var sorted = memories.ToArray();
                Array.Sort(sorted, static (a, b) => a.Sequence.CompareTo(b.Sequence));
                return sorted;
            }
        }

        return memories;
    }
}
