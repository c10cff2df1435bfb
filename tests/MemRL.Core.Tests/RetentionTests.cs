using MemRL.Core.Bank;

namespace MemRL.Core.Tests;

public sealed class RetentionTests
{
    private const int Dimension = 8;
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Policy_OutOfRange_IsRefusedNamingEveryField_AndTheBankKeepsItsPolicy()
    {
        var bank = new ReferenceBank(Dimension);
        var bad = new RetentionPolicy
        {
            LowQThreshold = double.NaN, LowQMinVisits = 0, IdleWindow = TimeSpan.FromMilliseconds(1), ProtectQ = double.PositiveInfinity,
            MaxActive = 0, RetentionPeriod = TimeSpan.FromDays(-1), MaxPerRun = 0,
        };

        var error = Assert.ThrowsAny<ArgumentException>(() => bank.Retention = bad);

        FieldAssert.Parts(error, "retention.lowQThreshold", "NaN");
        Assert.Equal(7, bad.FindErrors().Count);
        Assert.Contains("retention.maxPerRun", error.Message);
        Assert.Same(RetentionPolicy.None, bank.Retention);
        Assert.Empty(new RetentionPolicy { LowQThreshold = -0.5, IdleWindow = TimeSpan.FromDays(7), MaxActive = 10 }.FindErrors());
    }

    /// <summary>The shard's bounded selection of the cap's candidates is the full sort's prefix, ties included (equal Q
    /// and equal last activity fall back to sequence).</summary>
    [Fact]
    public void LowestByUtility_IsTheFullSortsPrefix_ForEveryCount()
    {
        var bank = new ReferenceBank(Dimension, time: new FixedTime(T0));
        var random = new Random(5);
        for (int i = 0; i < 60; i++)
        {
            bank.Write(Unit(i % Dimension), $"t{i}", "e", true);
        }

        var memories = bank.Table.Memories.ToList();
        // Q in three values only, so ties are the rule.
        foreach (var m in memories.Where(_ => random.Next(3) > 0))
        {
            bank.Reward([m.Sequence], random.Next(2) == 0 ? 1 : -1);
        }

        var sorted = bank.Table.Memories.ToList();
        sorted.Sort((a, b) => RetentionPolicy.UtilityOrder(a.Q, a.LastActiveAt, a.Sequence, b.Q, b.LastActiveAt, b.Sequence));
        foreach (int count in new[] { 0, 1, 2, 7, 59, 60, 61, 1000 })
        {
            Assert.Equal(sorted.Take(count).Select(m => m.Sequence), RetentionPolicy.LowestByUtility(bank.Table.Memories.Reverse(), count).Select(m => m.Sequence));
        }
    }

    /// <summary>A time to live archives the memory at the first run at or after its end, with no policy and whatever its Q;
    /// a restore clears it; out-of-range values are refused naming the field.</summary>
    [Fact]
    public void TimeToLive_ArchivesAtItsEnd_WithoutAPolicy_AndARestoreClearsIt()
    {
        var bank = new ReferenceBank(Dimension, time: new FixedTime(T0));
        var brief = bank.Write(Unit(0), "a", "e", true, timeToLive: TimeSpan.FromMinutes(5));
        bank.Write(Unit(1), "b", "e", true);
        bank.Reward([brief.MemorySequence], 1);
        Assert.Equal(T0.AddMinutes(5), bank.Table.TryGetMemory(brief.MemorySequence, out var m) ? m.ExpiresAt : null);

        Assert.Empty(bank.RunRetention(T0.AddMinutes(5).AddTicks(-1)).Archived);
        Assert.Equal([brief.MemorySequence], bank.RunRetention(T0.AddMinutes(5)).Archived);
        Assert.True(bank.Restore(brief.MemorySequence, T0.AddMinutes(6)));
        Assert.Null(m!.ExpiresAt);
        Assert.Empty(bank.RunRetention(T0.AddYears(1)).Archived);
        foreach (var bad in new[] { TimeSpan.Zero, TimeSpan.FromMilliseconds(999), TimeSpan.FromDays(-1), TimeSpan.FromDays(36_526) })
        {
            FieldAssert.Parts(Assert.ThrowsAny<ArgumentException>(() => bank.Write(Unit(2), "c", "e", true, timeToLive: bad)), "timeToLive", null);
        }

        Assert.Equal(2, bank.Table.MemoryCount);
    }

    [Fact]
    public void NoPolicy_ArchivesNothing()
    {
        var bank = new ReferenceBank(Dimension, time: new FixedTime(T0));
        bank.Write(Unit(0), "a", "e", true);

        var run = bank.RunRetention(T0.AddYears(10));

        Assert.Empty(run.Archived);
        Assert.Equal(1, bank.Table.MemoryCount);
    }

