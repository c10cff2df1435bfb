using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains;
using MemRL.Grains.Storage;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// Faults injected under the shard's commits: nothing is acknowledged before it is durable, nothing half-applied. Every
/// backend runs the same tests (<see cref="SqliteDurabilityTests"/>, <see cref="AzureDurabilityTests"/>).
/// </summary>
public abstract class DurabilityTests(IFaultFixture fixture)
{
    private readonly Vectors _vectors = new(11, BankHelpers.Dimension);

    private async Task<(string Name, Client.BankClient Bank)> NewBankAsync(string prefix)
    {
        string name = ClusterFixture.NewBankName(prefix);
        fixture.Store.Track(name);
        await fixture.Memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, 1, new IndexSettings(Exact: true)));
        return (name, fixture.Memory.Bank(name));
    }

    private async Task<ShardStats> ShardStatsAsync(string name)
    {
        var info = await fixture.Memory.GetBankAsync(name);
        return await fixture.Cluster.Client.GetGrain<IMemoryShardGrain>(BankNames.ShardKey(name, 0)).GetStatsAsync(info!.Version);
    }

    protected async Task WriteAsync_IsAcknowledgedOnlyAfterCommit_WhileReadsAndOtherWritesInterleave()
    {
        var (name, bank) = await NewBankAsync("stall");
        var first = await bank.WriteAsync(_vectors.Gaussian(), "i0", "e0", true);
        int appendsBefore = fixture.Store.AppendsStarted(name);
        fixture.Store.Stall(name);

        var stalled = bank.WriteAsync(_vectors.Gaussian(), "i1", "e1", true);
        await Wait.UntilAsync(() => fixture.Store.AppendsStarted(name) == appendsBefore + 1, "the stalled append to start");
        // The grain is not blocked by its commit: reads and further writes run while the append waits.
        var recall = await bank.RecallAsync(_vectors.Gaussian());
        Assert.Equal(1, recall.Coverage.ShardsAnswered);
        var more = Enumerable.Range(2, 10).Select(i => bank.WriteAsync(_vectors.Gaussian(), $"i{i}", $"e{i}", true)).ToArray();
        await Wait.UntilAsync(async () => (await ShardStatsAsync(name)).Memories == 12, "all 12 memories to be applied in memory");

        Assert.False(stalled.IsCompleted, "the write was acknowledged while its commit had not returned.");
        Assert.All(more, w => Assert.False(w.IsCompleted, "a write was acknowledged before its commit."));
        Assert.Equal(appendsBefore + 1, fixture.Store.AppendsStarted(name));

        fixture.Store.Release(name);
        await stalled;
        await Task.WhenAll(more);
        // Group commit: the ten writes queued during the stall went to storage together, in one append.
        Assert.Equal(appendsBefore + 2, fixture.Store.AppendsStarted(name));
        var image = await fixture.Store.Inner.LoadShardAsync(BankNames.ShardKey(name, 0));
        MemoryId.TryParse(first.MemoryId, out var firstId);
        Assert.Contains(image.Payloads, p => p.Sequence == firstId.Sequence && p.Experience == "e0");
        Assert.Equal(12, image.Payloads.Count(p => p.Experience is not null));
    }

    protected async Task RewardAsync_FailsAndLeavesQUntouched_WhenCommitFails()
    {
        var (name, bank) = await NewBankAsync("failreward");
        var v = _vectors.Gaussian();
        var written = await bank.WriteAsync(v, "i", "e", true);
        var recall = await bank.RecallAsync(v);
        fixture.Store.Arm(name, AppendFault.FailBeforeWrite);

        var error = await Assert.ThrowsAsync<ShardUnavailableException>(() => bank.RewardAsync(recall.Token, 1.0));
        Assert.Contains("could not commit to storage", error.Message);
        Assert.False(error.StorageOverloaded, "an ordinary commit failure is not an overload.");

        var after = await bank.GetAsync(written.MemoryId);
        Assert.Equal(0, after.Visits);
        Assert.Equal(0.0, after.Q);
        var retried = await bank.RewardAsync(recall.Token, 1.0);
        Assert.Equal(1, Assert.Single(retried.Updated).Visits);
    }

    protected async Task WriteAsync_FailsAsStorageOverloaded_WhenTheStoreIsThrottled_AndTheRetryApplies()
    {
        var (name, bank) = await NewBankAsync("throttled");
        var v = _vectors.Gaussian();
        fixture.Store.Arm(name, AppendFault.Throttled);

        var error = await Assert.ThrowsAsync<ShardUnavailableException>(() => bank.WriteAsync(v, "i", "e", true, operationId: "op-throttled"));
        Assert.True(error.StorageOverloaded, $"expected the throttling to be told apart; got: {error.Message}");
        Assert.Equal(0, (await bank.GetStatsAsync()).Memories);

        var retried = await bank.WriteAsync(v, "i", "e", true, operationId: "op-throttled");
        Assert.Equal(retried.MemoryId, (await bank.WriteAsync(v, "i", "e", true, operationId: "op-throttled")).MemoryId);
        Assert.Equal(1, (await bank.GetStatsAsync()).Memories);
    }

    protected async Task WriteAsync_AppliesOnce_WhenCommitFailsAfterWrite()
    {
        var (name, bank) = await NewBankAsync("afterwrite");
        var v = _vectors.Gaussian();
        fixture.Store.Arm(name, AppendFault.FailAfterWrite);

        await Assert.ThrowsAsync<ShardUnavailableException>(() => bank.WriteAsync(v, "i", "e", true, operationId: "op-after-write"));
        var retry = await bank.WriteAsync(v, "i", "e", true, operationId: "op-after-write");
        var again = await bank.WriteAsync(v, "i", "e", true, operationId: "op-after-write");

        Assert.Equal(retry.MemoryId, again.MemoryId);
        Assert.Equal(1, (await bank.GetStatsAsync()).Memories);
    }

    protected async Task Activation_DiscardsTornLastRecord_AndNeverAppliesIt()
    {
        var (name, bank) = await NewBankAsync("torn");
        await bank.WriteAsync(_vectors.Gaussian(), "i0", "e0", true);
        fixture.Store.Arm(name, AppendFault.TearRecord);

        await Assert.ThrowsAsync<ShardUnavailableException>(() => bank.WriteAsync(_vectors.Gaussian(), "i1", "e1", true, operationId: "op-torn"));
        string shard = BankNames.ShardKey(name, 0);
        var torn = await fixture.Store.Inner.LoadShardAsync(shard);
        Assert.False(EventCodec.TryDecode(torn.Tail[^1].Record, out _), "the injected torn record decoded as a good one.");

        Assert.Equal(1, (await bank.GetStatsAsync()).Memories);
        var repaired = await fixture.Store.Inner.LoadShardAsync(shard);
        Assert.All(repaired.Tail, r => Assert.True(EventCodec.TryDecode(r.Record, out _), $"record {r.Position} is still torn after activation."));
        await bank.WriteAsync(_vectors.Gaussian(), "i1", "e1", true, operationId: "op-torn");
        Assert.Equal(2, (await bank.GetStatsAsync()).Memories);
    }

    protected async Task Calls_FailWithClearError_WhileStorageIsDown_AndRecoverWithoutRestart()
    {
        var (name, bank) = await NewBankAsync("down");
        var v = _vectors.Gaussian();
        var written = await bank.WriteAsync(v, "i0", "e0", true);
        var recall = await bank.RecallAsync(v);
        fixture.Store.SetDown(name, true);

        var write = await Assert.ThrowsAnyAsync<Exception>(() => bank.WriteAsync(_vectors.Gaussian(), "i1", "e1", true));
        Assert.Contains("storage", write.Message);
        var reward = await Assert.ThrowsAnyAsync<Exception>(() => bank.RewardAsync(recall.Token, 1.0));
        Assert.Contains("storage", reward.Message);

        fixture.Store.SetDown(name, false);
        var memory = await bank.GetAsync(written.MemoryId);
        Assert.Equal(0, memory.Visits);
        Assert.Equal(1, (await bank.GetStatsAsync()).Memories);
        await bank.WriteAsync(_vectors.Gaussian(), "i2", "e2", true);
        Assert.Equal(2, (await bank.GetStatsAsync()).Memories);
    }

    protected async Task RecallAsync_ReportsPartialCoverage_WhileAShardIsStillLoading()
    {
        string name = ClusterFixture.NewBankName("loading");
        await fixture.Memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1 }, 2, new IndexSettings(Exact: true)));
        var bank = fixture.Memory.Bank(name);
        string slow = BankNames.ShardKey(name, 0);
        fixture.Store.StallLoads(slow);
        try
        {
            // The first recall activates both shards; shard 0's load is held back, as a large shard's would be.
            var partial = await bank.RecallAsync(_vectors.Gaussian());

            Assert.Equal(new Coverage(1, 2), partial.Coverage);
            await Assert.ThrowsAsync<IncompleteCoverageException>(() => bank.RecallAsync(_vectors.Gaussian(), new RecallSettings(RequireFullCoverage: true)));
        }
        finally
        {
            fixture.Store.ReleaseLoads(slow);
        }

        await Wait.UntilAsync(async () => (await bank.RecallAsync(_vectors.Gaussian())).Coverage.IsFull, "the loaded shard to answer");
    }

    protected async Task Shard_IsFencedOff_WhenAnotherActivationAppendsFirst_AndNothingIsLost()
    {
        var (name, bank) = await NewBankAsync("fence");
        var v = _vectors.Gaussian();
        var written = await bank.WriteAsync(v, "i0", "e0", true);
        MemoryId.TryParse(written.MemoryId, out var id);
        string shard = BankNames.ShardKey(name, 0);

        // A rival activation of the same shard: it read the same head and appends first.
        var image = await fixture.Store.Inner.LoadShardAsync(shard);
        var rivalChange = new QUpdated(id.Sequence, 1.0, 0.777, 1, DateTimeOffset.UtcNow);
        await fixture.Store.Inner.AppendAsync(shard, new ShardBatch(image.Head, EventCodec.Encode([rivalChange]), [], []));

        var fenced = await Assert.ThrowsAsync<ShardUnavailableException>(() => bank.WriteAsync(_vectors.Gaussian(), "i1", "e1", true, operationId: "op-fenced"));
        Assert.Contains("fenced off", fenced.Message);

        var memory = await bank.GetAsync(written.MemoryId);
        Assert.Equal(0.777, memory.Q);
        Assert.Equal(1, memory.Visits);
        await bank.WriteAsync(_vectors.Gaussian(), "i1", "e1", true, operationId: "op-fenced");
        Assert.Equal(2, (await bank.GetStatsAsync()).Memories);
    }

    // The first attempt's commit lands but its acknowledgement is lost; the bank then grows a key the retry (without the
    // token) would join on another shard: the retry must return the memory stored once, on the first attempt's route.
    protected async Task WriteAsync_RetriedWithoutToken_AfterLostAcknowledgementAndBankGrowth_ReturnsTheMemoryStoredOnce()
    {
        string name = ClusterFixture.NewBankName("lost-ack");
        fixture.Store.Track(name);
        await fixture.Memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", RouteGeometry.Options, RouteGeometry.Shards, new IndexSettings(Exact: true)));
        var bank = fixture.Memory.Bank(name);
        var seed = await bank.WriteAsync(RouteGeometry.Intent.Select((x, i) => i == 1 ? 0.5f : x).ToArray(), "seed", "seed", true, operationId: "route-seed");
        int seedShard = MemoryId.Parse(seed.MemoryId, "id").Slot % RouteGeometry.Shards;
        string operationId = Enumerable.Range(0, 10_000).Select(i => $"lost-{i}").First(id => OperationIds.SlotOf(id) % RouteGeometry.Shards != seedShard);
        var recall = await bank.RecallAsync(RouteGeometry.Intent);
        fixture.Store.ArmShard(BankNames.ShardKey(name, seedShard), AppendFault.FailAfterWrite);

        await Assert.ThrowsAsync<ShardUnavailableException>(
            () => bank.WriteAsync(RouteGeometry.Intent, "intent", "experience", true, recall.Token, operationId));
        await RouteGeometry.WriteCloserKeyAsync(bank, (new WriteResponse(seed.MemoryId, false, 0), operationId, 0));
        var retried = await bank.WriteAsync(RouteGeometry.Intent, "intent", "experience", true, operationId: operationId);

        Assert.False(retried.CreatedKey);
        Assert.Equal(seedShard, MemoryId.Parse(retried.MemoryId, "id").Slot % RouteGeometry.Shards);
        Assert.Equal(3, (await bank.GetStatsAsync()).Memories);
        Assert.Equal(retried, await bank.WriteAsync(RouteGeometry.Intent, "intent", "experience", true, operationId: operationId));
    }
}

