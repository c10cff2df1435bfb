using MemRL.Core;
using MemRL.Core.Bank;
using MemRL.GrainInterfaces;
using MemRL.Index;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace MemRL.Grains;

/// <summary>
/// One memory shard: an HNSW index over its intent keys, and the keys' memories with Q (a <see cref="MemoryTable"/>).
/// Not reentrant: each call is one turn, so writes, deletes and Q updates never race and need no locks.
/// Held in memory and kept resident until durable storage lands (issue 5); an activation that finds the bank has issued
/// it sequences before knows it lost its memories and refuses to serve rather than answer from an empty shard.
/// </summary>
[KeepAlive]
internal sealed partial class MemoryShardGrain(
    IOptions<MemRLClusterOptions> clusterOptions, TimeProvider time, ILogger<MemoryShardGrain> logger) : Grain, IMemoryShardGrain
{
    private const int SequenceBlock = 256;

    private readonly MemoryTable _table = new();
    private readonly Dictionary<long, int> _keySlots = [];
    private readonly OperationLog _operations = new(clusterOptions.Value.OperationLogCapacity);
    private string _bankName = "";
    private int _shard;
    private BankInfo _bank = null!;
    private MemRLOptions _options = null!;
    private HnswIndex _index = null!;
    private HnswSearchContext _searchContext = null!;
    private Neighbor[] _neighbors = new Neighbor[64];
    private int _unownedKeys;
    private long _nextSequence;
    private long _sequenceEnd;

    private IBankGrain BankGrain => GrainFactory.GetGrain<IBankGrain>(_bankName);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_bankName, _shard) = BankNames.ParseShardKey(this.GetPrimaryKeyString());
        var bank = await BankGrain.GetAsync() ?? throw new BankNotFoundException(_bankName);
        if (await BankGrain.HasIssuedSequencesAsync(_shard))
        {
            LogStateLost(logger, this.GetPrimaryKeyString());
            throw new ShardUnavailableException(
                $"Shard '{this.GetPrimaryKeyString()}' was activated again after losing its memories: the bank has issued it "
                + "sequences, and memories live only in memory until durable storage is configured.");
        }

        _index = new HnswIndex(new HnswOptions
        {
            Dimension = bank.Dimension,
            M = bank.Index.M,
            EfConstruction = bank.Index.EfConstruction,
            Seed = ((ulong)bank.Incarnation << 8) ^ (ulong)_shard,
        });
        _searchContext = _index.CreateSearchContext();
        Apply(bank);
    }

    public Task ApplyBankAsync(BankInfo bank)
    {
        if (bank.Version > _bank.Version && bank.Incarnation == _bank.Incarnation)
        {
            Apply(bank);
        }

        return Task.CompletedTask;
    }

    public async Task<ShardCandidates> SearchAsync(ShardSearch request, CancellationToken cancellationToken = default)
    {
        // The call may have waited in the queue past the coordinator's deadline: do no work for an answer nobody reads.
        cancellationToken.ThrowIfCancellationRequested();
        await EnsureVersionAsync(request.BankVersion);
        int found = FindKeys(request.Query, request.K1 + _unownedKeys);
        var keys = new List<ShardKeyCandidate>(found);
        for (int i = 0; i < found; i++)
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

            if (keys.Count == request.K1)
            {
                break;
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

    public async Task<IReadOnlyList<ShardMemoryText>> FetchAsync(long bankVersion, long[] sequences)
    {
        await EnsureVersionAsync(bankVersion);
        var texts = new List<ShardMemoryText>(sequences.Length);
        foreach (long sequence in sequences)
        {
            if (_table.TryGetMemory(sequence, out var memory))
            {
                texts.Add(new ShardMemoryText(sequence, memory.Experience, memory.IntentText));
            }
        }

        return texts;
    }

    public async Task<IReadOnlyList<ShardQ>> RewardAsync(ShardReward request)
    {
        await EnsureVersionAsync(request.BankVersion);
        using var hash = new PayloadHash().Add("reward").Add(request.Reward);
        foreach (var id in request.Memories.OrderBy(m => m.Sequence))
        {
            hash.Add(id.Sequence);
        }

        byte[] payload = hash.Finish();
        if (_operations.TryGetResult<ShardQ[]>(request.OperationId, payload, out var previous))
        {
            return previous;
        }

        // Validate every id before touching any Q: nothing is half-applied.
        QRule.ValidateReward(request.Reward, nameof(request.Reward));
        foreach (var id in request.Memories)
        {
            RequireOwnedMemory(id);
            RequireNotMoving(id.Slot);
        }

        var now = time.GetUtcNow();
        var result = new ShardQ[request.Memories.Length];
        for (int i = 0; i < result.Length; i++)
        {
            var id = request.Memories[i];
            double q = _table.ApplyReward(id.Sequence, request.Reward, _options.Alpha, _options.QFloor, now);
            _table.TryGetMemory(id.Sequence, out var memory);
            result[i] = new ShardQ(id, q, memory!.Visits);
        }

        _operations.Record(request.OperationId, payload, result);
        return result;
    }

    public async Task<ShardWriteResult> WriteAsync(ShardWrite request)
    {
        await EnsureVersionAsync(request.BankVersion);
        using var hash = new PayloadHash().Add("write").Add(request.Slot).Add(request.JoinKey ?? -1).Add(request.Intent)
            .Add(request.IntentText).Add(request.Experience).Add(request.Success ? 1 : 0);
        byte[] payload = hash.Finish();
        if (_operations.TryGetResult<ShardWriteResult>(request.OperationId, payload, out var previous))
        {
            return previous;
        }

        if (_bank.ShardOf(request.Slot) != _shard)
        {
            throw new ArgumentException($"Slot {request.Slot} belongs to shard {_bank.ShardOf(request.Slot)}, not shard {_shard}.", nameof(request));
        }

        if (request.JoinKey is { } join && !_keySlots.ContainsKey(join))
        {
            throw new IntentKeyGoneException(join);
        }

        RequireNotMoving(request.JoinKey is { } joined ? _keySlots[joined] : request.Slot);

        VectorValidation.ThrowIfInvalid(request.Intent, _bank.Dimension, nameof(request.Intent));
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
            keySequence = await NextSequenceAsync();
            slot = request.Slot;
            _index.Add(keySequence, request.Intent);
            // The vector lives in the index; the table keeps the key's text and memories only.
            _table.AddKey(keySequence, request.IntentText, []);
            _keySlots.Add(keySequence, slot);
        }

        long memorySequence = await NextSequenceAsync();
        double q = request.Success ? _options.QInitSuccess : _options.QInitFailure;
        _table.AddMemory(memorySequence, keySequence, request.IntentText, request.Experience, request.Success, q, now);
        var result = new ShardWriteResult(new MemoryId(_bank.Incarnation, slot, memorySequence), request.JoinKey is null, q);
        _operations.Record(request.OperationId, payload, result);
        return result;
    }

    public async Task<bool> DeleteAsync(ShardDelete request)
    {
        await EnsureVersionAsync(request.BankVersion);
        using var hash = new PayloadHash().Add("delete").Add(request.Id.Sequence);
        byte[] payload = hash.Finish();
        if (_operations.TryGetResult<bool>(request.OperationId, payload, out bool previous))
        {
            return previous;
        }

        RequireRoutedHere(request.Id);
        RequireNotMoving(request.Id.Slot);
        var (deleted, removedKey) = _table.Delete(request.Id.Sequence);
        if (removedKey is { } key)
        {
            RemoveKey(key);
        }

        _operations.Record(request.OperationId, payload, deleted);
        return deleted;
    }

    public async Task<MemoryInfo?> GetAsync(long bankVersion, MemoryId id)
    {
        await EnsureVersionAsync(bankVersion);
        RequireRoutedHere(id);
        if (!_table.TryGetMemory(id.Sequence, out var m))
        {
            return null;
        }

        return new MemoryInfo(id.ToString(), m.IntentText, m.Experience, m.Success, m.Q, m.Visits, m.LastReward, m.CreatedAt, m.UpdatedAt);
    }

    public async Task<ShardStats> GetStatsAsync(long bankVersion)
    {
        await EnsureVersionAsync(bankVersion);
        var qs = new List<double>(_table.MemoryCount);
        int keys = 0;
        foreach (var key in _table.Keys)
        {
            if (Owns(_keySlots[key.Sequence]))
            {
                keys++;
                qs.AddRange(key.Memories.Select(m => m.Q));
            }
        }

        return new ShardStats(_shard, keys, qs.Count, qs);
    }

    public async Task<IReadOnlyList<KeyExport>> ExportSlotsAsync(long bankVersion, int[] slots)
    {
        await EnsureVersionAsync(bankVersion);
        var wanted = slots.ToHashSet();
        var export = new List<KeyExport>();
        var vector = new float[_bank.Dimension];
        foreach (var key in _table.Keys)
        {
            int slot = _keySlots[key.Sequence];
            if (!wanted.Contains(slot))
            {
                continue;
            }

            _index.TryGetVector(key.Sequence, vector);
            var memories = key.Memories.Select(m => new MemoryExport(
                m.Sequence, m.IntentText, m.Experience, m.Success, m.Q, m.Visits, m.LastReward, m.CreatedAt, m.UpdatedAt)).ToArray();
            export.Add(new KeyExport(key.Sequence, slot, key.IntentText, (float[])vector.Clone(), memories));
        }

        return export;
    }

    public async Task ImportAsync(long bankVersion, IReadOnlyList<KeyExport> keys)
    {
        await EnsureVersionAsync(bankVersion);
        foreach (var key in keys)
        {
            if (_keySlots.ContainsKey(key.KeySequence))
            {
                continue;
            }

            // The exported vector is the stored unit vector: normalising it again could move its last bits, and with them
            // every similarity (the equivalence invariant is bit-exact).
            _index.AddNormalized(key.KeySequence, key.Vector);
            _table.AddKey(key.KeySequence, key.IntentText, []);
            _keySlots.Add(key.KeySequence, key.Slot);
            foreach (var m in key.Memories)
            {
                _table.AddMemory(m.Sequence, key.KeySequence, m.IntentText, m.Experience, m.Success, m.Q, m.CreatedAt);
                _table.RestoreQ(m.Sequence, m.Q, m.Visits, m.LastReward, m.UpdatedAt);
            }
        }

        CountUnowned();
    }

    private void Apply(BankInfo bank)
    {
        _bank = bank;
        _options = bank.Options.ToCore();
        // After a slot move takes effect, the keys of slots this shard gave away are dropped; imported keys of slots it
        // does not own yet stay hidden from search until the new map names this shard.
        if (!(bank.MovingSlots is { Count: > 0 }))
        {
            foreach (long key in _keySlots.Where(k => !Owns(k.Value)).Select(k => k.Key).ToList())
            {
                _table.TryGetKey(key, out var intentKey);
                foreach (var memory in intentKey!.Memories.ToList())
                {
                    _table.Delete(memory.Sequence);
                }

                RemoveKey(key);
            }
        }

        CountUnowned();
    }

    private bool Owns(int slot) => _bank.ShardOf(slot) == _shard;

    private void CountUnowned() => _unownedKeys = _keySlots.Count(k => !Owns(k.Value));

    private void RemoveKey(long key)
    {
        _index.Remove(key);
        _keySlots.Remove(key);
    }

    private void RequireNotMoving(int slot)
    {
        if (_bank.IsMoving(slot))
        {
            throw new ShardUnavailableException(
                $"Slot {slot} of bank '{_bankName}' is moving to another shard; its memories are read-only for a moment. Retry shortly.");
        }
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

    private async ValueTask<long> NextSequenceAsync()
    {
        if (_nextSequence == _sequenceEnd)
        {
            _nextSequence = await BankGrain.ReserveSequencesAsync(_shard, SequenceBlock);
            _sequenceEnd = _nextSequence + SequenceBlock;
        }

        return _nextSequence++;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Shard {Shard} lost its memories (the bank issued it sequences before); refusing to serve.")]
    private static partial void LogStateLost(ILogger logger, string shard);
}
