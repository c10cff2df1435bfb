using System.Collections.Concurrent;
using MemRL.Core;
using MemRL.GrainInterfaces;

namespace MemRL.Grains;

/// <summary>
/// A bank as the coordinator uses it: the description, its validated MemRL options, and its shards' keys and grain
/// references, resolved once per bank version. Resolving a reference by key on every call
/// (<c>GetGrain&lt;IMemoryShardGrain&gt;(key)</c>) looks the grain type up by reflection and type-name parsing each
/// time: measured, that was a third of a recall's allocations.
/// </summary>
internal sealed class CachedBank
{
    private readonly string[] _shardKeys;
    private readonly IMemoryShardGrain[] _shards;

    public CachedBank(BankInfo info, IGrainFactory grains)
    {
        Info = info;
        Options = info.Options.ToCore();
        _shardKeys = new string[info.ShardCount];
        _shards = new IMemoryShardGrain[info.ShardCount];
        for (int s = 0; s < info.ShardCount; s++)
        {
            _shardKeys[s] = BankNames.ShardKey(info.Name, s);
            _shards[s] = grains.GetGrain<IMemoryShardGrain>(_shardKeys[s]);
        }
    }

    public BankInfo Info { get; }

    public MemRLOptions Options { get; }

    /// <summary>The grain key of shard <paramref name="shard"/> (<c>"{bank}/{shard}"</c>), which also names it in errors.</summary>
    public string ShardKey(int shard) => _shardKeys[shard];

    public IMemoryShardGrain Shard(int shard) => _shards[shard];
}

/// <summary>
/// This silo's cache of bank descriptions, by version. Shards refuse calls made with an older version
/// (<see cref="StaleBankVersionException"/>), which is when the coordinator refreshes.
/// </summary>
internal sealed class BankDirectory(IGrainFactory grains)
{
    private readonly ConcurrentDictionary<string, CachedBank> _banks = new(StringComparer.Ordinal);

    public async ValueTask<CachedBank> GetAsync(string bank)
    {
        if (_banks.TryGetValue(bank, out var cached))
        {
            return cached;
        }

        return await RefreshAsync(bank);
    }

    public async Task<CachedBank> RefreshAsync(string bank)
    {
        var info = await grains.GetGrain<IBankGrain>(bank).GetAsync();
        if (info is null)
        {
            _banks.TryRemove(bank, out _);
            throw new BankNotFoundException(bank);
        }

        var entry = new CachedBank(info, grains);
        return _banks.AddOrUpdate(bank, entry, (_, old) => old.Info.Version > info.Version && old.Info.Incarnation == info.Incarnation ? old : entry);
    }

    public void Put(BankInfo info) => _banks[info.Name] = new CachedBank(info, grains);
}

/// <summary>
/// Bounds the calls this silo has outstanding on each shard: past <see cref="MemRLClusterOptions.MaxPendingPerShard"/> a
/// call is refused as overloaded (HTTP 429) instead of queueing without limit behind a slow shard.
/// </summary>
internal sealed class ShardCallGuard(Microsoft.Extensions.Options.IOptions<MemRLClusterOptions> options)
{
    private readonly ConcurrentDictionary<string, StrongBox> _pending = new(StringComparer.Ordinal);
    private readonly int _limit = options.Value.MaxPendingPerShard;

    public async Task<T> CallAsync<T>(string shardKey, Func<Task<T>> call)
    {
        var box = _pending.GetOrAdd(shardKey, static _ => new StrongBox());
        if (Interlocked.Increment(ref box.Value) > _limit)
        {
            Interlocked.Decrement(ref box.Value);
            throw new OverloadedException($"Shard '{shardKey}' has {_limit} calls waiting; retry later.");
        }

        try
        {
            return await call();
        }
        finally
        {
            Interlocked.Decrement(ref box.Value);
        }
    }

    public Task CallAsync(string shardKey, Func<Task> call) => CallAsync(shardKey, async () =>
    {
        await call();
        return true;
    });

    private sealed class StrongBox
    {
        public int Value;
    }
}
