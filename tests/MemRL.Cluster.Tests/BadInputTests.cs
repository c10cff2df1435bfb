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

    // label, vector, the element the field names ("" = the vector itself), actual
    public static TheoryData<string, float[], string, string> BadVectors => new()
    {
        { "nan", Vector(v => v[3] = float.NaN), "[3]", "NaN" },
        { "inf", Vector(v => v[0] = float.PositiveInfinity), "[0]", "Infinity" },
        { "zero", new float[BankHelpers.Dimension], "", "the zero vector" },
    };

    [Theory]
    [MemberData(nameof(BadVectors))]
    public async Task Client_RejectsBadVectors_BeforeTheHop(string label, float[] vector, string element, string actual)
    {
        var (bank, ids) = await BankWithMemoriesAsync($"vec-{label}");
        string before = await BankHelpers.SnapshotAsync(bank, ids);

        var recallError = await Assert.ThrowsAsync<ArgumentException>(() => bank.RecallAsync(vector));
        var writeError = await Assert.ThrowsAsync<ArgumentException>(() => bank.WriteAsync(vector, "t", "e", true));

        FieldAssert.Parts(recallError, "query" + element, actual);
        FieldAssert.Parts(writeError, "intent" + element, actual);
        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, ids));
    }

    [Theory]
    [MemberData(nameof(BadVectors))]
    public async Task Coordinator_RejectsBadVectors_WhenTheClientIsBypassed(string label, float[] vector, string element, string actual)
    {
        var (bank, ids) = await BankWithMemoriesAsync($"gvec-{label}");
        string before = await BankHelpers.SnapshotAsync(bank, ids);

        var recallError = await Assert.ThrowsAsync<ArgumentException>(() => Coordinator.RecallAsync(bank.Name, new RecallRequest(vector)));
        var writeError = await Assert.ThrowsAsync<ArgumentException>(
            () => Coordinator.WriteAsync(bank.Name, new WriteRequest(vector, "t", "e", true, "op-bad")));

        FieldAssert.Parts(recallError, "query" + element, actual);
        FieldAssert.Parts(writeError, "intent" + element, actual);
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

        Assert.Equal("a vector of 16 elements", FieldAssert.Parts(recallError, "query", "a vector of 24 elements").Expected);
        Assert.Equal("a vector of 16 elements", FieldAssert.Parts(writeError, "intent", "a vector of 24 elements").Expected);
        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, ids));
    }

    [Theory]
    [InlineData(3, 5, null, "k2", "5")]
    [InlineData(0, null, null, "k1", "0")]
    [InlineData(null, null, 1.5, "lambda", "1.5")]
    [InlineData(null, null, -0.1, "lambda", "-0.1")]
    public async Task Recall_RejectsBadOverrides_AtClientAndGrain(int? k1, int? k2, double? lambda, string field, string actual)
    {
        var (bank, ids) = await BankWithMemoriesAsync("override");
        var query = new Vectors(2, BankHelpers.Dimension).Gaussian();

        var clientError = await Assert.ThrowsAnyAsync<ArgumentException>(() => bank.RecallAsync(query, new RecallSettings(k1, k2, lambda)));
        var grainError = await Assert.ThrowsAnyAsync<ArgumentException>(() => Coordinator.RecallAsync(bank.Name, new RecallRequest(query, k1, k2, lambda)));

        FieldAssert.Parts(clientError, field, actual);
        FieldAssert.Parts(grainError, field, actual);
    }

    [Theory]
    [InlineData("Alpha", 1.5, "alpha", "1.5", "a number in [0, 1]")]
    [InlineData("Alpha", double.NaN, "alpha", "NaN", "a number in [0, 1]")]
    [InlineData("Lambda", -1.0, "lambda", "-1", "a number in [0, 1]")]
    [InlineData("K2", 9.0, "k2", "9", "at most k1 (5)")]
    public async Task BankOptions_AreValidated_OnCreateAndUpdate_AndNothingChanges(string option, double value, string field, string actual, string expected)
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
        // In a bank definition the options sit under "options"; PUT options sends them as the whole body.
        // A rule naming another option names it where the caller wrote it too ("at most options.k1 (5)").
        Assert.Equal(expected.Replace("k1", "options.k1", StringComparison.Ordinal), FieldAssert.Parts(createError, "options." + field, actual).Expected);
        Assert.Null(await fixture.Memory.GetBankAsync(name));

        var (bank, _) = await BankWithMemoriesAsync("opts-upd");
        var before = await fixture.Memory.GetBankAsync(bank.Name);
        var updateError = await Assert.ThrowsAnyAsync<ArgumentException>(() => fixture.Memory.UpdateOptionsAsync(bank.Name, bad));
        Assert.Equal(expected, FieldAssert.Parts(updateError, field, actual).Expected);
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
        FieldAssert.Parts(malformed, "memoryId", "not-an-id");
        var grainMalformed = await Assert.ThrowsAsync<ArgumentException>(() => Coordinator.GetAsync(bank.Name, "zz"));
        FieldAssert.Parts(grainMalformed, "memoryId", "zz");
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

        FieldAssert.Parts(clientError, "experience", $"{BankLimits.MaxExperienceLength + 1} characters");
        FieldAssert.Parts(grainError, "experience", $"{BankLimits.MaxExperienceLength + 1} characters");
        Assert.Contains("'test-embedder'", FieldAssert.Parts(embedderError, "embedderId", "other-model").Expected, StringComparison.Ordinal);
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

        FieldAssert.Parts(clientError, "reward", "NaN");
        FieldAssert.Parts(grainError, "reward", "Infinity");
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

        Assert.StartsWith("an integer in [3, 64]", FieldAssert.Parts(error, "shardCount", $"{shardCount}").Expected, StringComparison.Ordinal);
        Assert.Equal(info!.Version, (await fixture.Memory.GetBankAsync(bank.Name))!.Version);
        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, ids));
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space/and/slash")]
    public async Task BadBankName_IsRejected(string name)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => fixture.Memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "e")));
        FieldAssert.Parts(error, "bank", name);
        FieldAssert.Parts(await Assert.ThrowsAsync<ArgumentException>(() => Coordinator.GetStatsAsync(name)), "bank", name);
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
