using MemRL.Index;
using MemRL.Core.Bank;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;

namespace MemRL.Grains.Shard;

// Mutations: rewards, writes, deletes, and forgetting the whole shard when its bank is deleted. Each awaits first, then
// opens its synchronous stretch, checks, changes and queues, and awaits only its commit (see the class remarks).
internal sealed partial class MemoryShardGrain
{
    public async Task<ShardQ[]> RewardAsync(ShardReward request)
    {
        await EnsureVersionAsync(request.BankVersion);
        BeginStretch();
        if (_state.Operations.TryGetResult<ShardQ[]>(request.OperationId, request.PayloadHash, out var previous))
        {
            // The original may still be waiting for its commit: a retry is acknowledged no earlier than it.
            await DurableAsync();
            return previous;
        }

        // Every memory is checked before any Q changes: nothing is half-applied.
        var plan = PlanReward(request);
        var now = time.GetUtcNow();
        var result = new ShardQ[plan.Length];
        int applied = 0;
        for (int i = 0; i < result.Length; i++)
        {
            var (id, memory, earlier, q) = plan[i];
            if (earlier is { } first)
            {
                // This recall rewarded this memory already with the same value: its result, not a second update.
                result[i] = new ShardQ(id, first.Q, first.Visits);
                continue;
            }

            Change(new QUpdated(id.Sequence, request.Reward, q, memory.Visits + 1, now));
            // Ordinal = visits + revision after the reward: one more per entry, recomputed from state after a restart
            // and carried by slot moves with the memory's visits and revision. `memory` is live: Change has already
            // raised its visits.
            _log.QueueHistory(new StoredHistory(id.Sequence, memory.HistoryOrdinal,
                HistoryCodec.EncodeReward(request.Reward, now, request.RecallId, q, memory.Visits)));
            Change(new RecallRewarded(request.RecallId, id.Sequence, request.Reward, q, memory.Visits, request.RecallExpiresAt.UtcTicks));
            _rewardLeases.Remove((request.RecallId, id.Sequence));
            result[i] = new ShardQ(id, q, memory.Visits);
            applied++;
        }

        Change(new OperationApplied(request.OperationId, request.PayloadHash, result));
        await CommitAsync();
        // Counted once acknowledged, and only for callers' operations (a slot move's copies are not rewards or writes).
        Telemetry.Rewards.Add(applied);
        foreach (var updated in result)
        {
            Telemetry.QValues.Record(updated.Q);
        }

        // One entry per memory this call changed (a repeat of an earlier reward changed nothing).
        for (int i = 0; i < applied; i++)
        {
            _activity.Rewarded(now, request.Reward);
        }

        return result;
    }

