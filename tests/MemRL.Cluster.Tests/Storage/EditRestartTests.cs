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

    [Fact]
    public async Task Edits_TravelWithASlotMove_TextTagsRevisionAndHistory()
    {
        string path = TestDatabase.NewPath("edits-move");
        string name = ClusterFixture.NewBankName("edits-move");
        var vectors = new Vectors(83, 16);
        var cluster = await StorageClusters.StartAsync(StorageClusters.Sqlite(path, snapshotEvery: 5), silos: 2);
        try
        {
            var memory = new MemoryClient(cluster.Client);
            await memory.CreateBankAsync(name, new BankSpec(16, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, 2, new IndexSettings(Exact: true)));
            var bank = memory.Bank(name);
            var ids = new List<string>();
            for (int i = 0; i < 24; i++)
            {
                ids.Add((await bank.WriteAsync(vectors.Gaussian(), $"t{i}", $"e{i}", true)).MemoryId);
            }

            for (int round = 0; round < 3; round++)
            {
                foreach (string id in ids.Where((_, i) => i % 3 != 0))
                {
                    await bank.EditAsync(id, experience: $"e {id} r{round}", metadata: round == 1 ? new Dictionary<string, string> { ["r"] = "1" } : null);
                }

                await bank.RewardAsync((await bank.RecallAsync(vectors.Gaussian())).Token, 0.5);
            }

            // Archives and restores travel too: their history entries, revisions and times.
            await bank.ArchiveAsync(ids[0]);
            await bank.ArchiveAsync(ids[3]);
            await bank.RestoreAsync(ids[3]);
            await bank.ArchiveAsync(ids[2]);
            var before = new Dictionary<string, (MemoryInfo Memory, List<string> History)>();
            foreach (string id in ids)
            {
                before[id] = (await bank.GetAsync(id), await HistoryAsync(bank, id));
            }

            // Slots move to the new shards: every memory arrives with its edited text, tags, revision and history.
            await memory.GrowShardsAsync(name, 4);
            foreach (var (id, (expected, history)) in before)
            {
                var got = await bank.GetAsync(id);
                Assert.Equal(expected with { Metadata = null }, got with { Metadata = null });
                Assert.Equal(expected.Metadata, got.Metadata);
                Assert.Equal(history, await HistoryAsync(bank, id));
            }

            Assert.Equal(["3", "4 3"], new[] { ids[0], ids[3] }.Select(id => string.Join(' ', before[id].History.Select(h => h[..1]).Where(k => k is "3" or "4"))));
            Assert.Equal(before[ids[2]].Memory.Revision + 1, (await bank.RestoreAsync(ids[2])).Revision);

            // And the numbering goes on where the old shard left it.
            var again = await bank.EditAsync(ids[1], experience: "after the move");
            Assert.Equal(before[ids[1]].Memory.Revision + 1, again.Revision);
            Assert.Equal(before[ids[1]].History, (await HistoryAsync(bank, ids[1])).Skip(1));
        }
        finally
        {
            await cluster.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            TestDatabase.Delete(path);
        }
    }

    private static async Task RunAsync(StorageOptions storage)
    {
        string name = ClusterFixture.NewBankName("edits");
        var vectors = new Vectors(81, 16);
        var intents = Enumerable.Range(0, 16).Select(_ => vectors.Gaussian()).ToArray();
        var before = new Dictionary<string, MemoryInfo?>();
        var histories = new Dictionary<string, List<string>>();
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
                if (before[id] is not null)
                {
                    histories[id] = await HistoryAsync(bank, id);
                }
            }

            Assert.Contains(before.Values, m => m?.Experience.StartsWith("by ", StringComparison.Ordinal) == true);
            Assert.Contains(before.Values, m => m?.Revision > 6);
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
                var history = await HistoryAsync(bank, id);
                Assert.Equal(histories[id], history);
                Assert.Equal(expected.Visits + expected.Revision, history.Count);
                // The postings were rebuilt with the new metadata: a filter on a tag finds exactly the memories that
                // carry it now. Several memories can share a tag (which agent's edit lands last varies), so recall asks
                // for all of them rather than a top-k that Q may fill with another match.
                if (expected.Metadata is { Count: > 0 } tags)
                {
                    var (key, value) = tags.First();
                    var recalled = await bank.RecallAsync(intents[ids(id)], new RecallSettings(K1: intents.Length, K2: intents.Length, Delta: -1, RequireFullCoverage: true, Filter: [new FilterClause($"metadata.{key}", [value])]));
                    var carriers = before.Where(p => p.Value?.Metadata?.GetValueOrDefault(key) == value).Select(p => p.Key).Order(StringComparer.Ordinal);
                    Assert.Equal(carriers, recalled.Memories.Select(m => m.Id).Order(StringComparer.Ordinal));
                }
            }

            // Numbering goes on from the restored revision: a new edit is the next ordinal, overwriting nothing.
            string first = before.First(p => p.Value is not null).Key;
            var again = await bank.EditAsync(first, experience: "after the restart");
            var newest = (await bank.GetHistoryAsync(first, limit: 1)).Entries.Single();
            Assert.Equal((2, (long)again.Visits + again.Revision, again.Revision), (newest.Kind, newest.Ordinal, newest.Revision!.Value));
            Assert.Equal(histories[first], (await HistoryAsync(bank, first)).Skip(1));
            await memory.DeleteBankAsync(name);
        });

        int ids(string id) => before.Keys.ToList().IndexOf(id);
    }

    // A memory's whole history (under 256 entries here), one comparable line per entry.
    private static async Task<List<string>> HistoryAsync(BankClient bank, string id) =>
        [.. (await bank.GetHistoryAsync(id, limit: 256)).Entries.Select(e =>
            $"{e.Kind} {e.Ordinal} {e.Reward} {e.At.UtcTicks} {e.RecallId} {e.Q:R} {e.Visits} {e.Revision} {string.Join('+', e.Changed ?? [])}")];
}
