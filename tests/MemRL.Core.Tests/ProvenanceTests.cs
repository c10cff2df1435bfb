using MemRL.Core.Bank;
using MemRL.Core.Recall;

namespace MemRL.Core.Tests;

/// <summary>Credit along provenance and the UCB bonus in the reference bank (docs/provenance.md).</summary>
public sealed class ProvenanceTests
{
    private const int Dimension = 8;

    private static readonly MemRLOptions On = MemRLOptions.Default with { ProvenanceDecay = 0.5, ProvenanceDepth = 2, MergeThreshold = 2 };

    [Fact]
    public void Off_ByDefault_RecordsNoAncestors_AndCreditsNothing()
    {
        var bank = new ReferenceBank(Dimension);
        long a = bank.Write(Unit(0), "a", "e", true).MemorySequence;
        long b = bank.Write(Unit(1), "b", "e", true, recalledMemories: [a]).MemorySequence;

        bank.Reward([b], 1);

        Assert.Empty(Memory(bank, b).Ancestors);
        Assert.Equal(0, Memory(bank, a).Q);
        Assert.Empty(bank.LastCredited);
    }

    [Fact]
    public void Reward_ReachesParentAndGrandparent_DiscountedByDecayToTheDepth()
    {
        var bank = new ReferenceBank(Dimension, On);
        var (a, b, c) = Chain(bank);

        bank.Reward([c], 1);

        // qInit 0, alpha 0.3: the child moves 0.3; the parent at eligibility 0.5, the grandparent at 0.25.
        Assert.Equal(0.3, Memory(bank, c).Q, 12);
        Assert.Equal(0.3 * 0.5, Memory(bank, b).Q, 12);
        Assert.Equal(0.3 * 0.25, Memory(bank, a).Q, 12);
        Assert.Equal([new CreditedMemory(b, 1, Memory(bank, b).Q), new CreditedMemory(a, 2, Memory(bank, a).Q)], bank.LastCredited);
        // Credit is not a visit: the UCB count n stays the number of direct rewards.
        Assert.Equal(0, Memory(bank, b).Visits);
        Assert.Equal(1, Memory(bank, c).Visits);
    }

    [Fact]
    public void Depth_BoundsTheGenerationsReached()
    {
        var bank = new ReferenceBank(Dimension, On with { ProvenanceDepth = 1 });
        var (a, b, c) = Chain(bank);

        bank.Reward([c], 1);

        Assert.Equal(0.15, Memory(bank, b).Q, 12);
        Assert.Equal(0, Memory(bank, a).Q);
    }

    [Fact]
    public void DeletedAncestor_IsSkipped_WithEverythingReachedOnlyThroughIt()
    {
        var bank = new ReferenceBank(Dimension, On);
        var (a, b, c) = Chain(bank);
        Assert.True(bank.Delete(b));

        bank.Reward([c], 1);

        Assert.Equal(0, Memory(bank, a).Q);
        Assert.Empty(bank.LastCredited);
    }

    [Fact]
    public void FanOut_BoundsTheAncestorsCredited_InRecordedOrder()
    {
        var bank = new ReferenceBank(Dimension, On with { ProvenanceFanOut = 2 });
        var parents = Enumerable.Range(0, 5).Select(i => bank.Write(Unit(i), "p", "e", true).MemorySequence).ToArray();
        long child = bank.Write(Unit(6), "c", "e", true, recalledMemories: [parents[3], parents[1], parents[4], parents[0]]).MemorySequence;

        bank.Reward([child], 1);

        Assert.Equal([parents[3], parents[1]], bank.LastCredited.Select(m => m.Sequence));
        Assert.Equal(0, Memory(bank, parents[4]).Q);
    }

    [Fact]
    public void MemoryRewardedDirectly_IsNotAlsoCredited()
    {
        var bank = new ReferenceBank(Dimension, On);
        var (a, b, c) = Chain(bank);

        bank.Reward([b, c], 1);

        Assert.Equal(0.3, Memory(bank, b).Q, 12);
        // a is b's parent (depth 1 from b) before it is c's grandparent.
        Assert.Equal([new CreditedMemory(a, 1, 0.15)], bank.LastCredited);
    }

    [Fact]
    public void Ancestors_AreFixedAtWrite_LeavingOutMemoriesAlreadyDeleted()
    {
        var bank = new ReferenceBank(Dimension, On);
        long a = bank.Write(Unit(0), "a", "e", true).MemorySequence;
        long gone = bank.Write(Unit(1), "g", "e", true).MemorySequence;
        bank.Delete(gone);

        long b = bank.Write(Unit(2), "b", "e", true, recalledMemories: [gone, a]).MemorySequence;

        Assert.Equal([a], Memory(bank, b).Ancestors);
    }

    [Fact]
    public void CreditedQ_IsFlooredLikeADirectUpdate()
    {
        var bank = new ReferenceBank(Dimension, On with { QFloor = -0.05 });
        var (_, b, c) = Chain(bank);

        bank.Reward([c], -1);

        Assert.Equal(-0.05, Memory(bank, b).Q, 12);
    }

