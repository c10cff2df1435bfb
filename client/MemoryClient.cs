using MemRL.Core;
using MemRL.Core.Recall;
using MemRL.Errors;
using MemRL.GrainInterfaces;

namespace MemRL.Client;

/// <summary>
/// Entry point for agents written in C#: bank administration and a <see cref="BankClient"/> per bank. Arguments are
/// validated here, before the network hop, with the same rules the grains apply.
/// </summary>
public sealed class MemoryClient(IGrainFactory grains)
{
    /// <summary>Creates a bank, or returns it when it already exists with the same spec.</summary>
    public Task<BankInfo> CreateBankAsync(string bank, BankSpec spec)
    {
        WireValidation.BankName(bank);
        _ = spec ?? throw FieldError.Missing(nameof(spec), "a bank definition");
        return grains.GetGrain<IBankGrain>(bank).CreateAsync(spec);
    }

    /// <summary>
    /// The banks whose name starts with <paramref name="prefix"/>, in ordinal order, with the memories and text bytes the
    /// store holds for each (as last committed; one store query, no shard is asked).
    /// </summary>
    public Task<IReadOnlyList<BankUsage>> ListBanksAsync(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        return grains.GetGrain<IBankCatalogGrain>(0).ListAsync(prefix);
    }

    /// <summary>The bank's description, or null when it does not exist.</summary>
    public Task<BankInfo?> GetBankAsync(string bank)
    {
        WireValidation.BankName(bank);
        return grains.GetGrain<IBankGrain>(bank).GetAsync();
    }

    /// <summary>Replaces a bank's MemRL options; takes effect for every later call on every silo.</summary>
    public Task<BankInfo> UpdateOptionsAsync(string bank, BankOptions options)
    {
        WireValidation.BankName(bank);
        _ = options ?? throw FieldError.Missing(nameof(options), "the bank's options");
        return grains.GetGrain<IBankGrain>(bank).UpdateOptionsAsync(options);
    }

    /// <summary>Grows a bank to <paramref name="shardCount"/> shards; memories keep their ids.</summary>
    public Task<BankInfo> GrowShardsAsync(string bank, int shardCount)
    {
        WireValidation.BankName(bank);
        return grains.GetGrain<IBankGrain>(bank).GrowShardsAsync(shardCount);
    }

    /// <summary>
    /// Writes an export of the bank (docs/export-format.md) to <paramref name="output"/>, taken at one bank-version
    /// barrier; only the memories of <paramref name="userId"/> when it is set. Writes to the bank are refused (retryable)
    /// while the shards are read.
    /// </summary>
    public Task<Export.ExportCounts> ExportBankAsync(string bank, Stream output, string? userId = null, IProgress<Export.ExportCounts>? progress = null,
        CancellationToken cancellationToken = default) =>
        new Export.BankExporter(grains).ExportAsync(bank, output, userId, progress, cancellationToken);

    /// <summary>
    /// Imports an export stream into a new bank named <paramref name="bank"/>, all or nothing: a stream that is truncated,
    /// corrupted, newer or of another dimension is refused before anything is created, and a failure while loading deletes
    /// the new bank. Memory ids change (they name the new bank); slots, sequences, Q and visits are kept.
    /// </summary>
    public Task<Export.ImportResult> ImportBankAsync(string bank, Stream input, Export.ImportSettings? settings = null, IProgress<Export.ExportCounts>? progress = null,
        CancellationToken cancellationToken = default) =>
        new Export.BankImporter(grains).ImportAsync(bank, input, settings, progress, cancellationToken);

    /// <summary>
    /// Deletes a bank and every memory in it (physically, from storage); false when it did not exist. A bank created
    /// later under the same name starts empty, and no id or token of the deleted one reaches it.
    /// </summary>
    public Task<bool> DeleteBankAsync(string bank)
    {
        WireValidation.BankName(bank);
        return grains.GetGrain<IBankGrain>(bank).DeleteAsync();
    }

    /// <summary>A handle for recall, reward, write, get, delete and stats on one bank.</summary>
    public BankClient Bank(string bank)
    {
        WireValidation.BankName(bank);
        return new BankClient(grains, bank);
    }
}

