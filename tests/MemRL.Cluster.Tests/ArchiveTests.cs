using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests;

/// <summary>
/// Archive and restore through the cluster (docs/retention.md): the bank's retention policy is validated with its
/// other options and decides how long an archived memory stays restorable; bad calls change nothing.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ArchiveTests(ClusterFixture fixture)
{
    private const int Dimension = 16;

    [Fact]
    public async Task Restore_AfterTheBanksRetentionPeriod_IsRefusedNamingTheMemory_AndTheMemoryStaysArchived()
    {
        var vectors = new Vectors(101, Dimension);
        var bank = await NewBankAsync("archive-period", new RetentionSettings { RetentionPeriodSeconds = 1 });
        string id = (await bank.WriteAsync(vectors.Gaussian(), "t", "e", true)).MemoryId;
        var archived = await bank.ArchiveAsync(id);

        // Waits for time to pass, not for something to be fast: the period is a second.
        while (DateTimeOffset.UtcNow < archived.ArchivedAt!.Value.AddSeconds(1.2))
        {
            await Task.Delay(100);
        }

        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => bank.RestoreAsync(id));
        Assert.True(MemRL.Errors.FieldError.TryRead(error, out var parts));
        Assert.Equal("memoryId", parts.Field);
        Assert.Contains("retention period ended", parts.Actual, StringComparison.Ordinal);
        Assert.Equal(archived.ArchivedAt, (await bank.GetAsync(id)).ArchivedAt);
        Assert.Empty((await bank.RecallAsync(vectors.Gaussian())).Memories);
    }

    [Fact]
    public async Task RetentionPolicy_OutOfRange_IsRefusedWithTheOtherOptions_NamingEveryField_AndChangesNothing()
    {
        string name = ClusterFixture.NewBankName("archive-policy");
        var bad = new BankOptions { Alpha = 2, Retention = new RetentionSettings { MaxActive = 0, IdleWindowSeconds = double.NaN, MaxPerRun = 0 } };
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => fixture.Memory.CreateBankAsync(name, new BankSpec(Dimension, "test-embedder", bad, 2)));
        foreach (string field in new[] { "options.alpha", "options.retention.idleWindowSeconds", "options.retention.maxActive", "options.retention.maxPerRun" })
        {
            Assert.Contains(field, error.Message, StringComparison.Ordinal);
        }

        Assert.Null(await fixture.Memory.GetBankAsync(name));

        // A valid policy is stored and read back; a bad update keeps it.
        var policy = new RetentionSettings { LowQThreshold = -0.5, MaxActive = 1000, RetentionPeriodSeconds = 7 * 86_400 };
        var bank = await NewBankAsync("archive-policy-ok", policy);
        Assert.Equal(policy, (await fixture.Memory.GetBankAsync(bank.Name))!.Options.Retention);
        var current = (await fixture.Memory.GetBankAsync(bank.Name))!.Options;
        await Assert.ThrowsAnyAsync<ArgumentException>(() => fixture.Memory.UpdateOptionsAsync(bank.Name, current with { Retention = policy with { RetentionPeriodSeconds = -1 } }));
        Assert.Equal(policy, (await fixture.Memory.GetBankAsync(bank.Name))!.Options.Retention);
    }

    private async Task<BankClient> NewBankAsync(string prefix, RetentionSettings retention)
    {
        string name = ClusterFixture.NewBankName(prefix);
        await fixture.Memory.CreateBankAsync(name, new BankSpec(Dimension, "test-embedder",
            new BankOptions { Delta = -1, MergeThreshold = 2, Retention = retention }, 2, new IndexSettings(Exact: true)));
        return fixture.Memory.Bank(name);
    }
}
