using MemRL.Cluster.Tests.Fixtures;
using MemRL.Cluster.Tests.Storage;
using MemRL.GrainInterfaces;
using MemRL.Grains.Shard;
using MemRL.Grains.Storage;
using MemRL.Index;

namespace MemRL.Cluster.Tests.Shard;

/// <summary>The shard grain's plain parts, without Orleans: group commit, sequence blocks, the turn rule, slot imports.</summary>
public sealed class ShardPartsTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task GroupCommitLog_ChangesQueuedWhileAWriteIsInFlight_GoTogetherInTheNextRecord()
    {
        using var file = new SqliteFile("group-commit");
        var store = new FaultyStore(new SqliteMemoryStore(file.Path));
        var log = new GroupCommitLog(store, "gc/0", 0);
        store.Stall("gc");

        log.Queue(new MemoryDeleted(1));
        var first = log.CommitAsync();
        log.Queue(new MemoryDeleted(2));
        var second = log.CommitAsync();
        log.Queue(new MemoryDeleted(3));
        var third = log.CommitAsync();
        Assert.Same(second, third);
        Assert.False(first.IsCompleted);
        Assert.True(log.HasPending);

        store.Release("gc");
        await Task.WhenAll(first, second, third);

        Assert.Equal(2, log.DurableHead);
        Assert.True(log.IsQuiet);
        var image = await store.LoadShardAsync("gc/0");
        var records = image.Tail.Select(r => EventCodec.TryDecode(r.Record, out var events) ? events.Cast<MemoryDeleted>().Select(e => e.Memory).ToArray() : null).ToList();
        Assert.Equal([[1L], [2L, 3L]], records);
    }

    [Fact]
    public async Task GroupCommitLog_ARowPutTwiceInOneCommit_GoesToTheStoreOnce_TheLastPutWinning()
    {
        // Two edits of one memory in one commit: a store transaction may touch a row only once (Azure refuses it).
        using var file = new SqliteFile("group-commit-puts");
        var store = new FaultyStore(new SqliteMemoryStore(file.Path));
        var log = new GroupCommitLog(store, "gp/0", 0);
        store.Stall("gp");
        log.Queue(new MemoryDeleted(1));
        var first = log.CommitAsync();
        log.Queue(new MemoryEdited(7, 1, true, false, DateTimeOffset.UnixEpoch), new StoredPayload(7, "t", "first", null));
        log.Queue(new MemoryEdited(8, 2, true, false, DateTimeOffset.UnixEpoch), new StoredPayload(8, "t", "other", null));
        log.Queue(new MemoryEdited(7, 3, true, false, DateTimeOffset.UnixEpoch), new StoredPayload(7, "t", "second", null));
        var second = log.CommitAsync();
        store.Release("gp");
        await Task.WhenAll(first, second);

        var batch = store.Appended.Last().Batch;
        Assert.Equal([(8L, "other"), (7L, "second")], batch.Puts.Select(p => (p.Sequence, p.Experience)));
        var rows = (await store.LoadShardAsync("gp/0")).Payloads.ToDictionary(p => p.Sequence, p => p.Experience);
        Assert.Equal("second", rows[7]);
    }

    [Fact]
    public async Task GroupCommitLog_AfterAFailedWrite_RefusesWhatWaitsAndEveryLaterCommit()
    {
        using var file = new SqliteFile("group-commit-fail");
        var store = new FaultyStore(new SqliteMemoryStore(file.Path));
        int failures = 0;
        var log = new GroupCommitLog(store, "gf/0", 0) { Failed = ex => new ShardUnavailableException($"failed {++failures}: {ex.Message}") };
        store.Stall("gf");
        store.Arm("gf", AppendFault.FailBeforeWrite);

        log.Queue(new MemoryDeleted(1));
        var failing = log.CommitAsync();
        log.Queue(new MemoryDeleted(2));
        var waiting = log.CommitAsync();
        store.Release("gf");

        var error = await Assert.ThrowsAsync<ShardUnavailableException>(() => failing);
        Assert.Same(error, await Assert.ThrowsAsync<ShardUnavailableException>(() => waiting));
        Assert.Same(error, log.Stopped);
        Assert.Same(error, await Assert.ThrowsAsync<ShardUnavailableException>(() => log.CommitAsync()));
        Assert.Equal(1, failures);
        Assert.Equal(0, log.DurableHead);
        Assert.Empty((await store.LoadShardAsync("gf/0")).Tail);
        await log.SettledAsync(); // settled, not succeeded: never throws
    }

    [Fact]
    public async Task SequenceRange_TurnsThatRunShortTogether_ShareOneReservation()
    {
        int reservations = 0;
        var gate = new TaskCompletionSource<long>();
        var range = new SequenceRange(count => { reservations++; return gate.Task; }, 4);

        var a = range.ReserveAsync();
        var b = range.ReserveAsync();
        Assert.Same(a, b);
        gate.SetResult(100);
        await Task.WhenAll(a, b);

        Assert.Equal(1, reservations);
        Assert.Equal([100L, 101, 102, 103], Enumerable.Range(0, 4).Select(_ => range.Take()));
        Assert.Equal(0, range.Remaining);
        Assert.Throws<InvalidOperationException>(() => range.Take());
    }

    [Fact]
    public async Task TurnStretch_IsBrokenOnlyForATurnThatAwaitedWhileAnotherBeganItsOwn()
    {
        var stretch = new TurnStretch();
        var gate = new TaskCompletionSource();
        var seen = new List<(string Turn, bool Current)>();

        async Task Turn(string name, Task wait)
        {
            stretch.Begin();
            seen.Add((name, stretch.IsCurrent));
            await wait;
            seen.Add((name, stretch.IsCurrent));
        }

        var a = Turn("a", gate.Task);         // begins, then awaits inside its stretch
        await Turn("b", Task.CompletedTask);  // interleaves: begins and finishes its own
        gate.SetResult();
        await a;

        Assert.Equal([("a", true), ("b", true), ("b", true), ("a", false)], seen);
        Assert.False(stretch.IsCurrent); // this test's own flow never began one
        Assert.True(TurnStretch.Enabled, "the test project sets MemRL.CheckTurnRule, so the rule is checked in Release runs too");
        Assert.Throws<InvalidOperationException>(() => stretch.AssertCurrent("a change"));
    }

    [Fact]
    public void SlotImportPlan_IsTheDifference_SoASecondImportOfTheSameKeysPlansNothing()
    {
        var source = NewState();
        AddKey(source, key: 10, slot: 3, memories: [11, 12]);
        source.Apply(new QUpdated(12, 1.0, 0.7, 1, Now.AddSeconds(1)), Payloads());
        var target = NewState();

        Apply(target, SlotImportPlan.For(target, Export(source)));
        Assert.Equal(Describe(source), Describe(target));
        Assert.Empty(SlotImportPlan.For(target, Export(source)).Changes);

        // The source moves on (a reward, a new memory, a deleted one): the next import sends only that difference, adds
        // before it deletes, and never removes the key on the way.
        source.Apply(new QUpdated(12, 0.0, 0.6, 2, Now.AddSeconds(2)), Payloads());
        source.Apply(new MemoryAdded(13, 10, true, 0.5, Now), Payloads(13));
        source.Apply(new MemoryDeleted(11), Payloads());
        var plan = SlotImportPlan.For(target, Export(source));
        Assert.Equal(["QUpdated 12", "MemoryAdded 13", "MemoryDeleted 11"], plan.Changes.Select(c => Name(c.Change)));
        Assert.Equal([11L], plan.RowDeletes);
        Apply(target, plan);
        Assert.Equal(Describe(source), Describe(target));
        Assert.Equal(1, target.Index.Count);
    }

    [Fact]
    public void SlotImportPlan_GivesACopyBehindByEdits_TheSourcesTextTagsAndRevision_Once()
    {
        var source = NewState();
        AddKey(source, key: 10, slot: 3, memories: [11, 12]);
        source.Apply(new MemoryEdited(12, 1, true, false, Now), new Dictionary<long, StoredPayload> { [12] = new(12, "intent", "first edit", null) });
        var target = NewState();
        Apply(target, SlotImportPlan.For(target, Export(source)));
        Assert.Equal(Describe(source), Describe(target));

        // The move was cut short; the source edits again (text and tags) before the next attempt.
        var tags = Core.Bank.MemoryMetadata.From(new Dictionary<string, string> { ["k"] = "v" });
        source.Apply(new MemoryTagged(12, Core.Bank.MemoryScope.None, tags), Payloads());
        source.Apply(new MemoryEdited(12, 2, true, true, Now), new Dictionary<long, StoredPayload> { [12] = new(12, "intent", "second edit", null) });
        var plan = SlotImportPlan.For(target, Export(source));
        Assert.Equal(["MemoryTagged", "MemoryEdited"], plan.Changes.Select(c => Name(c.Change)));
        Assert.Equal("second edit", plan.Changes[1].Row!.Experience);
        Apply(target, plan);
        Assert.Equal(Describe(source), Describe(target));
        Assert.True(target.Table.TryGetMemory(12, out var copy));
        Assert.Equal(("v", 2), (copy.Metadata.Entries.Single().Value, copy.Revision));
        Assert.Empty(SlotImportPlan.For(target, Export(source)).Changes);
    }

    [Fact]
    public void SlotImportPlan_RefusesAKeyThatWouldChangeSlot()
    {
        var target = NewState();
        AddKey(target, key: 10, slot: 3, memories: [11]);
        var moved = Export(target).Select(k => k with { Slot = 4 }).ToList();
        var error = Assert.Throws<InvalidDataException>(() => SlotImportPlan.For(target, moved));
        Assert.Contains("slot 4", error.Message, StringComparison.Ordinal);
    }

    private static ShardState NewState() => new(new HnswIndex(new HnswOptions { Dimension = 4, Seed = 3 }), 100);

    private static Dictionary<long, StoredPayload> Payloads(params long[] memories) =>
        memories.ToDictionary(m => m, m => new StoredPayload(m, "intent", $"experience {m}", null));

    private static void AddKey(ShardState state, long key, int slot, long[] memories)
    {
        state.Apply(new KeyCreated(key, slot), new Dictionary<long, StoredPayload> { [key] = new(key, "intent", null, [1, 2, 3, 4]) });
        foreach (long m in memories)
        {
            state.Apply(new MemoryAdded(m, key, true, 0.5, Now), Payloads(m));
        }
    }

    private static List<KeyExport> Export(ShardState state) => state.Table.Keys.Select(k =>
    {
        var vector = new float[4];
        state.Index.TryGetVector(k.Sequence, vector);
        return new KeyExport(k.Sequence, state.KeySlots[k.Sequence], k.IntentText, vector,
            k.Memories.Select(m => new MemoryInfo(new MemoryId(1, state.KeySlots[k.Sequence], m.Sequence).ToString(), m.IntentText, m.Experience, m.Success, m.Q, m.Visits, m.LastReward, m.CreatedAt, m.UpdatedAt,
                null, ScopeWire.From(m.Metadata), m.Revision)).ToArray());
    }).ToList();

    private static void Apply(ShardState state, SlotImportPlan plan)
    {
        foreach (var (change, row) in plan.Changes)
        {
            state.Apply(change, row is null ? new Dictionary<long, StoredPayload>() : new Dictionary<long, StoredPayload> { [row.Sequence] = row });
        }
    }

    private static string Name(ShardEvent change) => change switch
    {
        MemoryAdded e => $"MemoryAdded {e.Memory}",
        QUpdated e => $"QUpdated {e.Memory}",
        MemoryDeleted e => $"MemoryDeleted {e.Memory}",
        _ => change.GetType().Name,
    };

    private static string Describe(ShardState state) => string.Join("\n", state.Table.Keys.OrderBy(k => k.Sequence).Select(k =>
        $"{k.Sequence}@{state.KeySlots[k.Sequence]}: " + string.Join(", ", k.Memories.OrderBy(m => m.Sequence).Select(m =>
            $"{m.Sequence} {m.Experience} q={m.Q:R} v={m.Visits} last={m.LastReward} at={m.UpdatedAt:O} rev={m.Revision} tags={string.Join(',', m.Metadata.Entries)}"))));
}
