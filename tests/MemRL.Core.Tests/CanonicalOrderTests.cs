using MemRL.Core.Recall;

namespace MemRL.Core.Tests;

public sealed class CanonicalOrderTests
{
    [Fact]
    public void CompareScored_IsATotalOrder_OnRandomInputsFullOfNearTies()
    {
        var random = new Random(1618);
        var items = new List<ScoredMemory>();
        for (int i = 0; i < 120; i++)
        {
            // Few distinct base values, then nudges of 0, 1 ulp, 1e-16, 4e-10 (inside the grid), 6e-10 (across a
            // half-step) and 2e-9 (a real difference), and similarities that repeat: ties on every component.
            double score = (random.Next(5) - 2) * 0.1;
            score += random.Next(6) switch { 0 => 0, 1 => Math.BitIncrement(score) - score, 2 => 1e-16, 3 => 4e-10, 4 => 6e-10, _ => 2e-9 };
            float similarity = random.Next(3) switch { 0 => 0.5f, 1 => MathF.BitIncrement(0.5f), _ => 0.25f };
            items.Add(new ScoredMemory(new PoolEntry(random.Next(4), similarity, new MemoryCandidate(i, 0, true)), 0, 0, score));
        }

        foreach (var a in items)
        {
            Assert.Equal(0, CanonicalOrder.CompareScored(a, a));
            foreach (var b in items)
            {
                int ab = Math.Sign(CanonicalOrder.CompareScored(a, b));
                Assert.Equal(-ab, Math.Sign(CanonicalOrder.CompareScored(b, a)));
                // Distinct memories never compare equal: the order is total, not just a preorder.
                Assert.Equal(a.Entry.Memory.Sequence == b.Entry.Memory.Sequence, ab == 0);
            }
        }

        for (int t = 0; t < 200_000; t++)
        {
            var (a, b, c) = (items[random.Next(items.Count)], items[random.Next(items.Count)], items[random.Next(items.Count)]);
            if (CanonicalOrder.CompareScored(a, b) <= 0 && CanonicalOrder.CompareScored(b, c) <= 0)
            {
                Assert.True(CanonicalOrder.CompareScored(a, c) <= 0, $"not transitive: {a} ≤ {b} ≤ {c} but {a} > {c}");
            }
        }

        // Consistent: sorting any permutation gives one sequence.
        var once = items.OrderBy(_ => random.Next()).ToArray();
        var twice = items.OrderBy(_ => random.Next()).ToArray();
        Array.Sort(once, CanonicalOrder.CompareScored);
        Array.Sort(twice, CanonicalOrder.CompareScored);
        Assert.Equal(once.Select(s => s.Entry.Memory.Sequence), twice.Select(s => s.Entry.Memory.Sequence));
    }

    [Fact]
    public void CompareKeys_IsATotalOrder_AndAgreesWithThePoolOrder()
    {
        var random = new Random(2718);
        float[] similarities = [0.9f, MathF.BitDecrement(0.9f), 0.5f, 1e-12f, 2e-12f, 0f];
        var keys = Enumerable.Range(0, 60).Select(i => new KeyCandidate(i, similarities[random.Next(similarities.Length)], [])).ToList();
        foreach (var a in keys)
        {
            foreach (var b in keys)
            {
                int ab = Math.Sign(CanonicalOrder.CompareKeys(a, b));
                Assert.Equal(-ab, Math.Sign(CanonicalOrder.CompareKeys(b, a)));
                Assert.Equal(a.KeySequence == b.KeySequence, ab == 0);
                var pa = new PoolEntry(a.KeySequence, a.Similarity, new MemoryCandidate(100 + a.KeySequence, 0, true));
                var pb = new PoolEntry(b.KeySequence, b.Similarity, new MemoryCandidate(100 + b.KeySequence, 0, true));
                Assert.Equal(ab, Math.Sign(CanonicalOrder.ComparePool(pa, pb)));
            }
        }

        // Similarities are float32 from the one kernel: distinct floats, even a few ulps apart near 0, stay distinct.
        Assert.True(CanonicalOrder.CompareKeys(new KeyCandidate(9, 2e-12f, []), new KeyCandidate(1, 1e-12f, [])) < 0);
    }

    [Fact]
    public void TopByScore_LetsPhaseAOrderDecide_WhenScoresDifferByRoundingNoise()
    {
        // 0.1 + 0.2 is 0.30000000000000004 in binary64, 0.3 is 0.29999999999999998: equal in real arithmetic.
        double noisy = 0.1 + 0.2;
        Assert.NotEqual(0.3, noisy);
        Assert.True(Math.Abs(noisy - 0.3) < 1e-16);
        var older = new ScoredMemory(new PoolEntry(1, 0.8f, new MemoryCandidate(10, 0.5, true)), 0, 0, 0.3);
        var newer = new ScoredMemory(new PoolEntry(2, 0.7f, new MemoryCandidate(20, 0.5, true)), 0, 0, noisy);

        // Without the grid the higher (noisier) score would win; Phase-A order (higher similarity) decides instead.
        Assert.Equal([10L, 20L], PhaseB.TopByScore([newer, older], 2).Select(s => s.Entry.Memory.Sequence));
        Assert.Equal([10L, 20L], PhaseB.TopByScore([older, newer], 2).Select(s => s.Entry.Memory.Sequence));

        // Same similarity: the older key, then the older memory.
        var sameKeyLater = new ScoredMemory(new PoolEntry(1, 0.8f, new MemoryCandidate(11, 0.5, true)), 0, 0, noisy);
        var otherKey = new ScoredMemory(new PoolEntry(0, 0.8f, new MemoryCandidate(30, 0.5, true)), 0, 0, 0.3 + 1e-17);
        Assert.Equal([30L, 10L, 11L], PhaseB.TopByScore([sameKeyLater, older, otherKey], 3).Select(s => s.Entry.Memory.Sequence));

        // A real difference (above the grid) still wins over Phase-A order.
        var better = new ScoredMemory(new PoolEntry(5, 0.1f, new MemoryCandidate(50, 0.5, true)), 0, 0, 0.3 + 2e-9);
        Assert.Equal(50L, PhaseB.TopByScore([older, newer, better], 1)[0].Entry.Memory.Sequence);
    }

    [Fact]
    public void ScoreKey_RoundsToTheGrid_TheSameWayForEveryNoisyCopy()
    {
        Assert.Equal(CanonicalOrder.ScoreKey(0.3), CanonicalOrder.ScoreKey(0.1 + 0.2));
        Assert.Equal(CanonicalOrder.ScoreKey(-1.25), CanonicalOrder.ScoreKey(-1.25 + 1e-15));
        Assert.NotEqual(CanonicalOrder.ScoreKey(0.3), CanonicalOrder.ScoreKey(0.3 + (2 * CanonicalOrder.ScoreGrid)));
        Assert.Equal(300_000_000.0, CanonicalOrder.ScoreKey(0.3));
    }
}