    public async Task<ShardWriteResult> WriteAsync(ShardWrite request)
    {
        await EnsureVersionAsync(request.BankVersion);
        await EnsureSequencesAsync(2, changesIndex: request.JoinKey is null);
        BeginStretch();
        var scope = request.Scope?.ToScope() ?? MemoryScope.None;
        var metadata = ScopeWire.ToMetadata(request.Metadata);
        // The operation is what the caller sent, not where the coordinator routed it (DESIGN §7).
        var timeToLive = WireValidation.TimeToLive(request.TtlSeconds);
        byte[] payload = OperationHashes.Write(request.Intent, request.IntentText, request.Experience, request.Success, scope, metadata, request.TtlSeconds);
        if (_state.Operations.TryGet(request.OperationId, payload, out var prior))
        {
            if (prior is ShardWriteResult previous)
            {
                await DurableAsync();
                return previous;
            }

            // This shard is the id's home and holds its claim: the write applies here only on the route claimed, so an
            // attempt that decided differently (the bank changed in between) cannot apply it a second time elsewhere.
            if (prior is OperationClaim { Route: { } claimed } && claimed != new WriteRoute(request.Slot, request.JoinKey))
            {
                throw new WriteRoutedElsewhereException(claimed);
            }
        }

        if (_bank.ShardOf(request.Slot) != _shard)
        {
            throw FieldError.Invalid("slot", $"a slot of shard {_shard}", $"{request.Slot} (a slot of shard {_bank.ShardOf(request.Slot)})");
        }

        // A key out of the graph (all its memories archived) cannot be joined: the coordinator decides again without it.
        if (request.JoinKey is { } join && !Table.TryGetKey(join, out _))
        {
            throw new IntentKeyGoneException(join);
        }

        // A recall token's key may hold another scope's memories: never joined (the coordinator decides again without it).
        if (request.JoinKey is { } other && Table.TryGetKey(other, out var joined) && !MemoryTable.CanJoin(joined, scope, _options.MergeAcrossScopes))
        {
            throw new IntentKeyOtherScopeException(other);
        }

        RequireNotMoving(request.JoinKey is { } joining ? KeySlots[joining] : request.Slot);
        VectorValidation.ThrowIfInvalid(request.Intent, _bank.Dimension, "intent");
        var now = time.GetUtcNow();
        long keySequence;
        int slot;
        if (request.JoinKey is { } existing)
        {
            keySequence = existing;
            slot = KeySlots[existing];
        }
        else
        {
            keySequence = _sequences.Take();
            slot = request.Slot;
            Change(new KeyCreated(keySequence, slot), new StoredPayload(keySequence, request.IntentText, null, request.Intent));
        }

        long memorySequence = _sequences.Take();
        double q = request.Success ? _options.QInitSuccess : _options.QInitFailure;
        Change(new MemoryAdded(memorySequence, keySequence, request.Success, q, now),
            new StoredPayload(memorySequence, request.IntentText, request.Experience, null));
        if (!scope.IsEmpty || metadata.Count > 0)
        {
            Change(new MemoryTagged(memorySequence, scope, metadata));
        }

        if (timeToLive is { } lives)
        {
            // From the shard's clock at the write, as the reference bank's: a retry answers the first write's memory.
            Change(new MemoryExpires(memorySequence, now + lives));
        }

        var result = new ShardWriteResult(new MemoryId(_bank.Incarnation, slot, memorySequence), request.JoinKey is null, q);
        Change(new OperationApplied(request.OperationId, payload, result));
        await CommitAsync();
        Telemetry.Writes.Add(1, new KeyValuePair<string, object?>("created_key", result.CreatedKey));
        return result;
    }

    public async Task<bool> DeleteAsync(ShardDelete request)
    {
        await EnsureVersionAsync(request.BankVersion);
        await IndexWritableAsync();
        BeginStretch();
        byte[] payload = OperationHashes.Delete(request.Id);
        if (_state.Operations.TryGetResult<bool>(request.OperationId, payload, out bool previous))
        {
            await DurableAsync();
            return previous;
        }

        RequireRoutedHere(request.Id);
        RequireNotMoving(request.Id.Slot);
        // An archived memory is deleted too (purged early): a delete leaves nothing restorable.
        bool deleted = Table.TryGetAnyMemory(request.Id.Sequence, out var memory);
        if (deleted)
        {
            DeleteMemory(memory!);
        }

        Change(new OperationApplied(request.OperationId, payload, deleted));
        await CommitAsync();
        if (deleted)
        {
            Telemetry.Deletes.Add(1);
        }

        return deleted;
    }

