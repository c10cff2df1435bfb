using MemRL.Core.Bank;
using MemRL.Core.Recall;
using MemRL.Errors;
using MemRL.Index;

namespace MemRL.Core.Tests;

public sealed class ReferenceBankTests
{
    private const int Dimension = 8;

    [Fact]
    public void Recall_OnEmptyBank_IsNoMemory()
    {
        var bank = new ReferenceBank(Dimension);

        var result = bank.Recall(Unit(0));

        Assert.Empty(result.Memories);
        Assert.Empty(result.Keys);
    }

    [Fact]
    public void Recall_NothingPassingDelta_IsNoMemory()
    {
        var bank = new ReferenceBank(Dimension, MemRLOptions.Default with { Delta = 0.5 });
        bank.Write(Unit(0), "a", "e", true);

        Assert.Empty(bank.Recall(Unit(1)).Memories);
    }

    [Fact]
    public void Recall_DeltaEqualToTheKernelSimilarity_Passes()
    {
        float[] key = [1, 2, 0, 0, 0, 0, 0, 0];
        float[] query = [2, 1, 0, 0, 0, 0, 0, 0];
        var unitKey = new float[Dimension];
        var unitQuery = new float[Dimension];
        VectorMath.TryNormalize(key, unitKey);
        VectorMath.TryNormalize(query, unitQuery);
        float sim = VectorMath.Dot(unitQuery, unitKey);
        var bank = new ReferenceBank(Dimension, MemRLOptions.Default with { Delta = sim });
        bank.Write(key, "k", "e", true);

        Assert.Single(bank.Recall(query).Memories);
        bank.Options = bank.Options with { Delta = MathF.BitIncrement(sim) };
        Assert.Empty(bank.Recall(query).Memories);
    }

    [Fact]
    public void Write_JoinsAKey_AtTheMergeThreshold_AndCapsItsMemoriesInThePool()
    {
        var bank = new ReferenceBank(Dimension, MemRLOptions.Default with { MergeThreshold = 0.99, MaxMemoriesPerKey = 4, K1 = 5, K2 = 5, Delta = 0.5 });
        var first = bank.Write(Unit(0), "task", "e0", true);
        for (int i = 1; i < 10; i++)
        {
            var w = bank.Write(Unit(0), "task", $"e{i}", i % 2 == 0);
            Assert.False(w.CreatedKey);
            Assert.Equal(first.KeySequence, w.KeySequence);
        }

        var other = bank.Write(Unit(1), "other", "x", true);
        Assert.True(other.CreatedKey);
        Assert.Equal(2, bank.Table.KeyCount);
        var recall = bank.Recall(Unit(0));
        Assert.Equal(4, recall.PoolSize);
    }

    [Fact]
    public void Write_UsesTheRecallKeys_WhenGiven()
    {
        var bank = new ReferenceBank(Dimension, MemRLOptions.Default with { MergeThreshold = 0.9, Delta = 0 });
        var a = bank.Write(Unit(0), "a", "e", true);

        var joined = bank.Write(Unit(0), "a again", "e", true, recallKeys: [new KeyMatch(a.KeySequence, 0.95f)]);
        var separate = bank.Write(Unit(0), "a, but recall saw nothing", "e", true, recallKeys: []);

        Assert.False(joined.CreatedKey);
        Assert.True(separate.CreatedKey);
    }

    [Fact]
    public void Reward_UpdatesQ_AndRejectsBadIds_WithoutApplyingAnything()
    {
        var bank = new ReferenceBank(Dimension, MemRLOptions.Default with { MergeThreshold = 2, Delta = 0 });
        var a = bank.Write(Unit(0), "a", "e", true);
        var b = bank.Write(Unit(1), "b", "e", false);

        Assert.Equal([0.3, 0.3], bank.Reward([a.MemorySequence, b.MemorySequence], 1.0));
        FieldAssert.Parts(Assert.Throws<ArgumentException>(() => bank.Reward([a.MemorySequence, 999], 1.0)), "memoryIds[1]", "999");
        // Ids above 2^53 are repeated exactly, not through a double.
        FieldAssert.Parts(Assert.Throws<ArgumentException>(() => bank.Reward([long.MaxValue], 1.0)), "memoryIds[0]", "9223372036854775807");
        FieldAssert.Parts(Assert.Throws<ArgumentException>(() => bank.Reward([b.MemorySequence, b.MemorySequence], 1.0)), "memoryIds[1]", $"{b.MemorySequence}");
        FieldAssert.Parts(Assert.Throws<ArgumentOutOfRangeException>(() => bank.Reward([a.MemorySequence], double.NaN)), "reward", "NaN");

        bank.Table.TryGetMemory(a.MemorySequence, out var ma);
        bank.Table.TryGetMemory(b.MemorySequence, out var mb);
        Assert.Equal((0.3, 1), (ma!.Q, ma.Visits));
        Assert.Equal((0.3, 1), (mb!.Q, mb.Visits));
    }

    [Fact]
    public void Write_InAOneZeroBank_StartsQAtTheMidpoint_AndARewardOutsideTheRangeChangesNothing()
    {
        var bank = new ReferenceBank(Dimension, MemRLOptions.Default with { MergeThreshold = 2, Delta = 0, RewardMin = 0, RewardMax = 1 });
        var a = bank.Write(Unit(0), "a", "e", true);
        var b = bank.Write(Unit(1), "b", "e", false);
        bank.Table.TryGetMemory(a.MemorySequence, out var ma);
        bank.Table.TryGetMemory(b.MemorySequence, out var mb);
        Assert.Equal((0.5, 0.5), (ma!.Q, mb!.Q));

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => bank.Reward([a.MemorySequence, b.MemorySequence], -1));

