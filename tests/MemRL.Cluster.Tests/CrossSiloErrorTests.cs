using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using MemRL.Grains;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace MemRL.Cluster.Tests;

/// <summary>
/// The error contract across the wire: an argument error raised in a grain on one silo keeps its field, expected,
/// actual and reason (exception data, which Orleans' exception codec carries) when it reaches a caller on the other
/// silo and then an external client. The HTTP API maps errors from those parts alone, so they must survive the hops.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class CrossSiloErrorTests(ClusterFixture fixture)
{
    [Fact]
    public async Task ShardError_RaisedOnTheOtherSilo_ReachesTheCallerWithItsParts()
    {
        // One shard, so the refusing grain is known; alpha 1 so Q takes each reward as it is.
        var bank = await BankHelpers.NewBankAsync(fixture, "xsilo", new BankOptions { Alpha = 1, Delta = -1, RewardMin = null, RewardMax = null }, shards: 1);
        var v = new Vectors(11, BankHelpers.Dimension).Gaussian();
        await bank.WriteAsync(v, "t", "e", true);
        await bank.RewardAsync((await bank.RecallAsync(v)).Token, -1.7e308);

        // Call from the silo that does not host the shard: its coordinator (a local stateless worker) must cross to
        // the other silo, where the shard refuses the reward whose new Q would be +∞.
        var shardSilo = await SiloOfAsync(BankNames.ShardKey(bank.Name, 0));
        var caller = fixture.Cluster.GetActiveSilos().OfType<InProcessSiloHandle>().Single(s => s.SiloAddress != shardSilo);
        var coordinator = caller.ServiceProvider.GetRequiredService<IGrainFactory>().GetGrain<IMemoryCoordinatorGrain>(0);
        var recall = await coordinator.RecallAsync(bank.Name, new RecallRequest(v));
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(
            () => coordinator.RewardAsync(bank.Name, new RewardRequest(recall.Token, 1.7e308, "op-xsilo")));

        var parts = FieldAssert.Parts(error, "reward", "1.7E+308", Reasons.NotFinite);
        Assert.Contains("finite", parts.Expected, StringComparison.Ordinal);
        Assert.Equal(await SiloOfAsync(BankNames.ShardKey(bank.Name, 0)), shardSilo);

        // And on to an external client, one more serialisation.
        var viaClient = await Assert.ThrowsAnyAsync<ArgumentException>(() => bank.RewardAsync(recall.Token, 1.7e308, "op-xsilo-client"));
        FieldAssert.Parts(viaClient, "reward", "1.7E+308", Reasons.NotFinite);
        Assert.Equal(-1.7e308, (await bank.GetAsync(recall.Memories[0].Id)).Q);
    }

    [Fact]
    public async Task Shard_RefusesARewardThatWouldMakeOneQInfinite_AndAppliesItToNoneOfTheMemories()
    {
        var bank = await BankHelpers.NewBankAsync(fixture, "qinf", new BankOptions { Alpha = 1, Delta = -1, K1 = 5, K2 = 5, MergeThreshold = 2, RewardMin = null, RewardMax = null }, shards: 1);
        var vectors = new Vectors(13, BankHelpers.Dimension);
        var a = (await bank.WriteAsync(vectors.Gaussian(), "a", "a", true)).MemoryId;
        var b = (await bank.WriteAsync(vectors.Gaussian(), "b", "b", true)).MemoryId;
        var query = vectors.Gaussian();
        await bank.RewardAsync((await bank.RecallAsync(query)).Token, -1.7e308, memoryIds: [b]);
        string before = await BankHelpers.SnapshotAsync(bank, [a, b]);

        // a would go from 0 to 1.7e308, b from −1.7e308 to +∞: the shard refuses the whole reward.
        var recall = await bank.RecallAsync(query);
        Assert.Equal(2, recall.Memories.Count);
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => bank.RewardAsync(recall.Token, 1.7e308));
        FieldAssert.Parts(error, "reward", "1.7E+308", Reasons.NotFinite);
        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, [a, b]));
    }

    [Fact]
    public async Task CoordinatorError_ReachesAnExternalClient_WithItsParts()
    {
        var bank = await BankHelpers.NewBankAsync(fixture, "xclient");
        var coordinator = fixture.Cluster.Client.GetGrain<IMemoryCoordinatorGrain>(0);
        var v = new Vectors(12, BankHelpers.Dimension).Gaussian();

        // The .NET client would refuse these before the hop; the grain's copy of each rule must say the same.
        var k1 = await Assert.ThrowsAnyAsync<ArgumentException>(() => coordinator.RecallAsync(bank.Name, new RecallRequest(v, K1: 0)));
        Assert.Equal("an integer in [1, 1000]", FieldAssert.Parts(k1, "k1", "0").Expected);
        var dimension = await Assert.ThrowsAnyAsync<ArgumentException>(() => coordinator.RecallAsync(bank.Name, new RecallRequest(new float[BankHelpers.Dimension + 1])));
        Assert.Equal("a vector of 16 elements", FieldAssert.Parts(dimension, "query", "a vector of 17 elements").Expected);
        var sample = await Assert.ThrowsAnyAsync<ArgumentException>(() => coordinator.CalibrateAsync(bank.Name, BankLimits.MaxCalibrationSample + 1, false));
        Assert.Equal($"an integer in [2, {BankLimits.MaxCalibrationSample}]", FieldAssert.Parts(sample, "sample", $"{BankLimits.MaxCalibrationSample + 1}").Expected);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(BankLimits.MaxCalibrationSample + 1)]
    public async Task CalibrationSample_IsEnforcedOnce_AtTheCoordinator_AndTheClientPassesItThrough(int sample)
    {
        var bank = await BankHelpers.NewBankAsync(fixture, "sample");
        var error = await Assert.ThrowsAnyAsync<ArgumentOutOfRangeException>(() => bank.CalibrateAsync(sample));
        FieldAssert.Parts(error, "sample", $"{sample}");
        // The largest allowed sample passes validation and fails only for the empty bank's lack of keys.
        var empty = await Assert.ThrowsAnyAsync<ArgumentException>(() => bank.CalibrateAsync(BankLimits.MaxCalibrationSample));
        FieldAssert.Parts(empty, "bank");
    }

    private async Task<Orleans.Runtime.SiloAddress> SiloOfAsync(string key)
    {
        var stats = await fixture.Cluster.Client.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        return stats.Single(s => s.GrainId.Key.ToString() == key).SiloAddress;
    }
}
