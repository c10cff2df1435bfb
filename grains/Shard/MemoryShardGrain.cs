using MemRL.Core;
using MemRL.Core.Bank;
using MemRL.GrainInterfaces;
using MemRL.Index;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MemRL.Grains.Storage;
using Orleans.Concurrency;

namespace MemRL.Grains.Shard;

/// <summary>
/// One memory shard: an HNSW index over its intent keys, and the keys' memories with Q (a <see cref="MemoryTable"/>),
/// made durable by a change log and snapshots in an <see cref="IMemoryStore"/> (DESIGN §3). The grain is the turn
/// discipline around plain parts: <see cref="ShardState"/> (the one code path that changes memory),
/// <see cref="GroupCommitLog"/>, <see cref="ShardSnapshotter"/>, <see cref="SequenceRange"/>,
/// <see cref="ShardRecovery"/> and <see cref="SlotImportPlan"/>. Its calls live in partial files by concern: reads,
/// writes, exactly-once, slot moves.
/// </summary>
/// <remarks>
/// Reentrant, with one rule: every turn does all of its awaiting (bank version, sequence range, a snapshot still reading
/// the graph) first, then opens its synchronous stretch (<see cref="TurnStretch"/>), checks, applies its change to memory
/// and queues its log events, and only then awaits the shared group commit. Grain turns never run in parallel, so that
/// stretch is atomic and no lock is needed; interleaving happens only at the awaits, where the state is consistent.
/// Debug builds assert the rule on every change. A call is acknowledged only after the commit holding its events.
/// </remarks>
[Reentrant]
internal sealed partial class MemoryShardGrain(
    IOptions<MemRLClusterOptions> clusterOptions, IOptions<StorageOptions> storageOptions, IMemoryStore store, TimeProvider time,
    ILogger<MemoryShardGrain> logger) : Grain, IMemoryShardGrain
{
    private const int SequenceBlock = 256;

    private static readonly IReadOnlyDictionary<long, StoredPayload> NoPayloads = new Dictionary<long, StoredPayload>();

    private readonly TurnStretch _stretch = new();
    private ShardState _state = null!;
    private GroupCommitLog _log = null!;
    private ShardSnapshotter _snapshots = null!;
    private SequenceRange _sequences = null!;
    private string _key = "";
    private string _bankName = "";
    private int _shard;
    private BankInfo _bank = null!;
    private MemRLOptions _options = null!;
    // The bank's retention policy (docs/retention.md): RetentionPolicy.None for a bank without one.
    private RetentionPolicy _retention = RetentionPolicy.None;
    private HnswSearchContext _searchContext = null!;
    private Neighbor[] _neighbors = new Neighbor[64];
    private int _unownedKeys;
    private ShardActivity _activity = null!;

    private MemoryTable Table => _state.Table;

    private Dictionary<long, int> KeySlots => _state.KeySlots;

    private HnswIndex Index => _state.Index;

    private IBankGrain BankGrain => GrainFactory.GetGrain<IBankGrain>(_bankName);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _key = this.GetPrimaryKeyString();
        (_bankName, _shard) = BankNames.ParseShardKey(_key);
        var bank = await BankGrain.DescribeAsync() ?? throw new BankNotFoundException(_bankName);
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

        // A dedicated thread, not the activation's pool thread: a replay rebuilds the graph insert by insert, tens of
        // seconds of CPU for a large shard, and a pool thread held that long stalls every grain of the silo and its health
        // checks (issue 14). Safe without a lock: the state is new and only this activation will own it, and Orleans
        // delivers no call to an activation before OnActivateAsync completes.
        int operationCapacity = clusterOptions.Value.OperationLogCapacity;
        var recovered = await Task.Factory.StartNew(
            () => ShardRecovery.LoadAsync(store, _key, image, () => new ShardState(NewIndex(bank), operationCapacity), operationCapacity, logger),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        _state = recovered.State;
        _log = new GroupCommitLog(store, _key, recovered.DurableHead) { Failed = CommitFailed, Drained = CommitsDrained };
        _snapshots = new ShardSnapshotter(store, _key, storageOptions.Value, logger, recovered.SnapshotPosition) { EventsSince = recovered.EventsSinceSnapshot };
        _sequences = new SequenceRange(count => BankGrain.ReserveSequencesAsync(_shard, count), SequenceBlock);
        Telemetry.ShardSize(_key, (Table.KeyCount, Table.MemoryCount));
        _searchContext = Index.CreateSearchContext();
        _activity = new ShardActivity(time.GetUtcNow());
        await DropGivenAwayAsync();
    }

    // A graceful stop (rolling update, scale-in) lets what is on its way to the store land: acknowledged or refused
    // by the commit itself, never cut off by the deactivation.
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        Telemetry.ShardSize(_key, null);
        if (_log is not null)
        {
            await _log.SettledAsync().WaitAsync(cancellationToken);
            await _snapshots.Writing.WaitAsync(cancellationToken);
        }
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

    private bool Owns(int slot) => _bank.ShardOf(slot) == _shard;

    private void CountUnowned() => _unownedKeys = KeySlots.Count(k => !Owns(k.Value));

    private void Apply(BankInfo bank)
    {
        _bank = bank;
        _options = bank.Options.ToCore();
        _retention = bank.Options.RetentionPolicyOf();
    }

    private async Task EnsureVersionAsync(long callerVersion)
    {
        if (callerVersion < _bank.Version)
        {
            throw new StaleBankVersionException(callerVersion, _bank.Version);
        }

        if (callerVersion > _bank.Version)
        {
            var bank = await BankGrain.DescribeAsync() ?? throw new BankNotFoundException(_bankName);
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

    // Applies one change to memory and queues it (and its payload row) for the next group commit. Only inside the
    // calling turn's synchronous stretch (see the class remarks).
    private void Change(ShardEvent change, StoredPayload? payload = null)
    {
        _stretch.AssertCurrent(change.GetType().Name);
        _state.Apply(change, payload is null ? NoPayloads : new Dictionary<long, StoredPayload> { [payload.Sequence] = payload });
        _log.Queue(change, payload);
        _snapshots.EventsSince++;
    }

    // Deletes are physical: a payload row goes in the same commit as the event that ends its record.
    private void DeleteRow(long sequence)
    {
        _stretch.AssertCurrent("a row delete");
        _log.QueueDelete(sequence);
    }

    private Task CommitAsync() => _log.CommitAsync();

    // Completes when everything applied so far is durable.
    private Task DurableAsync() => _log.DurableAsync();

    // After the flush loop drains, memory equals the log: the consistent cut a snapshot needs.
    private void CommitsDrained()
    {
        Telemetry.ShardSize(_key, (Table.KeyCount, Table.MemoryCount));
        if (_log.IsQuiet)
        {
            _snapshots.MaybeStart(_state, _log.DurableHead);
        }
    }

    // The memory now holds changes that may never be durable: stop serving them and reload from storage.
    private Exception CommitFailed(Exception ex)
    {
        var error = ex is StoreFencedException
            ? Unavailable("was fenced off by a newer activation; the change is not acknowledged", ex)
            : Unavailable("could not commit to storage; the change is not acknowledged and the shard reloads", ex);
        LogBroken(logger, ex, _key);
        DeactivateOnIdle();
        return error;
    }

    // Opens the calling turn's synchronous stretch: everything it checks and changes from here to its commit await
    // happens without interleaving. A shard that stopped serving refuses first.
    private void BeginStretch()
    {
        ThrowIfBroken();
        _stretch.Begin();
    }

    private void ThrowIfBroken()
    {
        switch (_log.Stopped)
        {
            case null:
                return;
            case BankNotFoundException:
                throw new BankNotFoundException(_bankName);
            case var stopped:
                throw new ShardUnavailableException(stopped.Message, stopped is ShardUnavailableException { StorageOverloaded: true });
        }
    }

    // A store that kept being throttled (StoreOverloadedException) is told apart, so callers hear "slow down".
    private ShardUnavailableException Unavailable(string what, Exception inner) =>
        new($"Shard '{_key}' {what}: {inner.GetType().Name}: {inner.Message}", inner is StoreOverloadedException);

    // Completes when no snapshot is reading the graph; the caller changes the index in its next synchronous stretch.
    private Task IndexWritableAsync() => _snapshots.IndexWritableAsync();

    // Waits until <paramref name="count"/> sequences are reserved (and, for a turn that changes the index, no snapshot is
    // reading it). The loop re-checks both: other turns may use the new range, or a snapshot may start, while this waits.
    private async Task EnsureSequencesAsync(int count, bool changesIndex = false)
    {
        while (true)
        {
            if (changesIndex && _snapshots.IsReadingIndex)
            {
                await IndexWritableAsync();
            }
            else if (_sequences.Remaining < count)
            {
                await _sequences.ReserveAsync();
            }
            else
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Shard {Shard} stopped serving after a failed commit; it deactivates and reloads from storage.")]
    private static partial void LogBroken(ILogger logger, Exception error, string shard);
}
