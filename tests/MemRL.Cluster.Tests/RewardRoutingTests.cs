using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.Errors;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests;

[Collection(ClusterCollection.Name)]
public sealed class RewardRoutingTests(ClusterFixture fixture)
{
    [Fact]
    public async Task RewardAsync_UpdatesMemoriesOnSeveralShards_InOneCall()
    {
        var (bank, ids) = await SpreadBankAsync("span");
        var recall = await bank.RecallAsync(new Vectors(5, BankHelpers.Dimension).Gaussian());
        var shards = recall.Memories.Select(m => MemoryId.Parse(m.Id, "id").Slot % 8).Distinct().Count();
        Assert.True(shards >= 2, $"recall returned memories from {shards} shard(s); the test needs several.");

        var response = await bank.RewardAsync(recall.Token, 1.0);

        Assert.Equal(recall.Memories.Select(m => m.Id), response.Updated.Select(u => u.Id));
        foreach (var m in recall.Memories)
        {
            var stored = await bank.GetAsync(m.Id);
            Assert.Equal(0.3, stored.Q, 12);
            Assert.Equal(1, stored.Visits);
        }

        Assert.Equal(ids.Count, (await bank.GetStatsAsync()).Memories);
    }

    [Fact]
    public async Task RewardAsync_Retried_ReturnsOriginalResult_AndAppliesOnce()
    {
        var (bank, ids) = await SpreadBankAsync("retry");
        var recall = await bank.RecallAsync(new Vectors(6, BankHelpers.Dimension).Gaussian());

        var first = await bank.RewardAsync(recall.Token, 1.0);
        var again = await bank.RewardAsync(recall.Token, 1.0);

        Assert.Equal(first.Updated, again.Updated);
        foreach (var m in recall.Memories)
        {
            Assert.Equal(1, (await bank.GetAsync(m.Id)).Visits);
        }
    }

