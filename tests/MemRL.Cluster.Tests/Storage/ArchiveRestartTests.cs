using System.Collections.Concurrent;
using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// Archives and restores survive a restart on every backend, replayed from the log and read back from snapshots taken in
/// between (snapshot version 5 keeps the archive and the vectors of keys out of the graph): every memory reads back with
/// its archive and restore times and Q, recall answers exactly as before, and an archived memory restored after the
/// restart is recalled again.
/// </summary>
[Collection(StorageClusterCollection.Name)]
public sealed class ArchiveRestartTests
{
    [Fact]
    public async Task Archive_IsRestoredExactly_AfterARestart_Sqlite()
    {
        string path = TestDatabase.NewPath("archive");
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
    public Task Archive_IsRestoredExactly_AfterARestart_PostgreSql() =>
        RunAsync(StorageClusters.PostgreSql(PostgreSqlFactAttribute.ConnectionString!, snapshotEvery: 7));

    [AzuriteFact]
    public Task Archive_IsRestoredExactly_AfterARestart_Azure() =>
        RunAsync(StorageClusters.Azure(AzuriteFactAttribute.ConnectionString!, snapshotEvery: 7));

    private static async Task RunAsync(StorageOptions storage)
    {
        string name = ClusterFixture.NewBankName("archive");
        var vectors = new Vectors(91, 16);
        var centres = Enumerable.Range(0, 8).Select(_ => vectors.Gaussian()).ToArray();
        // Two memories per key (near-duplicate intents merge), so archiving both sets the key aside.
        var intents = Enumerable.Range(0, 32).Select(i => vectors.Near(centres[i % 8], 0.02)).ToArray();
        var queries = Enumerable.Range(0, 12).Select(_ => vectors.Gaussian()).ToArray();
        var before = new Dictionary<string, MemoryInfo?>();
        var histories = new Dictionary<string, List<string>>();
        var recalls = new List<string>();
        await StorageClusters.RunAsync(storage, async (memory, _) =>
        {
            await memory.CreateBankAsync(name, new BankSpec(16, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 0.95 }, 2, new IndexSettings(Exact: true)));
            var bank = memory.Bank(name);
            var ids = new List<string>();
            foreach (var (intent, i) in intents.Select((v, i) => (v, i)))
            {
                // Some with a time to live (event 13, snapshot version 6): the expiry reads back after the restart.
                ids.Add((await bank.WriteAsync(intent, $"t{i}", $"e{i}", true, ttlSeconds: i % 5 == 0 ? 86_400 : null)).MemoryId);
            }

            var deleted = new ConcurrentBag<string>();
            await Parallel.ForAsync(0, 8, async (agent, _) =>
            {
                for (int round = 0; round < 4; round++)
                {
                    // Each agent archives its own memories (all of key `agent` in round 0, so that key leaves the graph),
                    // restores some, and rewards what recall returns meanwhile; commits interleave across agents.
                    string mine = ids[agent + (8 * round)];
                    Assert.NotNull((await bank.ArchiveAsync(mine)).ArchivedAt);
                    if (round == 2)
                    {
                        Assert.NotNull((await bank.RestoreAsync(mine)).RestoredAt);
                    }

                    var recall = await bank.RecallAsync(intents[agent]);
                    if (recall.Memories.Count > 0)
                    {
                        await bank.RewardAsync(recall.Token, 1);
                    }
                }

                if (agent == 7)
                {
                    // A delete of an archived memory purges it early.
                    Assert.True(await bank.DeleteAsync(ids[7]));
                    deleted.Add(ids[7]);
                }
            });

            foreach (string id in ids)
            {
                before[id] = deleted.Contains(id) ? null : await bank.GetAsync(id);
                if (before[id] is { } m)
                {
                    histories[id] = await HistoryAsync(bank, id);
                    // Every reward, archive and restore is one entry, numbered by visits + revision.
                    Assert.Equal(m.Visits + m.Revision, histories[id].Count);
                }
            }

            Assert.Equal(32 - 1 - 8, before.Values.Count(m => m?.ArchivedAt is not null));
            Assert.Contains(before.Values, m => m?.ExpiresAt is not null);
            // An archived-then-restored memory: revision 2, and its history holds the archive then the restore (newest
            // first), each with the revision it made and the archive/restore time the memory reads back with.
            string restored = ids[8 * 2];
            var lifecycle = (await bank.GetHistoryAsync(restored, limit: 256)).Entries.Where(e => e.Kind is MemoryHistoryEntry.ArchiveKind or MemoryHistoryEntry.RestoreKind).ToList();
            Assert.Equal([(MemoryHistoryEntry.RestoreKind, 2), (MemoryHistoryEntry.ArchiveKind, 1)], lifecycle.Select(e => (e.Kind, e.Revision!.Value)));
            Assert.Equal(before[restored]!.RestoredAt, lifecycle[0].At);
            Assert.Equal(2, before[restored]!.Revision);
            foreach (var q in queries)
            {
                recalls.Add(Describe(await bank.RecallAsync(q, new RecallSettings(RequireFullCoverage: true))));
            }
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
                Assert.Equal(histories[id], await HistoryAsync(bank, id));
            }

            Assert.Equal(recalls, await Task.WhenAll(queries.Select(async q => Describe(await bank.RecallAsync(q, new RecallSettings(RequireFullCoverage: true))))));
            // A key set aside before the restart comes back with its memory, recalled at similarity ~1 again.
            string archived = before.First(p => p.Value?.ArchivedAt is not null).Key;
            int index = before.Keys.ToList().IndexOf(archived);
            // Similarity only: the memory's own key is the nearest, so its memories come first once it is back.
            var nearest = new RecallSettings(K1: 3, K2: 3, Lambda: 0, RequireFullCoverage: true);
            Assert.DoesNotContain(archived, (await bank.RecallAsync(intents[index], nearest)).Memories.Select(m => m.Id));
            var back = await bank.RestoreAsync(archived);
            Assert.Contains(archived, (await bank.RecallAsync(intents[index], nearest)).Memories.Select(m => m.Id));
            // Numbering goes on from the replayed revision: the restore is the next entry, overwriting nothing.
            Assert.Equal(before[archived]!.Revision + 1, back.Revision);
            var newest = (await bank.GetHistoryAsync(archived, limit: 1)).Entries.Single();
            Assert.Equal((MemoryHistoryEntry.RestoreKind, (long)back.Visits + back.Revision, back.Revision, back.RestoredAt!.Value), (newest.Kind, newest.Ordinal, newest.Revision!.Value, newest.At));
            Assert.Equal(histories[archived], (await HistoryAsync(bank, archived)).Skip(1));
            await memory.DeleteBankAsync(name);
        });
    }

    // A memory's whole history (under 256 entries here), one comparable line per entry.
    private static async Task<List<string>> HistoryAsync(BankClient bank, string id) =>
        [.. (await bank.GetHistoryAsync(id, limit: 256)).Entries.Select(e => $"{e.Kind} {e.Ordinal} {e.Reward} {e.At.UtcTicks} {e.RecallId} {e.Q:R} {e.Visits} {e.Revision}")];

    private static string Describe(RecallResponse recall) =>
        string.Join(";", recall.Memories.Select(m => $"{m.Id} {m.Similarity:R} {m.Q:R} {m.Score:R}")) + $"|{recall.PoolSize}";
}

