using MemRL.GrainInterfaces;
using Orleans.Concurrency;

namespace MemRL.Grains;

/// <summary>
/// A bank's description and its bank-wide sequence. Held in memory and kept resident until durable storage lands
/// (issue 5): a lost bank grain means a lost bank, and shards notice it (they refuse to serve a bank that vanished).
/// </summary>
// Reentrant: every method but UpdateOptions is synchronous, and UpdateOptions changes state before it awaits the
// shard notifications; shards activated by those notifications call back GetAsync, which must not deadlock.
[KeepAlive]
[Reentrant]
internal sealed class BankGrain(TimeProvider time) : Grain, IBankGrain
{
    private BankInfo? _bank;
    private long _nextSequence;
    private readonly HashSet<int> _shardsWithSequences = [];
    private bool _resizing;

    public Task<BankInfo> CreateAsync(BankSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string name = this.GetPrimaryKeyString();
        BankNames.Validate(name);
        ValidateSpec(spec);
        var options = spec.Options ?? new BankOptions();
        var index = spec.Index ?? new IndexSettings();
        if (_bank is { } existing)
        {
            if (existing.Dimension == spec.Dimension && existing.EmbedderId == spec.EmbedderId && existing.ShardCount == spec.ShardCount
                && existing.Options == options && existing.Index == index)
            {
                return Task.FromResult(existing);
            }

            throw new BankConflictException($"Bank '{name}' already exists with a different definition; delete it or choose another name.");
        }

        var slotMap = new int[BankLimits.VirtualSlots];
        for (int slot = 0; slot < slotMap.Length; slot++)
        {
            slotMap[slot] = slot % spec.ShardCount;
        }

        _bank = new BankInfo(name, spec.Dimension, spec.EmbedderId, options, index, spec.ShardCount,
            Incarnation: (uint)Random.Shared.NextInt64(1, uint.MaxValue), Version: 1, slotMap, time.GetUtcNow());
        return Task.FromResult(_bank);
    }

    public Task<BankInfo?> GetAsync() => Task.FromResult(_bank);

    public async Task<BankInfo> UpdateOptionsAsync(BankOptions options)
    {
        var bank = _bank ?? throw new BankNotFoundException(this.GetPrimaryKeyString());
        options.ToValidatedCore();
        _bank = bank with { Options = options, Version = bank.Version + 1 };
        await NotifyShardsAsync(_bank);
        return _bank;
    }

    // Pushes the new version to every shard so that a coordinator still holding the old options is refused by the
    // shard (StaleBankVersionException) and refreshes. Returns whether every shard took it. A shard that cannot be
    // reached reads the bank again when it next activates, or when a caller brings a newer version.
    private async Task<bool> NotifyShardsAsync(BankInfo bank)
    {
        var calls = new List<Task>(bank.ShardCount);
        for (int shard = 0; shard < bank.ShardCount; shard++)
        {
            calls.Add(GrainFactory.GetGrain<IMemoryShardGrain>(BankNames.ShardKey(bank.Name, shard)).ApplyBankAsync(bank));
        }

        try
        {
            await Task.WhenAll(calls);
            return true;
        }
        catch (Exception)
        {
            // Some shards may have taken the update; the others catch up as described above.
            return false;
        }
    }

    public async Task<BankInfo> GrowShardsAsync(int shardCount)
    {
        var bank = _bank ?? throw new BankNotFoundException(this.GetPrimaryKeyString());
        if (shardCount <= bank.ShardCount || shardCount > BankLimits.MaxShards)
        {
            throw new ArgumentOutOfRangeException(nameof(shardCount),
                $"shardCount is {shardCount}; expected an integer in [{bank.ShardCount + 1}, {BankLimits.MaxShards}] (shards can only be added).");
        }

        if (_resizing)
        {
            throw new BankConflictException($"Bank '{bank.Name}' is already changing its shard count; retry when that finishes.");
        }

        _resizing = true;
        try
        {
            return await GrowCoreAsync(bank, shardCount);
        }
        finally
        {
            _resizing = false;
        }
    }

