using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// A write retried with its operation id returns the original memory, without the token, after the bank grew a key the
/// retry would now join on another shard: when the first acknowledgement was lost, and across a whole-cluster restart.
/// </summary>
[Collection(StorageClusterCollection.Name)]
public sealed class WriteRetryTests
{
    [Fact]
    public async Task WriteAsync_RetriedWithoutToken_AfterRestartAndBankGrowth_ReturnsOriginalMemory()
    {
        string path = TestDatabase.NewPath("write-retry");
        string name = ClusterFixture.NewBankName("write-retry");
        var storage = StorageClusters.Sqlite(path, snapshotEvery: 3);
        var spec = new BankSpec(BankHelpers.Dimension, "test-embedder", RouteGeometry.Options, RouteGeometry.Shards, new IndexSettings(Exact: true));
        try
        {
            (WriteResponse Response, string OperationId, int MemoriesAfter) written;
            var cluster = await StorageClusters.StartAsync(storage, silos: 1);
            try
            {
                var memory = new MemoryClient(cluster.Client);
                await memory.CreateBankAsync(name, spec);
                written = await RouteGeometry.WriteJoinAwayFromHomeAsync(memory.Bank(name));
            }
            finally
            {
                await cluster.DisposeAsync();
            }

            cluster = await StorageClusters.StartAsync(storage, silos: 1);
            try
            {
                var bank = new MemoryClient(cluster.Client).Bank(name);
                await RouteGeometry.WriteCloserKeyAsync(bank, written);

                var retried = await bank.WriteAsync(RouteGeometry.Intent, "intent", "experience", true, operationId: written.OperationId);

                Assert.Equal(written.Response, retried);
                Assert.Equal(written.MemoriesAfter + 1, (await bank.GetStatsAsync()).Memories);
                await Assert.ThrowsAsync<OperationConflictException>(
                    () => bank.WriteAsync(RouteGeometry.Intent, "intent", "another experience", true, operationId: written.OperationId));
            }
            finally
            {
                await cluster.DisposeAsync();
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            TestDatabase.Delete(path);
        }
    }
}

/// <summary>The same retry when the first attempt's commit landed but its acknowledgement was lost.</summary>
public sealed class LostAcknowledgementTests(FaultFixture fixture) : IClassFixture<FaultFixture>
{
    [Fact]
    public async Task WriteAsync_RetriedWithoutToken_AfterLostAcknowledgementAndBankGrowth_ReturnsTheMemoryStoredOnce()
    {
        string name = ClusterFixture.NewBankName("lost-ack");
        FaultFixture.Store.Track(name);
        await fixture.Memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", RouteGeometry.Options, RouteGeometry.Shards, new IndexSettings(Exact: true)));
        var bank = fixture.Memory.Bank(name);
        var seed = await bank.WriteAsync(RouteGeometry.Intent.Select((x, i) => i == 1 ? 0.5f : x).ToArray(), "seed", "seed", true, operationId: "route-seed");
        int seedShard = MemoryId.Parse(seed.MemoryId, "id").Slot % RouteGeometry.Shards;
        string operationId = Enumerable.Range(0, 10_000).Select(i => $"lost-{i}").First(id => OperationIds.SlotOf(id) % RouteGeometry.Shards != seedShard);
        var recall = await bank.RecallAsync(RouteGeometry.Intent);
        FaultFixture.Store.ArmShard(BankNames.ShardKey(name, seedShard), AppendFault.FailAfterWrite);

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
