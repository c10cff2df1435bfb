using System.Text.Json;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;
using Orleans.Concurrency;

namespace MemRL.Grains;

/// <summary>
/// A bank's description and its bank-wide sequence, persisted in the <see cref="IMemoryStore"/>. Sequences are handed
/// out from a reserved window whose end is written before any sequence in it is returned, so a crash can leave gaps but
/// never issues a sequence twice. Writes are conditional on the stored revision: a second activation (possible briefly
/// during membership changes) that loses the race deactivates instead of handing out the same window.
/// </summary>
// Reentrant: UpdateOptions awaits shard notifications, and shards activated by them call back GetAsync, which must not
// deadlock. Writes are serialised by _write so that revisions advance one at a time.
[Reentrant]
internal sealed class BankGrain(IMemoryStore store, TimeProvider time) : Grain, IBankGrain
{
    // Sequences reserved per store write: large enough that a busy bank writes its row rarely, small against 2^63.
    private const long ReserveWindow = 1 << 16;

    private readonly SemaphoreSlim _write = new(1, 1);
    private BankInfo? _bank;
    private long _revision;
    private long _nextSequence;
    private long _reservedEnd;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var stored = await store.ReadBankAsync(this.GetPrimaryKeyString(), cancellationToken);
        if (stored is not null)
        {
            _bank = JsonSerializer.Deserialize<BankInfo>(stored.Description)
                ?? throw new InvalidDataException($"Bank '{this.GetPrimaryKeyString()}' has an empty stored description; expected a BankInfo document.");
            _revision = stored.Revision;
            // Everything below the stored end may have been handed out before a crash: start past it.
            _nextSequence = _reservedEnd = stored.SequenceEnd;
        }
    }

    public async Task<BankInfo> CreateAsync(BankSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string name = this.GetPrimaryKeyString();
        BankNames.Validate(name);
        ValidateSpec(spec);
        var options = spec.Options ?? new BankOptions();
        var index = spec.Index ?? new IndexSettings();
        await _write.WaitAsync();
        try
        {
            if (_bank is { } existing)
            {
                if (existing.Dimension == spec.Dimension && existing.EmbedderId == spec.EmbedderId && existing.ShardCount == spec.ShardCount
                    && existing.Options == options && existing.Index == index)
                {
                    return existing;
                }

                throw new BankConflictException($"Bank '{name}' already exists with a different definition; delete it or choose another name.");
            }

            var slotMap = new int[BankLimits.VirtualSlots];
            for (int slot = 0; slot < slotMap.Length; slot++)
            {
                slotMap[slot] = slot % spec.ShardCount;
            }

            var bank = new BankInfo(name, spec.Dimension, spec.EmbedderId, options, index, spec.ShardCount,
                Incarnation: (uint)Random.Shared.NextInt64(1, uint.MaxValue), Version: 1, slotMap, time.GetUtcNow());
            await PersistAsync(bank, _reservedEnd);
            _bank = bank;
            return bank;
        }
        finally
        {
            _write.Release();
        }
    }

    public Task<BankInfo?> GetAsync() => Task.FromResult(_bank);

    public async Task<BankInfo> UpdateOptionsAsync(BankOptions options)
    {
        options.ToValidatedCore();
        BankInfo updated;
        await _write.WaitAsync();
        try
        {
            var bank = _bank ?? throw new BankNotFoundException(this.GetPrimaryKeyString());
            updated = bank with { Options = options, Version = bank.Version + 1 };
            await PersistAsync(updated, _reservedEnd);
            _bank = updated;
        }
        finally
        {
            _write.Release();
        }

        await NotifyShardsAsync(updated);
        return updated;
    }

    // Pushes the new version to every shard so that a coordinator still holding the old options is refused by the
    // shard (StaleBankVersionException) and refreshes. Best effort per shard: a shard that cannot be reached reads
    // the bank again when it next activates.
    private async Task NotifyShardsAsync(BankInfo bank)
    {
        var calls = new List<Task>(bank.ShardCount);
        for (int shard = 0; shard < bank.ShardCount; shard++)
        {
            calls.Add(GrainFactory.GetGrain<IMemoryShardGrain>(BankNames.ShardKey(bank.Name, shard)).ApplyBankAsync(bank));
        }

        try
        {
            await Task.WhenAll(calls);
        }
        catch (Exception) when (calls.Any(c => c.IsCompletedSuccessfully))
        {
            // Some shards took the update; the others refresh on activation or when a caller's version is newer.
        }
        catch (Exception)
        {
            // No shard answered; each reads the bank when it next activates.
        }
    }

    public async Task<long> ReserveSequencesAsync(int shard, int count)
    {
        var bank = _bank ?? throw new BankNotFoundException(this.GetPrimaryKeyString());
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(shard, bank.ShardCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        await _write.WaitAsync();
        try
        {
            if (_nextSequence + count > _reservedEnd)
            {
                long end = _nextSequence + Math.Max(count, ReserveWindow);
                // Durable before any sequence of the window is returned (DESIGN §3: ids are never issued twice).
                await PersistAsync(_bank!, end);
                _reservedEnd = end;
            }

            long start = _nextSequence;
            _nextSequence += count;
            return start;
        }
        finally
        {
            _write.Release();
        }
    }

    private async Task PersistAsync(BankInfo bank, long sequenceEnd)
    {
        string name = this.GetPrimaryKeyString();
        bool written;
        try
        {
            written = await store.TryWriteBankAsync(name, _revision, new StoredBank(_revision + 1, JsonSerializer.Serialize(bank), sequenceEnd));
        }
        catch (Exception ex)
        {
            // The write may or may not have landed; the revision this activation holds is no longer trustworthy.
            DeactivateOnIdle();
            throw new ShardUnavailableException($"Bank '{name}' could not be written to storage: {ex.GetType().Name}: {ex.Message}");
        }

        if (!written)
        {
            DeactivateOnIdle();
            throw new ShardUnavailableException($"Bank '{name}' was fenced off: its stored revision is no longer {_revision}; retry.");
        }

        _revision++;
    }

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
