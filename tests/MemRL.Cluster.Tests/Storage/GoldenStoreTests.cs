using System.Text.Json;
using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// A SQLite store written by the code of 2026-11-30 (main a4fb7b7: log format 1, snapshot format 1, bank rows as written
/// then), committed under golden/ with what it held: two banks (2 and 3 shards, merging off and on), writes, rewards,
/// deletes, snapshots and log tails. Every later change must still open it and find everything; operation ids recorded
/// then must still be recognised.
/// </summary>
[Collection(StorageClusterCollection.Name)]
public sealed class GoldenStoreTests
{
    private static readonly string Golden = Path.Combine(AppContext.BaseDirectory, "golden");

    [Fact]
    public async Task GoldenStoreOfNovember_OpensWithEveryMemory_AndItsOperationIds_BeforeAndAfterNewWrites()
    {
        using var file = new SqliteFile("golden");
        File.Copy(Path.Combine(Golden, "store-v1.db"), file.Path);
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Golden, "store-v1.json")));
        var banks = expected.RootElement.GetProperty("banks").EnumerateArray().ToList();
        var storage = StorageClusters.Sqlite(file.Path, snapshotEvery: 20);
        await StorageClusters.RunAsync(storage, async (memory, _) =>
        {
            foreach (var bank in banks)
            {
                await AssertBankAsync(memory, bank);
                // New changes on the old store: written in today's formats beside the old records.
                var client = memory.Bank(bank.GetProperty("name").GetString()!);
                var recall = await client.RecallAsync(Floats(bank.GetProperty("query")));
                await client.RewardAsync(recall.Token, 1.0, "golden-new-reward");
                await client.RewardAsync(recall.Token, 1.0, "golden-new-reward");
            }
        });

        await StorageClusters.RunAsync(storage, async (memory, _) =>
        {
            foreach (var bank in banks)
            {
                var client = memory.Bank(bank.GetProperty("name").GetString()!);
                Assert.Equal(bank.GetProperty("memories").GetArrayLength(), (await ListAllAsync(client)).Count);
                await AssertWritesRecognisedAsync(client, bank);
            }
        });
    }

    private static async Task AssertBankAsync(MemoryClient memory, JsonElement bank)
    {
        string name = bank.GetProperty("name").GetString()!;
        var info = await memory.GetBankAsync(name);
        Assert.NotNull(info);
        Assert.Equal((bank.GetProperty("shards").GetInt32(), "golden-embedder", 16), (info.ShardCount, info.EmbedderId, info.Dimension));
        var client = memory.Bank(name);

        var listed = (await ListAllAsync(client)).ToDictionary(m => m.Id);
        var stored = bank.GetProperty("memories").EnumerateArray().ToList();
        Assert.Equal(stored.Count, listed.Count);
        foreach (var m in stored)
        {
            var now = listed[m.GetProperty("Id").GetString()!];
            Assert.Equal(m.GetProperty("IntentText").GetString(), now.IntentText);
            Assert.Equal(m.GetProperty("Experience").GetString(), now.Experience);
            Assert.Equal(m.GetProperty("Success").GetBoolean(), now.Success);
            Assert.Equal(m.GetProperty("Q").GetDouble(), now.Q);
            Assert.Equal(m.GetProperty("Visits").GetInt32(), now.Visits);
            Assert.Equal(m.GetProperty("CreatedAt").GetDateTimeOffset(), now.CreatedAt);
        }

        foreach (var id in bank.GetProperty("deleted").EnumerateArray())
        {
            await Assert.ThrowsAsync<MemoryNotFoundException>(() => client.GetAsync(id.GetString()!));
        }

        var recall = await client.RecallAsync(Floats(bank.GetProperty("query")));
        Assert.Equal(bank.GetProperty("recallIds").EnumerateArray().Select(e => e.GetString()), recall.Memories.Select(m => m.Id));
        Assert.Equal(bank.GetProperty("recallScores").EnumerateArray().Select(e => e.GetDouble()), recall.Memories.Select(m => m.Score));
        await AssertWritesRecognisedAsync(client, bank);
    }

    // Every write recorded then, retried with its id and payload, returns its original memory (deleted ones included);
    // the same id with another payload is a conflict.
    private static async Task AssertWritesRecognisedAsync(BankClient client, JsonElement bank)
    {
        int before = (await client.GetStatsAsync()).Memories;
        foreach (var w in bank.GetProperty("writes").EnumerateArray())
        {
            string op = w.GetProperty("op").GetString()!;
            var retried = await client.WriteAsync(Floats(w.GetProperty("vector")), w.GetProperty("intentText").GetString()!,
                w.GetProperty("experience").GetString()!, w.GetProperty("success").GetBoolean(), operationId: op);
            Assert.Equal(w.GetProperty("memoryId").GetString(), retried.MemoryId);
        }

        var first = bank.GetProperty("writes")[0];
        await Assert.ThrowsAsync<OperationConflictException>(() => client.WriteAsync(Floats(first.GetProperty("vector")), "other", "other", true,
            operationId: first.GetProperty("op").GetString()));
        Assert.Equal(before, (await client.GetStatsAsync()).Memories);
    }

    private static async Task<List<MemoryInfo>> ListAllAsync(BankClient client)
    {
        var all = new List<MemoryInfo>();
        string? cursor = null;
        do
        {
            var page = await client.ListAsync(cursor, 100);
            all.AddRange(page.Memories);
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return all;
    }

    private static float[] Floats(JsonElement array) => array.EnumerateArray().Select(e => e.GetSingle()).ToArray();
}