    public async Task EditAsync(ShardEdit request)
    {
        await EnsureVersionAsync(request.BankVersion);
        BeginStretch();
        var metadata = request.Metadata is null ? null : ScopeWire.ToMetadata(request.Metadata);
        if (request.Experience is not null)
        {
            WireValidation.TextLength(request.Experience, "experience", BankLimits.MaxExperienceLength);
        }

        byte[] payload = OperationHashes.Edit(request.Id, request.Experience, metadata);
        if (_state.Operations.TryGetResult<EditApplied>(request.OperationId, payload, out _))
        {
            await DurableAsync();
            return;
        }

        RequireOwnedMemory(request.Id);
        RequireNotMoving(request.Id.Slot);
        Table.TryGetMemory(request.Id.Sequence, out var memory);
        var now = time.GetUtcNow();
        if (metadata is not null)
        {
            Change(new MemoryTagged(request.Id.Sequence, memory!.Scope, metadata));
        }

        bool experience = request.Experience is not null;
        int revision = memory!.Revision + 1;
        // The payload row carries the new text: rewritten in the same commit as the event, it is what replay reads.
        Change(new MemoryEdited(request.Id.Sequence, revision, experience, metadata is not null, now),
            experience ? new StoredPayload(request.Id.Sequence, memory.IntentText, request.Experience, null) : null);
        // Ordinal = visits + revision, which this edit has just raised by one (as a reward raises visits).
        _log.QueueHistory(new StoredHistory(request.Id.Sequence, memory.HistoryOrdinal,
            HistoryCodec.EncodeEdit(now, revision, experience, metadata is not null, memory.Q, memory.Visits)));
        Change(new OperationApplied(request.OperationId, payload, EditApplied.Instance));
        await CommitAsync();
        Telemetry.Edits.Add(1);
    }

    public async Task<bool> ArchiveAsync(ShardArchive request)
    {
        await EnsureVersionAsync(request.BankVersion);
        // A key may leave or return to the graph: no snapshot may be reading the index.
        await IndexWritableAsync();
        BeginStretch();
        byte[] payload = OperationHashes.Archive(request.Id, request.Archive);
        if (_state.Operations.TryGetResult<ArchiveApplied>(request.OperationId, payload, out var previous))
        {
            await DurableAsync();
            return previous.Changed;
        }

        RequireRoutedHere(request.Id);
        if (!Table.TryGetAnyMemory(request.Id.Sequence, out var memory) || KeySlots[memory.KeySequence] != request.Id.Slot)
        {
            throw new MemoryNotFoundException(request.Archive
                ? $"Memory '{request.Id}' does not exist in bank '{_bankName}'."
                : $"Memory '{request.Id}' is not in bank '{_bankName}' or its archive: purged after its retention period, deleted, or never written.");
        }

        RequireNotMoving(request.Id.Slot);
        var now = time.GetUtcNow();
        bool changed = request.Archive ? memory.ArchivedAt is null : memory.ArchivedAt is not null;
        if (changed && request.Archive)
        {
            Change(new MemoryArchived(request.Id.Sequence, now));
            RecordLifecycle(memory, archived: true, now);
        }
        else if (changed)
        {
            _retention.RequireRestorable(request.Id.ToString(), memory.ArchivedAt!.Value, now);
            Change(new MemoryRestored(request.Id.Sequence, now));
            RecordLifecycle(memory, archived: false, now);
        }

        Change(new OperationApplied(request.OperationId, payload, new ArchiveApplied(changed)));
        await CommitAsync();
        return changed;
    }

    // An archive or restore is a change of the memory like an edit: its revision rises (an explicit event, so replay and a
    // slot move's copy take the recorded number) and its history gets a kind 3 or 4 entry in the same commit.
    private void RecordLifecycle(MemoryRecord memory, bool archived, DateTimeOffset now)
    {
        int revision = memory.Revision + 1;
        Change(new MemoryEdited(memory.Sequence, revision, false, false, now));
        _log.QueueHistory(new StoredHistory(memory.Sequence, memory.HistoryOrdinal,
            HistoryCodec.EncodeLifecycle(archived, now, revision, memory.Q, memory.Visits)));
    }

