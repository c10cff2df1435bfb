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
        byte[] payload = OperationHashes.Write(request.Intent, request.IntentText, request.Experience, request.Success, scope, metadata);
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

        if (request.JoinKey is { } join && !KeySlots.ContainsKey(join))
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
        bool deleted = Table.TryGetMemory(request.Id.Sequence, out var memory);
        if (deleted)
        {
            long key = memory!.KeySequence;
            bool lastOfKey = Table.TryGetKey(key, out var owner) && owner.Memories.Count == 1;
            Change(new MemoryDeleted(request.Id.Sequence));
            // Deletes are physical: the payload rows go in the same commit as the event.
            DeleteRow(request.Id.Sequence);
            if (lastOfKey)
            {
                DeleteRow(key);
            }
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

        foreach (int slot in doomed.Select(m => KeySlots[m.KeySequence]).Distinct())
        {
            RequireNotMoving(slot);
        }

        foreach (var memory in doomed)
        {
            long key = memory.KeySequence;
            bool lastOfKey = Table.TryGetKey(key, out var owner) && owner.Memories.Count == 1;
            Change(new MemoryDeleted(memory.Sequence));
            DeleteRow(memory.Sequence);
            if (lastOfKey)
            {
                DeleteRow(key);
            }
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

    private void RequireOwnedMemory(MemoryId id)
    {
        RequireRoutedHere(id);
        if (!Table.TryGetMemory(id.Sequence, out var memory) || KeySlots[memory.KeySequence] != id.Slot)
        {
            throw new MemoryNotFoundException($"Memory '{id}' does not exist in bank '{_bankName}'.");
        }
    }
}
