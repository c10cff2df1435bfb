using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests;

/// <summary>
/// DESIGN §5's catalogue, at the client (before the network hop) and at the coordinator grain (for callers that bypass
/// the client). Each case asserts the error names the field and the values, and that the bank did not change.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class BadInputTests(ClusterFixture fixture)
{
    private IMemoryCoordinatorGrain Coordinator => fixture.Cluster.Client.GetGrain<IMemoryCoordinatorGrain>(0);

    public static TheoryData<string, float[], string> BadVectors => new()
    {
        { "nan", Vector(v => v[3] = float.NaN), "[3] is NaN" },
        { "inf", Vector(v => v[0] = float.PositiveInfinity), "[0] is Infinity" },
        { "zero", new float[BankHelpers.Dimension], "zero vector" },
    };

    [Theory]
    [MemberData(nameof(BadVectors))]
    public async Task Client_RejectsBadVectors_BeforeTheHop(string label, float[] vector, string expected)
    {
        var (bank, ids) = await BankWithMemoriesAsync($"vec-{label}");
        string before = await BankHelpers.SnapshotAsync(bank, ids);

        var recallError = await Assert.ThrowsAsync<ArgumentException>(() => bank.RecallAsync(vector));
        var writeError = await Assert.ThrowsAsync<ArgumentException>(() => bank.WriteAsync(vector, "t", "e", true));

        Assert.Contains(expected, recallError.Message);
        Assert.Equal("query", recallError.ParamName);
        Assert.Contains(expected, writeError.Message);
        Assert.Equal("intent", writeError.ParamName);
        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, ids));
    }

    [Theory]
    [MemberData(nameof(BadVectors))]
    public async Task Coordinator_RejectsBadVectors_WhenTheClientIsBypassed(string label, float[] vector, string expected)
    {
        var (bank, ids) = await BankWithMemoriesAsync($"gvec-{label}");
        string before = await BankHelpers.SnapshotAsync(bank, ids);

        var recallError = await Assert.ThrowsAsync<ArgumentException>(() => Coordinator.RecallAsync(bank.Name, new RecallRequest(vector)));
        var writeError = await Assert.ThrowsAsync<ArgumentException>(
            () => Coordinator.WriteAsync(bank.Name, new WriteRequest(vector, "t", "e", true, "op-bad")));

        Assert.Contains(expected, recallError.Message);
        Assert.Contains(expected, writeError.Message);
        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, ids));
    }

    [Fact]
    public async Task Coordinator_RejectsWrongDimension_NamingBoth()
    {
        var (bank, ids) = await BankWithMemoriesAsync("dim");
        string before = await BankHelpers.SnapshotAsync(bank, ids);
        var wrong = new Vectors(1, 24).Gaussian();

        var recallError = await Assert.ThrowsAsync<ArgumentException>(() => bank.RecallAsync(wrong));
        var writeError = await Assert.ThrowsAsync<ArgumentException>(() => bank.WriteAsync(wrong, "t", "e", true));

        Assert.Contains("24 dimensions; expected 16", recallError.Message);
        Assert.Contains("24 dimensions; expected 16", writeError.Message);
        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, ids));
    }

    [Theory]
    [InlineData(3, 5, null, "K2 is 5; it must be at most K1 (3)")]
    [InlineData(null, null, 1.5, "Lambda is 1.5")]
    [InlineData(null, null, -0.1, "Lambda is -0.1")]
    public async Task Recall_RejectsBadOverrides_AtClientAndGrain(int? k1, int? k2, double? lambda, string expected)
    {
        var (bank, ids) = await BankWithMemoriesAsync("override");
        var query = new Vectors(2, BankHelpers.Dimension).Gaussian();

        var clientError = await Assert.ThrowsAnyAsync<ArgumentException>(() => bank.RecallAsync(query, new RecallSettings(k1, k2, lambda)));
        var grainError = await Assert.ThrowsAnyAsync<ArgumentException>(() => Coordinator.RecallAsync(bank.Name, new RecallRequest(query, k1, k2, lambda)));

        Assert.Contains(expected, clientError.Message);
        Assert.Contains(expected, grainError.Message);
    }

    [Theory]
    [InlineData("Alpha", 1.5, "Alpha is 1.5; expected a number in [0, 1]")]
    [InlineData("Alpha", double.NaN, "Alpha is NaN")]
    [InlineData("Lambda", -1.0, "Lambda is -1; expected a number in [0, 1]")]
    [InlineData("K2", 9.0, "K2 is 9; it must be at most K1 (5)")]
    public async Task BankOptions_AreValidated_OnCreateAndUpdate_AndNothingChanges(string option, double value, string expected)
    {
        var bad = option switch
        {
            "Alpha" => new BankOptions { Alpha = value },
            "Lambda" => new BankOptions { Lambda = value },
            _ => new BankOptions { K2 = (int)value },
        };
        string name = ClusterFixture.NewBankName("opts");

        var createError = await Assert.ThrowsAnyAsync<ArgumentException>(
            () => fixture.Memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", bad)));
        Assert.Contains(expected, createError.Message);
        Assert.Null(await fixture.Memory.GetBankAsync(name));

        var (bank, _) = await BankWithMemoriesAsync("opts-upd");
        var before = await fixture.Memory.GetBankAsync(bank.Name);
        var updateError = await Assert.ThrowsAnyAsync<ArgumentException>(() => fixture.Memory.UpdateOptionsAsync(bank.Name, bad));
        Assert.Contains(expected, updateError.Message);
        var after = await fixture.Memory.GetBankAsync(bank.Name);
        Assert.Equal(before!.Version, after!.Version);
        Assert.Equal(before.Options, after.Options);
    }

    [Fact]
    public async Task UnknownBank_IsNotFound_ForEveryCall()
    {
        var bank = fixture.Memory.Bank(ClusterFixture.NewBankName("missing"));
        var v = new Vectors(3, BankHelpers.Dimension).Gaussian();

        await Assert.ThrowsAsync<BankNotFoundException>(() => bank.RecallAsync(v));
        await Assert.ThrowsAsync<BankNotFoundException>(() => bank.WriteAsync(v, "t", "e", true));
        await Assert.ThrowsAsync<BankNotFoundException>(() => bank.GetStatsAsync());
        await Assert.ThrowsAsync<BankNotFoundException>(() => bank.GetAsync("00000001-0001-1"));
    }

    [Fact]
    public async Task UnknownOrMalformedMemoryId_IsRejected()
    {
        var (bank, ids) = await BankWithMemoriesAsync("memid");
        var id = MemoryId.Parse(ids[0], "id");
        string unknown = (id with { Sequence = id.Sequence + 100_000 }).ToString();

        await Assert.ThrowsAsync<MemoryNotFoundException>(() => bank.GetAsync(unknown));
        var malformed = await Assert.ThrowsAsync<ArgumentException>(() => bank.GetAsync("not-an-id"));
        Assert.Contains("'not-an-id'", malformed.Message);
        var grainMalformed = await Assert.ThrowsAsync<ArgumentException>(() => Coordinator.GetAsync(bank.Name, "zz"));
        Assert.Contains("'zz'", grainMalformed.Message);
    }

    [Fact]
    public async Task Write_RejectsOversizedExperience_AndOtherEmbedder_AndNothingChanges()
    {
        var (bank, ids) = await BankWithMemoriesAsync("size");
        string before = await BankHelpers.SnapshotAsync(bank, ids);
        var v = new Vectors(4, BankHelpers.Dimension).Gaussian();
        string huge = new('x', BankLimits.MaxExperienceLength + 1);

        var clientError = await Assert.ThrowsAsync<ArgumentException>(() => bank.WriteAsync(v, "t", huge, true));
        var grainError = await Assert.ThrowsAsync<ArgumentException>(() => Coordinator.WriteAsync(bank.Name, new WriteRequest(v, "t", huge, true, "op-huge")));
        var embedderError = await Assert.ThrowsAsync<ArgumentException>(() => bank.WriteAsync(v, "t", "e", true, embedderId: "other-model"));

        Assert.Contains($"{BankLimits.MaxExperienceLength + 1} characters", clientError.Message);
        Assert.Contains($"{BankLimits.MaxExperienceLength + 1} characters", grainError.Message);
        Assert.Contains("'other-model'", embedderError.Message);
        Assert.Contains("'test-embedder'", embedderError.Message);
        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, ids));
    }

    [Fact]
    public async Task Reward_RejectsNonFiniteReward_AtClientAndGrain()
    {
        var (bank, ids) = await BankWithMemoriesAsync("reward-nan");
        var recall = await bank.RecallAsync(new Vectors(5, BankHelpers.Dimension).Gaussian());
        string before = await BankHelpers.SnapshotAsync(bank, ids);

        var clientError = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => bank.RewardAsync(recall.Token, double.NaN));
        var grainError = await Assert.ThrowsAnyAsync<ArgumentException>(() => Coordinator.RewardAsync(bank.Name, new RewardRequest(recall.Token, double.PositiveInfinity, "op-inf")));

        Assert.Contains("reward is NaN", clientError.Message);
        Assert.Contains("Reward is Infinity", grainError.Message);
        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, ids));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(1)]
    [InlineData(65)]
    public async Task GrowShards_RejectsCountsThatDoNotGrow_AndNothingChanges(int shardCount)
    {
        var (bank, ids) = await BankWithMemoriesAsync($"grow-{shardCount}");
        string before = await BankHelpers.SnapshotAsync(bank, ids);
        var info = await fixture.Memory.GetBankAsync(bank.Name);

        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => fixture.Memory.GrowShardsAsync(bank.Name, shardCount));

        Assert.Contains($"shardCount is {shardCount}; expected an integer in [3, 64]", error.Message);
        Assert.Equal(info!.Version, (await fixture.Memory.GetBankAsync(bank.Name))!.Version);
        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, ids));
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space/and/slash")]
    public async Task BadBankName_IsRejected(string name)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => fixture.Memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "e")));
        Assert.Contains($"'{name}'", error.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => Coordinator.GetStatsAsync(name));
    }

    private async Task<(BankClient Bank, List<string> Ids)> BankWithMemoriesAsync(string prefix)
    {
        var bank = await BankHelpers.NewBankAsync(fixture, prefix, new BankOptions { Delta = -1 });
        var vectors = new Vectors(prefix.GetHashCode(StringComparison.Ordinal), BankHelpers.Dimension);
        var ids = new List<string>();
        for (int i = 0; i < 6; i++)
        {
            ids.Add((await bank.WriteAsync(vectors.Gaussian(), $"i{i}", $"e{i}", i % 2 == 0)).MemoryId);
        }

        return (bank, ids);
    }

    private static float[] Vector(Action<float[]> spoil)
    {
        var v = new Vectors(77, BankHelpers.Dimension).Gaussian();
        spoil(v);
        return v;
    }
}