public sealed class SqliteDurabilityTests(FaultFixture fixture) : DurabilityTests(fixture), IClassFixture<FaultFixture>
{
    [Fact]
    public Task WriteAsync_IsAcknowledgedOnlyAfterCommit_WhileReadsAndOtherWritesInterleave_Sqlite() => WriteAsync_IsAcknowledgedOnlyAfterCommit_WhileReadsAndOtherWritesInterleave();

    [Fact]
    public Task RewardAsync_FailsAndLeavesQUntouched_WhenCommitFails_Sqlite() => RewardAsync_FailsAndLeavesQUntouched_WhenCommitFails();

    [Fact]
    public Task WriteAsync_FailsAsStorageOverloaded_WhenTheStoreIsThrottled_AndTheRetryApplies_Sqlite() => WriteAsync_FailsAsStorageOverloaded_WhenTheStoreIsThrottled_AndTheRetryApplies();

    [Fact]
    public Task WriteAsync_AppliesOnce_WhenCommitFailsAfterWrite_Sqlite() => WriteAsync_AppliesOnce_WhenCommitFailsAfterWrite();

    [Fact]
    public Task Activation_DiscardsTornLastRecord_AndNeverAppliesIt_Sqlite() => Activation_DiscardsTornLastRecord_AndNeverAppliesIt();

