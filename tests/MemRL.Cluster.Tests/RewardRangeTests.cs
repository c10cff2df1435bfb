using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests;

/// <summary>
/// The reward range is a bank property (docs/learning.md): qInit starts at its midpoint unless set, every reward outside
/// it is refused naming the range, and a refused reward changes nothing on any shard.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class RewardRangeTests(ClusterFixture fixture)
{
    private static readonly BankOptions OneZero = BankHelpers.SpreadOptions with { RewardMin = 0, RewardMax = 1 };

    [Fact]
    public async Task WriteAsync_InAOneZeroBank_StartsSuccessesAndFailuresAtTheMidpoint()
    {
        var bank = await BankHelpers.NewBankAsync(fixture, "range-init", OneZero, shards: 3);
        var vectors = new Vectors(71, BankHelpers.Dimension);

        var success = await bank.WriteAsync(vectors.Gaussian(), "s", "s", true);
        var failure = await bank.WriteAsync(vectors.Gaussian(), "f", "f", false);

        Assert.Equal((0.5, 0.5), ((await bank.GetAsync(success.MemoryId)).Q, (await bank.GetAsync(failure.MemoryId)).Q));
        var described = (await fixture.Memory.GetBankAsync(bank.Name))!.Options;
        Assert.Equal((0.0, 1.0, 0.5, 0.5), (described.RewardMin!.Value, described.RewardMax!.Value, described.QInitSuccess, described.QInitFailure));
    }

    [Theory]
    [InlineData(1.5)]
    [InlineData(-0.25)]
    public async Task RewardAsync_OutsideTheRange_IsRefusedNamingIt_AndChangesNoShard(double reward)
    {
        var bank = await BankHelpers.NewBankAsync(fixture, "range-out", OneZero, shards: 4);
        var vectors = new Vectors(73, BankHelpers.Dimension);
        var ids = new List<string>();
        for (int i = 0; i < 8; i++)
        {
            ids.Add((await bank.WriteAsync(vectors.Gaussian(), $"i{i}", $"e{i}", i % 2 == 0)).MemoryId);
        }

        var recall = await bank.RecallAsync(vectors.Gaussian());
        string before = await BankHelpers.SnapshotAsync(bank, ids);

        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => bank.RewardAsync(recall.Token, reward));

        var parts = FieldAssert.Parts(error, "reward", MemRL.Errors.FieldError.Format(reward));
        Assert.Equal("a number in the bank's reward range [0, 1]", parts.Expected);
        Assert.Equal(before, await BankHelpers.SnapshotAsync(bank, ids));
        // The same recall still takes a reward inside the range.
        var applied = await bank.RewardAsync(recall.Token, 1);
        Assert.All(applied.Updated, u => Assert.Equal(0.5 + (0.3 * 0.5), u.Q));
    }

    [Fact]
    public async Task UpdateOptions_NarrowingTheRange_RefusesRewardsOutsideIt_AndAQInitOutsideItNamesQInit()
    {
        var bank = await BankHelpers.NewBankAsync(fixture, "range-narrow", BankHelpers.SpreadOptions, shards: 2);
        var vectors = new Vectors(79, BankHelpers.Dimension);
        await bank.WriteAsync(vectors.Gaussian(), "i", "e", true);
        var current = (await fixture.Memory.GetBankAsync(bank.Name))!.Options;

        // The bank's qInit is the number it was created with (0): [0.25, 1] leaves it outside.
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => fixture.Memory.UpdateOptionsAsync(bank.Name, current with { RewardMin = 0.25 }));
        Assert.Equal("qInitSuccess", FieldAssert.Parts(error, "qInitSuccess", "0").Field);

        await fixture.Memory.UpdateOptionsAsync(bank.Name, current with { RewardMin = 0 });
        var recall = await bank.RecallAsync(vectors.Gaussian());
        var refused = await Assert.ThrowsAnyAsync<ArgumentException>(() => bank.RewardAsync(recall.Token, -1));
        FieldAssert.Parts(refused, "reward", "-1");
    }
}
