using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// A memory's reward history (docs/history.md) is exactly what was acknowledged: across a silo kill and restart, with a
/// retried reward adding nothing, and after a slot move carries the memory to another shard.
/// </summary>
[Collection(StorageClusterCollection.Name)]
public sealed class HistoryTests
{
    [Fact]
    public async Task History_EqualsTheAcknowledgedRewards_AcrossKillRetryAndSlotMove()
    {
        string path = TestDatabase.NewPath("history");
        string name = ClusterFixture.NewBankName("history");
        var vectors = new Vectors(17, BankHelpers.Dimension);
        // Snapshots every 5 events: the restarted shards load a snapshot; the history rows are outside it.
        var cluster = await StorageClusters.StartAsync(StorageClusters.Sqlite(path, snapshotEvery: 5), silos: 2);
        try
        {
            var memory = new MemoryClient(cluster.Client);
            await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder",
                new BankOptions { Delta = -1, MergeThreshold = 2 }, 2, new IndexSettings(Exact: true)));
            var bank = memory.Bank(name);
            for (int i = 0; i < 6; i++)
            {
                await bank.WriteAsync(vectors.Gaussian(), $"intent {i}", $"experience {i}", i % 2 == 0);
            }

            // The ledger: per memory, the acknowledged (reward, Q, visits), oldest first.
            var acked = new Dictionary<string, List<(double Reward, double Q, int Visits)>>();
            for (int step = 0; step < 12; step++)
            {
                var recall = await bank.RecallAsync(vectors.Gaussian());
                double value = (step % 5) / 4.0;
                var response = await bank.RewardAsync(recall.Token, value, operationId: $"h-{step}");
                foreach (var q in response.Updated)
                {
                    (acked.TryGetValue(q.Id, out var list) ? list : acked[q.Id] = []).Add((value, q.Q, q.Visits));
                }

                if (step == 3)
                {
                    // A retry of an acknowledged reward: the same answer, and no second entry.
                    var again = await bank.RewardAsync(recall.Token, value, operationId: $"h-{step}");
                    Assert.Equal(response.Updated, again.Updated);
                }
            }

            Assert.NotEmpty(acked);
            await AssertHistoryAsync(bank, acked);

            await cluster.KillSiloAsync(cluster.Silos[1]);
            await cluster.StartAdditionalSiloAsync();
            await AssertHistoryAsync(bank, acked);

            // Slots move to the new shards: every memory's history travels with it.
            await memory.GrowShardsAsync(name, 4);
            await AssertHistoryAsync(bank, acked);

            // Paging: a cursor continues below the last entry, and a bad limit or cursor is named by its field.
            var (id, entries) = acked.MaxBy(a => a.Value.Count);
            if (entries.Count > 1)
            {
                var first = await bank.GetHistoryAsync(id, limit: 1);
                Assert.Equal(entries.Count, first.NextCursor);
                var second = await bank.GetHistoryAsync(id, limit: 256, cursor: first.NextCursor);
                Assert.Equal(entries.Count - 1, second.Entries.Count);
                Assert.Null(second.NextCursor);
            }

            FieldAssert.Parts(await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => bank.GetHistoryAsync(id, limit: 257)), "limit", "257");
            FieldAssert.Parts(await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => bank.GetHistoryAsync(id, cursor: 0)), "cursor", "0");

            // Deleted: the memory and its history are gone.
            Assert.True(await bank.DeleteAsync(id));
            await Assert.ThrowsAsync<MemoryNotFoundException>(() => bank.GetHistoryAsync(id));
        }
        finally
        {
            await cluster.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            TestDatabase.Delete(path);
        }
    }

    private static async Task AssertHistoryAsync(BankClient bank, Dictionary<string, List<(double Reward, double Q, int Visits)>> acked)
    {
        foreach (var (id, rewards) in acked)
        {
            var page = await bank.GetHistoryAsync(id, limit: 256);
            var expected = rewards.AsEnumerable().Reverse().ToList();
            Assert.Equal(expected, page.Entries.Select(e => (e.Reward!.Value, e.Q, e.Visits)));
            Assert.All(page.Entries, e => Assert.Equal(MemoryHistoryEntry.RewardKind, e.Kind));
            Assert.Equal(expected.Select(e => (long)e.Visits), page.Entries.Select(e => e.Ordinal));
            Assert.Null(page.NextCursor);
        }
    }
}