/// <summary>
/// The retention schedule: with a short interval, a silo runs every bank's policy by itself — a bank capped while no
/// one calls it is capped — and a bank without a policy (nothing in it expiring) is left alone. The schedule is the stored policy plus the clock,
/// so a restarted silo picks it up with nothing else stored.
/// </summary>
[Collection(StorageClusterCollection.Name)]
public sealed class RetentionScheduleTests
{
    [Fact]
    public async Task Schedule_RunsEveryBanksPolicy_WithoutACall_AcrossARestart()
    {
        string path = TestDatabase.NewPath("retention-schedule");
        string capped = ClusterFixture.NewBankName("scheduled"), free = ClusterFixture.NewBankName("unscheduled");
        var vectors = new Vectors(111, 16);
        var storage = StorageClusters.Sqlite(path, snapshotEvery: 50);
        try
        {
            await RunAsync(storage, TimeSpan.Zero, async memory =>
            {
                var options = new BankOptions { Delta = -1, MergeThreshold = 2, Retention = new RetentionSettings { MaxActive = 3 } };
                await memory.CreateBankAsync(capped, new BankSpec(16, "test-embedder", options, 2, new IndexSettings(Exact: true)));
                await memory.CreateBankAsync(free, new BankSpec(16, "test-embedder", options with { Retention = null }, 2, new IndexSettings(Exact: true)));
                for (int i = 0; i < 8; i++)
                {
                    await memory.Bank(capped).WriteAsync(vectors.Gaussian(), "t", "e", true);
                    await memory.Bank(free).WriteAsync(vectors.Gaussian(), "t", "e", true);
                }

                // Off in this life: nothing ran.
                Assert.Equal(8, (await memory.Bank(capped).GetStatsAsync()).Memories);
            });

            await RunAsync(storage, TimeSpan.FromSeconds(1), async memory =>
            {
                // Waits for the schedule to act, not for a speed: polls until the bank is capped (or gives up after 60 s).
                var until = DateTime.UtcNow.AddSeconds(60);
                while ((await memory.Bank(capped).GetStatsAsync()).Memories > 3 && DateTime.UtcNow < until)
                {
                    await Task.Delay(200);
                }

                Assert.Equal(3, (await memory.Bank(capped).GetStatsAsync()).Memories);
                Assert.Equal(8, (await memory.Bank(free).GetStatsAsync()).Memories);
            });
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            TestDatabase.Delete(path);
        }
    }

    private static async Task RunAsync(StorageOptions storage, TimeSpan interval, Func<MemoryClient, Task> body)
    {
        var cluster = TestClusters.Build(1, silo =>
        {
            silo.Configure<StorageOptions>(o =>
            {
                o.Provider = storage.Provider;
                o.SqlitePath = storage.SqlitePath;
                o.SnapshotEveryEvents = storage.SnapshotEveryEvents;
            });
            silo.Configure<MemRL.Grains.MemRLClusterOptions>(o => o.RetentionInterval = interval);
        });
        await cluster.DeployAsync();
        try
        {
            await body(new MemoryClient(cluster.Client));
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }
}