    [Fact]
    public void LowQ_ArchivesOnlyAfterEnoughVisits()
    {
        var bank = new ReferenceBank(Dimension, MemRLOptions.Default with { MergeThreshold = 2 }, time: new FixedTime(T0))
        {
            Retention = new RetentionPolicy { LowQThreshold = -0.2, LowQMinVisits = 3 },
        };
        var bad = bank.Write(Unit(0), "a", "e", false);
        var good = bank.Write(Unit(1), "b", "e", true);
        bank.Reward([bad.MemorySequence], -1);
        bank.Reward([bad.MemorySequence], -1);
        bank.Reward([good.MemorySequence], -1);

        Assert.Empty(bank.RunRetention(T0).Archived); // Q is low but only 2 visits
        bank.Reward([bad.MemorySequence], -1);

        var run = bank.RunRetention(T0);

        Assert.Equal([bad.MemorySequence], run.Archived);
        Assert.Empty(bank.Recall(Unit(0)).Memories);
        Assert.Single(bank.Recall(Unit(1)).Memories);
    }

    [Fact]
    public void Idle_ArchivesMemoriesNotRewardedWithinTheWindow_ExceptProtectedHighQ()
    {
        var time = new FixedTime(T0);
        var bank = new ReferenceBank(Dimension, MemRLOptions.Default with { MergeThreshold = 2 }, time: time)
        {
            Retention = new RetentionPolicy { IdleWindow = TimeSpan.FromDays(7), ProtectQ = 0.5 },
        };
        var idle = bank.Write(Unit(0), "a", "e", true);
        var helped = bank.Write(Unit(1), "b", "e", true);
        var recent = bank.Write(Unit(2), "c", "e", true);
        bank.Reward([helped.MemorySequence], 1); // Q 0.3
        bank.Reward([helped.MemorySequence], 1); // Q 0.51: protected
        time.Now = T0.AddDays(6);
        bank.Reward([recent.MemorySequence], 0);

        var run = bank.RunRetention(T0.AddDays(8));

        Assert.Equal([idle.MemorySequence], run.Archived);
        Assert.True(bank.Table.TryGetMemory(helped.MemorySequence, out _));
        Assert.True(bank.Table.TryGetMemory(recent.MemorySequence, out _));
    }

    [Fact]
    public void KeyWhoseMemoriesAreAllArchived_LeavesTheGraph_AndReturnsOnRestore()
    {
        var bank = new ReferenceBank(Dimension, MemRLOptions.Default with { MergeThreshold = 0.99, K1 = 1, K2 = 1 });
        var a1 = bank.Write(Unit(0), "a", "a1", true);
        var a2 = bank.Write(Unit(0), "a", "a2", true);
        // A second, slightly less similar key: with k1 = 1 it is recalled only when key a is out of the graph.
        var b = bank.Write(Near(0, 1), "b", "b", true, recallKeys: []);
        Assert.Equal(a1.KeySequence, a2.KeySequence);

        Assert.True(bank.Archive(a1.MemorySequence, T0));
        Assert.Equal(["a2"], bank.Recall(Unit(0)).Memories.Select(m => m.Experience));
        Assert.True(bank.Archive(a2.MemorySequence, T0));
        Assert.False(bank.Archive(a2.MemorySequence, T0)); // idempotent

        var without = bank.Recall(Unit(0));
        Assert.Equal([b.KeySequence], without.Keys.Select(k => k.KeySequence));
        Assert.False(bank.Table.TryGetKey(a1.KeySequence, out _));

        Assert.True(bank.Restore(a2.MemorySequence, T0.AddDays(1)));
        Assert.True(bank.Restore(a1.MemorySequence, T0.AddDays(1)));
        Assert.False(bank.Restore(a1.MemorySequence, T0.AddDays(1)));
        var back = bank.Recall(Unit(0));
        Assert.Equal([a1.KeySequence], back.Keys.Select(k => k.KeySequence));
        // Restored memories are back in their key oldest first, whatever the restore order.
        Assert.True(bank.Table.TryGetKey(a1.KeySequence, out var key));
        Assert.Equal([a1.MemorySequence, a2.MemorySequence], key.Memories.Select(m => m.Sequence));
    }

    [Fact]
    public void RewardOfAnArchivedMemory_Applies_WithoutRestoringIt_AndOfAPurgedOne_IsRefused()
    {
        var bank = new ReferenceBank(Dimension);
        var w = bank.Write(Unit(0), "a", "e", true);
        bank.Archive(w.MemorySequence, T0);

        // The reward of a recall made before the archive still counts; the memory stays out of recall.
        Assert.Equal([0.3], bank.Reward([w.MemorySequence], 1));
        Assert.True(bank.Table.TryGetArchived(w.MemorySequence, out var archived));
        Assert.Equal((0.3, 1), (archived.Q, archived.Visits));
        Assert.Empty(bank.Recall(Unit(0)).Memories);

        Assert.True(bank.Delete(w.MemorySequence));
        var error = Assert.ThrowsAny<ArgumentException>(() => bank.Reward([w.MemorySequence], 1));
        FieldAssert.Parts(error, "memoryIds[0]");
    }

