using MemRL.Core;
using MemRL.Core.Bank;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;

namespace MemRL.Grains.Shard;

// Retention runs (docs/retention.md): the coordinator asks every shard what its part would be at one time, merges the
// answers into the bank-wide run (the reference bank's RunRetention, exactly), then sends each shard the memories to
// purge and archive; each shard applies its part in one commit, once per operation id.
internal sealed partial class MemoryShardGrain
{
    public async Task<ShardRetentionPlan> PlanRetentionAsync(long bankVersion, DateTimeOffset now)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        var policy = _retention;
        int bound = policy.MaxPerRun;
        // One past the bound, so the merge can tell a list cut at the bound from one that ended there (the run's "more").
        int sent = bound + 1;
        // Only what this shard owns: copies of slots it gave away (or is receiving) are another shard's to decide.
        var purge = Table.ArchivedMemories.Where(m => Owns(KeySlots[m.KeySequence]) && now >= m.ArchivedAt!.Value + policy.RetentionPeriod)
            .OrderBy(m => m.Sequence).Take(sent).Select(IdOf).ToArray();
        var active = Table.Memories.Where(m => Owns(KeySlots[m.KeySequence])).ToList();
        var byRule = active.Where(m => policy.ArchivesByRule(m, now)).OrderBy(m => m.Sequence).Take(sent).ToList();
        RetentionCandidate[] lowest = [];
        if (policy.MaxActive is not null)
        {
            // The cap runs only when every rule archive fits the bound (else the bound is spent first), so leaving out
            // the rule archives sent leaves out all of them whenever the cap's candidates matter.
            var ruled = byRule.Select(m => m.Sequence).ToHashSet();
            var rest = active.Where(m => !ruled.Contains(m.Sequence));
            lowest = [.. RetentionPolicy.LowestByUtility(rest, bound).Select(m => new RetentionCandidate(IdOf(m), m.Q, m.LastActiveAt.UtcTicks))];
        }

        return new ShardRetentionPlan(active.Count, purge, [.. byRule.Select(IdOf)], lowest);
    }

    public async Task<ShardRetentionApplied> ApplyRetentionAsync(ShardRetentionApply request)
    {
        await EnsureVersionAsync(request.BankVersion);
        // Keys may leave the graph: no snapshot may be reading the index.
        await IndexWritableAsync();
        BeginStretch();
        byte[] payload = OperationHashes.RetentionRun();
        if (_state.Operations.TryGetResult<ShardRetentionApplied>(request.OperationId, payload, out var previous))
        {
            await DurableAsync();
            return previous;
        }

        if (request.Purge.Length + request.Archive.Length > _retention.MaxPerRun)
        {
            throw MemRL.Errors.FieldError.OutOfRange("memories", $"at most maxPerRun ({_retention.MaxPerRun}) changes in one run",
                MemRL.Errors.FieldError.Format(request.Purge.Length + request.Archive.Length));
        }

        // What changed since the plan (a delete, a restore, a moving slot) is skipped: the next run decides it again.
        int purged = 0, archived = 0;
        foreach (var id in request.Purge)
        {
            if (Table.TryGetArchived(id.Sequence, out var memory) && Decidable(id, memory))
            {
                DeleteMemory(memory);
                purged++;
            }
        }

        foreach (var id in request.Archive)
        {
            if (Table.TryGetMemory(id.Sequence, out var memory) && Decidable(id, memory))
            {
                Change(new MemoryArchived(id.Sequence, request.Now));
                RecordLifecycle(memory, archived: true, request.Now);
                archived++;
            }
        }

        var result = new ShardRetentionApplied(purged, archived, request.Now, request.More);
        Change(new OperationApplied(request.OperationId, payload, result));
        await CommitAsync();
        Telemetry.Deletes.Add(purged);
        return result;
    }

    private bool Decidable(MemoryId id, MemoryRecord memory) =>
        id.Incarnation == _bank.Incarnation && KeySlots[memory.KeySequence] == id.Slot && Owns(id.Slot) && !_bank.IsMoving(id.Slot);

    private MemoryId IdOf(MemoryRecord m) => new(_bank.Incarnation, KeySlots[m.KeySequence], m.Sequence);
}
