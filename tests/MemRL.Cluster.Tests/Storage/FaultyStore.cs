using System.Collections.Concurrent;
using MemRL.Grains.Storage;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>The faults <see cref="FaultyStore"/> can inject into one append.</summary>
public enum AppendFault
{
    /// <summary>The commit fails before anything is written.</summary>
    FailBeforeWrite,

    /// <summary>The commit is written, then the call fails (the caller cannot tell it landed).</summary>
    FailAfterWrite,

    /// <summary>The record is written torn (its last bytes missing), then the call fails, as in a crash mid-write.</summary>
    TearRecord,

    /// <summary>
    /// The commit fails before anything is written as a store fails when the service kept throttling it
    /// (<see cref="StoreOverloadedException"/>; AzureStoreTests checks that the Azure store raises it on persistent 503s).
    /// </summary>
    Throttled,
}

/// <summary>
/// Wraps a real store and injects faults into the calls of shards and banks whose key starts with an armed prefix, so
/// tests sharing one store do not disturb each other.
/// </summary>
public sealed class FaultyStore(IMemoryStore inner) : IMemoryStore
{
    private readonly ConcurrentDictionary<string, AppendFault> _nextFault = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _stalls = new();
    private readonly ConcurrentDictionary<string, bool> _down = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _loadStalls = new();
    private readonly ConcurrentDictionary<string, int> _appends = new();

    public IMemoryStore Inner => inner;

    /// <summary>The next append of a shard of <paramref name="bank"/> fails with <paramref name="fault"/>.</summary>
    public void Arm(string bank, AppendFault fault) => _nextFault[bank] = fault;

    /// <summary>The next append of the one shard <paramref name="shard"/> ("{bank}/{n}") fails with <paramref name="fault"/>.</summary>
    public void ArmShard(string shard, AppendFault fault) => _nextFault[shard] = fault;

    /// <summary>Appends of <paramref name="bank"/>'s shards wait until the returned source completes.</summary>
    public TaskCompletionSource Stall(string bank) => _stalls[bank] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Loads of the shard <paramref name="shard"/> ("{bank}/{n}") wait until the returned source completes.</summary>
    public TaskCompletionSource StallLoads(string shard) => _loadStalls[shard] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Ends a load stall.</summary>
    public void ReleaseLoads(string shard)
    {
        if (_loadStalls.TryRemove(shard, out var gate))
        {
            gate.SetResult();
        }
    }

    /// <summary>Ends a stall.</summary>
    public void Release(string bank)
    {
        if (_stalls.TryRemove(bank, out var gate))
        {
            gate.SetResult();
        }
    }

    /// <summary>Every call about <paramref name="bank"/> fails, as if the database were stopped.</summary>
    public void SetDown(string bank, bool down) => _down[bank] = down;

    /// <summary>Appends started for <paramref name="bank"/>'s shards (stalled ones included).</summary>
    public int AppendsStarted(string bank) => _appends.GetValueOrDefault(bank);

    public Task<StoredBank?> ReadBankAsync(string bank, CancellationToken cancellationToken = default)
    {
        ThrowIfDown(bank);
        return inner.ReadBankAsync(bank, cancellationToken);
    }

    public Task<bool> TryWriteBankAsync(string bank, long expectedRevision, StoredBank value, CancellationToken cancellationToken = default)
    {
        ThrowIfDown(bank);
        return inner.TryWriteBankAsync(bank, expectedRevision, value, cancellationToken);
    }

    public async Task<ShardImage> LoadShardAsync(string shard, CancellationToken cancellationToken = default)
    {
        ThrowIfDown(shard);
        if (_loadStalls.TryGetValue(shard, out var gate))
        {
            await gate.Task;
        }

        return await inner.LoadShardAsync(shard, cancellationToken);
    }

    /// <summary>Every batch handed to the store, in order (a test reads what a commit asked of the store).</summary>
    public ConcurrentQueue<(string Shard, ShardBatch Batch)> Appended { get; } = new();

    public async Task AppendAsync(string shard, ShardBatch batch, CancellationToken cancellationToken = default)
    {
        Appended.Enqueue((shard, batch));
        string? bank = Match(shard, _appends.Keys.Concat(_stalls.Keys).Concat(_nextFault.Keys).Concat(_down.Keys));
        if (bank is not null)
        {
            _appends.AddOrUpdate(bank, 1, (_, n) => n + 1);
        }

        ThrowIfDown(shard);
        if (bank is not null && _stalls.TryGetValue(bank, out var gate))
        {
            await gate.Task;
        }

        if (!_nextFault.TryRemove(shard, out var fault) && (bank is null || !_nextFault.TryRemove(bank, out fault)))
        {
            await inner.AppendAsync(shard, batch, cancellationToken);
            return;
        }

        switch (fault)
        {
            case AppendFault.FailBeforeWrite:
                throw new IOException("Injected fault: the commit failed before anything was written.");
            case AppendFault.Throttled:
                throw new StoreOverloadedException("Injected fault: the storage service kept answering HTTP 503 (ServerBusy).", new IOException("503"));
            case AppendFault.FailAfterWrite:
                await inner.AppendAsync(shard, batch, cancellationToken);
                throw new IOException("Injected fault: the commit was written, then the call failed.");
            default:
                await inner.AppendAsync(shard, batch with { Record = batch.Record[..^3] }, cancellationToken);
                throw new IOException("Injected fault: the record was written torn.");
        }
    }

    public Task<bool> WriteSnapshotAsync(string shard, long position, IReadOnlyList<ReadOnlyMemory<byte>> chunks, CancellationToken cancellationToken = default)
    {
        ThrowIfDown(shard);
        return inner.WriteSnapshotAsync(shard, position, chunks, cancellationToken);
    }

    public Task DiscardTailAsync(string shard, long expectedHead, long newHead, CancellationToken cancellationToken = default)
    {
        ThrowIfDown(shard);
        return inner.DiscardTailAsync(shard, expectedHead, newHead, cancellationToken);
    }

    public Task PurgeShardsAsync(string bank, CancellationToken cancellationToken = default)
    {
        ThrowIfDown(bank);
        return inner.PurgeShardsAsync(bank, cancellationToken);
    }

    public Task<IReadOnlyList<StoredHistory>> ReadHistoryAsync(string shard, long memorySequence, long beforeOrdinal, int limit, CancellationToken cancellationToken = default)
    {
        ThrowIfDown(shard);
        return inner.ReadHistoryAsync(shard, memorySequence, beforeOrdinal, limit, cancellationToken);
    }

    public Task<IReadOnlyList<StoredBankUsage>> ListBanksAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ThrowIfDown(prefix);
        return inner.ListBanksAsync(prefix, cancellationToken);
    }

    public Task ProbeAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDown("probe");
        return inner.ProbeAsync(cancellationToken);
    }

    /// <summary>Registers a bank so its appends are counted from now on.</summary>
    public void Track(string bank) => _appends.TryAdd(bank, 0);

    private void ThrowIfDown(string key)
    {
        string? bank = Match(key, _down.Keys);
        if (bank is not null && _down.TryGetValue(bank, out bool down) && down)
        {
            throw new IOException($"Injected fault: storage is down for '{key}'.");
        }
    }

    // Shard keys are "{bank}/{n}"; bank keys are the bank name.
    private static string? Match(string key, IEnumerable<string> banks)
    {
        string bank = key.Contains('/') ? key[..key.LastIndexOf('/')] : key;
        return banks.Contains(bank) ? bank : null;
    }
}
