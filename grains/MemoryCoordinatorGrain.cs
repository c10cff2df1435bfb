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
/// to the caller as a signed token.
/// </summary>
[StatelessWorker(1)]
[Reentrant]
internal sealed class MemoryCoordinatorGrain(
    BankDirectory banks,
    RecallTokenSigner tokens,
    ShardCallGuard guard,
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

    public Task<BankStats> GetStatsAsync(string bank)
    {
        BankNames.Validate(bank);
        return WithFreshBankAsync(bank, StatsCoreAsync);
    }

    public Task<MemoryPage> ListAsync(string bank, string? cursor, int limit)
    {
        BankNames.Validate(bank);
        WireValidation.PageLimit(limit);
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
                var page = (await FanOutAsync(FanOutPolicy.Listing, b, [shard], (s, _) => b.Shard(s).ListAsync(b.Info.Version, from, wanted))).Answers[0];
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

    private async Task<RecallResponse> RecallCoreAsync(CachedBank bank, RecallRequest request, CancellationToken cancellationToken)
    {
        using var span = Telemetry.Source.StartActivity("memrl.recall");
        long started = Stopwatch.GetTimestamp();
        var info = bank.Info;
        var parameters = RecallParameters.Resolve(bank.Options, new RecallOverrides(request.K1, request.K2, request.Lambda, request.Delta));
        RequireEmbedder(info, request.EmbedderId);
        _ = request.Query ?? throw FieldError.Missing("query", "an embedding vector");
        VectorValidation.ThrowIfInvalid(request.Query, info.Dimension, "query");

        // Phase A on every shard in parallel, under one deadline; a shard that misses it counts as not answered.
        var search = new ShardSearch(info.Version, request.Query, parameters.K1, parameters.Delta);
        var phaseA = await FanOutAsync(FanOutPolicy.Recall(_options.ShardTimeout), bank, Enumerable.Range(0, info.ShardCount),
            (s, ct) => bank.Shard(s).SearchAsync(search, ct), request.RequireFullCoverage,
            static c => Telemetry.ShardsAnswered.Record(c.ShardsAnswered, new KeyValuePair<string, object?>("shards_total", c.ShardsTotal)),
            cancellationToken);
        var perShard = new List<IReadOnlyList<KeyCandidate>>(phaseA.Answers.Count);
        var slots = new Dictionary<long, int>();
        foreach (var answer in phaseA.Answers)
        {
            var keys = new List<KeyCandidate>(answer.Keys.Length);
            foreach (var k in answer.Keys)
            {
                slots[k.KeySequence] = k.Slot;
                var memories = new MemoryCandidate[k.Memories.Length];
                for (int m = 0; m < memories.Length; m++)
                {
                    memories[m] = new MemoryCandidate(k.Memories[m].Sequence, k.Memories[m].Q, k.Memories[m].Success);
                }

                keys.Add(new KeyCandidate(k.KeySequence, k.Similarity, memories));
            }

            perShard.Add(keys);
        }

        long answered = Stopwatch.GetTimestamp();
        var coverage = phaseA.Coverage;
        IRandomSource random = SharedRandom.Instance;
        var outcome = RecallPipeline.Run(perShard, parameters, bank.Options, random);
        var selected = outcome.Selection.Selected;
        var ids = new MemoryId[selected.Count];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = new MemoryId(info.Incarnation, slots[selected[i].Entry.KeySequence], selected[i].Entry.Memory.Sequence);
        }

        long selectedAt = Stopwatch.GetTimestamp();
        var texts = await FetchTextsAsync(bank, ids, cancellationToken);
        var memoriesOut = new RecalledMemory[ids.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            var s = selected[i];
            var text = texts.GetValueOrDefault(ids[i].Sequence);
            memoriesOut[i] = new RecalledMemory(ids[i].ToString(), s.Entry.Similarity, s.Entry.Memory.Q, s.ZSim, s.ZQ, s.Score,
                s.Entry.Memory.Success, text?.Experience ?? "", text?.IntentText ?? "");
        }

        var keyMatches = new ShardKeyMatch[outcome.Keys.Count];
        for (int i = 0; i < keyMatches.Length; i++)
        {
            var k = outcome.Keys[i];
            keyMatches[i] = new ShardKeyMatch(k.KeySequence, slots[k.KeySequence], k.Similarity);
        }

        string token = tokens.Sign(info.Name, info.Incarnation, coverage, ids, keyMatches);
        long finished = Stopwatch.GetTimestamp();
        RecordPhase("fan_out", started, answered);
        RecordPhase("select", answered, selectedAt);
        RecordPhase("fetch", selectedAt, finished);
        RecordPhase("total", started, finished);
        Telemetry.PoolSize.Record(outcome.PoolSize);
        span?.SetTag("memrl.bank", info.Name).SetTag("memrl.shards_answered", coverage.ShardsAnswered).SetTag("memrl.shards_total", coverage.ShardsTotal)
            .SetTag("memrl.pool_size", outcome.PoolSize).SetTag("memrl.returned", ids.Length);
        return new RecallResponse(memoriesOut, coverage, token, outcome.PoolSize, outcome.Selection.Explored);
    }

    // The second hop: experience text travels only for the k2 winners, one call per shard that owns any of them.
    private async Task<Dictionary<long, ShardMemoryText>> FetchTextsAsync(CachedBank bank, MemoryId[] ids, CancellationToken cancellationToken)
    {
        var result = new Dictionary<long, ShardMemoryText>(ids.Length);
        var owners = ids.GroupBy(id => bank.Info.ShardOf(id.Slot)).ToDictionary(g => g.Key, g => g.Select(id => id.Sequence).ToArray());
        var fetched = await FanOutAsync(FanOutPolicy.RecallTexts(_options.ShardTimeout), bank, owners.Keys,
            (s, _) => bank.Shard(s).FetchAsync(bank.Info.Version, owners[s]), cancellationToken: cancellationToken);
        foreach (var texts in fetched.Answers)
        {
            foreach (var text in texts)
            {
                result[text.Sequence] = text;
            }
        }

        return result;
    }

    private async Task<RewardResponse> RewardCoreAsync(CachedBank bank, RewardRequest request)
    {
        var info = bank.Info;
        var content = tokens.Verify(request.Token, info.Name, info.Incarnation);
        MemoryId[] targets;
        if (request.MemoryIds is null)
        {
            targets = content.Memories;
        }
        else
        {
            var named = new HashSet<MemoryId>(content.Memories);
            var seen = new HashSet<MemoryId>();
            targets = new MemoryId[request.MemoryIds.Count];
            for (int i = 0; i < targets.Length; i++)
            {
                var id = MemoryId.Parse(request.MemoryIds[i], $"memoryIds[{i}]");
                if (!named.Contains(id))
                {
                    throw FieldError.Invalid($"memoryIds[{i}]", "a memory the recall named by the token returned", FieldError.Quote(id.ToString()));
                }

                if (!seen.Add(id))
                {
                    throw FieldError.Invalid($"memoryIds[{i}]", "each memory once (one reward per recall)", FieldError.Quote(id.ToString()));
                }

                targets[i] = id;
            }
        }

        if (targets.Length == 0)
        {
            return new RewardResponse([]);
        }

        byte[] hash = OperationHashes.Reward(request.Reward, targets);
        var parts = targets.GroupBy(id => bank.Info.ShardOf(id.Slot))
            .ToDictionary(group => group.Key, group => new ShardReward(info.Version, request.OperationId, group.ToArray(), request.Reward, hash, content.RecallId, content.ExpiresAt));
        // A reward spanning shards is checked on every shard before any part applies (each holds its check briefly
        // against a conflicting reward), so a refusal on one shard leaves every other untouched.
        if (parts.Count > 1)
        {
            await FanOutAsync(FanOutPolicy.RewardPrepare, bank, parts.Keys, async (s, _) =>
            {
                await bank.Shard(s).PrepareRewardAsync(parts[s]);
                return true;
            });
        }

        // The id's home shard keeps its bank-wide record: registered there first, or applied there first when the home
        // holds a part. Each shard then applies its part under the same id, so a retry after a partial failure completes
        // the missing parts and returns the original result for the applied ones.
        int home = bank.Info.ShardOf(OperationIds.SlotOf(request.OperationId));
        var updated = new Dictionary<MemoryId, ShardQ>();
        if (parts.TryGetValue(home, out var homePart))
        {
            Collect(await guard.CallAsync(bank.ShardKey(home), () => bank.Shard(home).RewardAsync(homePart)));
        }
        else
        {
            await ClaimAsync(bank, request.OperationId, hash, route: null, replacing: null);
        }

        var rest = await FanOutAsync(FanOutPolicy.RewardApply, bank, parts.Keys.Where(s => s != home), (s, _) => bank.Shard(s).RewardAsync(parts[s]));
        foreach (var part in rest.Answers)
        {
            Collect(part);
        }

        return new RewardResponse(targets.Select(id => new MemoryQ(id.ToString(), updated[id].Q, updated[id].Visits)).ToArray());

        void Collect(ShardQ[] part)
        {
            foreach (var q in part)
            {
                updated[q.Id] = q;
            }
        }
    }

    private async Task<WriteResponse> WriteCoreAsync(CachedBank bank, WriteRequest request)
    {
        var info = bank.Info;
        RequireEmbedder(info, request.EmbedderId);
        _ = request.Intent ?? throw FieldError.Missing("intent", "an embedding vector");
        VectorValidation.ThrowIfInvalid(request.Intent, info.Dimension, "intent");
        // Above 1 no key can be joined (every memory is its own key), so asking the shards would be wasted work.
        List<ShardKeyMatch> candidates = request.RecallToken is { } token
            ? [.. tokens.Verify(token, info.Name, info.Incarnation, "recallToken").Keys]
            : bank.Options.MergeThreshold > 1 ? [] : await NearestKeysAsync(bank, request.Intent);

        // Exactly once whatever the routing: the first attempt fixes the route at the id's home shard, and every retry
        // (with or without the token, after the bank changed, after a crash) takes that route, where the shard's own log
        // returns the original result. New keys go to the slot of the id, which is on the home shard itself.
        // The payload hash (SHA-256 over the vector and both texts) is needed only for a claim: most writes make a new key
        // on their id's home shard and make none, and the shard hashes the payload for its own log anyway.
        byte[]? hash = null;
        int home = info.ShardOf(OperationIds.SlotOf(request.OperationId));
        var route = Route(candidates, bank.Options.MergeThreshold, request.OperationId);
        // claimed: the home shard holds this id with `route`; replacing: the claimed route whose key vanished.
        bool claimed = false;
        WriteRoute? replacing = null;
        // Each pass returns, or removes a vanished key from the candidates, or follows the route another attempt fixed;
        // the bound only guards against a livelock (the reference bank skips vanished keys the same way).
        int passes = (2 * candidates.Count) + 4;
        for (int pass = 0; pass < passes; pass++)
        {
            if ((info.ShardOf(route.Slot) != home && !claimed) || replacing is not null)
            {
                hash ??= OperationHashes.Write(request.Intent, request.IntentText, request.Experience, request.Success);
                var claim = await ClaimAsync(bank, request.OperationId, hash, route, replacing);
                if (claim.Applied is { } applied)
                {
                    return new WriteResponse(applied.Id.ToString(), applied.CreatedKey, applied.Q);
                }

                route = claim.Route ?? throw new OperationConflictException(request.OperationId);
                (claimed, replacing) = (true, null);
            }

            int shard = info.ShardOf(route.Slot);
            var write = new ShardWrite(info.Version, request.OperationId, route.Slot, route.JoinKey, request.Intent, request.IntentText, request.Experience, request.Success);
            try
            {
                var result = await guard.CallAsync(bank.ShardKey(shard), () => bank.Shard(shard).WriteAsync(write));
                return new WriteResponse(result.Id.ToString(), result.CreatedKey, result.Q);
            }
            catch (WriteRoutedElsewhereException elsewhere)
            {
                // The home shard holds the route an earlier attempt chose: take it.
                (route, claimed) = (elsewhere.Route, true);
            }
            catch (IntentKeyGoneException gone)
            {
                // The key was deleted after the recall, and before this write applied there: decide again among the keys
                // that remain, and replace the claimed route (once, whichever attempt asks first).
                candidates.RemoveAll(c => c.KeySequence == gone.KeySequence);
                replacing = claimed ? route : null;
                claimed = false;
                route = Route(candidates, bank.Options.MergeThreshold, request.OperationId);
            }
        }

        throw new ShardUnavailableException($"Write '{request.OperationId}' of bank '{info.Name}' could not settle on a key (the bank changed under every attempt); retry with the same id.");
    }

    // The write rule over the candidate keys: join the most similar above the merge threshold, or a new key in the slot
    // of the operation id (spread evenly, and the same on every retry).
    private static WriteRoute Route(List<ShardKeyMatch> candidates, double mergeThreshold, string operationId)
    {
        long? join = WriteRule.ChooseKey(candidates.Select(c => new KeyMatch(c.KeySequence, c.Similarity)), mergeThreshold);
        return join is { } k ? new WriteRoute(candidates.First(c => c.KeySequence == k).Slot, k) : new WriteRoute(OperationIds.SlotOf(operationId), null);
    }

    private Task<ShardClaimResult> ClaimAsync(CachedBank bank, string operationId, byte[] hash, WriteRoute? route, WriteRoute? replacing)
    {
        int home = bank.Info.ShardOf(OperationIds.SlotOf(operationId));
        var claim = new ShardClaim(bank.Info.Version, operationId, hash, route, replacing);
        return guard.CallAsync(bank.ShardKey(home), () => bank.Shard(home).ClaimAsync(claim));
    }

    private async Task ClaimUnlessHomeAsync(CachedBank bank, string operationId, byte[] hash, int target)
    {
        if (bank.Info.ShardOf(OperationIds.SlotOf(operationId)) != target)
        {
            await ClaimAsync(bank, operationId, hash, route: null, replacing: null);
        }
    }

    private async Task<List<ShardKeyMatch>> NearestKeysAsync(CachedBank bank, float[] intent)
    {
        var request = new ShardNearest(bank.Info.Version, intent);
        var nearest = await FanOutAsync(FanOutPolicy.WriteNearestKey, bank, Enumerable.Range(0, bank.Info.ShardCount), (s, ct) => bank.Shard(s).NearestKeyAsync(request, ct));
        return [.. nearest.Answers.Where(n => n.HasValue).Select(n => n!.Value)];
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
