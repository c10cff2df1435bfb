using MemRL.Core.Bank;
using System.Diagnostics;
using MemRL.Core;
using MemRL.Core.Recall;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using MemRL.Index;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace MemRL.Grains;

/// <summary>
/// The front door for agents. A plain stateless worker runs one call per activation, so recalls would serialise on the
/// core count; this one is reentrant, so a single activation per silo interleaves any number of recalls at their awaits.
/// It keeps no state of its own: bank descriptions come from <see cref="BankDirectory"/>, and a recall hands its state
/// to the caller as a signed token. Recall lives in <c>MemoryCoordinatorGrain.Recall.cs</c>, rewards and writes in
/// <c>MemoryCoordinatorGrain.Writes.cs</c>; this file has the entry points, reads and the shared plumbing.
/// </summary>
[StatelessWorker(1)]
[Reentrant]
internal sealed partial class MemoryCoordinatorGrain(
    BankDirectory banks,
    RecallTokenSigner tokens,
    ShardCallGuard guard,
    TimeProvider timeProvider,
    IOptions<MemRLClusterOptions> options,
    ILogger<MemoryCoordinatorGrain> logger) : Grain, IMemoryCoordinatorGrain
{
    private const int MaxAttempts = 3;
    private readonly MemRLClusterOptions _options = options.Value;
    private readonly ShardFanOut _fanOut = new(logger);

    public Task<RecallResponse> RecallAsync(string bank, RecallRequest request, CancellationToken cancellationToken = default)
    {
        BankNames.Validate(bank);
        _ = request ?? throw FieldError.Missing(nameof(request), "a request body");
        // Checked here, before any shard is asked: the shards check again, but a bad filter must name itself once.
        request = request with { Filter = ScopeWire.ToClauses(ScopeWire.ToFilter(request.Filter)) };
        return WithFreshBankAsync(bank, b => RecallCoreAsync(b, request, cancellationToken));
    }

    public Task<RewardResponse> RewardAsync(string bank, RewardRequest request)
    {
        BankNames.Validate(bank);
        _ = request ?? throw FieldError.Missing(nameof(request), "a request body");
        OperationIds.Validate(request.OperationId);
        QRule.ValidateReward(request.Reward, "reward");
        return WithFreshBankAsync(bank, b => RewardCoreAsync(b, request));
    }

    public Task<WriteResponse> WriteAsync(string bank, WriteRequest request)
    {
        BankNames.Validate(bank);
        _ = request ?? throw FieldError.Missing(nameof(request), "a request body");
        OperationIds.Validate(request.OperationId);
        WireValidation.WriteTexts(request.IntentText, request.Experience);
        _ = request.Scope?.ToScope();
        _ = ScopeWire.ToMetadata(request.Metadata);

        return WithFreshBankAsync(bank, b => WriteCoreAsync(b, request));
    }

    public Task<MemoryInfo> GetAsync(string bank, string memoryId)
    {
        BankNames.Validate(bank);
        var id = MemoryId.Parse(memoryId, nameof(memoryId));
        return WithFreshBankAsync(bank, async b =>
        {
            RequireSameBank(b, id);
            int shard = b.Info.ShardOf(id.Slot);
            var info = await guard.CallAsync(b.ShardKey(shard), () => b.Shard(shard).GetAsync(b.Info.Version, id));
            return info ?? throw NotFound(b, id);
        });
    }

    public Task<MemoryHistoryPage> GetHistoryAsync(string bank, string memoryId, long? cursor, int limit)
    {
        BankNames.Validate(bank);
        var id = MemoryId.Parse(memoryId, nameof(memoryId));
        if (limit is < 1 or > MemoryHistoryPage.MaxLimit)
        {
            throw FieldError.OutOfRange("limit", $"an integer from 1 to {MemoryHistoryPage.MaxLimit}", limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (cursor is < 1)
        {
            throw FieldError.OutOfRange("cursor", "a positive integer (a page's nextCursor)", cursor.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return WithFreshBankAsync(bank, async b =>
        {
            RequireSameBank(b, id);
            int shard = b.Info.ShardOf(id.Slot);
            var entries = await guard.CallAsync(b.ShardKey(shard), () => b.Shard(shard).GetHistoryAsync(b.Info.Version, id, cursor ?? long.MaxValue, limit))
                ?? throw NotFound(b, id);
            // Ordinals step by one: below the last one returned there is more exactly when it is above 1 (and the page is full).
            long? next = entries.Length == limit && entries[^1].Ordinal > 1 ? entries[^1].Ordinal : null;
            return new MemoryHistoryPage(entries, next);
        });
    }

    public Task<bool> DeleteAsync(string bank, string memoryId, string operationId)
    {
        BankNames.Validate(bank);
        var id = MemoryId.Parse(memoryId, nameof(memoryId));
        OperationIds.Validate(operationId);
        return WithFreshBankAsync(bank, async b =>
        {
            RequireSameBank(b, id);
            int shard = b.Info.ShardOf(id.Slot);
            // An id applied on another shard than its home is registered there first: ids are scoped to the bank.
            await ClaimUnlessHomeAsync(b, operationId, OperationHashes.Delete(id), shard);
            return await guard.CallAsync(b.ShardKey(shard), () => b.Shard(shard).DeleteAsync(new ShardDelete(b.Info.Version, operationId, id)));
        });
    }

    public Task<MemoryInfo> EditAsync(string bank, string memoryId, string? experience, Dictionary<string, string>? metadata, string operationId)
    {
        BankNames.Validate(bank);
        var id = MemoryId.Parse(memoryId, nameof(memoryId));
        WireValidation.Edit(experience, metadata);
        var tags = metadata is null ? null : ScopeWire.ToMetadata(metadata);
        OperationIds.Validate(operationId);
        return ChangeOneAsync(bank, id, operationId, OperationHashes.Edit(id, experience, tags),
            (shard, version) => shard.EditAsync(new ShardEdit(version, operationId, id, experience, metadata)));
    }

    public Task<MemoryInfo> ArchiveAsync(string bank, string memoryId, bool archive, string operationId)
    {
        BankNames.Validate(bank);
        var id = MemoryId.Parse(memoryId, nameof(memoryId));
        OperationIds.Validate(operationId);
        return ChangeOneAsync(bank, id, operationId, OperationHashes.Archive(id, archive),
            (shard, version) => shard.ArchiveAsync(new ShardArchive(version, operationId, id, archive)));
    }

    // A change of one memory at its owner (edit, archive, restore): its id claimed at its home shard when that is another,
    // the change applied, and the memory read back as it is after it.
    private Task<MemoryInfo> ChangeOneAsync(string bank, MemoryId id, string operationId, byte[] payloadHash, Func<IMemoryShardGrain, long, Task> change) =>
        WithFreshBankAsync(bank, async b =>
        {
            RequireSameBank(b, id);
            int shard = b.Info.ShardOf(id.Slot);
            await ClaimUnlessHomeAsync(b, operationId, payloadHash, shard);
            await guard.CallAsync(b.ShardKey(shard), () => change(b.Shard(shard), b.Info.Version));
            var info = await guard.CallAsync(b.ShardKey(shard), () => b.Shard(shard).GetAsync(b.Info.Version, id));
            return info ?? throw NotFound(b, id);
        });

    public Task<int> DeleteMatchingAsync(string bank, FilterClause[] filter, string operationId)
    {
        BankNames.Validate(bank);
        var matching = ScopeWire.ToFilter(filter);
        ReferenceBank.RequireScopeField(matching);
        OperationIds.Validate(operationId);
        var request = new ShardDeleteMatching(0, operationId, ScopeWire.ToClauses(matching)!);
        return WithFreshBankAsync(bank, async b =>
        {
            var part = request with { BankVersion = b.Info.Version };
            var counts = await FanOutAsync(FanOutPolicy.DeleteMatching, b, Enumerable.Range(0, b.Info.ShardCount), (s, _) => b.Shard(s).DeleteMatchingAsync(part));
            return counts.Answers.Sum();
        });
    }

    public Task<RetentionRunResult> RunRetentionAsync(string bank, string operationId)
    {
        BankNames.Validate(bank);
        OperationIds.Validate(operationId);
        return WithFreshBankAsync(bank, async b =>
        {
            // One clock for the whole run, so every shard decides as the reference bank would at this time.
            var now = timeProvider.GetUtcNow();
            var shards = Enumerable.Range(0, b.Info.ShardCount).ToList();
            var plans = (await FanOutAsync(FanOutPolicy.RetentionPlan, b, shards, (s, _) => b.Shard(s).PlanRetentionAsync(b.Info.Version, now))).Answers;
            var run = RetentionMerge.Of(b.Info.Options.RetentionPolicyOf(), plans);
            var applied = (await FanOutAsync(FanOutPolicy.RetentionApply, b, shards, (s, _) => b.Shard(s).ApplyRetentionAsync(new ShardRetentionApply(
                b.Info.Version, operationId, now, [.. run.Purge.Where(id => b.Info.ShardOf(id.Slot) == s)], [.. run.Archive.Where(id => b.Info.ShardOf(id.Slot) == s)],
                run.More)))).Answers;
            // A retry answers what the parts recorded: the first attempt's, or (parts it did not reach) this one's.
            return new RetentionRunResult(applied.Sum(a => a.Purged), applied.Sum(a => a.Archived), applied.Any(a => a.More), applied.Max(a => a.At));
        });
    }

    public Task<BankStats> GetStatsAsync(string bank)
    {
        BankNames.Validate(bank);
        return WithFreshBankAsync(bank, StatsCoreAsync);
    }

    public Task<MemoryPage> ListAsync(string bank, string? cursor, int limit, FilterClause[]? filter = null, MemoryListState state = MemoryListState.Active)
    {
        BankNames.Validate(bank);
        WireValidation.PageLimit(limit);
        WireValidation.ListState(state);
        filter = ScopeWire.ToClauses(ScopeWire.ToFilter(filter));
        var position = ListCursor.Decode(cursor);
        return WithFreshBankAsync(bank, async b =>
        {
            var start = ListCursor.Resolve(position, cursor, b.Info);

            // Shard by shard, each by sequence: a shard's cursor is the last sequence returned, so a page never repeats
            // or skips a memory that stays on its shard.
            var memories = new List<MemoryInfo>(limit);
            var (shard, after) = start;
            while (shard < b.Info.ShardCount)
            {
                long from = after;
                int wanted = limit - memories.Count;
                var page = (await FanOutAsync(FanOutPolicy.Listing, b, [shard], (s, _) => b.Shard(s).ListAsync(b.Info.Version, from, wanted, filter, state))).Answers[0];
                memories.AddRange(page.Memories);
                if (page.More)
                {
                    return new MemoryPage(memories, ListCursor.Format(b.Info, shard, MemoryId.Parse(memories[^1].Id, "id").Sequence));
                }

                (shard, after) = (shard + 1, -1);
                if (memories.Count == limit)
                {
                    break;
                }
            }

            return new MemoryPage(memories, shard < b.Info.ShardCount ? ListCursor.Format(b.Info, shard, after) : null);
        });
    }

    public Task<BankCalibration> CalibrateAsync(string bank, int sampleSize, bool apply)
    {
        BankNames.Validate(bank);
        BankLimits.ValidateCalibrationSample(sampleSize);

        return WithFreshBankAsync(bank, async b =>
        {
            // Each shard draws its share; a fixed seed per bank version makes the same bank calibrate the same way twice.
            int shards = b.Info.ShardCount;
            int ShareOf(int s) => (sampleSize / shards) + (s < sampleSize % shards ? 1 : 0);
            var drawn = await FanOutAsync(FanOutPolicy.Calibration, b, Enumerable.Range(0, shards).Where(s => ShareOf(s) > 0),
                (s, _) => b.Shard(s).SampleKeysAsync(b.Info.Version, ShareOf(s), unchecked((int)b.Info.Version * 31 + s)));
            var sample = drawn.Answers.SelectMany(v => v).ToList();
            if (sample.Count < 2)
            {
                throw FieldError.Invalid("bank", "a bank with at least 2 intent keys (write memories first)", $"a bank with {sample.Count} intent keys");
            }

            var result = Calibration.FromSample(sample);
            var info = b.Info;
            if (apply)
            {
                var options = info.Options with { Delta = result.Delta, SimilarityMean = result.SimilarityMean, SimilarityStdDev = result.SimilarityStdDev };
                info = await GrainFactory.GetGrain<IBankGrain>(info.Name).UpdateOptionsAsync(options);
                banks.Put(info);
            }

            return new BankCalibration(result.Delta, result.SimilarityMean, result.SimilarityStdDev, result.SampleSize, result.PairCount, apply, info);
        });
    }

    private async Task<BankStats> StatsCoreAsync(CachedBank bank)
    {
        var info = bank.Info;
        var fan = await FanOutAsync(FanOutPolicy.Stats, bank, Enumerable.Range(0, info.ShardCount), (s, _) => bank.Shard(s).GetStatsAsync(info.Version));
        return ShardStatistics.Merge(fan.Answers, fan.Coverage);
    }

    // Every fan-out of the coordinator goes through here: the policy names what a failing or late shard does to the call.
    private Task<FanOutResult<T>> FanOutAsync<T>(
        FanOutPolicy policy, CachedBank bank, IEnumerable<int> shards, Func<int, CancellationToken, Task<T>> call,
        bool requireFull = false, Action<Coverage>? settled = null, CancellationToken cancellationToken = default)
    {
        var calls = new List<ShardCall<T>>(bank.Info.ShardCount);
        foreach (int s in shards)
        {
            string key = bank.ShardKey(s);
            calls.Add(new ShardCall<T>(key, ct => guard.CallAsync(key, () => call(s, ct))));
        }

        return _fanOut.RunAsync(policy, bank.Info.Name, calls, requireFull, settled, cancellationToken);
    }

    // A shard that has seen a newer bank version refuses the call; refresh the cached description and try again.
    private async Task<T> WithFreshBankAsync<T>(string bank, Func<CachedBank, Task<T>> call)
    {
        var cached = await banks.GetAsync(bank);
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await call(cached);
            }
            catch (StaleBankVersionException) when (attempt < MaxAttempts)
            {
                cached = await banks.RefreshAsync(bank);
            }
            catch (BankNotFoundException) when (attempt < MaxAttempts)
            {
                // The bank may have been deleted and re-created: only a fresh read can tell.
                cached = await banks.RefreshAsync(bank);
            }
        }
    }

    private static void RecordPhase(string phase, long from, long to) =>
        Telemetry.RecallDuration.Record(Stopwatch.GetElapsedTime(from, to).TotalMilliseconds, new KeyValuePair<string, object?>("phase", phase));

    private static void RequireEmbedder(BankInfo info, string? embedderId)
    {
        if (embedderId is not null && embedderId != info.EmbedderId)
        {
            throw FieldError.Invalid(nameof(embedderId), $"{FieldError.Quote(info.EmbedderId)}, the model bank '{info.Name}' was created for", FieldError.Quote(embedderId));
        }
    }

    private static void RequireSameBank(CachedBank bank, MemoryId id)
    {
        if (id.Incarnation != bank.Info.Incarnation)
        {
            throw NotFound(bank, id);
        }
    }

    private static MemoryNotFoundException NotFound(CachedBank bank, MemoryId id) =>
        new($"Memory '{id}' does not exist in bank '{bank.Info.Name}'.");
}
