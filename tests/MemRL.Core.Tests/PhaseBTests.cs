using MemRL.Core.Recall;

namespace MemRL.Core.Tests;

public sealed class PhaseBTests
{
    private static readonly IRandomSource NeverRandom = new ScriptedRandom();

    // Pool: sims 0.9, 0.8, 0.7 (three keys), Qs 0, 1, 0.5.
    // Pool z: sim mean 0.8, pop std sqrt(0.02/3) = 0.0816497; zsim = 1.2247449, 0, -1.2247449.
    // Q mean 0.5, pop std sqrt(0.5/3) = 0.4082483; zQ = -1.2247449, 1.2247449, 0.
    private static readonly PoolEntry[] Pool =
    [
        new(1, 0.9f, new MemoryCandidate(10, 0.0, true)),
        new(2, 0.8f, new MemoryCandidate(20, 1.0, true)),
        new(3, 0.7f, new MemoryCandidate(30, 0.5, false)),
    ];

    [Fact]
    public void Score_MatchesHandComputedZScores_InPoolMode()
    {
        var scored = PhaseB.Score(Pool, 0.5, MemRLOptions.Default);

        double zs = Math.Sqrt(1.5);   // (0.9 − 0.8) / sqrt(0.02/3) = sqrt(1.5)
        Assert.Equal(zs, scored[0].ZSim, 5);
        Assert.Equal(0, scored[1].ZSim, 5);
        Assert.Equal(-zs, scored[2].ZSim, 5);
        Assert.Equal(-zs, scored[0].ZQ, 9);
        Assert.Equal(zs, scored[1].ZQ, 9);
        Assert.Equal(0, scored[2].ZQ, 9);
        Assert.Equal(0, scored[0].Score, 5);
        Assert.Equal(0.5 * zs, scored[1].Score, 5);
        Assert.Equal(-0.5 * zs, scored[2].Score, 5);
    }

    [Fact]
    public void Score_UsesBankConstants_InFixedMode()
    {
        var options = MemRLOptions.Default with { SimilarityNormalization = SimilarityNormalization.Fixed, SimilarityMean = 0.5, SimilarityStdDev = 0.2 };

        var scored = PhaseB.Score(Pool, 0.25, options);

        Assert.Equal((0.9 - 0.5) / 0.2, scored[0].ZSim, 5);
        Assert.Equal((0.7 - 0.5) / 0.2, scored[2].ZSim, 5);
        Assert.Equal((0.75 * ((0.8 - 0.5) / 0.2)) + (0.25 * Math.Sqrt(1.5)), scored[1].Score, 5);
    }

    [Fact]
    public void Select_OrdersByScore_ThenKeepsPhaseAOrderOnTies()
    {
        var selection = PhaseB.Select(Pool, Parameters(k2: 3, lambda: 0.5), MemRLOptions.Default, NeverRandom);

        Assert.Equal([20L, 10L, 30L], selection.Selected.Select(s => s.Entry.Memory.Sequence));
    }

    [Fact]
    public void Select_LambdaZero_IsSimilarityOrder()
    {
        var selection = PhaseB.Select(Pool, Parameters(k2: 3, lambda: 0), MemRLOptions.Default, NeverRandom);

        Assert.Equal([10L, 20L, 30L], selection.Selected.Select(s => s.Entry.Memory.Sequence));
    }

    [Fact]
    public void Select_LambdaOne_IsQOrder_WithSimilarityBreakingTies()
    {
        PoolEntry[] pool =
        [
            new(1, 0.9f, new MemoryCandidate(10, 0.2, true)),
            new(2, 0.8f, new MemoryCandidate(20, 0.7, true)),
            new(3, 0.7f, new MemoryCandidate(30, 0.7, true)),
            new(4, 0.6f, new MemoryCandidate(40, 0.9, true)),
        ];

        var selection = PhaseB.Select(pool, Parameters(k2: 4, lambda: 1), MemRLOptions.Default, NeverRandom);

        Assert.Equal([40L, 20L, 30L, 10L], selection.Selected.Select(s => s.Entry.Memory.Sequence));
    }

    [Fact]
    public void ZQ_IsClippedAtThree()
    {
        // Eleven members with Q 0 and one with Q 10: the outlier's z is sqrt(11) ≈ 3.317, clipped to 3.
        var pool = Enumerable.Range(0, 11).Select(i => new PoolEntry(i, 0.5f, new MemoryCandidate(i, 0, true)))
            .Append(new PoolEntry(11, 0.5f, new MemoryCandidate(11, 10, true))).ToArray();

        var scored = PhaseB.Score(pool, 1, MemRLOptions.Default);

        Assert.Equal(3.0, scored[11].ZQ);
        Assert.Equal(-1 / Math.Sqrt(11), scored[0].ZQ, 9);
    }