/// <summary>Per-request recall settings; null members use the bank's options.</summary>
/// <param name="Filter">Only memories that pass every clause take part (equality or set membership per field, AND across
/// fields; docs/scopes.md). <see cref="ScopeWire.FilterOf"/> makes the filter of one scope.</param>
public sealed record RecallSettings(int? K1 = null, int? K2 = null, double? Lambda = null, double? Delta = null,
    bool RequireFullCoverage = false, string? EmbedderId = null, FilterClause[]? Filter = null);

/// <summary>Recall, reward, write, get, delete and stats on one bank.</summary>
public sealed class BankClient
{
    internal BankClient(IGrainFactory grains, string bank)
    {
        // Resolved once: GetGrain looks the grain type up by reflection on every call.
        Coordinator = grains.GetGrain<IMemoryCoordinatorGrain>(0);
        BankGrain = grains.GetGrain<IBankGrain>(bank);
        Name = bank;
    }

    /// <summary>The bank's name.</summary>
    public string Name { get; }

    private IMemoryCoordinatorGrain Coordinator { get; }

    private IBankGrain BankGrain { get; }

    /// <summary>Similarity recall then value-aware selection. An empty result means "run without memory".</summary>
    public Task<RecallResponse> RecallAsync(float[] query, RecallSettings? settings = null, CancellationToken cancellationToken = default)
    {
        WireValidation.Vector(query, nameof(query));
        settings ??= new RecallSettings();
        // MemRL.Core's ranges, as the coordinator applies them; the bank's k1 bounds k2 there, when only k2 is set.
        new RecallOverrides(settings.K1, settings.K2, settings.Lambda, settings.Delta).Validate();
        var filter = ScopeWire.ToClauses(ScopeWire.ToFilter(settings.Filter));
        var request = new RecallRequest(query, settings.K1, settings.K2, settings.Lambda, settings.Delta, settings.RequireFullCoverage, settings.EmbedderId, filter);
        return Coordinator.RecallAsync(Name, request, cancellationToken);
    }