    [Fact]
    public void Purge_AfterTheRetentionPeriod_ThenRestoreIsAClearError()
    {
        var bank = new ReferenceBank(Dimension) { Retention = new RetentionPolicy { RetentionPeriod = TimeSpan.FromDays(30) } };
        var w = bank.Write(Unit(0), "a", "e", true);
        bank.Archive(w.MemorySequence, T0);

        Assert.Empty(bank.RunRetention(T0.AddDays(29)).Purged);
        var late = Assert.ThrowsAny<ArgumentException>(() => bank.Restore(w.MemorySequence, T0.AddDays(30)));
        FieldAssert.Parts(late, "memoryId");
        Assert.Contains("retention period ended", late.Message);

        var run = bank.RunRetention(T0.AddDays(30));

        Assert.Equal([w.MemorySequence], run.Purged);
        Assert.Equal(0, bank.Table.ArchivedCount);
        var purged = Assert.ThrowsAny<ArgumentException>(() => bank.Restore(w.MemorySequence, T0.AddDays(30)));
        FieldAssert.Parts(purged, "memoryId");
        Assert.Contains("purged", purged.Message);
    }

    [Fact]
    public void Cap_KeepsExactlyMaxActive_ArchivingLowestQ_ThenLeastRecentlyActive_ThenOldest()
    {
        var time = new FixedTime(T0);
        var bank = new ReferenceBank(Dimension, MemRLOptions.Default with { MergeThreshold = 2 }, time: time);
        var ids = new List<long>();
        for (int i = 0; i < 6; i++)
        {
            ids.Add(bank.Write(Unit(i), $"t{i}", "e", true).MemorySequence);
        }

        time.Now = T0.AddHours(1);
        bank.Reward([ids[0]], 1);  // Q 0.3
        bank.Reward([ids[1]], -1); // Q -0.3: lowest
        time.Now = T0.AddHours(2);
        bank.Reward([ids[2]], 0);  // Q 0, active at 2h: after 3, 4, 5 (Q 0, active at 0h)
        bank.Retention = new RetentionPolicy { MaxActive = 2 };

        var run = bank.RunRetention(T0.AddDays(1));

        Assert.Equal([ids[1], ids[3], ids[4], ids[5]], run.Archived);
        Assert.Equal(2, bank.Table.MemoryCount);
        Assert.False(run.More);
    }

    [Fact]
    public void Run_IsBoundedByMaxPerRun_AndTheNextRunContinues()
    {
        var bank = new ReferenceBank(Dimension, MemRLOptions.Default with { MergeThreshold = 2 })
        {
            Retention = new RetentionPolicy { MaxActive = 1, MaxPerRun = 2 },
        };
        for (int i = 0; i < 6; i++)
        {
            bank.Write(Unit(i), $"t{i}", "e", true);
        }

        var first = bank.RunRetention(T0);
        var second = bank.RunRetention(T0);
        var third = bank.RunRetention(T0);

        Assert.Equal((2, true), (first.Archived.Count, first.More));
        Assert.Equal((2, true), (second.Archived.Count, second.More));
        Assert.Equal((1, false), (third.Archived.Count, third.More));
        Assert.Equal(1, bank.Table.MemoryCount);
    }

    [Fact]
    public void RestoredMemory_IsNotArchivedAgainByTheIdlenessThatArchivedIt()
    {
        var bank = new ReferenceBank(Dimension, time: new FixedTime(T0))
        {
            Retention = new RetentionPolicy { IdleWindow = TimeSpan.FromDays(7) },
        };
        var w = bank.Write(Unit(0), "a", "e", true);
        Assert.Equal([w.MemorySequence], bank.RunRetention(T0.AddDays(8)).Archived);
        bank.Restore(w.MemorySequence, T0.AddDays(9));

        Assert.Empty(bank.RunRetention(T0.AddDays(10)).Archived);
        Assert.Equal([w.MemorySequence], bank.RunRetention(T0.AddDays(16)).Archived);
    }

    [Fact]
    public void DeleteByScope_RemovesArchivedMemoriesOfTheScopeToo()
    {
        var bank = new ReferenceBank(Dimension);
        var scope = new MemoryScope(UserId: "u1");
        var w = bank.Write(Unit(0), "a", "e", true, scope: scope);
        bank.Archive(w.MemorySequence, T0);

        Assert.Equal(1, bank.DeleteMatching(MemoryFilter.Create([new FilterField("userId", ["u1"])])!));
        Assert.Equal(0, bank.Table.ArchivedCount);
    }

    private static float[] Unit(int axis)
    {
        var v = new float[Dimension];
        v[axis] = 1;
        return v;
    }

    private static float[] Near(int axis, int other)
    {
        var v = new float[Dimension];
        v[axis] = 1;
        v[other] = 0.3f;
        return v;
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