    [Fact]
    public Task Calls_FailWithClearError_WhileStorageIsDown_AndRecoverWithoutRestart_Sqlite() => Calls_FailWithClearError_WhileStorageIsDown_AndRecoverWithoutRestart();

    [Fact]
    public Task RecallAsync_ReportsPartialCoverage_WhileAShardIsStillLoading_Sqlite() => RecallAsync_ReportsPartialCoverage_WhileAShardIsStillLoading();

    [Fact]
    public Task Shard_IsFencedOff_WhenAnotherActivationAppendsFirst_AndNothingIsLost_Sqlite() => Shard_IsFencedOff_WhenAnotherActivationAppendsFirst_AndNothingIsLost();

    [Fact]
    public Task WriteAsync_RetriedWithoutToken_AfterLostAcknowledgementAndBankGrowth_ReturnsTheMemoryStoredOnce_Sqlite() => WriteAsync_RetriedWithoutToken_AfterLostAcknowledgementAndBankGrowth_ReturnsTheMemoryStoredOnce();
}

public sealed class AzureDurabilityTests(AzureFaultFixture fixture) : DurabilityTests(fixture), IClassFixture<AzureFaultFixture>
{
    [AzuriteFact]
    public Task WriteAsync_IsAcknowledgedOnlyAfterCommit_WhileReadsAndOtherWritesInterleave_Azure() => WriteAsync_IsAcknowledgedOnlyAfterCommit_WhileReadsAndOtherWritesInterleave();