    [Theory]
    [InlineData(nameof(MemRLOptions.ProvenanceDecay), 1.5)]
    [InlineData(nameof(MemRLOptions.ProvenanceDepth), 5)]
    [InlineData(nameof(MemRLOptions.ProvenanceDepth), 0)]
    [InlineData(nameof(MemRLOptions.ProvenanceFanOut), 0)]
    [InlineData(nameof(MemRLOptions.ProvenanceFanOut), 257)]
    [InlineData(nameof(MemRLOptions.ExplorationBonus), -0.1)]
    [InlineData(nameof(MemRLOptions.ExplorationBonus), 11)]
    public void Validate_RefusesOutOfRange_NamingTheField(string member, double value)
    {
        var options = member switch
        {
            nameof(MemRLOptions.ProvenanceDecay) => MemRLOptions.Default with { ProvenanceDecay = value },
            nameof(MemRLOptions.ProvenanceDepth) => MemRLOptions.Default with { ProvenanceDepth = (int)value },
            nameof(MemRLOptions.ProvenanceFanOut) => MemRLOptions.Default with { ProvenanceFanOut = (int)value },
            _ => MemRLOptions.Default with { ExplorationBonus = value },
        };

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate("options."));

        FieldAssert.Parts(error, "options." + char.ToLowerInvariant(member[0]) + member[1..], MemRL.Errors.FieldError.Format(value));
    }

    [Fact]
    public void Options_WithProvenanceOrUcb_AreNotEqualToTheDefaults()
    {
        Assert.NotEqual(MemRLOptions.Default, MemRLOptions.Default with { ProvenanceDecay = 0.5 });
        Assert.NotEqual(MemRLOptions.Default, MemRLOptions.Default with { ExplorationBonus = 1 });
    }

    [Fact]
    public void Ucb_Bonus_IsTheStatedFormula()
    {
        Assert.Equal(2 * Math.Sqrt(Math.Log(11) / 4), PhaseB.ExplorationBonus(2, 10, 3), 15);
        Assert.Equal(0, PhaseB.ExplorationBonus(1, 0, 0));
    }

    [Fact]
    public void Ucb_RanksTheLessVisitedFirst_WhereQAndSimilarityTie()
    {
        PoolEntry[] pool =
        [
            new(1, 0.8f, new MemoryCandidate(10, 0.5, true, Visits: 9)),
            new(2, 0.8f, new MemoryCandidate(20, 0.5, true, Visits: 0)),
        ];
        var parameters = new RecallParameters(K1: 5, K2: 1, Lambda: 0.5, Delta: 0);
        var random = new SeededRandom(1);

        var plain = PhaseB.Select(pool, parameters, MemRLOptions.Default, random);
        var ucb = PhaseB.Select(pool, parameters, MemRLOptions.Default with { ExplorationBonus = 1 }, random);

        Assert.Equal(10, plain.Selected[0].Entry.Memory.Sequence);
        Assert.Equal(20, ucb.Selected[0].Entry.Memory.Sequence);
        Assert.Equal(PhaseB.ExplorationBonus(1, 9, 0), ucb.Selected[0].ZQ, 12);
    }

    [Fact]
    public void Ucb_InTheReferenceBank_UsesTheMemoriesVisitCounts()
    {
        var bank = new ReferenceBank(Dimension, MemRLOptions.Default with { ExplorationBonus = 1, MergeThreshold = 2, K2 = 1, Delta = 0 });
        long first = bank.Write(Unit(0), "a", "e", true).MemorySequence;
        long second = bank.Write(Unit(0), "b", "e", true).MemorySequence;
        // Both at Q 0.3 by one reward of 1 each, then the first is rewarded toward the same Q again and again.
        bank.Reward([first], 1);
        bank.Reward([second], 1);
        for (int i = 0; i < 5; i++)
        {
            bank.Options = bank.Options with { Alpha = 1e-12 };
            bank.Reward([first], Memory(bank, first).Q);
        }

        var recalled = bank.Recall(Unit(0));

        Assert.Equal(second, recalled.Memories[0].Sequence);
    }

    // a, then b written from a recall that returned a, then c from one that returned b.
    private static (long A, long B, long C) Chain(ReferenceBank bank)
    {
        long a = bank.Write(Unit(0), "a", "e", true).MemorySequence;
        long b = bank.Write(Unit(1), "b", "e", true, recalledMemories: [a]).MemorySequence;
        long c = bank.Write(Unit(2), "c", "e", true, recalledMemories: [b]).MemorySequence;
        return (a, b, c);
    }

    private static MemoryRecord Memory(ReferenceBank bank, long sequence)
    {
        Assert.True(bank.Table.TryGetMemory(sequence, out var memory));
        return memory;
    }

    private static float[] Unit(int axis)
    {
        var v = new float[Dimension];
        v[axis] = 1;
        return v;
    }
}
