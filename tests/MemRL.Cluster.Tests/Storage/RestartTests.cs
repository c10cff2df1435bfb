using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>Stop the whole cluster, start it again on the same storage: recall answers are identical.</summary>
[Collection(StorageClusterCollection.Name)]
public sealed class RestartTests
{
    [Fact]
    public async Task RecallAsync_AnswersIdentically_AfterWholeClusterRestart_FromSqliteFile()
    {
        string path = TestDatabase.NewPath("restart");
        try
        {
            // Snapshots every 25 events: the restarted shards load a snapshot and replay a tail.
            await RestartAndCompareAsync(StorageClusters.Sqlite(path, snapshotEvery: 25));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            TestDatabase.Delete(path);
        }
    }

    [PostgreSqlFact]
    public Task RecallAsync_AnswersIdentically_AfterWholeClusterRestart_FromPostgreSql() =>
        RestartAndCompareAsync(StorageClusters.PostgreSql(PostgreSqlFactAttribute.ConnectionString!, snapshotEvery: 25));

    [Fact]
    public async Task DeletedBank_IsPurgedFromStorage_StaysDeletedAfterRestart_AndCanBeCreatedAgain()
    {
        string path = TestDatabase.NewPath("delete-bank");
        string name = ClusterFixture.NewBankName("deleted");
        var storage = StorageClusters.Sqlite(path, snapshotEvery: 5);
        var spec = new BankSpec(16, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, 3, new IndexSettings(Exact: true));
        var vectors = new Vectors(3, 16);
        try
        {
            var cluster = await StorageClusters.StartAsync(storage, silos: 1);
            try
            {
                var memory = new MemoryClient(cluster.Client);
                await memory.CreateBankAsync(name, spec);
                var bank = memory.Bank(name);
                for (int i = 0; i < 30; i++)
                {
                    await bank.WriteAsync(vectors.Gaussian(), $"intent {i}", $"experience {i}", true);
                }

                Assert.True(await memory.DeleteBankAsync(name));
                Assert.False(await memory.DeleteBankAsync(name));
                Assert.Null(await memory.GetBankAsync(name));
                await Assert.ThrowsAsync<BankNotFoundException>(() => bank.RecallAsync(vectors.Gaussian()));
            }
            finally
            {
                await cluster.DisposeAsync();
            }

            // Physically gone: no log, snapshot or payload row of any shard is left.
            var store = new SqliteMemoryStore(path);
            for (int shard = 0; shard < 3; shard++)
            {
                var image = await store.LoadShardAsync($"{name}/{shard}");
                Assert.Equal((0L, 0, 0, 0), (image.Head, image.SnapshotChunks.Count, image.Tail.Count, image.Payloads.Count));
            }

            cluster = await StorageClusters.StartAsync(storage, silos: 1);
            try
            {
                var memory = new MemoryClient(cluster.Client);
                Assert.Null(await memory.GetBankAsync(name));
                var again = await memory.CreateBankAsync(name, spec);
                Assert.True(again.Version > 1, "a re-created bank continues past the deleted one's versions");
                var bank = memory.Bank(name);
                var written = await bank.WriteAsync(vectors.Gaussian(), "new", "new experience", true);
                Assert.Equal(1, (await bank.GetStatsAsync()).Memories);
                Assert.Equal("new experience", (await bank.GetAsync(written.MemoryId)).Experience);
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

    [Fact]
    public async Task Snapshots_TakenWhileAgentsWriteAndDelete_RestoreExactlyTheAcknowledgedState()
    {
        // The graph is serialised off the grain's thread while recalls, rewards and joins go on; new keys and deletes
        // wait for it. If one slipped in, the snapshot's graph would not match its records and the restart would differ.
        string path = TestDatabase.NewPath("snapshot-cut");
        string name = ClusterFixture.NewBankName("cut");
        var vectors = new Vectors(5, 384);
        var intents = Enumerable.Range(0, 24 * 12).Select(_ => vectors.Gaussian()).ToArray();
        var written = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>();
        var storage = StorageClusters.Sqlite(path, snapshotEvery: 7);
        try
        {
            var cluster = await StorageClusters.StartAsync(storage, silos: 1);
            var before = new Dictionary<string, MemoryInfo?>();
            try
            {
                var memory = new MemoryClient(cluster.Client);
                await memory.CreateBankAsync(name, new BankSpec(384, "test-embedder",
                    new BankOptions { Delta = -1, MergeThreshold = 2 }, 2, new IndexSettings(M: 8, EfConstruction: 32, EfSearch: 32)));
                var bank = memory.Bank(name);
                await Parallel.ForAsync(0, 24, async (agent, _) =>
                {
                    for (int i = 0; i < 12; i++)
                    {
                        var write = await bank.WriteAsync(intents[(agent * 12) + i], $"intent {agent}/{i}", $"experience {agent}/{i}", i % 2 == 0);
                        written[write.MemoryId] = true;
                        var recall = await bank.RecallAsync(intents[(agent * 12) + i]);
                        try
                        {
                            await bank.RewardAsync(recall.Token, 1.0);
                        }
                        catch (MemoryNotFoundException)
                        {
                            // Another agent deleted a memory this token names: the whole reward is refused, nothing applied.
                        }
                        if (i % 3 == 2)
                        {
                            Assert.True(await bank.DeleteAsync(write.MemoryId));
                            written[write.MemoryId] = false;
                        }
                    }
                });

                foreach (string id in written.Keys)
                {
                    before[id] = await TryGetAsync(bank, id);
                    Assert.Equal(written[id], before[id] is not null);
                }
            }
            finally
            {
                await cluster.DisposeAsync();
            }

            var store = new SqliteMemoryStore(path);
            Assert.True((await store.LoadShardAsync($"{name}/0")).SnapshotPosition > 0, "shard 0 took no snapshot; the test would not test them.");
            cluster = await StorageClusters.StartAsync(storage, silos: 1);
            try
            {
                var bank = new MemoryClient(cluster.Client).Bank(name);
                foreach (var (id, info) in before)
                {
                    Assert.Equal(info, await TryGetAsync(bank, id));
                }

                Assert.Equal(before.Values.Count(v => v is not null), (await bank.GetStatsAsync()).Memories);
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

    private static async Task<MemoryInfo?> TryGetAsync(BankClient bank, string id)
    {
        try
        {
            return await bank.GetAsync(id);
        }
        catch (MemoryNotFoundException)
        {
            return null;
        }
    }

    private static readonly FilterClause[] RestartFilter = [new FilterClause("userId", ["u0"]), new FilterClause("metadata.topic", ["t0", "t1"])];

    // Records compare their metadata dictionaries by reference: compare what they say instead.
    private static string Describe(RecalledMemory m) =>
        $"{m with { Metadata = null }} metadata: {string.Join(",", (m.Metadata ?? []).OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}={e.Value}"))}";

    private static async Task RestartAndCompareAsync(StorageOptions storage)
    {
        string name = ClusterFixture.NewBankName("restart");
        var vectors = new Vectors(21, BankHelpers.Dimension);
        var centres = Enumerable.Range(0, 6).Select(_ => vectors.Gaussian()).ToArray();
        var queries = Enumerable.Range(0, 12).Select(i => vectors.Near(centres[i % centres.Length], 0.3)).ToArray();
        List<RecallResponse> before;
        BankStats statsBefore;

        var cluster = await StorageClusters.StartAsync(storage, silos: 2);
        try
        {
            var memory = new MemoryClient(cluster.Client);
            await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = 0.2 }, 3, new IndexSettings(Exact: true)));
            var bank = memory.Bank(name);
            var ids = new List<string>();
            for (int i = 0; i < 90; i++)
            {
                // Most memories carry a scope and some metadata: replay (MemoryTagged) and snapshots (v3) must restore them.
                var scope = i % 4 == 3 ? null : new ScopeFields(UserId: $"u{i % 2}", RunId: i % 5 == 0 ? "run-5" : null);
                var metadata = i % 3 == 0 ? new Dictionary<string, string> { ["topic"] = $"t{i % 2}" } : null;
                ids.Add((await bank.WriteAsync(vectors.Near(centres[i % centres.Length], 0.4), $"intent {i}", $"experience {i}", i % 3 != 0,
                    scope: scope, metadata: metadata)).MemoryId);
            }

            for (int i = 0; i < 60; i++)
            {
                var recall = await bank.RecallAsync(vectors.Near(centres[i % centres.Length], 0.3));
                if (recall.Memories.Count > 0)
                {
                    await bank.RewardAsync(recall.Token, i % 4 == 0 ? 0.0 : 1.0);
                }
            }

            foreach (string id in ids.Where((_, i) => i % 9 == 0))
            {
                Assert.True(await bank.DeleteAsync(id));
            }

            before = [];
            foreach (var q in queries)
            {
                before.Add(await bank.RecallAsync(q, new RecallSettings(RequireFullCoverage: true)));
                before.Add(await bank.RecallAsync(q, new RecallSettings(RequireFullCoverage: true, Filter: RestartFilter)));
            }

            statsBefore = await bank.GetStatsAsync();
        }
        finally
        {
            await cluster.DisposeAsync();
        }

        cluster = await StorageClusters.StartAsync(storage, silos: 2);
        try
        {
            var bank = new MemoryClient(cluster.Client).Bank(name);
            var statsAfter = await bank.GetStatsAsync();
            Assert.Equal(statsBefore.Shards, statsAfter.Shards);
            Assert.Equal(statsBefore.Keys, statsAfter.Keys);
            Assert.Equal(statsBefore.Memories, statsAfter.Memories);
            Assert.Equal(80, statsAfter.Memories);
            for (int i = 0; i < before.Count; i++)
            {
                var after = await bank.RecallAsync(queries[i / 2], new RecallSettings(RequireFullCoverage: true, Filter: i % 2 == 1 ? RestartFilter : null));
                Assert.True(i % 2 == 1 || before[i].Memories.Count > 0, $"recall {i} recalled nothing before the restart; the comparison would be empty.");
                Assert.Equal(before[i].Memories.Select(Describe), after.Memories.Select(Describe));
                Assert.Equal(before[i].PoolSize, after.PoolSize);
            }

            Assert.True(before.Where((_, i) => i % 2 == 1).Count(r => r.Memories.Count > 0) >= 6, "the filtered recalls found too little to compare.");
            Assert.Contains(before, r => r.Memories.Any(m => m.Metadata is not null));
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }
}
