using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// A write retried with its operation id returns the original memory, without the token, after the bank grew a key the
/// retry would now join on another shard, across a whole-cluster restart (the lost-acknowledgement case is in
/// <see cref="DurabilityTests"/>).
/// </summary>
[Collection(StorageClusterCollection.Name)]
public sealed class WriteRetryTests
{
    [Fact]
    public async Task WriteAsync_RetriedWithoutToken_AfterRestartAndBankGrowth_ReturnsOriginalMemory()
    {
        using var file = new SqliteFile("write-retry");
        string name = ClusterFixture.NewBankName("write-retry");
        var storage = StorageClusters.Sqlite(file.Path, snapshotEvery: 3);
        (WriteResponse Response, string OperationId, int MemoriesAfter) written = default;
        await StorageClusters.RunAsync(storage, async (memory, _) =>
        {
            await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", RouteGeometry.Options, RouteGeometry.Shards, new IndexSettings(Exact: true)));
            written = await RouteGeometry.WriteJoinAwayFromHomeAsync(memory.Bank(name));
        });

        await StorageClusters.RunAsync(storage, async (memory, _) =>
        {
            var bank = memory.Bank(name);
            await RouteGeometry.WriteCloserKeyAsync(bank, written);

            var retried = await bank.WriteAsync(RouteGeometry.Intent, "intent", "experience", true, operationId: written.OperationId);

            Assert.Equal(written.Response, retried);
            Assert.Equal(written.MemoriesAfter + 1, (await bank.GetStatsAsync()).Memories);
            await Assert.ThrowsAsync<OperationConflictException>(
                () => bank.WriteAsync(RouteGeometry.Intent, "intent", "another experience", true, operationId: written.OperationId));
        });
    }
}
