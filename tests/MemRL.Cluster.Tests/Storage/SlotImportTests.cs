using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>A slot import repeated (a move that timed out and was retried) loses nothing, before or after a restart.</summary>
[Collection(StorageClusterCollection.Name)]
public sealed class SlotImportTests
{
    [Fact]
    public async Task ImportAsync_RepeatedIntoOwnerAndIntoOtherShard_KeepsEveryPayload_AcrossRestart()
    {
        using var file = new SqliteFile("import-twice");
        string name = ClusterFixture.NewBankName("import-twice");
        var storage = StorageClusters.Sqlite(file.Path, snapshotEvery: 1000);
        var vectors = new Vectors(31, BankHelpers.Dimension);
        var before = new Dictionary<string, MemoryInfo>();
        await StorageClusters.RunAsync(storage, async (memory, cluster) =>
        {
            await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 0.5 }, 2, new IndexSettings(Exact: true)));
            var bank = memory.Bank(name);
            // Ten memories under a few keys of one slot (merging on, one operation-id slot for the new keys).
            float[] intent = vectors.Gaussian();
            for (int i = 0; i < 10; i++)
            {
                var w = await bank.WriteAsync(intent.Select(x => x + (0.01f * i)).ToArray(), $"intent {i}", $"experience {i}", i % 2 == 0, operationId: $"import-{i}");
                before[w.MemoryId] = await bank.GetAsync(w.MemoryId);
            }

            var recall = await bank.RecallAsync(intent, new RecallSettings(K1: 5, K2: 3));
            await bank.RewardAsync(recall.Token, 1.0);
            foreach (var m in recall.Memories)
            {
                before[m.Id] = await bank.GetAsync(m.Id);
            }

            var info = await memory.GetBankAsync(name);
            int slot = MemoryId.Parse(before.Keys.First(), "id").Slot;
            int owner = info!.ShardOf(slot);
            var source = cluster.Client.GetGrain<IMemoryShardGrain>(BankNames.ShardKey(name, owner));
            var other = cluster.Client.GetGrain<IMemoryShardGrain>(BankNames.ShardKey(name, 1 - owner));
            var export = (await source.ExportSlotsAsync(info.Version, [slot], long.MinValue, 1000, 1 << 20)).Keys;
            Assert.Equal(10, export.Sum(k => k.Memories.Count));

            // Twice into the shard that would take the slot in a move, and twice into the owner itself.
            await other.ImportAsync(info.Version, export);
            await other.ImportAsync(info.Version, export);
            await source.ImportAsync(info.Version, export);
            await source.ImportAsync(info.Version, export);

