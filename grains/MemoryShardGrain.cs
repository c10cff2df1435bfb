using MemRL.Core;
using MemRL.Core.Bank;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using MemRL.Index;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MemRL.Grains.Storage;
using Orleans.Concurrency;

namespace MemRL.Grains;

/// <summary>
/// One memory shard: an HNSW index over its intent keys, and the keys' memories with Q (a <see cref="MemoryTable"/>),
/// made durable by a change log and snapshots in an <see cref="IMemoryStore"/> (DESIGN §3).
/// Reentrant, with one rule: every turn does all of its awaiting (bank version, sequence range, a snapshot still reading
/// the graph) first, then checks,
/// applies its change to memory and queues its log events in one synchronous stretch, and only then awaits the shared
/// group commit. Grain turns never run in parallel, so that stretch is atomic and no lock is needed; interleaving happens
/// only at the awaits, where the state is consistent. A call is acknowledged only after the commit holding its events.
/// </summary>
[Reentrant]
internal sealed partial class MemoryShardGrain(
    IOptions<MemRLClusterOptions> clusterOptions, IOptions<StorageOptions> storageOptions, IMemoryStore store, TimeProvider time,
    ILogger<MemoryShardGrain> logger) : Grain, IMemoryShardGrain
{
    private const int SequenceBlock = 256;

    private static readonly IReadOnlyDictionary<long, StoredPayload> NoPayloads = new Dictionary<long, StoredPayload>();

    private ShardState _state = null!;
    private MemoryTable _table = null!;
    private Dictionary<long, int> _keySlots = null!;
    private HnswIndex _index = null!;
    private string _key = "";
    private string _bankName = "";
    private int _shard;
    private BankInfo _bank = null!;
    private MemRLOptions _options = null!;
    private HnswSearchContext _searchContext = null!;
    private Neighbor[] _neighbors = new Neighbor[64];
    private int _unownedKeys;
    private long _nextSequence;
    private long _sequenceEnd;
    private Task? _reserving;

    // Group commit. Events applied in memory but not yet handed to the store wait in the pending lists; the batch being
    // written is "in flight". _durableHead is the log position (one record per commit) this activation last wrote or read.
    private readonly List<ShardEvent> _pendingEvents = [];
    private readonly List<StoredPayload> _pendingPuts = [];
    private readonly List<long> _pendingDeletes = [];
    private TaskCompletionSource? _pendingCommit;
    private Task? _inFlightCommit;
    private bool _flushing;
    private long _durableHead;
    private long _eventsSinceSnapshot;
    private long _snapshotPosition;
    private bool _snapshotting;
    // While a snapshot serialises the HNSW graph off the activation's thread, turns that would change the graph (new
    // keys, deletes, imports) wait for this; recalls, rewards and joining writes go on.
    private Task _indexSaving = Task.CompletedTask;
    private Task _snapshotWrite = Task.CompletedTask;
    private Exception? _broken;

    private IBankGrain BankGrain => GrainFactory.GetGrain<IBankGrain>(_bankName);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _key = this.GetPrimaryKeyString();
        (_bankName, _shard) = BankNames.ParseShardKey(_key);
        var bank = await BankGrain.GetAsync() ?? throw new BankNotFoundException(_bankName);
        Apply(bank);
        ShardImage image;
        try
        {
            image = await store.LoadShardAsync(_key, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw Unavailable("could not load from storage", ex);
        }

        await RestoreAsync(bank, image);
        Telemetry.ShardSize(_key, (_table.KeyCount, _table.MemoryCount));
        _searchContext = _index.CreateSearchContext();
        await DropGivenAwayAsync();
    }

    // A graceful stop (rolling update, scale-in) lets what is on its way to the store land: acknowledged or refused
    // by the commit itself, never cut off by the deactivation.
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        Telemetry.ShardSize(_key, null);
        await DurableAsync().ContinueWith(static _ => { }, TaskScheduler.Current).WaitAsync(cancellationToken);
        await _snapshotWrite.ContinueWith(static _ => { }, TaskScheduler.Current).WaitAsync(cancellationToken);
    }

    // Latest snapshot, then the log tail through the same Apply path live turns use.
    private async Task RestoreAsync(BankInfo bank, ShardImage image)
    {
        var payloads = image.Payloads.ToDictionary(p => p.Sequence);
        int capacity = clusterOptions.Value.OperationLogCapacity;
        long position = 0;
        _state = image.SnapshotChunks.Count > 0
            ? ShardState.Restore(image.SnapshotChunks, payloads, capacity, _key, out position)
            : new ShardState(NewIndex(bank), capacity);
        if (position != image.SnapshotPosition)
        {
            throw new InvalidDataException($"Shard '{_key}' snapshot says position {position}; its row says {image.SnapshotPosition}.");
        }

        long expected = position;
        bool torn = false;
        foreach (var record in image.Tail)
        {
            if (record.Position != expected + 1)
            {
                throw new InvalidDataException($"Shard '{_key}' log jumps from position {expected} to {record.Position}; expected {expected + 1}.");
            }

            if (!EventCodec.TryDecode(record.Record, out var changes))
            {
                if (record.Position != image.Head)
                {
                    throw new InvalidDataException($"Shard '{_key}' log record {record.Position} is corrupt and is not the last (head {image.Head}); refusing to load.");
                }

                // A torn last record was never acknowledged (its commit could not have completed): drop it, never apply it.
                LogTornTail(logger, _key, record.Position);
                await store.DiscardTailAsync(_key, image.Head, expected);
                torn = true;
                break;
            }

            foreach (var change in changes)
            {
                _state.Apply(change, payloads);
            }

            _eventsSinceSnapshot += changes.Count;
            expected = record.Position;
        }

        if (!torn && expected != image.Head)
        {
            throw new InvalidDataException($"Shard '{_key}' log ends at position {expected}; its head row says {image.Head}.");
        }

        _state.VerifyPayloads(_key);
        _table = _state.Table;
        _keySlots = _state.KeySlots;
        _index = _state.Index;
        _durableHead = expected;
        _snapshotPosition = position;
    }

    private HnswIndex NewIndex(BankInfo bank) => new(new HnswOptions
    {
        Dimension = bank.Dimension,
        M = bank.Index.M,
        EfConstruction = bank.Index.EfConstruction,
        Seed = ((ulong)bank.Incarnation << 8) ^ (ulong)_shard,
    });

    public async Task ApplyBankAsync(BankInfo bank)
    {
        if (bank.Version > _bank.Version && bank.Incarnation == _bank.Incarnation)
        {
            Apply(bank);
            ThrowIfBroken();
            await DropGivenAwayAsync();
        }
    }

    public async Task<ShardCandidates> SearchAsync(ShardSearch request, CancellationToken cancellationToken = default)
    {
        // The call may have waited in the queue past the coordinator's deadline: do no work for an answer nobody reads.
        cancellationToken.ThrowIfCancellationRequested();
        using var span = Telemetry.Source.StartActivity("memrl.shard.search");
        span?.SetTag("memrl.shard", _key);
        await EnsureVersionAsync(request.BankVersion);
        ThrowIfBroken();
        // Keys copied in for slots this shard does not own yet (a move in progress) are skipped, so search deeper by
        // their number to still return k1 owned keys.
        int found = FindKeys(request.Query, request.K1 + _unownedKeys);
        var keys = new List<ShardKeyCandidate>(Math.Min(found, request.K1));
        for (int i = 0; i < found && keys.Count < request.K1; i++)
        {
            var neighbor = _neighbors[i];
            if (neighbor.Similarity < request.Delta)
            {
                break;
            }

            int slot = _keySlots[neighbor.Id];
            if (!Owns(slot))
            {
                continue;
            }

            _table.TryGetKey(neighbor.Id, out var key);
            var candidate = MemoryTable.ToCandidate(key!, neighbor.Similarity, _options.MaxMemoriesPerKey);
            var memories = new ShardMemoryCandidate[candidate.Memories.Count];
            for (int m = 0; m < memories.Length; m++)
            {
                var c = candidate.Memories[m];
                memories[m] = new ShardMemoryCandidate(c.Sequence, c.Q, c.Success);
            }

            keys.Add(new ShardKeyCandidate(neighbor.Id, slot, neighbor.Similarity, memories));
        }

        return new ShardCandidates(_shard, [.. keys]);
    }

    public async Task<ShardKeyMatch?> NearestKeyAsync(ShardNearest request, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await EnsureVersionAsync(request.BankVersion);
        ThrowIfBroken();
        int found = FindKeys(request.Intent, 1 + _unownedKeys);
        for (int i = 0; i < found; i++)
        {
            var best = _neighbors[i];
            if (Owns(_keySlots[best.Id]))
            {
                return new ShardKeyMatch(best.Id, _keySlots[best.Id], best.Similarity);
            }
        }

        return null;
    }

    public async Task<ShardMemoryText[]> FetchAsync(long bankVersion, long[] sequences)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        var texts = new List<ShardMemoryText>(sequences.Length);
        foreach (long sequence in sequences)
        {
            if (_table.TryGetMemory(sequence, out var memory))
            {
                texts.Add(new ShardMemoryText(sequence, memory.Experience, memory.IntentText));
            }
        }

        return [.. texts];
    }

    public async Task<ShardQ[]> RewardAsync(ShardReward request)
    {
        await EnsureVersionAsync(request.BankVersion);
        ThrowIfBroken();
        // From here to the commit await: one synchronous stretch (see the class comment).
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

        return result;
    }

    public async Task<ShardWriteResult> WriteAsync(ShardWrite request)
    {
        await EnsureVersionAsync(request.BankVersion);
        await EnsureSequencesAsync(2, changesIndex: request.JoinKey is null);
        ThrowIfBroken();
        // From here to the commit await: one synchronous stretch (see the class comment).
        // The operation is what the caller sent, not where the coordinator routed it (DESIGN §7).
        byte[] payload = OperationHashes.Write(request.Intent, request.IntentText, request.Experience, request.Success);
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

        if (request.JoinKey is { } join && !_keySlots.ContainsKey(join))
        {
            throw new IntentKeyGoneException(join);
        }

        RequireNotMoving(request.JoinKey is { } joined ? _keySlots[joined] : request.Slot);
        VectorValidation.ThrowIfInvalid(request.Intent, _bank.Dimension, "intent");
        var now = time.GetUtcNow();
        long keySequence;
        int slot;
        if (request.JoinKey is { } existing)
        {
            keySequence = existing;
            slot = _keySlots[existing];
        }
        else
        {
            keySequence = _nextSequence++;
            slot = request.Slot;
            Change(new KeyCreated(keySequence, slot), new StoredPayload(keySequence, request.IntentText, null, request.Intent));
        }

        long memorySequence = _nextSequence++;
        double q = request.Success ? _options.QInitSuccess : _options.QInitFailure;
        Change(new MemoryAdded(memorySequence, keySequence, request.Success, q, now),
            new StoredPayload(memorySequence, request.IntentText, request.Experience, null));
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
        ThrowIfBroken();
        byte[] payload = OperationHashes.Delete(request.Id);
        if (_state.Operations.TryGetResult<bool>(request.OperationId, payload, out bool previous))
        {
            await DurableAsync();
            return previous;
        }

        RequireRoutedHere(request.Id);
        RequireNotMoving(request.Id.Slot);
        bool deleted = _table.TryGetMemory(request.Id.Sequence, out var memory);
        if (deleted)
        {
            long key = memory!.KeySequence;
            bool lastOfKey = _table.TryGetKey(key, out var owner) && owner.Memories.Count == 1;
            Change(new MemoryDeleted(request.Id.Sequence));
            // Deletes are physical: the payload rows go in the same commit as the event.
            _pendingDeletes.Add(request.Id.Sequence);
            if (lastOfKey)
            {
                _pendingDeletes.Add(key);
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

    public async Task<MemoryInfo?> GetAsync(long bankVersion, MemoryId id)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        RequireRoutedHere(id);
        if (!_table.TryGetMemory(id.Sequence, out var m))
        {
            return null;
        }

        return Info(id, m);
    }

    public async Task<float[][]> SampleKeysAsync(long bankVersion, int count, int seed)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        if (count < 1)
        {
            throw FieldError.OutOfRange("sample", "at least 1", FieldError.Format(count));
        }

        var owned = _table.Keys.Where(k => Owns(_keySlots[k.Sequence])).Select(k => k.Sequence).ToArray();
        // Partial Fisher-Yates: the first `take` entries become a uniform sample without replacement.
        var random = new Random(seed);
        int take = Math.Min(count, owned.Length);
        var vectors = new float[take][];
        for (int i = 0; i < take; i++)
        {
            int j = random.Next(i, owned.Length);
            (owned[i], owned[j]) = (owned[j], owned[i]);
            vectors[i] = new float[_bank.Dimension];
            _index.TryGetVector(owned[i], vectors[i]);
        }

        return vectors;
    }

    public async Task ForgetAsync(uint incarnation)
    {
        if (incarnation != _bank.Incarnation || _broken is BankNotFoundException)
        {
            return;
        }

        // Gone from this turn on: later calls answer "no such bank", the flush loop appends nothing more, no snapshot
        // starts, and writes waiting for a commit are refused ...
        var inFlight = _inFlightCommit ?? Task.CompletedTask;
        var gone = new BankNotFoundException(_bankName);
        _broken = gone;
        _pendingCommit?.TrySetException(gone);
        _pendingCommit = null;
        DeactivateOnIdle();

        // ... and a commit or snapshot already on its way to the store lands before the bank purges the shard's rows.
        await inFlight.ContinueWith(static _ => { }, TaskScheduler.Current);
        await _snapshotWrite.ContinueWith(static _ => { }, TaskScheduler.Current);
    }

    public async Task<ShardMemoryPage> ListAsync(long bankVersion, long afterSequence, int limit)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        if (limit < 1)
        {
            throw FieldError.OutOfRange("limit", "at least 1", FieldError.Format(limit));
        }

        // One pass keeping the `limit` lowest sequences above the cursor: no index by sequence to maintain for a rare call.
        var page = new PriorityQueue<MemoryRecord, long>(limit + 1, Comparer<long>.Create(static (a, b) => b.CompareTo(a)));
        int above = 0;
        foreach (var memory in _table.Memories)
        {
            if (memory.Sequence <= afterSequence || !Owns(_keySlots[memory.KeySequence]))
            {
                continue;
            }

            above++;
            page.Enqueue(memory, memory.Sequence);
            if (page.Count > limit)
            {
                page.Dequeue();
            }
        }

        var memories = new MemoryInfo[page.Count];
        for (int i = memories.Length - 1; i >= 0; i--)
        {
            var m = page.Dequeue();
            memories[i] = Info(new MemoryId(_bank.Incarnation, _keySlots[m.KeySequence], m.Sequence), m);
        }

        return new ShardMemoryPage(memories, above > limit);
    }

    private static MemoryInfo Info(MemoryId id, MemoryRecord m) =>
        new(id.ToString(), m.IntentText, m.Experience, m.Success, m.Q, m.Visits, m.LastReward, m.CreatedAt, m.UpdatedAt);

    public async Task<ShardStats> GetStatsAsync(long bankVersion)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        // Summarised here, so the answer is the same size whatever the shard holds (ShardStatistics).
        var owned = _table.Keys.Where(key => Owns(_keySlots[key.Sequence])).ToList();
        return ShardStatistics.Of(_shard, owned, time.GetUtcNow());
    }

    public async Task<IReadOnlyList<KeyExport>> ExportSlotsAsync(long bankVersion, int[] slots)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        var wanted = slots.ToHashSet();
        var export = new List<KeyExport>();
        foreach (var key in _table.Keys)
        {
            int slot = _keySlots[key.Sequence];
            if (!wanted.Contains(slot))
            {
                continue;
            }

            var vector = new float[_bank.Dimension];
            _index.TryGetVector(key.Sequence, vector);
            var memories = key.Memories.Select(m => new MemoryExport(
                m.Sequence, m.IntentText, m.Experience, m.Success, m.Q, m.Visits, m.LastReward, m.CreatedAt, m.UpdatedAt)).ToArray();
            export.Add(new KeyExport(key.Sequence, slot, key.IntentText, vector, memories));
        }

        return export;
    }

    public async Task ImportAsync(long bankVersion, IReadOnlyList<KeyExport> keys)
    {
        await EnsureVersionAsync(bankVersion);
        await IndexWritableAsync();
        ThrowIfBroken();
        // From here to the commit await: one synchronous stretch. A key already here is a copy from an earlier, cut-short
        // move: replace it, so the copy is the source's current state.
        foreach (var key in keys)
        {
            if (_table.TryGetKey(key.KeySequence, out var stale))
            {
                // Rows are written before deletes are applied in one commit, so a row this import writes again must not
                // be queued for deletion: only memories the source no longer has lose their rows (the key's own row is
                // always written again). That is what makes a repeated import harmless.
                var kept = key.Memories.Select(m => m.Sequence).ToHashSet();
                foreach (long memory in stale.Memories.Select(m => m.Sequence).ToList())
                {
                    Change(new MemoryDeleted(memory));
                    if (!kept.Contains(memory))
                    {
                        _pendingDeletes.Add(memory);
                    }
                }
            }

            // The exported vector is the stored unit vector; the key's payload row keeps it for replay.
            Change(new KeyImported(key.KeySequence, key.Slot), new StoredPayload(key.KeySequence, key.IntentText, null, key.Vector));
            foreach (var m in key.Memories)
            {
                Change(new MemoryAdded(m.Sequence, key.KeySequence, m.Success, m.Q, m.CreatedAt), new StoredPayload(m.Sequence, m.IntentText, m.Experience, null));
                if (m.LastReward is { } reward)
                {
                    Change(new QUpdated(m.Sequence, reward, m.Q, m.Visits, m.UpdatedAt));
                }
            }
        }

        CountUnowned();
        await CommitAsync();
    }

    // After a move takes effect the old owner logs the deletion of the keys it gave away (their rows go physically).
    private async Task DropGivenAwayAsync()
    {
        await IndexWritableAsync();
        if (_bank.MovingSlots is { Count: > 0 } || _keySlots.All(k => Owns(k.Value)))
        {
            CountUnowned();
            return;
        }

        foreach (long key in _keySlots.Where(k => !Owns(k.Value)).Select(k => k.Key).ToList())
        {
            _table.TryGetKey(key, out var given);
            foreach (long memory in given!.Memories.Select(m => m.Sequence).ToList())
            {
                Change(new MemoryDeleted(memory));
                _pendingDeletes.Add(memory);
            }

            _pendingDeletes.Add(key);
        }

        CountUnowned();
        await CommitAsync();
    }

    private bool Owns(int slot) => _bank.ShardOf(slot) == _shard;

    private void CountUnowned() => _unownedKeys = _keySlots.Count(k => !Owns(k.Value));

    private void RequireNotMoving(int slot)
    {
        if (_bank.IsMoving(slot))
        {
            throw new ShardUnavailableException(
                $"Slot {slot} of bank '{_bankName}' is moving to another shard; its memories are read-only for a moment. Retry shortly.");
        }
    }

    private void Apply(BankInfo bank)
    {
        _bank = bank;
        _options = bank.Options.ToCore();
    }

    private int FindKeys(float[] query, int k)
    {
        if (_index.Count == 0)
        {
            return 0;
        }

        if (_neighbors.Length < k)
        {
            _neighbors = new Neighbor[k];
        }

        var mode = _bank.Index.Exact ? SearchMode.Exact : SearchMode.Auto;
        return _index.Search(query, k, Math.Max(_bank.Index.EfSearch, k), _searchContext, _neighbors.AsSpan(0, k), mode);
    }

    private async Task EnsureVersionAsync(long callerVersion)
    {
        if (callerVersion < _bank.Version)
        {
            throw new StaleBankVersionException(callerVersion, _bank.Version);
        }

        if (callerVersion > _bank.Version)
        {
            var bank = await BankGrain.GetAsync() ?? throw new BankNotFoundException(_bankName);
            if (bank.Incarnation != _bank.Incarnation)
            {
                // The bank was deleted and created again under the same name: this activation's memories are not its.
                DeactivateOnIdle();
                throw new BankNotFoundException(_bankName);
            }

            Apply(bank);
            ThrowIfBroken();
            await DropGivenAwayAsync();
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
        if (!_table.TryGetMemory(id.Sequence, out var memory) || _keySlots[memory.KeySequence] != id.Slot)
        {
            throw new MemoryNotFoundException($"Memory '{id}' does not exist in bank '{_bankName}'.");
        }
    }

    // Applies one change to memory and queues it (and its payload row) for the next group commit.
    private void Change(ShardEvent change, StoredPayload? payload = null)
    {
        if (payload is not null)
        {
            _pendingPuts.Add(payload);
            _state.Apply(change, new Dictionary<long, StoredPayload> { [payload.Sequence] = payload });
        }
        else
        {
            _state.Apply(change, NoPayloads);
        }

        _pendingEvents.Add(change);
        _eventsSinceSnapshot++;
    }

    // Completes when everything applied so far is durable.
    private Task DurableAsync() => _pendingCommit?.Task ?? _inFlightCommit ?? Task.CompletedTask;

    // Joins the next group commit, starting the flush loop if none runs. Interleaving is allowed at the caller's await.
    private Task CommitAsync()
    {
        _pendingCommit ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var commit = _pendingCommit.Task;
        if (!_flushing)
        {
            _flushing = true;
            _ = FlushAsync();
        }

        return commit;
    }

    // Writes batches until nothing is pending: everything queued while one batch is being written goes in the next.
    // Runs on the activation's scheduler (started from a turn), so its synchronous parts never race a turn.
    private async Task FlushAsync()
    {
        try
        {
            while (_pendingCommit is { } commit && _broken is null)
            {
                int events = _pendingEvents.Count;
                var batch = new ShardBatch(_durableHead, EventCodec.Encode(_pendingEvents), [.. _pendingPuts], [.. _pendingDeletes]);
                _pendingEvents.Clear();
                _pendingPuts.Clear();
                _pendingDeletes.Clear();
                _pendingCommit = null;
                _inFlightCommit = commit.Task;
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                try
                {
                    await store.AppendAsync(_key, batch);
                    Telemetry.CommitDuration.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    Telemetry.CommitEvents.Record(events);
                }
                catch (Exception ex)
                {
                    // The memory now holds changes that may never be durable: stop serving them and reload from storage.
                    var error = ex is StoreFencedException
                        ? Unavailable("was fenced off by a newer activation; the change is not acknowledged", ex)
                        : Unavailable("could not commit to storage; the change is not acknowledged and the shard reloads", ex);
                    Break(error);
                    commit.TrySetException(error);
                    return;
                }

                _durableHead = batch.ExpectedHead + 1;
                _inFlightCommit = null;
                commit.TrySetResult();
            }

            Telemetry.ShardSize(_key, (_table.KeyCount, _table.MemoryCount));

            MaybeSnapshot();
        }
        finally
        {
            _flushing = false;
        }
    }

    private void Break(Exception error)
    {
        if (_broken is not null)
        {
            return;
        }

        _broken = error;
        LogBroken(logger, error.InnerException ?? error, _key);
        _pendingCommit?.TrySetException(error);
        _pendingCommit = null;
        DeactivateOnIdle();
    }

    private void ThrowIfBroken()
    {
        if (_broken is BankNotFoundException)
        {
            throw new BankNotFoundException(_bankName);
        }

        if (_broken is not null)
        {
            throw new ShardUnavailableException(_broken.Message);
        }
    }

    private ShardUnavailableException Unavailable(string what, Exception inner) =>
        new($"Shard '{_key}' {what}: {inner.GetType().Name}: {inner.Message}");

    // A consistent cut: called only when nothing is pending or in flight, so memory equals the log up to _durableHead.
    // The records are serialised in this turn (the cut); the graph is serialised on a thread of its own while the shard
    // keeps serving (turns that would change the graph wait for it, see _indexSaving), and the write to storage follows.
    private void MaybeSnapshot()
    {
        var options = storageOptions.Value;
        if (_snapshotting || _broken is not null || _pendingCommit is not null || _eventsSinceSnapshot < options.SnapshotEveryEvents)
        {
            return;
        }

        long position = _durableHead;
        var records = _state.SnapshotRecords(position, options.SnapshotChunkBytes);
        var state = _state;
        // A dedicated thread, not a pool thread: serialising a large graph takes about a second, and on a small machine
        // a pool thread held that long is a large share of the pool every grain runs on.
        var chunks = Task.Factory.StartNew(() => state.AppendIndex(records), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _indexSaving = chunks;
        _snapshotting = true;
        _eventsSinceSnapshot = 0;
        _snapshotWrite = WriteSnapshotAsync(position, chunks);
    }

    private async Task WriteSnapshotAsync(long position, Task<List<ReadOnlyMemory<byte>>> serialising)
    {
        try
        {
            var chunks = await serialising;
            if (await store.WriteSnapshotAsync(_key, position, chunks))
            {
                _snapshotPosition = position;
            }
        }
        catch (Exception ex)
        {
            // Not fatal: the log still holds everything; the next flush tries again.
            LogSnapshotFailed(logger, ex, _key, position);
        }
        finally
        {
            _snapshotting = false;
        }
    }

    // Completes when no snapshot is reading the graph. The caller must not await anything else between this and the
    // change it makes to the index, or a snapshot could start in between.
    private async Task IndexWritableAsync()
    {
        while (!_indexSaving.IsCompleted)
        {
            // A failed serialisation is reported by WriteSnapshotAsync; here it only means the graph is free again.
            await _indexSaving.ContinueWith(static _ => { }, TaskScheduler.Current);
        }
    }

    // Reserves a new range when fewer than <paramref name="count"/> sequences remain (and, for a turn that changes the
    // index, waits until no snapshot is reading it). Concurrent turns share one reservation; the loop re-checks both
    // conditions because other turns may use the new range, or a snapshot may start, while this one waits.
    private async Task EnsureSequencesAsync(int count, bool changesIndex = false)
    {
        while (true)
        {
            if (changesIndex && !_indexSaving.IsCompleted)
            {
                await IndexWritableAsync();
            }
            else if (_sequenceEnd - _nextSequence < count)
            {
                if (_reserving is null || _reserving.IsCompleted)
                {
                    _reserving = ReserveAsync();
                }

                await _reserving;
            }
            else
            {
                return;
            }
        }
    }

    private async Task ReserveAsync()
    {
        long start = await BankGrain.ReserveSequencesAsync(_shard, SequenceBlock);
        _nextSequence = start;
        _sequenceEnd = start + SequenceBlock;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard}: log record {Position} is torn (length/CRC mismatch); it was never acknowledged and is discarded.")]
    private static partial void LogTornTail(ILogger logger, string shard, long position);

    [LoggerMessage(Level = LogLevel.Error, Message = "Shard {Shard} stopped serving after a failed commit; it deactivates and reloads from storage.")]
    private static partial void LogBroken(ILogger logger, Exception error, string shard);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard}: snapshot at position {Position} failed; the log is kept.")]
    private static partial void LogSnapshotFailed(ILogger logger, Exception error, string shard, long position);
}
