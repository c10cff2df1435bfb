using MemRL.Client;
using MemRL.Core.Bank;
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

    /// <summary>
    /// A retention run over 3 shards takes the reference bank's decisions at the run's time: low-Q archives after enough
    /// visits, the bank-wide cap by utility (merged exactly from the shards' lowest), purges after the retention period,
    /// all within maxPerRun per run (more reported, and the next run continues). One memory per reward, so every Q
    /// update has its own time on both sides and the cap's order by last activity is the same.
    /// </summary>
    [Fact]
    public async Task RetentionRuns_MatchTheReferenceBank_RulesCapBoundAndPurge()
    {
        var vectors = new Vectors(103, Dimension);
        var policy = new RetentionSettings { LowQThreshold = -0.2, LowQMinVisits = 2, MaxActive = 20, RetentionPeriodSeconds = 1, MaxPerRun = 7 };
        var options = new BankOptions { Delta = -1, MergeThreshold = 2, K1 = 3, K2 = 1, Retention = policy };
        string name = ClusterFixture.NewBankName("retention-run");
        await fixture.Memory.CreateBankAsync(name, new BankSpec(Dimension, "test-embedder", options, 3, new IndexSettings(Exact: true)));
        var bank = fixture.Memory.Bank(name);
        var reference = new ReferenceBank(Dimension, options.ToCore()) { Retention = policy.ToValidatedPolicy() };
        var ids = new Dictionary<long, string>();
        for (int i = 0; i < 40; i++)
        {
            var intent = vectors.Gaussian();
            string id = (await bank.WriteAsync(intent, $"t{i}", $"e{i}", i % 2 == 0)).MemoryId;
            ids[reference.Write(intent, $"t{i}", $"e{i}", i % 2 == 0).MemorySequence] = id;
        }

        for (int step = 0; step < 90; step++)
        {
            var query = vectors.Gaussian();
            var recall = await bank.RecallAsync(query, new RecallSettings(RequireFullCoverage: true));
            var expected = reference.Recall(query);
            Assert.Equal(expected.Memories.Select(m => ids[m.Sequence]), recall.Memories.Select(m => m.Id));
            double reward = vectors.NextDouble() < 0.5 ? 1 : -1;
            await bank.RewardAsync(recall.Token, reward);
            reference.Reward([.. expected.Memories.Select(m => m.Sequence)], reward);
        }

        int runs = 0;
        RetentionRunResult run;
        do
        {
            run = await bank.RunRetentionAsync();
            var referenceRun = reference.RunRetention(run.At);
            Assert.Equal((referenceRun.Purged.Count, referenceRun.Archived.Count, referenceRun.More), (run.Purged, run.Archived, run.More));
            Assert.True(run.Purged + run.Archived <= 7);
            await AssertSameArchiveAsync();
            runs++;
        }
        while (run.More);

        Assert.True(runs > 1, "the first run did not reach maxPerRun: the bound is not exercised.");
        Assert.Equal(20, (await bank.GetStatsAsync()).Memories);
        Assert.Equal(20, reference.Table.ArchivedCount);
        Assert.Contains(reference.Table.ArchivedMemories, m => m.Visits >= 2 && m.Q <= -0.2);

        // After the retention period the archived memories are purged, maxPerRun at a time.
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        int purged = 0;
        do
        {
            run = await bank.RunRetentionAsync();
            var referenceRun = reference.RunRetention(run.At);
            Assert.Equal((referenceRun.Purged.Count, referenceRun.Archived.Count, referenceRun.More), (run.Purged, run.Archived, run.More));
            purged += run.Purged;
        }
        while (run.More);

        Assert.Equal(0, reference.Table.ArchivedCount);
        Assert.Equal(20, purged);
        await AssertSameArchiveAsync();
        for (int step = 0; step < 10; step++)
        {
            var query = vectors.Gaussian();
            Assert.Equal(reference.Recall(query).Memories.Select(m => ids[m.Sequence]), (await bank.RecallAsync(query)).Memories.Select(m => m.Id));
        }

        async Task AssertSameArchiveAsync()
        {
            foreach (var (sequence, id) in ids)
            {
                if (reference.Table.TryGetMemory(sequence, out var active))
                {
                    var got = await bank.GetAsync(id);
                    Assert.Null(got.ArchivedAt);
                    Assert.Equal(active.Q, got.Q);
                }
                else if (reference.Table.TryGetArchived(sequence, out var archived))
                {
                    var got = await bank.GetAsync(id);
                    Assert.NotNull(got.ArchivedAt);
                    // The run's archive is the memory's newest history entry, at the run's time, numbered by its revision.
                    Assert.Equal(archived.Revision, got.Revision);
                    var newest = (await bank.GetHistoryAsync(id, limit: 1)).Entries.Single();
                    Assert.Equal((MemoryHistoryEntry.ArchiveKind, got.ArchivedAt!.Value, archived.HistoryOrdinal), (newest.Kind, newest.At, newest.Ordinal));
                }
                else
                {
                    await Assert.ThrowsAsync<MemoryNotFoundException>(() => bank.GetAsync(id));
                }
            }
        }
    }

    /// <summary>
    /// The idle rule archives memories not rewarded within the window, except those whose Q protects them; a run retried
    /// with its operation id answers its first result and changes nothing more, even when there is new work.
    /// </summary>
    [Fact]
    public async Task IdleRule_SparesProtectedAndRecentMemories_AndARetriedRunAppliesOnce()
    {
        var vectors = new Vectors(107, Dimension);
        var bank = await NewBankAsync("retention-idle", new RetentionSettings { IdleWindowSeconds = 1, ProtectQ = 0.25 }, K2: 1);
        var intents = Enumerable.Range(0, 6).Select(_ => vectors.Gaussian()).ToArray();
        var ids = new List<string>();
        foreach (var intent in intents)
        {
            ids.Add((await bank.WriteAsync(intent, "t", "e", true)).MemoryId);
        }

        // Memories 0 and 1 earn Q 0.3 (protected); after the window, memory 2 is rewarded (recent).
        foreach (int i in new[] { 0, 1 })
        {
            var recall = await bank.RecallAsync(intents[i], new RecallSettings(Lambda: 0));
            Assert.Equal(ids[i], recall.Memories.Single().Id);
            await bank.RewardAsync(recall.Token, 1);
        }

        await Task.Delay(TimeSpan.FromSeconds(1.2));
        var late = await bank.RecallAsync(intents[2], new RecallSettings(Lambda: 0));
        Assert.Equal(ids[2], late.Memories.Single().Id);
        await bank.RewardAsync(late.Token, -1);

        var first = await bank.RunRetentionAsync("run-1");
        Assert.Equal((0, 3, false), (first.Purged, first.Archived, first.More));
        var states = await Task.WhenAll(ids.Select(id => bank.GetAsync(id)));
        Assert.Equal([false, false, false, true, true, true], states.Select(m => m.ArchivedAt is not null));

        // Memory 2 becomes idle too: the retry of run-1 answers run-1's result and leaves it; a new run archives it.
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        Assert.Equal(first, await bank.RunRetentionAsync("run-1"));
        Assert.Null((await bank.GetAsync(ids[2])).ArchivedAt);
        Assert.Equal(1, (await bank.RunRetentionAsync("run-2")).Archived);
        Assert.NotNull((await bank.GetAsync(ids[2])).ArchivedAt);
        Assert.Null((await bank.GetAsync(ids[0])).ArchivedAt);
    }

    /// <summary>
    /// Archived memories are listed by state (active, archived, all), paged across shards with one cursor, filters
    /// applying to either; stats count them apart from the active memories the distributions describe.
    /// </summary>
    [Fact]
    public async Task ListingByState_PagesArchivedAndAll_AndStatsCountArchivedApart()
    {
        var vectors = new Vectors(107, Dimension);
        var bank = await NewBankAsync("archive-list", new RetentionSettings());
        var ids = new List<string>();
        for (int i = 0; i < 23; i++)
        {
            var scope = new ScopeFields(UserId: i % 2 == 0 ? "ann" : "bob");
            ids.Add((await bank.WriteAsync(vectors.Gaussian(), $"t{i}", $"e{i}", true, scope: scope)).MemoryId);
        }

        var archived = ids.Where((_, i) => i % 3 == 0).ToHashSet();
        foreach (string id in archived)
        {
            await bank.ArchiveAsync(id);
        }

        Assert.Equal(ids.Except(archived).Order(StringComparer.Ordinal), await ListAllAsync(MemoryListState.Active));
        Assert.Equal(archived.Order(StringComparer.Ordinal), await ListAllAsync(MemoryListState.Archived));
        Assert.Equal(ids.Order(StringComparer.Ordinal), await ListAllAsync(MemoryListState.All));
        var annArchived = ids.Where((_, i) => i % 3 == 0 && i % 2 == 0).Order(StringComparer.Ordinal);
        Assert.Equal(annArchived, await ListAllAsync(MemoryListState.Archived, ScopeWire.FilterOf(new ScopeFields(UserId: "ann"))));
        var page = await bank.ListAsync(limit: 100, state: MemoryListState.Archived);
        Assert.All(page.Memories, m => Assert.NotNull(m.ArchivedAt));

        var stats = await bank.GetStatsAsync();
        Assert.Equal((23 - archived.Count, archived.Count), (stats.Memories, stats.ArchivedMemories));
        Assert.Equal(archived.Count, stats.Shards.Sum(s => s.ArchivedMemories));
        Assert.Equal(23 - archived.Count, stats.QDistribution.Count);

        // A restore moves a memory back; a state outside the enum is refused naming the field.
        await bank.RestoreAsync(ids[0]);
        Assert.Equal(archived.Count - 1, (await bank.GetStatsAsync()).ArchivedMemories);
        Assert.DoesNotContain(ids[0], await ListAllAsync(MemoryListState.Archived));
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => bank.ListAsync(state: (MemoryListState)7));
        Assert.Equal("state", error.ParamName);

        // Small pages: the cursor crosses shards in every state.
        async Task<List<string>> ListAllAsync(MemoryListState state, FilterClause[]? filter = null)
        {
            var seen = new List<string>();
            string? cursor = null;
            do
            {
                var next = await bank.ListAsync(cursor, limit: 2, filter, state);
                seen.AddRange(next.Memories.Select(m => m.Id));
                cursor = next.NextCursor;
            }
            while (cursor is not null);

            Assert.Equal(seen.Count, seen.Distinct().Count());
            return [.. seen.Order(StringComparer.Ordinal)];
        }
    }

    /// <summary>
    /// A time to live given at write: the memory reads back with its expiry (the shard's write time plus the ttl), a run
    /// before it archives nothing, the first run after it archives the memory whatever its Q and with no policy on the
    /// bank; a restore clears the expiry; the expiry travels with a slot move; retries and bad values behave.
    /// </summary>
    [Fact]
    public async Task TimeToLive_ArchivesAtTheFirstRunAfterIt_WithoutAPolicy_AndARestoreClearsIt()
    {
        var vectors = new Vectors(109, Dimension);
        string name = ClusterFixture.NewBankName("ttl");
        await fixture.Memory.CreateBankAsync(name, new BankSpec(Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, 2, new IndexSettings(Exact: true)));
        var bank = fixture.Memory.Bank(name);
        var intent = vectors.Gaussian();
        var shortLived = await bank.WriteAsync(intent, "soon", "e", true, operationId: "ttl-short", ttlSeconds: 2);
        string longLived = (await bank.WriteAsync(vectors.Gaussian(), "later", "e", true, ttlSeconds: 86_400)).MemoryId;
        string forever = (await bank.WriteAsync(vectors.Gaussian(), "always", "e", true)).MemoryId;
        var written = await bank.GetAsync(shortLived.MemoryId);
        Assert.Equal(written.CreatedAt.AddSeconds(2), written.ExpiresAt);
        Assert.Null((await bank.GetAsync(forever)).ExpiresAt);
        // High Q does not protect it: the writer asked for the expiry.
        await bank.RewardAsync((await bank.RecallAsync(intent, new RecallSettings(K1: 1, K2: 1, Lambda: 0))).Token, 1);

        // A retry answers the first write; the same id with another ttl is another operation.
        Assert.Equal(shortLived, await bank.WriteAsync(intent, "soon", "e", true, operationId: "ttl-short", ttlSeconds: 2));
        await Assert.ThrowsAsync<OperationConflictException>(() => bank.WriteAsync(intent, "soon", "e", true, operationId: "ttl-short", ttlSeconds: 3));
        foreach (double bad in new[] { 0, 0.5, -1, double.NaN, double.PositiveInfinity, 3_155_760_001 })
        {
            var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => bank.WriteAsync(vectors.Gaussian(), "bad", "e", true, ttlSeconds: bad));
            Assert.Equal("ttlSeconds", error.ParamName);
        }

        Assert.Equal(3, (await bank.GetStatsAsync()).Memories);
        // A run before the expiry archives nothing (on a machine slow enough to reach the expiry already, it archives it:
        // what the run's own time says, never the test's clock).
        var early = await bank.RunRetentionAsync();
        Assert.Equal(early.At >= written.ExpiresAt ? 1 : 0, early.Archived);

        // Slots move to new shards with their expiries.
        await fixture.Memory.GrowShardsAsync(name, 3);
        Assert.Equal(written.ExpiresAt, (await bank.GetAsync(shortLived.MemoryId)).ExpiresAt);
        // Waits for time to pass, not for something to be fast: the ttl is two seconds.
        while (DateTimeOffset.UtcNow < written.ExpiresAt!.Value.AddMilliseconds(200))
        {
            await Task.Delay(100);
        }

        var run = await bank.RunRetentionAsync();
        Assert.Equal((1 - early.Archived, 0), (run.Archived, run.Purged));
        var archived = await bank.GetAsync(shortLived.MemoryId);
        Assert.Equal(early.Archived == 1 ? early.At : run.At, archived.ArchivedAt);
        Assert.Equal(MemoryHistoryEntry.ArchiveKind, (await bank.GetHistoryAsync(shortLived.MemoryId, limit: 1)).Entries.Single().Kind);
        Assert.Null((await bank.GetAsync(longLived)).ArchivedAt);
        Assert.DoesNotContain(shortLived.MemoryId, (await bank.RecallAsync(intent)).Memories.Select(m => m.Id));

        var restored = await bank.RestoreAsync(shortLived.MemoryId);
        Assert.Null(restored.ExpiresAt);
        Assert.Equal(0, (await bank.RunRetentionAsync()).Archived);
        Assert.Contains(shortLived.MemoryId, (await bank.RecallAsync(intent, new RecallSettings(K1: 3, K2: 3))).Memories.Select(m => m.Id));
    }

    private async Task<BankClient> NewBankAsync(string prefix, RetentionSettings retention, int K2 = 3)
    {
        string name = ClusterFixture.NewBankName(prefix);
        await fixture.Memory.CreateBankAsync(name, new BankSpec(Dimension, "test-embedder",
            new BankOptions { Delta = -1, MergeThreshold = 2, K2 = K2, Retention = retention }, 2, new IndexSettings(Exact: true)));
        return fixture.Memory.Bank(name);
    }
}