            await AssertUnchangedAsync(bank, before);
        });

        await StorageClusters.RunAsync(storage, async (memory, _) =>
        {
            var bank = memory.Bank(name);
            var stats = await bank.GetStatsAsync();
            Assert.Equal((2, 2), (stats.Coverage.ShardsAnswered, stats.Coverage.ShardsTotal));
            await AssertUnchangedAsync(bank, before);
        });
    }

    [Fact]
    public async Task GrowShards_AfterAnUnfinishedMoveLeftCopies_DoesNotBringBackMemoriesDeletedSince()
    {
        using var file = new SqliteFile("stale-copies");
        string name = ClusterFixture.NewBankName("stale-copies");
        var vectors = new Vectors(37, BankHelpers.Dimension);
        await StorageClusters.RunAsync(StorageClusters.Sqlite(file.Path, snapshotEvery: 1000), async (memory, cluster) =>
        {
            await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, 1));
            var bank = memory.Bank(name);
            var ids = new List<MemoryId>();
            for (int i = 0; i < 40; i++)
            {
                ids.Add(MemoryId.Parse((await bank.WriteAsync(vectors.Gaussian(), $"intent {i}", $"experience {i}", true, operationId: $"stale-{i}")).MemoryId, "id"));
            }

            // What a move to two shards that stopped after its copy step leaves: shard 1 holds hidden copies of every key.
            var info = await memory.GetBankAsync(name);
            var source = cluster.Client.GetGrain<IMemoryShardGrain>(BankNames.ShardKey(name, 0));
            var target = cluster.Client.GetGrain<IMemoryShardGrain>(BankNames.ShardKey(name, 1));
            var all = Enumerable.Range(0, BankLimits.VirtualSlots).ToArray();
            await target.ImportAsync(info!.Version, (await source.ExportSlotsAsync(info.Version, all, long.MinValue, 1000, 1 << 24)).Keys);

            // Deleted at the source since: the memories of slots that move to shard 1 when the bank grows to two.
            var deleted = ids.Where(id => id.Slot % 2 == 1).ToList();
            Assert.NotEmpty(deleted);
            foreach (var id in deleted)
            {
                Assert.True(await bank.DeleteAsync(id.ToString()));
            }

            await memory.GrowShardsAsync(name, 2);

            var listed = (await bank.ListAsync(null, 100)).Memories.Select(m => m.Id).Order().ToList();
            Assert.Equal(ids.Except(deleted).Select(id => id.ToString()).Order(), listed);
            Assert.Equal(ids.Count - deleted.Count, (await bank.GetStatsAsync()).Memories);
        });
    }

    [Theory]
    [InlineData(7, 1 << 20)]
    [InlineData(1000, 1)]
    public async Task ExportSlotsAsync_InPages_ReturnsEveryKeyOnceInSequenceOrder(int maxKeys, int maxBytes)
    {
        using var file = new SqliteFile("export-pages");
        string name = ClusterFixture.NewBankName("export-pages");
        var vectors = new Vectors(41, BankHelpers.Dimension);
        await StorageClusters.RunAsync(StorageClusters.Sqlite(file.Path, snapshotEvery: 1000), async (memory, cluster) =>
        {
            await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, 1));
            var bank = memory.Bank(name);
            for (int i = 0; i < 30; i++)
            {
                await bank.WriteAsync(vectors.Gaussian(), $"intent {i}", $"experience {i}", true, operationId: $"page-{i}");
            }

            var info = await memory.GetBankAsync(name);
            var shard = cluster.Client.GetGrain<IMemoryShardGrain>(BankNames.ShardKey(name, 0));
            var all = Enumerable.Range(0, BankLimits.VirtualSlots).ToArray();
            var whole = (await shard.ExportSlotsAsync(info!.Version, all, long.MinValue, 1000, 1 << 24)).Keys.Select(k => k.KeySequence).ToList();

            var paged = new List<long>();
            long? after = long.MinValue;
            int pages = 0;
            while (after is { } cursor)
            {
                var page = await shard.ExportSlotsAsync(info.Version, all, cursor, maxKeys, maxBytes);
                Assert.InRange(page.Keys.Length, 1, maxKeys);
                paged.AddRange(page.Keys.Select(k => k.KeySequence));
                after = page.NextAfterKey;
                pages++;
            }

            Assert.Equal(30, whole.Count);
            Assert.Equal(whole.Order(), whole);
            Assert.Equal(whole, paged);
            Assert.Equal(maxBytes == 1 ? 30 : 5, pages); // a byte budget below one key still sends one key a page
        });
    }

    [Fact]
    public async Task SlotMoveCalls_WithBadArguments_AreRefusedNamingTheField_AndChangeNothing()
    {
        using var file = new SqliteFile("move-bad-input");
        string name = ClusterFixture.NewBankName("move-bad-input");
        var vectors = new Vectors(43, BankHelpers.Dimension);
        await StorageClusters.RunAsync(StorageClusters.Sqlite(file.Path, snapshotEvery: 1000), async (memory, cluster) =>
        {
            await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, 1));
            var bank = memory.Bank(name);
            var written = await bank.WriteAsync(vectors.Gaussian(), "intent", "experience", true, operationId: "bad-move-0");
            var info = await memory.GetBankAsync(name);
            var owner = cluster.Client.GetGrain<IMemoryShardGrain>(BankNames.ShardKey(name, 0));
            int slot = MemoryId.Parse(written.MemoryId, "id").Slot;

            var pageError = await Assert.ThrowsAnyAsync<Exception>(() => owner.ExportSlotsAsync(info!.Version, [slot], long.MinValue, 0, 1 << 20));
            FieldAssert.Parts(pageError, "maxKeys", "0");
            // A shard never drops the keys of a slot it owns: that would delete live memories.
            var dropError = await Assert.ThrowsAnyAsync<Exception>(() => owner.DropCopiesAsync(info!.Version, [slot]));
            FieldAssert.Parts(dropError, "slots", $"slot {slot} (owned here)");

            Assert.Equal("experience", (await bank.GetAsync(written.MemoryId)).Experience);
            Assert.Equal(1, (await bank.GetStatsAsync()).Memories);
        });
    }

    private static async Task AssertUnchangedAsync(BankClient bank, Dictionary<string, MemoryInfo> before)
    {
        Assert.Equal(before.Count, (await bank.GetStatsAsync()).Memories);
        foreach (var (id, expected) in before)
        {
            var now = await bank.GetAsync(id);
            Assert.Equal((expected.Experience, expected.IntentText, expected.Q, expected.Visits), (now.Experience, now.IntentText, now.Q, now.Visits));
        }
    }
}
