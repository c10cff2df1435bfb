namespace MemRL.Core.Recall;

/// <summary>
/// The one ranking of recall, shared by Phase A's merge and Phase B's selection in the reference bank and the cluster:
/// a canonical key, so that which memory wins a tie depends on the real-arithmetic values, not on rounding noise.
/// </summary>
/// <remarks>
/// <para>Phase B ranks by the score rounded to a grid of <see cref="ScoreGrid"/> (1e-9), then by Phase-A order.
/// A score is a double combination of z-scores, mostly within ±10, where one rounding error is about 2e-15; two scores
/// equal in real arithmetic but computed along different paths (pool statistics summed in another order, say) can
/// differ by ~1e-16 and must not be split by that. 1e-9 sits a million times above that noise and far below any
/// difference the inputs can carry: similarities are float32 (about 6e-8 apart near 1), and 1e-9 is already the
/// library's threshold for "equal" (<see cref="PhaseB.DegenerateStdDev"/>). Rounding is half-to-even on
/// <c>score × 1e9</c>, exact IEEE arithmetic, so every process computes the same key. Two noisy copies of one real
/// value still land on different grid points if they straddle a half-step, with odds of about noise / grid ≈ 1e-7.</para>
/// <para>Phase-A order is higher similarity, then the older key, then the older memory. Similarities are compared
/// on their own grid, float32: the one distance kernel computes them bit for bit alike on every path (DESIGN §2),
/// so they carry no noise to remove, and a coarser grid would merge distinct floats near 0 that the shards' exact
/// top-k1 tells apart, making the merge disagree with what the shards sent.</para>
/// <para>The key is a lexicographic tuple of totally ordered values (doubles by <see cref="double.CompareTo(double)"/>,
/// which orders NaN first, and sequences), and a memory's sequence is unique, so this is a total order.</para>
/// </remarks>
public static class CanonicalOrder
{
    /// <summary>The grid Phase-B scores are compared on.</summary>
    public const double ScoreGrid = 1e-9;

    // 1e9 is exact in binary64, unlike 1e-9: multiplying by it rounds once, the same way everywhere.
    private const double ScoreScale = 1e9;

    /// <summary>The score as the ranking sees it: the nearest multiple of <see cref="ScoreGrid"/>, in grid steps.</summary>
    public static double ScoreKey(double score) => Math.Round(score * ScoreScale, MidpointRounding.ToEven);

    /// <summary>Phase-A key order: higher similarity first, then the older key.</summary>
    public static int CompareKeys(KeyCandidate a, KeyCandidate b) => CompareKeys(a.Similarity, a.KeySequence, b.Similarity, b.KeySequence);

    /// <summary>Phase-A pool order: the key order, then the older memory.</summary>
    public static int ComparePool(PoolEntry a, PoolEntry b)
    {
        int byKey = CompareKeys(a.Similarity, a.KeySequence, b.Similarity, b.KeySequence);
        return byKey != 0 ? byKey : a.Memory.Sequence.CompareTo(b.Memory.Sequence);
    }

    /// <summary>Phase-B order: higher score on its grid first, then Phase-A pool order.</summary>
    public static int CompareScored(ScoredMemory a, ScoredMemory b)
    {
        int byScore = ScoreKey(b.Score).CompareTo(ScoreKey(a.Score));
        return byScore != 0 ? byScore : ComparePool(a.Entry, b.Entry);
    }

    private static int CompareKeys(float similarityA, long keyA, float similarityB, long keyB)
    {
        int bySimilarity = similarityB.CompareTo(similarityA);
        return bySimilarity != 0 ? bySimilarity : keyA.CompareTo(keyB);
    }
}
