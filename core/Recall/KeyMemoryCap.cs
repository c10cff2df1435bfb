using MemRL.Errors;

namespace MemRL.Core.Recall;

/// <summary>
/// Which of a key's memories enter a pool when the key holds more than <see cref="MemRLOptions.MaxMemoriesPerKey"/>:
/// the newest quarter of the cap (so fresh memories get a chance to earn Q) plus the best by Q for the rest.
/// A documented departure from the authors' code, whose buckets grow without bound (DESIGN §1).
/// </summary>
public static class KeyMemoryCap
{
    /// <summary>Returns the memories that enter the pool, oldest first (the tie order within a key).</summary>
    /// <param name="memories">All of the key's memories, oldest first.</param>
    /// <param name="cap">The cap, at least 1.</param>
    public static IReadOnlyList<MemoryCandidate> Select(IReadOnlyList<MemoryCandidate> memories, int cap)
    {
        if (cap < 1)
        {
            throw FieldError.OutOfRange(nameof(cap), "at least 1", FieldError.Format(cap));
        }
        if (memories.Count <= cap)
        {
            return memories;
        }

        int newest = Math.Max(1, cap / 4);
        var chosen = new List<MemoryCandidate>(cap);
        for (int i = memories.Count - newest; i < memories.Count; i++)
        {
            chosen.Add(memories[i]);
        }

        var older = new List<MemoryCandidate>(memories.Count - newest);
        for (int i = 0; i < memories.Count - newest; i++)
        {
            older.Add(memories[i]);
        }

        // Best Q first; equal Q keeps the older memory (stable on sequence).
        older.Sort(static (a, b) => b.Q != a.Q ? b.Q.CompareTo(a.Q) : a.Sequence.CompareTo(b.Sequence));
        for (int i = 0; i < cap - newest; i++)
        {
            chosen.Add(older[i]);
        }

        chosen.Sort(static (a, b) => a.Sequence.CompareTo(b.Sequence));
        return chosen;
    }
}
