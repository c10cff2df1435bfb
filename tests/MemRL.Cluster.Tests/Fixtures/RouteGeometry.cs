using MemRL.Client;
using MemRL.GrainInterfaces;
using MemRL.Grains;

namespace MemRL.Cluster.Tests.Fixtures;

/// <summary>
/// A bank where a write's route changes with the bank: the intent e0 joins the seed key (cos 0.894 ≥ merge threshold
/// 0.86) on its first attempt; a later key (cos 0.928 to the intent, 0.830 to the seed, so it is a key of its own) then
/// wins the write rule for a retry that decides again. Operation ids are chosen so the seed key, the first write's home
/// shard and the later key sit on three different shards of four.
/// </summary>
public static class RouteGeometry
{
    public const int Shards = 4;

    public static BankOptions Options { get; } = new() { Delta = -1, MergeThreshold = 0.86, K1 = 5, K2 = 1 };

    public static float[] Intent { get; } = Axis(0, 0, 0);

    private static float[] Seed { get; } = Axis(0, 1, 0.5f);

    private static float[] Closer { get; } = Axis(0, 2, 0.4f);

    /// <summary>Writes the seed key and then the intent, joining it with a recall token. Returns the write, its id and the memory count.</summary>
    public static async Task<(WriteResponse Response, string OperationId, int MemoriesAfter)> WriteJoinAwayFromHomeAsync(BankClient bank)
    {
        var seed = await bank.WriteAsync(Seed, "seed", "seed", true, operationId: "route-seed");
        int seedShard = ShardOf(seed.MemoryId);
        string operationId = Ids("route-join").First(id => OperationIds.SlotOf(id) % Shards != seedShard);
        var recall = await bank.RecallAsync(Intent);
        var response = await bank.WriteAsync(Intent, "intent", "experience", true, recall.Token, operationId);
        if (response.CreatedKey || ShardOf(response.MemoryId) != seedShard)
        {
            throw new InvalidOperationException($"The first write should join the seed key on shard {seedShard}; it wrote {response}.");
        }

        return (response, operationId, (await bank.GetStatsAsync()).Memories);
    }

    /// <summary>Writes the closer key on a shard that is neither the seed key's nor the first write's home.</summary>
    public static async Task WriteCloserKeyAsync(BankClient bank, (WriteResponse Response, string OperationId, int MemoriesAfter) written)
    {
        int keyShard = ShardOf(written.Response.MemoryId);
        int home = OperationIds.SlotOf(written.OperationId) % Shards;
        string id = Ids("route-closer").First(i => OperationIds.SlotOf(i) % Shards is var s && s != keyShard && s != home);
        var closer = await bank.WriteAsync(Closer, "closer", "closer", true, operationId: id);
        if (!closer.CreatedKey)
        {
            throw new InvalidOperationException($"The closer intent should make a key of its own; it wrote {closer}.");
        }
    }

    private static int ShardOf(string memoryId) => MemoryId.Parse(memoryId, "id").Slot % Shards;

    private static IEnumerable<string> Ids(string prefix) => Enumerable.Range(0, 10_000).Select(i => $"{prefix}-{i}");

    private static float[] Axis(int main, int side, float weight)
    {
        var v = new float[BankHelpers.Dimension];
        v[main] = 1;
        v[side] += weight;
        return v;
    }
}
