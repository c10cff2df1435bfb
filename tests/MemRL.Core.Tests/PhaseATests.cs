using MemRL.Core.Recall;

namespace MemRL.Core.Tests;

public sealed class PhaseATests
{
    private static KeyCandidate Key(long key, float sim, params long[] memories) =>
        new(key, sim, memories.Select(m => new MemoryCandidate(m, 0, true)).ToArray());

    [Fact]
    public void Merge_KeepsExactlyTheGlobalTopK1_AcrossShards()
    {
        IReadOnlyList<KeyCandidate>[] shards =
        [
            [Key(1, 0.95f, 100), Key(4, 0.60f, 400)],
            [Key(2, 0.90f, 200, 201), Key(5, 0.55f, 500)],
            [Key(3, 0.70f, 300)],
        ];

        var (keys, pool) = PhaseA.Merge(shards, k1: 3, delta: 0.5);

        Assert.Equal([1L, 2L, 3L], keys.Select(k => k.KeySequence));
        Assert.Equal([100L, 200L, 201L, 300L], pool.Select(p => p.Memory.Sequence));
        Assert.Equal(0.90f, pool[1].Similarity);
    }

    [Fact]
    public void Merge_DeltaIsInclusive_AndNothingPassingMeansNoMemory()
    {
        IReadOnlyList<KeyCandidate>[] shards = [[Key(1, 0.5f, 10), Key(2, 0.49999997f, 20)]];

        var (keys, pool) = PhaseA.Merge(shards, k1: 5, delta: 0.5f);
        Assert.Equal([1L], keys.Select(k => k.KeySequence));
        Assert.Single(pool);

        var (none, empty) = PhaseA.Merge(shards, k1: 5, delta: 0.6);
        Assert.Empty(none);
        Assert.Empty(empty);
    }

    [Fact]
    public void Merge_BreaksSimilarityTiesOnTheOlderKey_AndOrdersMemoriesOldestFirst()
    {
        IReadOnlyList<KeyCandidate>[] shards = [[Key(9, 0.8f, 93, 91)], [Key(4, 0.8f, 42, 41)]];

        var (keys, pool) = PhaseA.Merge(shards, k1: 1, delta: 0);

        Assert.Equal([4L], keys.Select(k => k.KeySequence));
        Assert.Equal([41L, 42L], pool.Select(p => p.Memory.Sequence));
    }

    [Fact]
    public void Merge_EmptyBank_GivesNoMemory()
    {
        var (keys, pool) = PhaseA.Merge([], k1: 5, delta: -1);

        Assert.Empty(keys);
        Assert.Empty(pool);
    }
}

public sealed class KeyMemoryCapTests
{
    [Fact]
    public void Select_KeepsNewestQuarterPlusBestByQ_OldestFirst()
    {
        // 10 memories, cap 4: the newest one (4 / 4 = 1) plus the three best by Q among the rest.
        var memories = Enumerable.Range(0, 10).Select(i => new MemoryCandidate(i, Q: i switch { 2 => 0.9, 5 => 0.8, 7 => 0.8, 3 => 0.7, _ => 0.0 }, true)).ToArray();

        var kept = KeyMemoryCap.Select(memories, 4);

        Assert.Equal([2L, 5L, 7L, 9L], kept.Select(m => m.Sequence));
    }

    [Fact]
    public void Select_ReturnsEverything_UnderTheCap()
    {
        var memories = Enumerable.Range(0, 3).Select(i => new MemoryCandidate(i, 0, true)).ToArray();

        Assert.Same(memories, KeyMemoryCap.Select(memories, 3));
    }

    [Fact]
    public void Select_EqualQ_KeepsTheOlderMemory()
    {
        var memories = Enumerable.Range(0, 6).Select(i => new MemoryCandidate(i, 0.5, true)).ToArray();

        Assert.Equal([0L, 5L], KeyMemoryCap.Select(memories, 2).Select(m => m.Sequence));
    }
}