        Assert.Equal("a number in the bank's reward range [0, 1]", FieldAssert.Parts(error, "reward", "-1").Expected);
        Assert.Equal((0.5, 0, 0.5, 0), (ma.Q, ma.Visits, mb.Q, mb.Visits));
        Assert.Equal([0.35, 0.35], bank.Reward([a.MemorySequence, b.MemorySequence], 0));
    }

    [Fact]
    public void Reward_RefusesAnUpdateWhoseQWouldNotBeFinite_AndAppliesNoneOfIt()
    {
        var bank = new ReferenceBank(Dimension, MemRLOptions.Default with { MergeThreshold = 2, Delta = 0, Alpha = 1, RewardMin = null, RewardMax = null });
        var a = bank.Write(Unit(0), "a", "e", true);
        var b = bank.Write(Unit(1), "b", "e", false);
        bank.Reward([b.MemorySequence], -1.7e308);

        // a would go to 1.7e308 (fine), b from −1.7e308 to +∞: the whole reward is refused, a included.
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => bank.Reward([a.MemorySequence, b.MemorySequence], 1.7e308));
        Assert.Equal(Reasons.NotFinite, FieldAssert.Parts(error, "reward", "1.7E+308").Reason);
        bank.Table.TryGetMemory(a.MemorySequence, out var ma);
        bank.Table.TryGetMemory(b.MemorySequence, out var mb);
        Assert.Equal((0.0, 0), (ma!.Q, ma.Visits));
        Assert.Equal((-1.7e308, 1), (mb!.Q, mb.Visits));
    }

    [Theory]
    [InlineData(1e38f)]
    [InlineData(1e-30f)]
    public void RecallAndWrite_WithVectorsWhosePlainNormOverflowsOrUnderflows_EqualTheScaledDownVectors(float scale)
    {
        var plain = new ReferenceBank(Dimension, MemRLOptions.Default with { Delta = -1, K1 = 10, K2 = 10 });
        var scaled = new ReferenceBank(Dimension, MemRLOptions.Default with { Delta = -1, K1 = 10, K2 = 10 });
        var random = new Random(5);
        for (int i = 0; i < 30; i++)
        {
            var v = UnitBox(random);
            plain.Write(v, $"t{i}", $"e{i}", i % 2 == 0);
            scaled.Write([.. v.Select(x => x * scale)], $"t{i}", $"e{i}", i % 2 == 0);
        }

        Assert.Equal(plain.Table.KeyCount, scaled.Table.KeyCount);
        for (int i = 0; i < 10; i++)
        {
            var q = UnitBox(random);
            var expected = plain.Recall(q).Memories.Select(m => m.Sequence).ToArray();
            Assert.NotEmpty(expected);
            Assert.Equal(expected, scaled.Recall([.. q.Select(x => x * scale)]).Memories.Select(m => m.Sequence));
            Assert.Equal(expected, plain.Recall([.. q.Select(x => x * scale)]).Memories.Select(m => m.Sequence));
        }
    }

    private static float[] UnitBox(Random random)
    {
        var v = new float[Dimension];
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = (float)((random.NextDouble() * 2) - 1);
        }

        float largest = v.Max(Math.Abs);
        return [.. v.Select(x => x / largest)];
    }

    [Fact]
    public void Delete_RemovesTheMemory_AndItsKeyWhenLast()
    {
        var bank = new ReferenceBank(Dimension, MemRLOptions.Default with { MergeThreshold = 0.99, Delta = 0 });
        var a = bank.Write(Unit(0), "a", "e", true);
        var a2 = bank.Write(Unit(0), "a", "e2", true);

        Assert.True(bank.Delete(a.MemorySequence));
        Assert.Equal(1, bank.Table.KeyCount);
        Assert.DoesNotContain(a.MemorySequence, bank.Recall(Unit(0)).Memories.Select(m => m.Sequence));
        Assert.True(bank.Delete(a2.MemorySequence));
        Assert.Equal(0, bank.Table.KeyCount);
        Assert.False(bank.Delete(a2.MemorySequence));
        Assert.Empty(bank.Recall(Unit(0)).Memories);
    }

    [Fact]
    public void BadArguments_AreRejected_AndChangeNothing()
    {
        var bank = new ReferenceBank(Dimension);
        bank.Write(Unit(0), "a", "e", true);

        FieldAssert.Parts(Assert.Throws<ArgumentException>(() => bank.Recall([1, 0, 0])), "query", "a vector of 3 elements");
        FieldAssert.Parts(Assert.Throws<ArgumentException>(() => bank.Write(new float[Dimension], "t", "e", true)), "intent", "the zero vector");
        FieldAssert.Parts(Assert.Throws<ArgumentException>(() => bank.Write([float.NaN, 0, 0, 0, 0, 0, 0, 1], "t", "e", true)), "intent[0]", "NaN");
        string huge = new('x', ReferenceBank.MaxExperienceLength + 1);
        FieldAssert.Parts(Assert.Throws<ArgumentException>(() => bank.Write(Unit(1), "t", huge, true)), "experience", $"{huge.Length} characters");
        FieldAssert.Parts(Assert.Throws<ArgumentOutOfRangeException>(() => bank.Recall(Unit(0), new RecallOverrides(Lambda: 2))), "lambda", "2");
        FieldAssert.Parts(Assert.Throws<ArgumentOutOfRangeException>(() => bank.Options = bank.Options with { Alpha = 3 }), "alpha", "3");
        Assert.Equal(1, bank.Table.MemoryCount);
        Assert.Equal(0.3, bank.Options.Alpha);
    }

    private static float[] Unit(int axis)
    {
        var v = new float[Dimension];
        v[axis] = 1;
        return v;
    }
}