    /// <summary>
    /// Applies one reward to the memories a recall returned (or the subset named). Each memory takes at most one reward
    /// per recall: the same value again returns the first result, another value is a <see cref="RewardConflictException"/>.
    /// Without an operation id, the id is derived from the token and the memories named, so a retry applies once.
    /// </summary>
    public Task<RewardResponse> RewardAsync(string recallToken, double reward, string? operationId = null, IReadOnlyList<string>? memoryIds = null)
    {
        if (string.IsNullOrEmpty(recallToken))
        {
            // "token" is the reward body's member for it.
            throw recallToken is null ? FieldError.Missing("token", "the token a recall returned")
                : FieldError.Invalid("token", "the token a recall returned", FieldError.Quote(recallToken), Reasons.TokenInvalid);
        }

        QRule.ValidateReward(reward, nameof(reward));
        // Derived from the token and the memories named, so a retry of the same call applies once and rewarding one subset
        // of a recall, then another, are two operations (the shards take one reward per recall and memory either way).
        operationId ??= "reward:" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
            memoryIds is null ? recallToken : recallToken + "\n" + string.Join(',', memoryIds.Order(StringComparer.Ordinal)))))[..32];
        WireValidation.OperationId(operationId);
        if (memoryIds is not null)
        {
            for (int i = 0; i < memoryIds.Count; i++)
            {
                if (!MemoryId.TryParse(memoryIds[i], out _))
                {
                    throw FieldError.Invalid($"memoryIds[{i}]", "a memory id as returned by recall", FieldError.Quote(memoryIds[i]));
                }
            }
        }

        return Coordinator.RewardAsync(Name, new RewardRequest(recallToken, reward, operationId, memoryIds));
    }

    /// <summary>Stores a new experience. Pass the episode's recall token so its Phase-A keys decide the merge.</summary>
    /// <param name="scope">Who the memory belongs to; it joins only keys of its own scope unless the bank merges across scopes.</param>
    /// <param name="metadata">Free key–values stored with the memory (at most 16; docs/scopes.md has the limits).</param>
    /// <param name="ttlSeconds">How long the memory lives, in seconds (1 to 100 years): the first retention run after that
    /// archives it, whatever its Q (docs/retention.md). Null: no expiry.</param>
    public Task<WriteResponse> WriteAsync(float[] intent, string intentText, string experience, bool success,
        string? recallToken = null, string? operationId = null, string? embedderId = null,
        ScopeFields? scope = null, IReadOnlyDictionary<string, string>? metadata = null, double? ttlSeconds = null)
    {
        WireValidation.Vector(intent, nameof(intent));
        WireValidation.WriteTexts(intentText, experience);
        WireValidation.TimeToLive(ttlSeconds);
        _ = scope?.ToScope();
        var tags = ScopeWire.From(ScopeWire.ToMetadata(metadata));

        operationId ??= Guid.NewGuid().ToString("N");
        WireValidation.OperationId(operationId);
        return Coordinator.WriteAsync(Name, new WriteRequest(intent, intentText, experience, success, operationId, recallToken, embedderId, scope, tags, ttlSeconds));
    }

    /// <summary>
    /// Writes the items in order, each exactly as <see cref="WriteAsync"/> would (so a batch leaves the bank as the same
    /// writes one by one do), and returns one result per item. Every item is checked before the first applies: a bad
    /// item refuses the batch, naming it (<c>items[3].intent</c>), and nothing is written. Each item is its own operation,
    /// under its own id or one derived from <paramref name="batchKey"/> and its index, so sending the same batch again
    /// after an interruption (a lost answer, a killed silo) returns the applied items' first results and applies the rest.
    /// </summary>
    /// <param name="batchKey">The batch's idempotency key; null makes a fresh one (then a retry is a new batch).</param>
    public async Task<BatchWriteResponse> WriteBatchAsync(IReadOnlyList<BatchWriteItem> items, string? batchKey = null)
    {
        _ = items ?? throw FieldError.Missing(nameof(items), "a list of writes");
        BatchWrites.ValidateCount(items.Count);
        batchKey ??= Guid.NewGuid().ToString("N");
        WireValidation.OperationId(batchKey, nameof(batchKey));
        // The dimension is the one check a single write leaves to the bank: asked once, so a batch whose item 700 has the
        // wrong length is refused before item 0 is written.
        var info = await BankGrain.GetAsync() ?? throw new BankNotFoundException(Name);
        var requests = new WriteRequest[items.Count];
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < items.Count; i++)
        {
            var item = items[i] ?? throw FieldError.Missing($"items[{i}]", "a write");
            string operationId = item.OperationId ?? BatchWrites.ItemOperationId(batchKey, i);
            BatchWrites.CheckItem(i, () =>
            {
                WireValidation.Vector(item.Intent, "intent");
                if (item.Intent.Length != info.Dimension)
                {
                    throw FieldError.Invalid("intent", $"a vector of the bank's dimension {info.Dimension}", $"{item.Intent.Length} elements");
                }

                WireValidation.WriteTexts(item.IntentText, item.Experience);
                WireValidation.OperationId(operationId, "operationId");
                _ = item.Scope?.ToScope();
                _ = ScopeWire.ToMetadata(item.Metadata);
                WireValidation.TimeToLive(item.TtlSeconds);
            });
            // Two items under one id would be one operation: the second would return the first's result, or conflict.
            if (!ids.Add(operationId))
            {
                throw FieldError.Invalid($"items[{i}].operationId", "an id no earlier item of the batch has", FieldError.Quote(operationId));
            }

            requests[i] = new WriteRequest(item.Intent, item.IntentText, item.Experience, item.Success, operationId, item.RecallToken, item.EmbedderId,
                item.Scope, ScopeWire.From(ScopeWire.ToMetadata(item.Metadata)), item.TtlSeconds);
        }

        // In order, one at a time: an item may join a key an earlier item of the batch made, exactly as the same writes
        // sent one by one would, so the bank (and the reference bank's equivalence) does not depend on batching.
        var results = new BatchWriteResult[requests.Length];
        for (int i = 0; i < requests.Length; i++)
        {
            var written = await Coordinator.WriteAsync(Name, requests[i]);
            results[i] = new BatchWriteResult(i, requests[i].OperationId, written.MemoryId, written.CreatedKey, written.Q);
        }

        return new BatchWriteResponse(batchKey, results);
    }

    /// <summary>One memory; throws <see cref="MemoryNotFoundException"/> when it does not exist.</summary>
    public Task<MemoryInfo> GetAsync(string memoryId)
    {
        MemoryId.Parse(memoryId, nameof(memoryId));
        return Coordinator.GetAsync(Name, memoryId);
    }

    /// <summary>
    /// One page of a memory's reward history, newest first (docs/history.md): <paramref name="limit"/> 1–256 entries,
    /// older ones from a page's <see cref="MemoryHistoryPage.NextCursor"/>. Throws <see cref="MemoryNotFoundException"/>
    /// when the memory does not exist.
    /// </summary>
    public Task<MemoryHistoryPage> GetHistoryAsync(string memoryId, int limit = MemoryHistoryPage.DefaultLimit, long? cursor = null)
    {
        MemoryId.Parse(memoryId, nameof(memoryId));
        return Coordinator.GetHistoryAsync(Name, memoryId, cursor, limit);
    }

    /// <summary>
    /// Edits a memory: <paramref name="experience"/> replaces its text, <paramref name="metadata"/> its whole metadata (an
    /// empty one clears it); null leaves either unchanged, and at least one must be given. Its id, key, scope, Q and
    /// visits stay, so recall ranks it as before. Applied once per <paramref name="operationId"/>. Returns the memory
    /// after the edit; throws <see cref="MemoryNotFoundException"/> when it does not exist.
    /// </summary>
    public Task<MemoryInfo> EditAsync(string memoryId, string? experience = null, IReadOnlyDictionary<string, string>? metadata = null, string? operationId = null)
    {
        MemoryId.Parse(memoryId, nameof(memoryId));
        WireValidation.Edit(experience, metadata);
        operationId ??= Guid.NewGuid().ToString("N");
        WireValidation.OperationId(operationId);
        return Coordinator.EditAsync(Name, memoryId, experience, metadata is null ? null : new Dictionary<string, string>(metadata), operationId);
    }

    /// <summary>
    /// Archives a memory (docs/retention.md): it leaves recall at once — its key too, when that held no other active
    /// memory — and stays restorable with <see cref="RestoreAsync"/> for the bank's retention period. Archiving an
    /// archived memory changes nothing. Applied once per <paramref name="operationId"/>. Returns the memory, with its
    /// archive time; throws <see cref="MemoryNotFoundException"/> when it does not exist.
    /// </summary>
    public Task<MemoryInfo> ArchiveAsync(string memoryId, string? operationId = null) => SetArchivedAsync(memoryId, archive: true, operationId);

    /// <summary>
    /// Restores an archived memory: it is recalled again at once, with the Q and history it had. Restoring an active
    /// memory changes nothing; after the retention period, or once purged, it is refused (naming <c>memoryId</c>, or
    /// <see cref="MemoryNotFoundException"/>). Applied once per <paramref name="operationId"/>.
    /// </summary>
    public Task<MemoryInfo> RestoreAsync(string memoryId, string? operationId = null) => SetArchivedAsync(memoryId, archive: false, operationId);

    private Task<MemoryInfo> SetArchivedAsync(string memoryId, bool archive, string? operationId)
    {
        MemoryId.Parse(memoryId, nameof(memoryId));
        operationId ??= Guid.NewGuid().ToString("N");
        WireValidation.OperationId(operationId);
        return Coordinator.ArchiveAsync(Name, memoryId, archive, operationId);
    }

    /// <summary>
    /// Runs the bank's retention policy once (docs/retention.md): purges archived memories past their retention period,
    /// archives what the rules name (low Q after enough visits; idle, unless protected by high Q), then caps the bank by
    /// utility, at most the policy's maxPerRun changes (<see cref="RetentionRunResult.More"/> says to run again). A bank
    /// without a policy only purges. Applied once per <paramref name="operationId"/>.
    /// </summary>
    public Task<RetentionRunResult> RunRetentionAsync(string? operationId = null)
    {
        operationId ??= Guid.NewGuid().ToString("N");
        WireValidation.OperationId(operationId);
        return Coordinator.RunRetentionAsync(Name, operationId);
    }

    /// <summary>Deletes a memory; false when it did not exist.</summary>
    public Task<bool> DeleteAsync(string memoryId, string? operationId = null)
    {
        MemoryId.Parse(memoryId, nameof(memoryId));
        operationId ??= Guid.NewGuid().ToString("N");
        WireValidation.OperationId(operationId);
        return Coordinator.DeleteAsync(Name, memoryId, operationId);
    }

    /// <summary>
    /// Deletes every memory that passes <paramref name="filter"/>, which must name a scope field (erase everything of
    /// one <c>userId</c>, say); returns how many. A retry with the same <paramref name="operationId"/> returns the first
    /// count and deletes nothing written since.
    /// </summary>
    public Task<int> DeleteMatchingAsync(FilterClause[] filter, string? operationId = null)
    {
        Core.Bank.ReferenceBank.RequireScopeField(ScopeWire.ToFilter(filter));
        operationId ??= Guid.NewGuid().ToString("N");
        WireValidation.OperationId(operationId);
        return Coordinator.DeleteMatchingAsync(Name, filter, operationId);
    }

    /// <summary>
    /// One page of the bank's memories (at most <paramref name="limit"/>, up to <see cref="BankLimits.MaxPageSize"/>);
    /// pass the page's <see cref="MemoryPage.NextCursor"/> for the next one, until it is null.
    /// </summary>
    /// <param name="cursor">The previous page's <see cref="MemoryPage.NextCursor"/>, or null for the first page.</param>
    /// <param name="limit">Most memories in the page.</param>
    /// <param name="filter">Only memories that pass it (pass the same filter with every page of one listing).</param>
    /// <param name="state">Active memories (the default), archived ones or both (pass the same with every page).</param>
    public Task<MemoryPage> ListAsync(string? cursor = null, int limit = 100, FilterClause[]? filter = null, MemoryListState state = MemoryListState.Active)
    {
        WireValidation.PageLimit(limit);
        WireValidation.ListState(state);
        return Coordinator.ListAsync(Name, cursor, limit, ScopeWire.ToClauses(ScopeWire.ToFilter(filter)), state);
    }

    /// <summary>
    /// Calibrates the bank from a sample of up to <paramref name="sampleSize"/> of its intent keys (DESIGN §1); with
    /// <paramref name="apply"/>, the options take the suggested delta and the similarity statistics.
    /// </summary>
    /// <param name="sampleSize">In [<see cref="BankLimits.MinCalibrationSample"/>, <see cref="BankLimits.MaxCalibrationSample"/>];
    /// the coordinator enforces the range (one place for one limit), naming the field <c>sample</c>.</param>
    /// <param name="apply">Whether to write the result into the bank's options.</param>
    public Task<BankCalibration> CalibrateAsync(int sampleSize = BankLimits.DefaultCalibrationSample, bool apply = false) =>
        Coordinator.CalibrateAsync(Name, sampleSize, apply);

    /// <summary>Keys, memories, per-shard sizes and the Q distribution.</summary>
    public Task<BankStats> GetStatsAsync() => Coordinator.GetStatsAsync(Name);

    /// <summary>
    /// A recall explained: the whole Phase-A pool, each candidate with its scores and why it was or was not returned. No
    /// recall token is signed, so nothing it returns can be rewarded; it changes nothing.
    /// </summary>
    public Task<RecallExplanation> ExplainAsync(float[] query, RecallSettings? settings = null, CancellationToken cancellationToken = default)
    {
        WireValidation.Vector(query, nameof(query));
        settings ??= new RecallSettings();
        new RecallOverrides(settings.K1, settings.K2, settings.Lambda, settings.Delta).Validate();
        var request = new RecallRequest(query, settings.K1, settings.K2, settings.Lambda, settings.Delta, settings.RequireFullCoverage, settings.EmbedderId);
        return Coordinator.ExplainAsync(Name, request, cancellationToken);
    }

    /// <summary>The bank's shards, reward timeline and its <paramref name="extremes"/> best and worst memories by Q (the operator console's view).</summary>
    public Task<BankInsight> GetInsightAsync(int extremes = 5)
    {
        WireValidation.InsightExtremes(extremes);
        return Coordinator.GetInsightAsync(Name, extremes);
    }
}