    [AzuriteFact]
    public Task RewardAsync_FailsAndLeavesQUntouched_WhenCommitFails_Azure() => RewardAsync_FailsAndLeavesQUntouched_WhenCommitFails();

    [AzuriteFact]
    public Task WriteAsync_AppliesOnce_WhenCommitFailsAfterWrite_Azure() => WriteAsync_AppliesOnce_WhenCommitFailsAfterWrite();

    [AzuriteFact]
    public Task WriteAsync_FailsAsStorageOverloaded_WhenTheStoreIsThrottled_AndTheRetryApplies_Azure() => WriteAsync_FailsAsStorageOverloaded_WhenTheStoreIsThrottled_AndTheRetryApplies();

    [AzuriteFact]
    public Task Activation_DiscardsTornLastRecord_AndNeverAppliesIt_Azure() => Activation_DiscardsTornLastRecord_AndNeverAppliesIt();

    [AzuriteFact]
    public Task Calls_FailWithClearError_WhileStorageIsDown_AndRecoverWithoutRestart_Azure() => Calls_FailWithClearError_WhileStorageIsDown_AndRecoverWithoutRestart();

    [AzuriteFact]
    public Task RecallAsync_ReportsPartialCoverage_WhileAShardIsStillLoading_Azure() => RecallAsync_ReportsPartialCoverage_WhileAShardIsStillLoading();

    [AzuriteFact]
    public Task Shard_IsFencedOff_WhenAnotherActivationAppendsFirst_AndNothingIsLost_Azure() => Shard_IsFencedOff_WhenAnotherActivationAppendsFirst_AndNothingIsLost();

    [AzuriteFact]
    public Task WriteAsync_RetriedWithoutToken_AfterLostAcknowledgementAndBankGrowth_ReturnsTheMemoryStoredOnce_Azure() => WriteAsync_RetriedWithoutToken_AfterLostAcknowledgementAndBankGrowth_ReturnsTheMemoryStoredOnce();
}
