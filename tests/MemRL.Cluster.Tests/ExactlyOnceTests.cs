using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains;

namespace MemRL.Cluster.Tests;

/// <summary>
/// One reward per (recall, memory), and operation ids scoped to the bank whatever shard a call lands on
/// (docs/exactly-once.md).
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ExactlyOnceTests(ClusterFixture fixture)
{
    [Fact]
    public async Task RewardAsync_SameRecallUnderFreshOperationId_ReturnsOriginal_AndAppliesOnce()
    {
        var (bank, ids) = await SpreadBankAsync("once");
        var recall = await bank.RecallAsync(new Vectors(21, BankHelpers.Dimension).Gaussian());

        var first = await bank.RewardAsync(recall.Token, 1.0, "reward-a");
        var again = await bank.RewardAsync(recall.Token, 1.0, "reward-b");
        var third = await bank.RewardAsync(recall.Token, 1.0, "reward-c");

        Assert.Equal(first.Updated, again.Updated);
        Assert.Equal(first.Updated, third.Updated);
        foreach (var m in recall.Memories)
        {
            var stored = await bank.GetAsync(m.Id);
            Assert.Equal((0.3, 1), (Math.Round(stored.Q, 12), stored.Visits));
        }
    }

    [Fact]
    public async Task RewardAsync_SameRecallWithOtherValue_IsConflict_AndChangesNothing()
    {
        var (bank, ids) = await SpreadBankAsync("once-conflict");
        var recall = await bank.RecallAsync(new Vectors(22, BankHelpers.Dimension).Gaussian());
        await bank.RewardAsync(recall.Token, 1.0, "reward-1");
        string before = await BankHelpers.SnapshotAsync(bank, ids);

        var error = await Assert.ThrowsAsync<RewardConflictException>(() => bank.RewardAsync(recall.Token, -1.0, "reward-2"));

        Assert.Equal((1.0, -1.0), (error.Earlier, error.Now));
        Assert.Contains(error.MemoryId, recall.Memories.Select(m => m.Id));
        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, ids));
    }

    [Fact]
    public async Task RewardAsync_SubsetsOfOneRecall_EachMemoryOnce()
    {
        var (bank, _) = await SpreadBankAsync("subsets");
        var recall = await bank.RecallAsync(new Vectors(23, BankHelpers.Dimension).Gaussian());
        var ids = recall.Memories.Select(m => m.Id).ToArray();
        Assert.True(ids.Length >= 4, $"recall returned {ids.Length} memories; the test needs 4.");

        await bank.RewardAsync(recall.Token, 1.0, memoryIds: ids[..2]);
        await bank.RewardAsync(recall.Token, -1.0, memoryIds: ids[2..]);
        // The whole recall again with the first value: the first two are already rewarded with it (their result comes
        // back), the rest were rewarded -1 by this recall, so it is a conflict, and nothing changes.
        await Assert.ThrowsAsync<RewardConflictException>(() => bank.RewardAsync(recall.Token, 1.0));

        foreach (var (id, q) in ids.Select((id, i) => (id, i < 2 ? 0.3 : -0.3)))
        {
            var stored = await bank.GetAsync(id);
            Assert.Equal((q, 1), (Math.Round(stored.Q, 12), stored.Visits));
        }
    }

    [Fact]
    public async Task RewardAsync_SpanningShards_ConflictOnOneShard_AppliesOnNone()
    {
        var (bank, _) = await SpreadBankAsync("prepare");
        var recall = await bank.RecallAsync(new Vectors(24, BankHelpers.Dimension).Gaussian());
        var byShard = recall.Memories.GroupBy(m => MemoryId.Parse(m.Id, "id").Slot % 8).ToList();
        Assert.True(byShard.Count >= 2, $"recall returned memories from {byShard.Count} shard(s); the test needs several.");
        string conflicted = byShard[0].First().Id;
        await bank.RewardAsync(recall.Token, 1.0, memoryIds: [conflicted]);
        var others = recall.Memories.Where(m => m.Id != conflicted).Select(m => m.Id).ToList();
        string before = await BankHelpers.SnapshotAsync(bank, others);

        await Assert.ThrowsAsync<RewardConflictException>(() => bank.RewardAsync(recall.Token, -1.0));

        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, others));
    }

    [Fact]
    public async Task OperationId_UsedByWrite_IsConflict_ForRewardAndDelete_OnAnyShard()
    {
        var (bank, ids) = await SpreadBankAsync("scope");
        var vectors = new Vectors(25, BankHelpers.Dimension);
        var recall = await bank.RecallAsync(vectors.Gaussian());
        // Ids of every home shard: for each, a write under it, then a reward and a delete of memories on other shards.
        for (int i = 0; i < 8; i++)
        {
            string id = $"shared-key-{i}";
            await bank.WriteAsync(vectors.Gaussian(), "intent", "experience", true, operationId: id);
            string before = await BankHelpers.SnapshotAsync(bank, ids);

            await Assert.ThrowsAsync<OperationConflictException>(() => bank.RewardAsync(recall.Token, 1.0, id));
            await Assert.ThrowsAsync<OperationConflictException>(() => bank.DeleteAsync(ids[i], id));

            Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, ids));
        }
    }

    [Fact]
    public async Task WriteAsync_RetriedWithoutToken_AfterACloserKeyAppeared_ReturnsOriginalMemory()
    {
        // The first attempt joins key K through its token; then the bank grows a key closer to the intent on another
        // shard. A retry without the token decides afresh and would join the new key: it must return the original.
        var bank = await BankHelpers.NewBankAsync(fixture, "route", RouteGeometry.Options, shards: 4);
        var written = await RouteGeometry.WriteJoinAwayFromHomeAsync(bank);
        await RouteGeometry.WriteCloserKeyAsync(bank, written);

        var retried = await bank.WriteAsync(RouteGeometry.Intent, "intent", "experience", true, operationId: written.OperationId);

        Assert.Equal(written.Response, retried);
        Assert.Equal(written.MemoriesAfter + 1, (await bank.GetStatsAsync()).Memories);
    }

    [Fact]
    public async Task Retries_AfterTheShardCountGrew_AreStillRecognised()
    {
        // Two shards grow to five: most slots move, and with them the records that make retries exactly once.
        var bank = await BankHelpers.NewBankAsync(fixture, "grow", BankHelpers.SpreadOptions, shards: 2);
        var vectors = new Vectors(27, BankHelpers.Dimension);
        var writes = new List<(int I, float[] Intent, WriteResponse Response)>();
        for (int i = 0; i < 30; i++)
        {
            float[] intent = vectors.Gaussian();
            writes.Add((i, intent, await bank.WriteAsync(intent, $"intent {i}", $"experience {i}", true, operationId: $"grow-write-{i}")));
        }

        var recall = await bank.RecallAsync(vectors.Gaussian());
        var rewarded = await bank.RewardAsync(recall.Token, 1.0, "grow-reward");

        await fixture.Memory.GrowShardsAsync(bank.Name, 5);

        foreach (var (i, intent, response) in writes)
        {
            Assert.Equal(response, await bank.WriteAsync(intent, $"intent {i}", $"experience {i}", true, operationId: $"grow-write-{i}"));
        }

        Assert.Equal(rewarded.Updated, (await bank.RewardAsync(recall.Token, 1.0, "grow-reward")).Updated);
        Assert.Equal(rewarded.Updated, (await bank.RewardAsync(recall.Token, 1.0, "grow-reward-again")).Updated);
        await Assert.ThrowsAsync<RewardConflictException>(() => bank.RewardAsync(recall.Token, -1.0, "grow-reward-other"));
        Assert.Equal(30, (await bank.GetStatsAsync()).Memories);
        foreach (var m in recall.Memories)
        {
            Assert.Equal(1, (await bank.GetAsync(m.Id)).Visits);
        }
    }

    [Fact]
    public async Task WriteAsync_WhoseTokenNamesKeysDeletedMeanwhile_SkipsThem_AsTheReferenceBankDoes()
    {
        // Three keys near the intent, all recalled, then all deleted: the write skips every vanished key and makes a new one.
        // e0 + 0.8 e_i: cosine 0.78 to the intent e0 (above the merge threshold 0.7), 0.61 to each other (keys of their own).
        var bank = await BankHelpers.NewBankAsync(fixture, "vanished", new BankOptions { Delta = -1, MergeThreshold = 0.7, K1 = 5, K2 = 3 }, shards: 3);
        float[] intent = new float[BankHelpers.Dimension];
        intent[0] = 1;
        var keys = new List<string>();
        for (int i = 1; i <= 3; i++)
        {
            float[] near = (float[])intent.Clone();
            near[i] = 0.8f;
            var w = await bank.WriteAsync(near, $"near {i}", "e", true, operationId: $"vanished-{i}");
            Assert.True(w.CreatedKey);
            keys.Add(w.MemoryId);
        }

        var recall = await bank.RecallAsync(intent);
        foreach (string id in keys)
        {
            Assert.True(await bank.DeleteAsync(id));
        }

        var written = await bank.WriteAsync(intent, "intent", "experience", true, recall.Token, "vanished-write");

        Assert.True(written.CreatedKey);
        Assert.Equal(1, (await bank.GetStatsAsync()).Memories);
    }

    private Task<(BankClient Bank, List<string> Ids)> SpreadBankAsync(string prefix) => BankHelpers.SpreadBankAsync(fixture, prefix, 37);
}
