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
