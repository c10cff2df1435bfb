using System.Collections.Concurrent;
using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// Edits survive a restart on every backend: replayed from the log (the experience from its rewritten payload row, the
/// metadata from its event) and read back from snapshots taken between edits. Agents edit the same memories at once,
/// so one group commit rewrites a row more than once (a store transaction may touch a row once: the last put wins).
/// </summary>
[Collection(StorageClusterCollection.Name)]
public sealed class EditRestartTests
{
    [Fact]
    public async Task Edits_AreRestoredExactly_AfterARestart_Sqlite()
    {
        string path = TestDatabase.NewPath("edits");
        try
        {
            await RunAsync(StorageClusters.Sqlite(path, snapshotEvery: 7));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            TestDatabase.Delete(path);
        }
    }

    [PostgreSqlFact]
    public Task Edits_AreRestoredExactly_AfterARestart_PostgreSql() =>
        RunAsync(StorageClusters.PostgreSql(PostgreSqlFactAttribute.ConnectionString!, snapshotEvery: 7));

    [AzuriteFact]
    public Task Edits_AreRestoredExactly_AfterARestart_Azure() =>
        RunAsync(StorageClusters.Azure(AzuriteFactAttribute.ConnectionString!, snapshotEvery: 7));

    private static async Task RunAsync(StorageOptions storage)
    {
        string name = ClusterFixture.NewBankName("edits");
        var vectors = new Vectors(81, 16);
        var intents = Enumerable.Range(0, 16).Select(_ => vectors.Gaussian()).ToArray();
        var before = new Dictionary<string, MemoryInfo?>();
        await StorageClusters.RunAsync(storage, async (memory, _) =>
        {
            await memory.CreateBankAsync(name, new BankSpec(16, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, 2, new IndexSettings(Exact: true)));
            var bank = memory.Bank(name);
            var ids = new List<string>();
            foreach (var (intent, i) in intents.Select((v, i) => (v, i)))
            {
                ids.Add((await bank.WriteAsync(intent, $"t{i}", $"e{i}", true, metadata: new Dictionary<string, string> { ["n"] = "0" })).MemoryId);
            }

            var deleted = new ConcurrentBag<string>();
            await Parallel.ForAsync(0, 8, async (agent, _) =>
            {
                for (int round = 0; round < 6; round++)
                {
                    // Every agent edits every other memory: concurrent edits of one memory land in one commit.
                    string id = ids[(agent + round) % 4];
                    await bank.EditAsync(id, experience: $"by {agent} in {round} ✓", metadata: round % 3 == 2 ? null : new Dictionary<string, string> { ["agent"] = $"{agent}", ["n"] = $"{round}" });
                    await bank.EditAsync(ids[4 + agent], metadata: new Dictionary<string, string> { ["round"] = $"{round}" });
                    var recall = await bank.RecallAsync(intents[agent]);
                    await bank.RewardAsync(recall.Token, 1);
                }

                if (agent % 4 == 3)
                {
                    Assert.True(await bank.DeleteAsync(ids[12 + (agent / 4)]));
                    deleted.Add(ids[12 + (agent / 4)]);
                }
            });

            foreach (string id in ids)
            {
                before[id] = deleted.Contains(id) ? null : await bank.GetAsync(id);
            }

            Assert.Contains(before.Values, m => m?.Experience.StartsWith("by ", StringComparison.Ordinal) == true);
        });

        await StorageClusters.RunAsync(storage, async (memory, _) =>
        {
            var bank = memory.Bank(name);
            foreach (var (id, expected) in before)
            {
                if (expected is null)
                {
                    await Assert.ThrowsAsync<MemoryNotFoundException>(() => bank.GetAsync(id));
                    continue;
                }

                var got = await bank.GetAsync(id);
                Assert.Equal(expected with { Metadata = null }, got with { Metadata = null });
                Assert.Equal(expected.Metadata, got.Metadata);
                // The postings were rebuilt with the new metadata: a filter on it finds the memory.
                if (expected.Metadata is { Count: > 0 } tags)
                {
                    var (key, value) = tags.First();
                    var recalled = await bank.RecallAsync(intents[ids(id)], new RecallSettings(RequireFullCoverage: true, Filter: [new FilterClause($"metadata.{key}", [value])]));
                    Assert.Contains(id, recalled.Memories.Select(m => m.Id));
                }
            }

            await memory.DeleteBankAsync(name);
        });

        int ids(string id) => before.Keys.ToList().IndexOf(id);
    }
}
