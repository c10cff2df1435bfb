using MemRL.Core.Recall;

namespace MemRL.Core;

/// <summary>
/// Where a new memory goes (DESIGN §1, authors' bucketing): it joins the most similar existing key when that similarity
/// is at least <see cref="MemRLOptions.MergeThreshold"/>, else its intent becomes a new key.
/// </summary>
public static class WriteRule
{
    /// <summary>The key to join, or <see langword="null"/> for a new key. Ties go to the older key.</summary>
    /// <param name="candidates">Keys near the new intent with their similarity (a recall's Phase-A keys, or each shard's nearest).</param>
    /// <param name="mergeThreshold">Above 1 nothing ever joins: every memory is its own key.</param>
    public static long? ChooseKey(IEnumerable<KeyMatch> candidates, double mergeThreshold)
    {
        KeyMatch? best = null;
        foreach (var candidate in candidates)
        {
            if (candidate.Similarity < mergeThreshold)
            {
                continue;
            }

            if (best is not { } b || candidate.Similarity > b.Similarity
                || (candidate.Similarity == b.Similarity && candidate.KeySequence < b.KeySequence))
            {
                best = candidate;
            }
        }

        return best?.KeySequence;
    }
}
