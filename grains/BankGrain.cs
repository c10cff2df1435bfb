using MemRL.Errors;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;
using Orleans.Concurrency;

namespace MemRL.Grains;

/// <summary>
/// A bank's description and its bank-wide sequence, persisted in the <see cref="IMemoryStore"/>. Sequences are handed
/// out from a reserved window whose end is written before any sequence in it is returned, so a crash can leave gaps but
/// never issues a sequence twice. Writes are conditional on the stored revision: a second activation (possible briefly
/// during membership changes) that loses the race deactivates instead of handing out the same window. A bank an import
/// is filling is hidden behind its import's lease (<see cref="BankImport"/>) until the import completes; once the lease
/// runs out the next touch of the name deletes it, so a killed importer leaves no bank.
/// </summary>
// Reentrant: UpdateOptions awaits shard notifications, and shards activated by them call back GetAsync, which must not
// deadlock. Writes are serialised by _write so that revisions advance one at a time.
[Reentrant]
internal sealed class BankGrain(IMemoryStore store, TimeProvider time) : Grain, IBankGrain
{
    // Sequences reserved per store write: large enough that a busy bank writes its row rarely, small against 2^63.
    private const long ReserveWindow = 1 << 16;

    private readonly SemaphoreSlim _write = new(1, 1);
    private bool _resizing;
    private long? _exportFrozen;
    private BankInfo? _bank;
    private BankTombstone? _tombstone;
    private BankImport? _import;
    private string? _completedImport;
    private long _revision;
    private long _nextSequence;
    private long _reservedEnd;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var stored = await store.ReadBankAsync(this.GetPrimaryKeyString(), cancellationToken);
        if (stored is not null)
        {
            _revision = stored.Revision;
            // Everything below the stored end may have been handed out before a crash: start past it.
            _nextSequence = _reservedEnd = stored.SequenceEnd;
            (_bank, _tombstone, _import) = BankRowCodec.Read(this.GetPrimaryKeyString(), stored.Description);
            if (_bank is null)
            {
                return;
            }

            if (_bank.MovingSlots is { Count: > 0 })
            {
                // A move was cut short: undo the freeze; the old owners still hold every moved memory.
                await NotifyShardsAsync(await SaveAsync(_bank with { MovingSlots = null, Version = _bank.Version + 1 }));
            }
        }
    }

    public async Task<BankInfo> CreateAsync(BankSpec spec)
    {
        _ = spec ?? throw FieldError.Missing(nameof(spec), "a bank definition");
        string name = this.GetPrimaryKeyString();
        BankNames.Validate(name);
        ValidateSpec(spec);
        var options = spec.Options ?? new BankOptions();
        var index = spec.Index ?? new IndexSettings();
        await _write.WaitAsync();
        try
        {
            await RefuseLiveImportAsync(name);
            if (_bank is { } existing)
            {
                if (existing.Dimension == spec.Dimension && existing.EmbedderId == spec.EmbedderId && existing.ShardCount == spec.ShardCount
                    && existing.Options == options && existing.Index == index)
                {
                    return existing;
                }

                throw new BankConflictException($"Bank '{name}' already exists with a different definition; delete it or choose another name.");
            }

            return await CreateCoreAsync(name, spec, import: null);
        }
        finally
        {
            _write.Release();
        }
    }

    // The caller holds _write and has checked that no bank holds the name.
    private async Task<BankInfo> CreateCoreAsync(string name, BankSpec spec, BankImport? import)
    {
        var slotMap = new int[BankLimits.VirtualSlots];
        for (int slot = 0; slot < slotMap.Length; slot++)
        {
            slotMap[slot] = slot % spec.ShardCount;
        }

        if (_tombstone is { Purged: false } unfinished)
        {
            await PurgeAsync(unfinished);
        }

        // Versions continue past a deleted bank of the same name, so no description cached from it looks current.
        var bank = new BankInfo(name, spec.Dimension, spec.EmbedderId, spec.Options ?? new BankOptions(), spec.Index ?? new IndexSettings(), spec.ShardCount,
            Incarnation: (uint)Random.Shared.NextInt64(1, uint.MaxValue), Version: (_tombstone?.Version ?? 0) + 1, slotMap, time.GetUtcNow());
        await PersistAsync(bank, _reservedEnd, import);
        _bank = bank;
        _import = import;
        _tombstone = null;
        return bank;
    }

    public async Task<BankInfo?> GetAsync()
    {
        if (_import is { } import && import.Until <= time.GetUtcNow())
        {
            await _write.WaitAsync();
            try
            {
                await DropExpiredImportAsync();
            }
            catch (Exception)
            {
                // A shard could not forget yet: the bank is a tombstone or still an expired import, hidden either way, and
                // the next create, import or delete of the name finishes the drop.
            }
            finally
            {
                _write.Release();
            }
        }

        return Visible;
    }

    public Task<BankInfo?> DescribeAsync() => Task.FromResult(_bank);

    // The bank as everyone but its shards and its importer sees it: none while an import fills it.
    private BankInfo? Visible => _import is null ? _bank : null;

    private BankInfo VisibleOrThrow => Visible ?? throw new BankNotFoundException(this.GetPrimaryKeyString());

    public async Task<BankInfo> BeginImportAsync(BankSpec spec, string importId, TimeSpan lease)
    {
        _ = spec ?? throw FieldError.Missing(nameof(spec), "a bank definition");
        string name = this.GetPrimaryKeyString();
        BankNames.Validate(name);
        ValidateSpec(spec);
        ValidateImport(importId, lease);
        await _write.WaitAsync();
        try
        {
            if (_import is { } current && current.Id == importId)
            {
                // A retry of the begin (its answer was lost): the same bank, its lease renewed.
                await RenewCoreAsync(current, lease);
                return _bank!;
            }

            await RefuseLiveImportAsync(name);
            if (_bank is not null)
            {
                throw new BankConflictException($"Bank '{name}' already exists; an import creates a new bank: delete it or import under another name.");
            }

            return await CreateCoreAsync(name, spec, new BankImport(importId, time.GetUtcNow() + lease));
        }
        finally
        {
            _write.Release();
        }
    }

    public async Task RenewImportAsync(string importId, TimeSpan lease)
    {
        ValidateImport(importId, lease);
        await _write.WaitAsync();
        try
        {
            await RenewCoreAsync(ImportOrThrow(importId), lease);
        }
        finally
        {
            _write.Release();
        }
    }

    public async Task<BankInfo> CompleteImportAsync(string importId)
    {
        ValidateImport(importId, TimeSpan.FromMinutes(1));
        await _write.WaitAsync();
        try
        {
            if (_import is null && _bank is { } visible && _completedImport == importId)
            {
                // Completed already (a retry whose first answer was lost). Only this activation remembers it: after a
                // restart such a retry is a conflict, though the bank is complete (the importer reports the failure).
                return visible;
            }

            _ = ImportOrThrow(importId);
            var bank = _bank!;
            await PersistAsync(bank, _reservedEnd, import: null);
            _import = null;
            _completedImport = importId;
            return bank;
        }
        finally
        {
            _write.Release();
        }
    }

    public async Task AbandonImportAsync(string importId)
    {
        ValidateImport(importId, TimeSpan.FromMinutes(1));
        await _write.WaitAsync();
        try
        {
            if (_import is { } current && current.Id == importId && _bank is { } bank)
            {
                await DeleteCoreAsync(bank);
            }
        }
        finally
        {
            _write.Release();
        }
    }

    // The caller holds _write. A lease that ran out is renewed only if nothing has dropped the bank yet: an importer
    // that was merely slow (not dead) keeps its bank as long as no one else touched the name meanwhile.
    private async Task RenewCoreAsync(BankImport current, TimeSpan lease)
    {
        var renewed = current with { Until = time.GetUtcNow() + lease };
        await PersistAsync(_bank!, _reservedEnd, renewed);
        _import = renewed;
    }

    private BankImport ImportOrThrow(string importId)
    {
        string name = this.GetPrimaryKeyString();
        return _import is { } current && current.Id == importId ? current
            : throw new BankConflictException(_import is null
                ? $"Bank '{name}' is not being imported by '{importId}': the import's lease ran out and the half-imported bank was deleted, or another bank took the name; import again."
                : $"Bank '{name}' is being imported by another import, not '{importId}'.");
    }

    // The caller holds _write. An import whose lease is live holds the name; one whose lease ran out is dropped here.
    private async Task RefuseLiveImportAsync(string name)
    {
        if (_import is not { } import)
        {
            return;
        }

        if (import.Until > time.GetUtcNow())
        {
            throw new BankConflictException(
                $"Bank '{name}' is being imported (its importer's lease runs until {import.Until:O}); retry after that, or delete the bank to stop the import.");
        }

        await DropExpiredImportAsync();
    }

    // The caller holds _write. The importer stopped renewing (it died): the half-imported bank is deleted like any bank.
    private async Task DropExpiredImportAsync()
    {
        if (_import is { } import && import.Until <= time.GetUtcNow() && _bank is { } bank)
        {
            await DeleteCoreAsync(bank);
        }
    }

    private static void ValidateImport(string importId, TimeSpan lease)
    {
        if (string.IsNullOrEmpty(importId) || importId.Length > 100)
        {
            throw FieldError.Invalid(nameof(importId), "1 to 100 characters", FieldError.Quote(importId));
        }

        if (lease < TimeSpan.FromSeconds(1) || lease > TimeSpan.FromHours(1))
        {
            throw FieldError.OutOfRange(nameof(lease), "a duration in [1 s, 1 h]", $"{lease.TotalSeconds:G6} s");
        }
    }

    // Three steps, each durable before the next, so a crash at any point is finished by the next Delete or Create:
    // (1) the row becomes a tombstone: the bank answers "not found" from here on and no shard can activate for it;
    // (2) every shard forgets (live activations refuse all calls and let in-flight commits land); (3) the shards' rows
    // are purged and the tombstone says so.
    public async Task<bool> DeleteAsync()
    {
        await _write.WaitAsync();
        try
        {
            if (_bank is not { } bank)
            {
                if (_tombstone is { Purged: false } unfinished)
                {
                    await PurgeAsync(unfinished);
                }

                return false;
            }

            if (_resizing)
            {
                throw new BankConflictException($"Bank '{bank.Name}' is changing its shard count; delete it when that finishes.");
            }

            // A bank an import is filling is deleted too: its importer's next page or renewal fails, and it stops.
            await DeleteCoreAsync(bank);
            return true;
        }
        finally
        {
            _write.Release();
        }
    }

    // The caller holds _write.
    private async Task DeleteCoreAsync(BankInfo bank)
    {
        var tombstone = new BankTombstone(bank.Version + 1, bank.ShardCount, bank.Incarnation, Purged: false);
        await PersistTombstoneAsync(tombstone);
        _bank = null;
        _import = null;
        _tombstone = tombstone;
        await PurgeAsync(tombstone);
    }

    private async Task PurgeAsync(BankTombstone tombstone)
    {
        string name = this.GetPrimaryKeyString();
        var forgets = new List<Task>(tombstone.ShardCount);
        for (int shard = 0; shard < tombstone.ShardCount; shard++)
        {
            forgets.Add(ForgetAsync(GrainFactory.GetGrain<IMemoryShardGrain>(BankNames.ShardKey(name, shard)), tombstone.Incarnation));
        }

        await Task.WhenAll(forgets);
        try
        {
            await store.PurgeShardsAsync(name);
        }
        catch (Exception ex)
        {
            throw new ShardUnavailableException($"Bank '{name}' is deleted but its shards' rows could not be purged yet ({ex.GetType().Name}: {ex.Message}); delete it again to finish.");
        }

        var purged = tombstone with { Purged = true };
        await PersistTombstoneAsync(purged);
        _tombstone = purged;
    }

    // A shard that is not active cannot activate for a deleted bank: that refusal means it has nothing to forget.
    private static async Task ForgetAsync(IMemoryShardGrain shard, uint incarnation)
    {
        try
        {
            await shard.ForgetAsync(incarnation);
        }
        catch (Exception ex) when (ex is BankNotFoundException || ex.InnerException is BankNotFoundException)
        {
        }
    }

    public async Task<BankInfo> UpdateOptionsAsync(BankOptions options)
    {
        options.ToValidatedCore(fieldPrefix: "");
        BankInfo updated;
        await _write.WaitAsync();
        try
        {
            var bank = VisibleOrThrow;
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
    // shard (StaleBankVersionException) and refreshes. Returns whether every shard took it; a shard that could not be
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
        var bank = VisibleOrThrow;
        if (shardCount <= bank.ShardCount || shardCount > BankLimits.MaxShards)
        {
            throw FieldError.OutOfRange(nameof(shardCount),
                $"an integer in [{bank.ShardCount + 1}, {BankLimits.MaxShards}] (shards can only be added)", FieldError.Format(shardCount));
        }

        if (_resizing)
        {
            throw new BankConflictException($"Bank '{bank.Name}' is already changing its shard count; retry when that finishes.");
        }

        if (_exportFrozen is not null || bank.MovingSlots is { Count: > 0 })
        {
            throw new BankConflictException($"Bank '{bank.Name}' is being exported; change its shard count when that finishes.");
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

    // The export's cut is a bank-version barrier, as a slot move's freeze is (docs/export-format.md): every slot frozen at
    // one version, so no change made after it appears and none acknowledged before it is missing. The freeze is the
    // bank row's frozen slots, so a bank grain that stops during an export lifts it on its next activation, as it does a
    // move's.
    public async Task<ExportCut> BeginExportAsync()
    {
        var bank = VisibleOrThrow;
        if (_resizing || _exportFrozen is not null || bank.MovingSlots is { Count: > 0 })
        {
            throw new BankConflictException($"Bank '{bank.Name}' is changing its shard count or being exported already; retry when that finishes.");
        }

        _exportFrozen = bank.Version + 1;
        try
        {
            var frozen = await SaveAsync(bank with { MovingSlots = Enumerable.Range(0, BankLimits.VirtualSlots).ToArray(), Version = bank.Version + 1 });
            if (!await NotifyShardsAsync(frozen))
            {
                await LiftExportFreezeAsync(frozen);
                throw new ShardUnavailableException($"Bank '{bank.Name}' could not freeze every shard for the export; retry.");
            }

            return new ExportCut(frozen, _nextSequence);
        }
        catch
        {
            _exportFrozen = null;
            throw;
        }
    }

    public async Task<BankInfo> EndExportAsync(long frozenVersion)
    {
        var bank = _bank ?? throw new BankNotFoundException(this.GetPrimaryKeyString());
        if (_exportFrozen != frozenVersion || !bank.IsExportFreeze)
        {
            return bank;
        }

        return await LiftExportFreezeAsync(bank);
    }

    private async Task<BankInfo> LiftExportFreezeAsync(BankInfo frozen)
    {
        var lifted = await SaveAsync(frozen with { MovingSlots = null, Version = frozen.Version + 1 });
        _exportFrozen = null;
        await NotifyShardsAsync(lifted);
        return lifted;
    }

    public async Task RaiseSequencesAsync(long floor)
    {
        _ = _bank ?? throw new BankNotFoundException(this.GetPrimaryKeyString());
        await _write.WaitAsync();
        try
        {
            if (floor > _nextSequence)
            {
                long end = Math.Max(_reservedEnd, floor);
                // Durable before any sequence above the floor is handed out, as every window is.
                await PersistAsync(_bank ?? throw new BankNotFoundException(this.GetPrimaryKeyString()), end);
                _reservedEnd = end;
                _nextSequence = floor;
            }
        }
        finally
        {
            _write.Release();
        }
    }

    // The move itself (freeze, paged copy, switch) is SlotMove's; this grain persists and announces each step.
    private Task<BankInfo> GrowCoreAsync(BankInfo bank, int shardCount) =>
        new SlotMove(shard => GrainFactory.GetGrain<IMemoryShardGrain>(BankNames.ShardKey(bank.Name, shard)), SaveAsync, NotifyShardsAsync)
            .RunAsync(bank, shardCount);

    private async Task<BankInfo> SaveAsync(BankInfo bank)
    {
        await _write.WaitAsync();
        try
        {
            _ = _bank ?? throw new BankNotFoundException(bank.Name);
            await PersistAsync(bank, _reservedEnd);
            _bank = bank;
            return bank;
        }
        finally
        {
            _write.Release();
        }
    }

    public async Task<long> ReserveSequencesAsync(int shard, int count)
    {
        var bank = _bank ?? throw new BankNotFoundException(this.GetPrimaryKeyString());
        if (shard < 0 || shard >= bank.ShardCount)
        {
            throw FieldError.OutOfRange(nameof(shard), $"an integer in [0, {bank.ShardCount - 1}]", FieldError.Format(shard));
        }

        if (count < 1)
        {
            throw FieldError.OutOfRange(nameof(count), "at least 1", FieldError.Format(count));
        }
        await _write.WaitAsync();
        try
        {
            if (_nextSequence + count > _reservedEnd)
            {
                long end = _nextSequence + Math.Max(count, ReserveWindow);
                // Durable before any sequence of the window is returned (DESIGN §3: ids are never issued twice).
                await PersistAsync(_bank ?? throw new BankNotFoundException(this.GetPrimaryKeyString()), end);
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

    private Task PersistAsync(BankInfo bank, long sequenceEnd) => PersistAsync(bank, sequenceEnd, _import);

    private Task PersistAsync(BankInfo bank, long sequenceEnd, BankImport? import) => WriteRowAsync(BankRowCodec.Write(bank, import), sequenceEnd);

    private Task PersistTombstoneAsync(BankTombstone tombstone) => WriteRowAsync(BankRowCodec.Write(tombstone), _reservedEnd);

    private async Task WriteRowAsync(string description, long sequenceEnd)
    {
        string name = this.GetPrimaryKeyString();
        bool written;
        try
        {
            written = await store.TryWriteBankAsync(name, _revision, new StoredBank(_revision + 1, description, sequenceEnd));
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
            throw FieldError.OutOfRange("dimension", $"an integer in [1, {BankLimits.MaxDimension}]", FieldError.Format(spec.Dimension));
        }

        if (string.IsNullOrWhiteSpace(spec.EmbedderId) || spec.EmbedderId.Length > 200)
        {
            throw FieldError.Invalid("embedderId", "1 to 200 characters naming the embedding model", FieldError.Quote(spec.EmbedderId));
        }

        if (spec.ShardCount < 1 || spec.ShardCount > BankLimits.MaxShards)
        {
            throw FieldError.OutOfRange("shardCount", $"an integer in [1, {BankLimits.MaxShards}]", FieldError.Format(spec.ShardCount));
        }

        (spec.Options ?? new BankOptions()).ToValidatedCore(fieldPrefix: "options.");
        var index = spec.Index ?? new IndexSettings();
        if (index.M is < 2 or > 128)
        {
            throw FieldError.OutOfRange("index.m", "an integer in [2, 128]", FieldError.Format(index.M));
        }

        if (index.EfConstruction < index.M || index.EfConstruction > 4096)
        {
            throw FieldError.OutOfRange("index.efConstruction", $"an integer in [index.m ({index.M}), 4096]", FieldError.Format(index.EfConstruction));
        }

        if (index.EfSearch is < 1 or > 4096)
        {
            throw FieldError.OutOfRange("index.efSearch", "an integer in [1, 4096]", FieldError.Format(index.EfSearch));
        }
    }
}