    [Fact]
    public void QMin_DropsMembersAfterTheStatisticsAreTaken()
    {
        var options = MemRLOptions.Default with { QMin = 0.4 };

        var selection = PhaseB.Select(Pool, Parameters(k2: 3, lambda: 0.5), options, NeverRandom);

        // Memory 10 (Q 0) is gated out, but the mean/std still include it: zQ of memory 20 stays sqrt(1.5).
        Assert.Equal([20L, 30L], selection.Selected.Select(s => s.Entry.Memory.Sequence));
        Assert.Equal(Math.Sqrt(1.5), selection.Selected[0].ZQ, 9);
    }

    [Fact]
    public void QMin_EmptyingThePool_GivesNoMemory()
    {
        var selection = PhaseB.Select(Pool, Parameters(k2: 3, lambda: 0.5), MemRLOptions.Default with { QMin = 5 }, NeverRandom);

        Assert.Empty(selection.Selected);
    }

    [Fact]
    public void PoolOfOne_HasZeroZScores_AndIsReturned()
    {
        var selection = PhaseB.Select([Pool[1]], Parameters(k2: 3, lambda: 0.5), MemRLOptions.Default, NeverRandom);

        var only = Assert.Single(selection.Selected);
        Assert.Equal(0, only.ZSim);
        Assert.Equal(0, only.ZQ);
    }

    [Fact]
    public void EqualQs_FallBackToSimilarityOrder()
    {
        var pool = Pool.Select(e => e with { Memory = e.Memory with { Q = 0.3 } }).Reverse().ToArray();

        var selection = PhaseB.Select(pool, Parameters(k2: 3, lambda: 0.9), MemRLOptions.Default, NeverRandom);

        Assert.All(selection.Selected, s => Assert.Equal(0, s.ZQ));
        Assert.Equal([10L, 20L, 30L], selection.Selected.Select(s => s.Entry.Memory.Sequence));
    }

    [Fact]
    public void K2LargerThanPool_ReturnsTheWholePool()
    {
        Assert.Equal(3, PhaseB.Select(Pool, Parameters(k2: 50, lambda: 0.5), MemRLOptions.Default, NeverRandom).Selected.Count);
    }

    [Fact]
    public void EmptyPool_IsNoMemory_AndConsultsNoRandom()
    {
        var random = new ScriptedRandom();
        var selection = PhaseB.Select([], Parameters(k2: 3, lambda: 0.5), MemRLOptions.Default with { Epsilon = 1 }, random);

        Assert.Empty(selection.Selected);
        Assert.Equal(0, random.Calls);
    }

    [Fact]
    public void Epsilon_ExploresWhenTheDrawIsBelowIt_PickingScriptedMembers()
    {
        var options = MemRLOptions.Default with { Epsilon = 0.25 };
        var explore = new ScriptedRandom(doubles: [0.1], ints: [2, 0]);

        var selection = PhaseB.Select(Pool, Parameters(k2: 2, lambda: 0.5), options, explore);

        Assert.True(selection.Explored);
        // Partial Fisher–Yates over [10, 20, 30]: swap 0 <-> 2 gives [30, 20, 10]; then slot 1 swaps with 1 + 0.
        Assert.Equal([30L, 20L], selection.Selected.Select(s => s.Entry.Memory.Sequence));

        var exploit = new ScriptedRandom(doubles: [0.3]);
        var greedy = PhaseB.Select(Pool, Parameters(k2: 2, lambda: 0.5), options, exploit);
        Assert.False(greedy.Explored);
        Assert.Equal([20L, 10L], greedy.Selected.Select(s => s.Entry.Memory.Sequence));
    }

    [Fact]
    public void EpsilonZero_NeverConsultsTheRandomSource()
    {
        var random = new ScriptedRandom();

        PhaseB.Select(Pool, Parameters(k2: 2, lambda: 0.5), MemRLOptions.Default, random);

        Assert.Equal(0, random.Calls);
    }

    internal static RecallParameters Parameters(int k2, double lambda) => new(K1: 50, K2: k2, Lambda: lambda, Delta: 0);
}

/// <summary>Returns scripted values and counts calls; throws when the script runs out, so unexpected draws fail loudly.</summary>
internal sealed class ScriptedRandom(double[]? doubles = null, int[]? ints = null) : IRandomSource
{
    private readonly Queue<double> _doubles = new(doubles ?? []);
    private readonly Queue<int> _ints = new(ints ?? []);

    public int Calls { get; private set; }

    public double NextDouble()
    {
        Calls++;
        return _doubles.Dequeue();
    }

    public int Next(int maxExclusive)
    {
        Calls++;
        int value = _ints.Dequeue();
        Assert.InRange(value, 0, maxExclusive - 1);
        return value;
    }
}