    // Three steps, each visible to every shard before the next: (1) freeze the moving slots (writes, rewards and deletes
    // on them are refused as retryable; recall keeps reading the old owners); (2) copy their keys and memories to the new
    // owners, which keep them hidden from search until they own the slots; (3) switch the map: callers with the old
    // version are refused by the shards and refresh, and the old owners drop what they gave away.
    private async Task<BankInfo> GrowCoreAsync(BankInfo bank, int shardCount)
    {
        var newMap = new int[BankLimits.VirtualSlots];
        var moving = new List<int>();
        for (int slot = 0; slot < newMap.Length; slot++)
        {
            newMap[slot] = slot % shardCount;
            if (newMap[slot] != bank.SlotMap[slot])
            {
                moving.Add(slot);
            }
        }

        var frozen = bank with { MovingSlots = moving, Version = bank.Version + 1 };
        _bank = frozen;
        if (!await NotifyShardsAsync(frozen))
        {
            _bank = bank with { Version = frozen.Version + 1 };
            await NotifyShardsAsync(_bank);
            throw new ShardUnavailableException($"Bank '{bank.Name}' could not freeze every shard for the move; nothing was moved.");
        }

        foreach (var group in moving.GroupBy(slot => bank.SlotMap[slot]))
        {
            var source = GrainFactory.GetGrain<IMemoryShardGrain>(BankNames.ShardKey(bank.Name, group.Key));
            var keys = await source.ExportSlotsAsync(frozen.Version, group.ToArray());
            foreach (var target in keys.GroupBy(k => newMap[k.Slot]))
            {
                await GrainFactory.GetGrain<IMemoryShardGrain>(BankNames.ShardKey(bank.Name, target.Key)).ImportAsync(frozen.Version, target.ToArray());
            }
        }

        _bank = frozen with { SlotMap = newMap, ShardCount = shardCount, MovingSlots = null, Version = frozen.Version + 1 };
        await NotifyShardsAsync(_bank);
        return _bank;
    }

    public Task<long> ReserveSequencesAsync(int shard, int count)
    {
        var bank = _bank ?? throw new BankNotFoundException(this.GetPrimaryKeyString());
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(shard, bank.ShardCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        long start = _nextSequence;
        _nextSequence += count;
        _shardsWithSequences.Add(shard);
        return Task.FromResult(start);
    }

    public Task<bool> HasIssuedSequencesAsync(int shard) => Task.FromResult(_shardsWithSequences.Contains(shard));

    private static void ValidateSpec(BankSpec spec)
    {
        if (spec.Dimension < 1 || spec.Dimension > BankLimits.MaxDimension)
        {
            throw new ArgumentOutOfRangeException(nameof(spec.Dimension),
                $"Dimension is {spec.Dimension}; expected an integer in [1, {BankLimits.MaxDimension}].");
        }

        if (string.IsNullOrWhiteSpace(spec.EmbedderId) || spec.EmbedderId.Length > 200)
        {
            throw new ArgumentException($"EmbedderId is '{spec.EmbedderId}'; expected 1 to 200 characters naming the embedding model.", nameof(spec.EmbedderId));
        }

        if (spec.ShardCount < 1 || spec.ShardCount > BankLimits.MaxShards)
        {
            throw new ArgumentOutOfRangeException(nameof(spec.ShardCount),
                $"ShardCount is {spec.ShardCount}; expected an integer in [1, {BankLimits.MaxShards}].");
        }

        (spec.Options ?? new BankOptions()).ToValidatedCore();
        var index = spec.Index ?? new IndexSettings();
        if (index.M is < 2 or > 128)
        {
            throw new ArgumentOutOfRangeException(nameof(index.M), $"M is {index.M}; expected an integer in [2, 128].");
        }

        if (index.EfConstruction < index.M || index.EfConstruction > 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(index.EfConstruction),
                $"EfConstruction is {index.EfConstruction}; expected an integer in [M ({index.M}), 4096].");
        }

        if (index.EfSearch is < 1 or > 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(index.EfSearch), $"EfSearch is {index.EfSearch}; expected an integer in [1, 4096].");
        }
    }
}