    [Fact]
    public async Task RewardAsync_SameOperationIdWithOtherReward_IsConflict_AndChangesNothing()
    {
        var (bank, ids) = await SpreadBankAsync("conflict");
        var recall = await bank.RecallAsync(new Vectors(7, BankHelpers.Dimension).Gaussian());
        await bank.RewardAsync(recall.Token, 1.0, "op-1");
        string before = await BankHelpers.SnapshotAsync(bank, ids);

        await Assert.ThrowsAsync<OperationConflictException>(() => bank.RewardAsync(recall.Token, -1.0, "op-1"));

        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, ids));
    }

    [Fact]
    public async Task RewardAsync_RejectsForgedToken_AndChangesNothing()
    {
        var (bank, ids) = await SpreadBankAsync("forged");
        var recall = await bank.RecallAsync(new Vectors(8, BankHelpers.Dimension).Gaussian());
        string before = await BankHelpers.SnapshotAsync(bank, ids);
        char[] forged = recall.Token.ToCharArray();
        forged[10] = forged[10] == 'A' ? 'B' : 'A';

        var error = await Assert.ThrowsAsync<InvalidRecallTokenException>(() => bank.RewardAsync(new string(forged), 1.0));

        Assert.True(FieldError.TryRead(error, out var parts));
        Assert.Equal(("token", Reasons.TokenInvalid), (parts.Field, parts.Reason));
        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, ids));
    }

    [Fact]
    public async Task RewardAsync_RejectsTokenOfAnotherBank_AndChangesNothing()
    {
        var (bankA, _) = await SpreadBankAsync("bank-a");
        var (bankB, idsB) = await SpreadBankAsync("bank-b");
        var recallA = await bankA.RecallAsync(new Vectors(9, BankHelpers.Dimension).Gaussian());
        string before = await BankHelpers.SnapshotAsync(bankB, idsB);

        var error = await Assert.ThrowsAsync<InvalidRecallTokenException>(() => bankB.RewardAsync(recallA.Token, 1.0));

        // Refused exactly as a forged token is: nothing names the bank that issued it.
        Assert.True(FieldError.TryRead(error, out var parts));
        Assert.Equal(("token", Reasons.TokenInvalid), (parts.Field, parts.Reason));
        Assert.DoesNotContain(bankA.Name, error.Message);
        Assert.Equal(before, await BankHelpers.SnapshotAsync(bankB, idsB));
    }

    [Fact]
    public async Task RewardAsync_RejectsMemoryTheTokenDoesNotName_AndChangesNothing()
    {
        var (bank, ids) = await SpreadBankAsync("unnamed");
        var recall = await bank.RecallAsync(new Vectors(10, BankHelpers.Dimension).Gaussian(), new RecallSettings(K1: 3, K2: 2));
        string outsider = ids.First(id => recall.Memories.All(m => m.Id != id));
        string before = await BankHelpers.SnapshotAsync(bank, ids);

        var error = await Assert.ThrowsAsync<ArgumentException>(
            () => bank.RewardAsync(recall.Token, 1.0, memoryIds: [recall.Memories[0].Id, outsider]));

        Assert.Contains(outsider, error.Message);
        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, ids));
    }

    [Fact]
    public async Task GetAsync_RejectsIdOfAnotherBank()
    {
        var (bankA, idsA) = await SpreadBankAsync("ids-a");
        var (bankB, _) = await SpreadBankAsync("ids-b");

        await Assert.ThrowsAsync<MemoryNotFoundException>(() => bankB.GetAsync(idsA[0]));
        await Assert.ThrowsAsync<MemoryNotFoundException>(() => bankB.DeleteAsync(idsA[0]));
        Assert.Equal(idsA.Count, (await bankA.GetStatsAsync()).Memories);
    }

    [Fact]
    public async Task WriteAsync_Retried_ReturnsSameMemory_AndStoresItOnce()
    {
        var bank = await BankHelpers.NewBankAsync(fixture, "wretry", BankHelpers.SpreadOptions, shards: 3);
        var v = new Vectors(11, BankHelpers.Dimension).Gaussian();

        var first = await bank.WriteAsync(v, "intent", "experience", true, operationId: "write-1");
        var again = await bank.WriteAsync(v, "intent", "experience", true, operationId: "write-1");

        Assert.Equal(first, again);
        Assert.Equal(1, (await bank.GetStatsAsync()).Memories);
        await Assert.ThrowsAsync<OperationConflictException>(() => bank.WriteAsync(v, "intent", "other experience", true, operationId: "write-1"));
        Assert.Equal(1, (await bank.GetStatsAsync()).Memories);
    }

    [Fact]
    public async Task WriteAsync_RetriedWhenItsOwnKeyWouldNowBeJoined_ReturnsSameMemory()
    {
        // With merging on, the first write creates a key; the retry, deciding again, finds that very key (similarity 1)
        // and would join it. The retry is the same operation all the same: original result, stored once.
        var bank = await BankHelpers.NewBankAsync(fixture, "wretry-merge", new BankOptions { Delta = -1, MergeThreshold = 0.9 }, shards: 3);
        var v = new Vectors(12, BankHelpers.Dimension).Gaussian();

        var first = await bank.WriteAsync(v, "intent", "experience", true, operationId: "write-merge-1");
        var again = await bank.WriteAsync(v, "intent", "experience", true, operationId: "write-merge-1");

        Assert.True(first.CreatedKey);
        Assert.Equal(first, again);
        Assert.Equal(1, (await bank.GetStatsAsync()).Memories);
        await Assert.ThrowsAsync<OperationConflictException>(() => bank.WriteAsync(v, "intent", "other experience", true, operationId: "write-merge-1"));
    }

    [Fact]
    public async Task DeleteAsync_RemovesMemory_AndRetryReturnsOriginalResult()
    {
        var (bank, ids) = await SpreadBankAsync("delete");

        Assert.True(await bank.DeleteAsync(ids[0], "del-1"));
        Assert.True(await bank.DeleteAsync(ids[0], "del-1"));
        Assert.False(await bank.DeleteAsync(ids[0], "del-2"));

        await Assert.ThrowsAsync<MemoryNotFoundException>(() => bank.GetAsync(ids[0]));
        Assert.Equal(ids.Count - 1, (await bank.GetStatsAsync()).Memories);
        var recall = await bank.RecallAsync(new Vectors(12, BankHelpers.Dimension).Gaussian(), new RecallSettings(K1: 40, K2: 40));
        Assert.DoesNotContain(ids[0], recall.Memories.Select(m => m.Id));
    }

    // A bank of 8 shards where every memory is its own key (mergeThreshold > 1), so memories spread over the shards.
    private Task<(BankClient Bank, List<string> Ids)> SpreadBankAsync(string prefix) => BankHelpers.SpreadBankAsync(fixture, prefix, 31);
}