    public async Task<int> DeleteMatchingAsync(ShardDeleteMatching request)
    {
        await EnsureVersionAsync(request.BankVersion);
        await IndexWritableAsync();
        BeginStretch();
        var filter = ScopeWire.ToFilter(request.Filter);
        ReferenceBank.RequireScopeField(filter);
        byte[] payload = OperationHashes.DeleteMatching(filter!);
        if (_state.Operations.TryGetResult<int>(request.OperationId, payload, out int previous))
        {
            await DurableAsync();
            return previous;
        }

        // The memories of one scope are few keys' worth (the postings), not the whole shard.
        var doomed = new List<MemoryRecord>();
        foreach (long key in _state.Postings.CandidateKeys(filter!).ToList())
        {
            if (Table.TryGetKey(key, out var owner) && Owns(KeySlots[key]))
            {
                doomed.AddRange(owner.Memories.Where(filter!.Matches));
            }
        }

        // Archived memories are out of the postings; deleting a user's memories must leave no restorable copy either.
        doomed.AddRange(Table.ArchivedMemories.Where(m => Owns(KeySlots[m.KeySequence]) && filter!.Matches(m)));
        foreach (int slot in doomed.Select(m => KeySlots[m.KeySequence]).Distinct())
        {
            RequireNotMoving(slot);
        }

        foreach (var memory in doomed)
        {
            DeleteMemory(memory);
        }

        Change(new OperationApplied(request.OperationId, payload, doomed.Count));
        await CommitAsync();
        Telemetry.Deletes.Add(doomed.Count);
        return doomed.Count;
    }

    public async Task ForgetAsync(uint incarnation)
    {
        if (incarnation != _bank.Incarnation || _log.Stopped is BankNotFoundException)
        {
            return;
        }

        // Gone from this turn on: later calls answer "no such bank", the log appends nothing more (so no snapshot
        // starts), and writes waiting for a commit are refused ...
        _log.Stop(new BankNotFoundException(_bankName));
        DeactivateOnIdle();

        // ... and a commit or snapshot already on its way to the store lands before the bank purges the shard's rows.
        await _log.InFlightSettledAsync();
        await _snapshots.Writing;
    }

    // Logs the deletion of a memory, active or archived. Deletes are physical: its payload row goes in the same commit as
    // the event, and its key's row too when the key went with it (a key kept for its archived memories keeps its row).
    private void DeleteMemory(MemoryRecord memory)
    {
        long key = memory.KeySequence;
        Change(new MemoryDeleted(memory.Sequence));
        DeleteRow(memory.Sequence);
        if (!KeySlots.ContainsKey(key))
        {
            DeleteRow(key);
        }
    }

    private void RequireNotMoving(int slot)
    {
        if (_bank.IsMoving(slot))
        {
            throw new ShardUnavailableException(
                $"Slot {slot} of bank '{_bankName}' is moving to another shard; its memories are read-only for a moment. Retry shortly.");
        }
    }

    private void RequireRoutedHere(MemoryId id)
    {
        if (id.Incarnation != _bank.Incarnation || _bank.ShardOf(id.Slot) != _shard)
        {
            throw new MemoryNotFoundException($"Memory '{id}' does not exist in bank '{_bankName}'.");
        }
    }

    // A memory of this shard. Edits refuse archived ones (restore first); a reward reaches them (docs/retention.md): it
    // comes from a recall made while the memory was active, and refusing it would fail the whole reward whenever a
    // retention run archived one of the memories in between.
    private void RequireOwnedMemory(MemoryId id, bool archivedToo = false)
    {
        RequireRoutedHere(id);
        if (!archivedToo && Table.TryGetArchived(id.Sequence, out var archived) && KeySlots[archived.KeySequence] == id.Slot)
        {
            throw new MemoryNotFoundException(
                $"Memory '{id}' of bank '{_bankName}' is archived (since {archived.ArchivedAt:O}), out of recall and edits; restore it first.");
        }

        bool found = archivedToo ? Table.TryGetAnyMemory(id.Sequence, out var memory) : Table.TryGetMemory(id.Sequence, out memory);
        if (!found || KeySlots[memory!.KeySequence] != id.Slot)
        {
            throw new MemoryNotFoundException($"Memory '{id}' does not exist in bank '{_bankName}'.");
        }
    }
}
