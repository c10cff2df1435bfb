namespace MemRL.Core.Recall;

/// <summary>The outcome of Phase B.</summary>
/// <param name="Selected">The returned memories, best first.</param>
/// <param name="Explored">True when epsilon-greedy chose random pool members.</param>
public sealed record Selection(IReadOnlyList<ScoredMemory> Selected, bool Explored)
{
    /// <summary>No memory: nothing passed Phase A, or the qMin gate emptied the pool.</summary>
    public static Selection Empty { get; } = new([], false);
}

/// <summary>
/// Phase B, value-aware selection (DESIGN §1, paper Eq. 7): <c>score = (1 − lambda)·zsim + lambda·zQ</c> over the pool,
/// top-k2 by <see cref="CanonicalOrder.CompareScored"/>: scores on a 1e-9 grid, ties in Phase-A order.
/// </summary>
public static class PhaseB
{
    /// <summary>Standard deviations at or below this count as 1 (equal values fall back to the other term).</summary>
    public const double DegenerateStdDev = 1e-9;

    /// <summary>zQ is clipped to ±this.</summary>
    public const double ZQClip = 3.0;

    /// <summary>Scores the pool and selects the k2 best (or, with probability epsilon, k2 random members).</summary>
    /// <param name="pool">The Phase-A pool, in Phase-A order.</param>
    /// <param name="parameters">k2 and lambda of this recall.</param>
    /// <param name="options">The bank's options (zsim mode, muD/sigmaD, qMin, epsilon).</param>
    /// <param name="random">Random source for epsilon-greedy; consulted only when epsilon &gt; 0.</param>
    public static Selection Select(IReadOnlyList<PoolEntry> pool, RecallParameters parameters, MemRLOptions options, IRandomSource random)
    {
        if (pool.Count == 0)
        {
            return Selection.Empty;
        }

        var scored = Score(pool, parameters.Lambda, options);
        if (options.QMin is { } qMin)
        {
            // The gate drops members after the statistics were taken over the whole pool (authors' order).
            scored = scored.Where(s => s.Entry.Memory.Q >= qMin).ToList();
            if (scored.Count == 0)
            {
                return Selection.Empty;
            }
        }

        int k2 = Math.Min(parameters.K2, scored.Count);
        if (options.Epsilon > 0 && random.NextDouble() < options.Epsilon)
        {
            return new Selection(SampleWithoutReplacement(scored, k2, random), Explored: true);
        }

        return new Selection(TopByScore(scored, k2), Explored: false);
    }

    /// <summary>zsim, zQ and score for every pool member, in pool order.</summary>
    public static List<ScoredMemory> Score(IReadOnlyList<PoolEntry> pool, double lambda, MemRLOptions options)
    {
        var (qMean, qStd) = MeanAndStdDev(pool, static e => e.Memory.Q);
        double simMean, simStd;
        if (options.SimilarityNormalization == SimilarityNormalization.Fixed)
        {
            simMean = options.SimilarityMean;
            simStd = options.SimilarityStdDev <= DegenerateStdDev ? 1.0 : options.SimilarityStdDev;
        }
        else
        {
            (simMean, simStd) = MeanAndStdDev(pool, static e => e.Similarity);
        }

        // UCB (off at 0): N is the pool's total visits, so a pool nobody was rewarded from yet gets no bonus (ln 1 = 0).
        long totalVisits = 0;
        if (options.ExplorationBonus > 0)
        {
            foreach (var entry in pool)
            {
                totalVisits += entry.Memory.Visits;
            }
        }

        var scored = new List<ScoredMemory>(pool.Count);
        foreach (var entry in pool)
        {
            double zSim = (entry.Similarity - simMean) / simStd;
            double zQ = Math.Clamp((entry.Memory.Q - qMean) / qStd, -ZQClip, ZQClip);
            if (options.ExplorationBonus > 0)
            {
                zQ += ExplorationBonus(options.ExplorationBonus, totalVisits, entry.Memory.Visits);
            }

            scored.Add(new ScoredMemory(entry, zSim, zQ, ((1 - lambda) * zSim) + (lambda * zQ)));
        }

        return scored;
    }

    /// <summary>The UCB visit-count bonus added to zQ: <c>c·sqrt(ln(N + 1) / (n + 1))</c>.</summary>
    /// <param name="c">The bank's <see cref="MemRLOptions.ExplorationBonus"/>.</param>
    /// <param name="totalVisits">N, the pool's total visits.</param>
    /// <param name="visits">n, the member's visits.</param>
    public static double ExplorationBonus(double c, long totalVisits, int visits) =>
        c * Math.Sqrt(Math.Log(totalVisits + 1.0) / (visits + 1.0));

    /// <summary>Mean and population standard deviation; a pool of one or a std ≤ 1e-9 gives std 1.</summary>
    public static (double Mean, double StdDev) MeanAndStdDev(IReadOnlyList<PoolEntry> pool, Func<PoolEntry, double> value)
    {
        double sum = 0;
        foreach (var entry in pool)
        {
            sum += value(entry);
        }

        double mean = sum / pool.Count;
        if (pool.Count == 1)
        {
            return (mean, 1.0);
        }

        double squares = 0;
        foreach (var entry in pool)
        {
            double d = value(entry) - mean;
            squares += d * d;
        }

        double std = Math.Sqrt(squares / pool.Count);
        return (mean, std <= DegenerateStdDev ? 1.0 : std);
    }

    // The k2 best by the canonical key (score on its 1e-9 grid, then Phase-A order; see CanonicalOrder), so a score
    // difference that is rounding noise never decides a tie. A total order: the sort's stability does not matter.
    internal static List<ScoredMemory> TopByScore(List<ScoredMemory> scored, int k2)
    {
        var order = scored.ToArray();
        Array.Sort(order, CanonicalOrder.CompareScored);
        return [.. order.Take(k2)];
    }

    private static List<ScoredMemory> SampleWithoutReplacement(List<ScoredMemory> scored, int k2, IRandomSource random)
    {
        var indices = new int[scored.Count];
        for (int i = 0; i < indices.Length; i++)
        {
            indices[i] = i;
        }

        // Partial Fisher–Yates: the first k2 slots become a uniform sample.
        for (int i = 0; i < k2; i++)
        {
            int j = i + random.Next(indices.Length - i);
            (indices[i], indices[j]) = (indices[j], indices[i]);
        }

        var picked = new List<ScoredMemory>(k2);
        for (int i = 0; i < k2; i++)
        {
            picked.Add(scored[indices[i]]);
        }

        return picked;
    }
}
