using System.Security.Claims;
using MemRL.Client;
using MemRL.Embeddings;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace MemRL.Api;

/// <summary>
/// The routes. Each handler turns the tenant's names into the cluster's, embeds text when asked to, and calls the
/// .NET client: every MemRL rule (validation, recall, reward routing, idempotency) lives behind that one client.
/// </summary>
internal static class Endpoints
{
    public const string WriterPolicy = "memrl-writer";
    public const string TenantRateLimit = "memrl-tenant";
    private const string IdempotencyHeader = "Idempotency-Key";

    public static void Map(IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").RequireAuthorization().RequireRateLimiting(TenantRateLimit).WithTags("MemRL");
        // The exception handler runs after routing state is cleared: keep the names its messages need.
        v1.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            http.Items[Problems.BankItem] = http.Request.RouteValues["bank"];
            http.Items[Problems.MemoryIdItem] = http.Request.RouteValues["memoryId"];
            // A memory id is checked before any handler runs: what is not an id never reaches the cluster.
            if (http.Request.RouteValues["memoryId"] is string memoryId && !MemoryId.TryParse(memoryId, out _))
            {
                throw MemRL.Errors.FieldError.Invalid("memoryId", "a memory id of the form 'xxxxxxxx-xxxx-x…' (hex) as returned by recall or write", memoryId);
            }

            return await next(context);
        });
        var banks = v1.MapGroup("/banks");
        banks.MapPost("", CreateBankAsync).RequireAuthorization(WriterPolicy).WithName("CreateBank").ProducesProblem(400).ProducesProblem(403).ProducesProblem(409);
        banks.MapGet("", ListBanksAsync).WithName("ListBanks");
        banks.MapGet("/{bank}", GetBankAsync).WithName("GetBank").ProducesProblem(404);
        banks.MapPut("/{bank}/options", ReplaceOptionsAsync).RequireAuthorization(WriterPolicy).Accepts<BankOptions>("application/json")
            .WithName("ReplaceOptions").ProducesProblem(400).ProducesProblem(404);
        banks.MapPatch("/{bank}/options", MergeOptionsAsync).RequireAuthorization(WriterPolicy).Accepts<BankOptions>("application/json", "application/merge-patch+json")
            .WithName("UpdateOptions").ProducesProblem(400).ProducesProblem(404);
        banks.MapDelete("/{bank}", DeleteBankAsync).RequireAuthorization(WriterPolicy).WithName("DeleteBank").ProducesProblem(404);
        banks.MapGet("/{bank}/stats", StatsAsync).WithName("GetStats").ProducesProblem(404);
        banks.MapPost("/{bank}/calibrate", CalibrateAsync).WithName("Calibrate").ProducesProblem(400).ProducesProblem(403).ProducesProblem(404);
        banks.MapPost("/{bank}/recall", RecallAsync).WithName("Recall").ProducesProblem(400).ProducesProblem(404).ProducesProblem(503);
        banks.MapPost("/{bank}/reward", RewardAsync).RequireAuthorization(WriterPolicy).WithName("Reward").ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);
        banks.MapPost("/{bank}/memories", WriteAsync).RequireAuthorization(WriterPolicy).WithName("Write").ProducesProblem(400).ProducesProblem(403).ProducesProblem(404).ProducesProblem(409);
        banks.MapPost("/{bank}/memories:batch", WriteBatchAsync).RequireAuthorization(WriterPolicy).WithName("WriteBatch").ProducesProblem(400).ProducesProblem(403).ProducesProblem(404).ProducesProblem(409);
        banks.MapGet("/{bank}/memories", ListMemoriesAsync).WithName("ListMemories").ProducesProblem(400).ProducesProblem(404);
        banks.MapDelete("/{bank}/memories", DeleteMatchingAsync).RequireAuthorization(WriterPolicy).WithName("DeleteMemoriesByScope")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);
        banks.MapGet("/{bank}/memories/{memoryId}", GetMemoryAsync).WithName("GetMemory").ProducesProblem(400).ProducesProblem(404);
        banks.MapGet("/{bank}/memories/{memoryId}/history", GetHistoryAsync).WithName("GetMemoryHistory").ProducesProblem(400).ProducesProblem(404);
        banks.MapPatch("/{bank}/memories/{memoryId}", EditMemoryAsync).RequireAuthorization(WriterPolicy).WithName("EditMemory")
            .ProducesProblem(400).ProducesProblem(403).ProducesProblem(404).ProducesProblem(409);
        banks.MapPost("/{bank}/memories/{memoryId}/archive", ArchiveMemoryAsync).RequireAuthorization(WriterPolicy).WithName("ArchiveMemory")
            .ProducesProblem(400).ProducesProblem(403).ProducesProblem(404).ProducesProblem(409).ProducesProblem(503);
        banks.MapPost("/{bank}/memories/{memoryId}/restore", RestoreMemoryAsync).RequireAuthorization(WriterPolicy).WithName("RestoreMemory")
            .ProducesProblem(400).ProducesProblem(403).ProducesProblem(404).ProducesProblem(409).ProducesProblem(503);
        banks.MapPost("/{bank}/retention:run", RunRetentionAsync).RequireAuthorization(WriterPolicy).WithName("RunRetention")
            .ProducesProblem(403).ProducesProblem(404).ProducesProblem(409).ProducesProblem(503);
        banks.MapDelete("/{bank}/memories/{memoryId}", DeleteMemoryAsync).RequireAuthorization(WriterPolicy).WithName("DeleteMemory").ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);
        // Export is a read (a read-only key may take a backup); import creates a bank, so it needs a key that may write.
        banks.MapGet("/{bank}/export", BankTransfer.ExportAsync).WithName("ExportBank")
            .Produces(200, contentType: BankTransfer.ContentType).ProducesProblem(400).ProducesProblem(404).ProducesProblem(503);
        banks.MapPost("/{bank}/import", BankTransfer.ImportAsync).RequireAuthorization(WriterPolicy).WithName("ImportBank")
            .Accepts<Stream>(BankTransfer.ContentType, "application/octet-stream")
            .Produces<ImportView>(201).ProducesProblem(400).ProducesProblem(403).ProducesProblem(409);
        Console.ConsoleEndpoints.MapReads(banks);
    }

    private static async Task<Ok<BankListView>> ListBanksAsync(ClaimsPrincipal user, TenantUsage usage) =>
        TypedResults.Ok(new BankListView((await usage.ListAsync(Tenants.TenantOf(user))).Select(b => new BankUsageView(b.Name, b.Memories, b.TextBytes)).ToList()));

    private static async Task<Results<Created<BankView>, Ok<BankView>>> CreateBankAsync(
        CreateBankBody body, ClaimsPrincipal user, MemoryClient memory, TextEmbedders embedders, BankEmbedders bankEmbedders, TenantUsage usage)
    {
        string name = Required(body.Name, "name", "a bank name");
        string bank = Tenants.ClusterBankName(Tenants.TenantOf(user), name, "name");
        var standard = embedders.Default;
        if (body.EmbedderId is null && body.Dimension is { } dimension && dimension != standard.Dimension)
        {
            // Without an embedder id the bank is the server embedder's, whose vectors have its dimension only.
            throw FieldError.Missing("embedderId",
                $"the id of the model that makes your vectors of dimension {dimension}, or no dimension (the server's embedder '{standard.EmbedderId}' makes {standard.Dimension})");
        }

        // A text bank: no embedder id (the default's), or the id of an embedder this server hosts (a hashing bank, say).
        HostedEmbedder? text = body.EmbedderId is null ? standard : embedders.TryGet(body.EmbedderId, out var hosted) ? hosted : null;
        if (text is not null && body.Dimension is { } given && given != text.Dimension)
        {
            throw FieldError.Invalid("dimension", $"{text.Dimension}, the dimension of '{text.EmbedderId}', or no dimension", FieldError.Format(given));
        }

        // Options left out: a text bank gets the gate measured for its embedder (docs/benchmarks.md, "Text embedders").
        var options = body.Options ?? (text?.RecommendedDelta is { } delta ? new BankOptions { Delta = delta } : null);
        var spec = new BankSpec(body.Dimension ?? text?.Dimension ?? standard.Dimension, body.EmbedderId ?? standard.EmbedderId, options, body.ShardCount ?? 2, body.Index);
        bankEmbedders.Forget(bank);
        bool existed = await memory.GetBankAsync(bank) is not null;
        string tenant = Tenants.TenantOf(user);
        if (!existed)
        {
            await usage.CheckNewBankAsync(tenant);
        }

        var view = BankView.From(await memory.CreateBankAsync(bank, spec), name);
        if (!existed)
        {
            usage.AddBank(tenant);
        }

        return existed ? TypedResults.Ok(view) : TypedResults.Created($"/v1/banks/{name}", view);
    }

    private static async Task<Ok<BankView>> GetBankAsync(string bank, ClaimsPrincipal user, MemoryClient memory)
    {
        var info = await memory.GetBankAsync(Tenants.ClusterBankName(Tenants.TenantOf(user), bank)) ?? throw new BankNotFoundException(bank);
        return TypedResults.Ok(BankView.From(info, bank));
    }

    // PUT replaces the options: every member must be given (a PUT of one member used to reset all the others to their
    // defaults). The body is read here rather than bound, so that presence can be told from a default.
    private static async Task<Ok<BankView>> ReplaceOptionsAsync(
        string bank, HttpRequest request, ClaimsPrincipal user, MemoryClient memory, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json)
    {
        string name = Tenants.ClusterBankName(Tenants.TenantOf(user), bank);
        _ = await memory.GetBankAsync(name) ?? throw new BankNotFoundException(bank);
        var given = await OptionsPatch.ReadObjectAsync(request, json.Value.SerializerOptions);
        var options = OptionsPatch.Replace(given, json.Value.SerializerOptions);
        return TypedResults.Ok(BankView.From(await memory.UpdateOptionsAsync(name, options), bank));
    }

    // PATCH merges the members given into the current options (RFC 7396); the result is validated as a whole by the
    // bank, so an error applies nothing.
    private static async Task<Ok<BankView>> MergeOptionsAsync(
        string bank, HttpRequest request, ClaimsPrincipal user, MemoryClient memory, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json)
    {
        string name = Tenants.ClusterBankName(Tenants.TenantOf(user), bank);
        var current = await memory.GetBankAsync(name) ?? throw new BankNotFoundException(bank);
        var given = await OptionsPatch.ReadObjectAsync(request, json.Value.SerializerOptions);
        var options = OptionsPatch.Merge(current.Options, given, json.Value.SerializerOptions);
        return TypedResults.Ok(BankView.From(await memory.UpdateOptionsAsync(name, options), bank));
    }

    private static async Task<NoContent> DeleteBankAsync(string bank, ClaimsPrincipal user, MemoryClient memory, TenantUsage usage, BankEmbedders bankEmbedders)
    {
        string name = Tenants.ClusterBankName(Tenants.TenantOf(user), bank);
        bool deleted = await memory.DeleteBankAsync(name);
        bankEmbedders.Forget(name);
        usage.Forget(Tenants.TenantOf(user));
        return deleted ? TypedResults.NoContent() : throw new BankNotFoundException(bank);
    }

    private static async Task<Ok<BankStats>> StatsAsync(string bank, ClaimsPrincipal user, MemoryClient memory) =>
        TypedResults.Ok(await BankOf(memory, user, bank).GetStatsAsync());

    // Measuring is a read; applying changes the options, so it needs a key that may write.
    private static async Task<Results<Ok<CalibrationView>, ForbidHttpResult>> CalibrateAsync(
        string bank, CalibrateBody? body, ClaimsPrincipal user, MemoryClient memory)
    {
        body ??= new CalibrateBody();
        if (body.Apply && !user.HasClaim(c => c.Type == Tenants.WriterClaim))
        {
            return TypedResults.Forbid();
        }

        // The coordinator enforces the sample's range (BankLimits.ValidateCalibrationSample), naming the field "sample".
        var c = await BankOf(memory, user, bank).CalibrateAsync(body.Sample ?? BankLimits.DefaultCalibrationSample, body.Apply);
        return TypedResults.Ok(new CalibrationView(c.Delta, c.SimilarityMean, c.SimilarityStdDev, c.SampleSize, c.PairCount, c.Applied, BankView.From(c.Bank, bank)));
    }

    private static async Task<Ok<RecallView>> RecallAsync(
        string bank, RecallBody body, HttpResponse response, ClaimsPrincipal user, MemoryClient memory, TextEmbedders embedders, BankEmbedders bankEmbedders,
        CancellationToken cancellationToken)
    {
        var client = BankOf(memory, user, bank);
        var input = new VectorOrText(body.Query, "query", body.QueryText, "queryText", body.EmbedderId);
        var filter = ScopeBinding.FromJson(body.Filter);
        var r = await WithBankVectorAsync(input, bank, user, memory, embedders, bankEmbedders, response, cancellationToken, (query, embedderId) =>
            client.RecallAsync(query, new RecallSettings(body.K1, body.K2, body.Lambda, body.Delta, body.RequireFullCoverage, embedderId, filter), cancellationToken));
        return TypedResults.Ok(new RecallView(r.Token, r.Coverage, r.PoolSize, r.Explored, r.Memories));
    }

    private static async Task<Ok<RewardResponse>> RewardAsync(
        string bank, RewardBody body, HttpRequest request, ClaimsPrincipal user, MemoryClient memory, IOptions<ApiOptions> options)
    {
        var client = BankOf(memory, user, bank);
        string token = Required(body.Token, "token", "the token a recall returned");
        double reward = body.Reward ?? throw Missing("reward", "a finite number");
        if (body.MemoryIds is { Count: var count } && count > options.Value.MaxRewardIds)
        {
            throw FieldError.Invalid("memoryIds", $"at most {options.Value.MaxRewardIds} ids", $"{count} ids");
        }

        return TypedResults.Ok(await client.RewardAsync(token, reward, IdempotencyKey(request), body.MemoryIds));
    }

    private static async Task<Created<WriteResponse>> WriteAsync(
        string bank, WriteBody body, HttpRequest request, ClaimsPrincipal user, MemoryClient memory, TextEmbedders embedders, BankEmbedders bankEmbedders,
        TenantUsage usage, CancellationToken cancellationToken)
    {
        var client = BankOf(memory, user, bank);
        string experience = Required(body.Experience, "experience", "the experience text");
        bool success = body.Success ?? throw Missing("success", "true or false");
        var input = new VectorOrText(body.Intent, "intent", body.Intent is null ? body.IntentText : null, "intentText", body.EmbedderId);
        input.Validate();
        // Scope and metadata are checked before the text is embedded or any quota is counted.
        _ = body.Scope?.ToScope();
        _ = ScopeWire.ToMetadata(body.Metadata);
        WireValidation.TimeToLive(body.TtlSeconds);
        string tenant = Tenants.TenantOf(user);
        long textBytes = System.Text.Encoding.UTF8.GetByteCount(experience) + System.Text.Encoding.UTF8.GetByteCount(body.IntentText ?? "");
        await usage.CheckWriteAsync(tenant, textBytes);
        string? idempotencyKey = IdempotencyKey(request);
        var written = await WithBankVectorAsync(input, bank, user, memory, embedders, bankEmbedders, request.HttpContext.Response, cancellationToken, (intent, embedderId) =>
            client.WriteAsync(intent, body.IntentText ?? "", experience, success, body.RecallToken, idempotencyKey, embedderId, body.Scope, body.Metadata, body.TtlSeconds));
        usage.AddWrite(tenant, textBytes);
        return TypedResults.Created($"/v1/banks/{bank}/memories/{written.MemoryId}", written);
    }

    // Every item is checked, and its text embedded, before the first is written: a bad item refuses the batch and names
    // it (items[3].intent). The quota is checked for the batch's whole text up front and counted for what was written.
    private static async Task<Ok<BatchWriteResponse>> WriteBatchAsync(
        string bank, WriteBatchBody body, HttpRequest request, ClaimsPrincipal user, MemoryClient memory, TextEmbedders embedders, BankEmbedders bankEmbedders,
        TenantUsage usage, CancellationToken cancellationToken)
    {
        var client = BankOf(memory, user, bank);
        var items = body.Items ?? throw Missing("items", "a list of writes");
        BatchWrites.ValidateCount(items.Count);
        string? batchKey = IdempotencyKey(request);
        var writes = new BatchWriteItem[items.Count];
        var itemBytes = new long[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            var item = items[i] ?? throw Missing($"items[{i}]", "a write");
            VectorOrText? input = null;
            BatchWrites.CheckItem(i, () =>
            {
                _ = item.Experience ?? throw Missing("experience", "the experience text");
                _ = item.Success ?? throw Missing("success", "true or false");
                input = new VectorOrText(item.Intent, "intent", item.Intent is null ? item.IntentText : null, "intentText", item.EmbedderId);
                input.Validate();
                WireValidation.WriteTexts(item.IntentText ?? "", item.Experience);
                _ = item.Scope?.ToScope();
                _ = ScopeWire.ToMetadata(item.Metadata);
                WireValidation.TimeToLive(item.TtlSeconds);
                if (item.IdempotencyKey is { } own)
                {
                    WireValidation.OperationId(own, "idempotencyKey");
                }
            });
            itemBytes[i] = System.Text.Encoding.UTF8.GetByteCount(item.Experience!) + System.Text.Encoding.UTF8.GetByteCount(item.IntentText ?? "");
            writes[i] = new BatchWriteItem(null!, item.IntentText ?? "", item.Experience!, item.Success!.Value, item.IdempotencyKey, item.RecallToken, item.EmbedderId,
                item.Scope, item.Metadata, item.TtlSeconds);
            var (vector, embedderId) = await WithBankVectorAsync(input!, bank, user, memory, embedders, bankEmbedders, request.HttpContext.Response, cancellationToken,
                (v, e) => Task.FromResult((v, e)));
            writes[i] = writes[i] with { Intent = vector, EmbedderId = embedderId };
        }

        string tenant = Tenants.TenantOf(user);
        await usage.CheckWriteAsync(tenant, itemBytes.Sum());
        var written = await client.WriteBatchAsync(writes, batchKey);
        foreach (long bytes in itemBytes)
        {
            usage.AddWrite(tenant, bytes);
        }

        return TypedResults.Ok(written);
    }

    // limit and state are read as text: the framework's own binding error names the .NET type ("Nullable<int> limit").
    // Every other query parameter is a filter field (userId=…, metadata.topic=…; repeated for a set).
    private static async Task<Ok<MemoryPage>> ListMemoriesAsync(string bank, string? limit, string? cursor, string? state, HttpRequest request, ClaimsPrincipal user, MemoryClient memory) =>
        TypedResults.Ok(await BankOf(memory, user, bank).ListAsync(cursor, PageLimit(limit), ScopeBinding.FromQuery(request.Query, "limit", "cursor", "state"), ListStateOf(state)));

    // Exact lower-case names only: one spelling per state keeps cursors and caches honest.
    private static MemoryListState ListStateOf(string? state) => state switch
    {
        null or "active" => MemoryListState.Active,
        "archived" => MemoryListState.Archived,
        "all" => MemoryListState.All,
        _ => throw MemRL.Errors.FieldError.Invalid("state", "active, archived or all", MemRL.Errors.FieldError.Quote(state)),
    };

    // Erases everything of one scope (?userId=…; at least one scope field), exactly once under its Idempotency-Key.
    private static async Task<Ok<DeletedView>> DeleteMatchingAsync(string bank, HttpRequest request, ClaimsPrincipal user, MemoryClient memory, TenantUsage usage)
    {
        var filter = ScopeBinding.FromQuery(request.Query);
        MemRL.Core.Bank.ReferenceBank.RequireScopeField(ScopeWire.ToFilter(filter));
        int deleted = await BankOf(memory, user, bank).DeleteMatchingAsync(filter!, IdempotencyKey(request));
        usage.Forget(Tenants.TenantOf(user));
        return TypedResults.Ok(new DeletedView(deleted));
    }

    private static int PageLimit(string? limit)
    {
        const int defaultLimit = 100;
        // The actual value is the text as sent (it may not be a number); the expectation is the one every layer states.
        return limit is null ? defaultLimit
            : int.TryParse(limit, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n is >= 1 and <= BankLimits.MaxPageSize ? n
            : throw MemRL.Errors.FieldError.OutOfRange("limit", WireValidation.PageLimitExpected, limit);
    }

    private static async Task<Ok<MemoryInfo>> GetMemoryAsync(string bank, string memoryId, ClaimsPrincipal user, MemoryClient memory) =>
        TypedResults.Ok(await BankOf(memory, user, bank).GetAsync(memoryId));

    // limit and cursor arrive as text: a value that is not a number is named by its field with what was sent.
    private static async Task<Ok<MemoryHistoryPage>> GetHistoryAsync(string bank, string memoryId, string? limit, string? cursor, ClaimsPrincipal user, MemoryClient memory)
    {
        const System.Globalization.NumberStyles digits = System.Globalization.NumberStyles.None;
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        int pageLimit = limit is null ? MemoryHistoryPage.DefaultLimit
            : int.TryParse(limit, digits, invariant, out int n) && n is >= 1 and <= MemoryHistoryPage.MaxLimit ? n
            : throw MemRL.Errors.FieldError.OutOfRange("limit", $"an integer from 1 to {MemoryHistoryPage.MaxLimit}", limit);
        long? before = cursor is null ? null
            : long.TryParse(cursor, digits, invariant, out long c) && c >= 1 ? c
            : throw MemRL.Errors.FieldError.Invalid("cursor", "a positive integer (a page's nextCursor)", cursor);
        return TypedResults.Ok(await BankOf(memory, user, bank).GetHistoryAsync(memoryId, pageLimit, before));
    }

    // The text quota counts what the edit adds over the memory's current text; metadata is not counted (as on a write).
    private static async Task<Ok<MemoryInfo>> EditMemoryAsync(
        string bank, string memoryId, EditMemoryBody body, HttpRequest request, ClaimsPrincipal user, MemoryClient memory, TenantUsage usage)
    {
        WireValidation.Edit(body.Experience, body.Metadata);
        var client = BankOf(memory, user, bank);
        string tenant = Tenants.TenantOf(user);
        if (body.Experience is not null)
        {
            await usage.CheckEditAsync(tenant, (await client.GetAsync(memoryId)).Experience, body.Experience);
        }

        var edited = await client.EditAsync(memoryId, body.Experience, body.Metadata, IdempotencyKey(request));
        usage.Forget(tenant);
        return TypedResults.Ok(edited);
    }

    // Archived memories stay stored (restorable), so they keep counting against the tenant's quotas until purged or deleted.
    private static async Task<Ok<MemoryInfo>> ArchiveMemoryAsync(string bank, string memoryId, HttpRequest request, ClaimsPrincipal user, MemoryClient memory) =>
        TypedResults.Ok(await BankOf(memory, user, bank).ArchiveAsync(memoryId, IdempotencyKey(request)));

    private static async Task<Ok<MemoryInfo>> RestoreMemoryAsync(string bank, string memoryId, HttpRequest request, ClaimsPrincipal user, MemoryClient memory) =>
        TypedResults.Ok(await BankOf(memory, user, bank).RestoreAsync(memoryId, IdempotencyKey(request)));

    private static async Task<Ok<RetentionRunResult>> RunRetentionAsync(string bank, HttpRequest request, ClaimsPrincipal user, MemoryClient memory, TenantUsage usage)
    {
        var result = await BankOf(memory, user, bank).RunRetentionAsync(IdempotencyKey(request));
        usage.Forget(Tenants.TenantOf(user));
        return TypedResults.Ok(result);
    }

    private static async Task<NoContent> DeleteMemoryAsync(
        string bank, string memoryId, HttpRequest request, ClaimsPrincipal user, MemoryClient memory, TenantUsage usage)
    {
        bool deleted = await BankOf(memory, user, bank).DeleteAsync(memoryId, IdempotencyKey(request));
        usage.Forget(Tenants.TenantOf(user));
        return deleted ? TypedResults.NoContent() : throw new MemoryNotFoundException(memoryId);
    }

    private static BankClient BankOf(MemoryClient memory, ClaimsPrincipal user, string bank) =>
        memory.Bank(Tenants.ClusterBankName(Tenants.TenantOf(user), bank));

    /// <summary>What a recall or write was given: a vector (with the id of the model that made it) or text.</summary>
    internal sealed record VectorOrText(float[]? Vector, string VectorField, string? Text, string TextField, string? VectorEmbedderId)
    {
        public void Validate()
        {
            if (Vector is not null && Text is not null)
            {
                throw FieldError.Invalid(VectorField, $"either {VectorField} or {TextField}, not both", $"given with {TextField}");
            }

            if (Vector is not null)
            {
                return;
            }

            if (VectorEmbedderId is not null)
            {
                throw FieldError.Invalid("embedderId", "no embedderId with text (text is embedded by the embedder the bank records); it names the model of a vector",
                    FieldError.Quote(VectorEmbedderId));
            }

            if (string.IsNullOrWhiteSpace(Text))
            {
                throw FieldError.Missing(VectorField, $"a vector in {VectorField} or text in {TextField}");
            }

            WireValidation.TextLength(Text, TextField, BankLimits.MaxIntentTextLength);
        }
    }

    /// <summary>Header on a recall or write answer whose text was longer than the model reads: the tokens it kept.</summary>
    public const string TruncatedHeader = "MemRL-Text-Truncated";

    // A vector is taken as given (the bank checks its dimension and, when named, its embedder). Text is embedded by the
    // embedder the bank records, so banks of an earlier default keep working; its id goes with the call, so a bank
    // made again with another embedder since the id was cached refuses it, and the call is retried once with the new id.
    internal static async Task<T> WithBankVectorAsync<T>(
        VectorOrText input, string bank, ClaimsPrincipal user, MemoryClient memory, TextEmbedders embedders, BankEmbedders bankEmbedders,
        HttpResponse response, CancellationToken cancellationToken, Func<float[], string?, Task<T>> call)
    {
        input.Validate();
        if (input.Vector is not null)
        {
            return await call(input.Vector, input.VectorEmbedderId);
        }

        string clusterBank = Tenants.ClusterBankName(Tenants.TenantOf(user), bank);
        for (int attempt = 0; ; attempt++)
        {
            string bankEmbedderId = await bankEmbedders.GetAsync(memory, clusterBank, bank);
            if (!embedders.TryGet(bankEmbedderId, out var embedder))
            {
                throw FieldError.Invalid(input.TextField,
                    $"text only for a bank of an embedder this server hosts ({string.Join(", ", embedders.HostedIds)}); bank '{bank}' records "
                    + $"{FieldError.Quote(bankEmbedderId)}: send vectors made by that model in {input.VectorField}",
                    bankEmbedderId);
            }

            var (vector, truncated) = await embedder.EmbedAsync(input.Text!, cancellationToken);
            try
            {
                var result = await call(vector, embedder.EmbedderId);
                if (truncated)
                {
                    response.Headers[TruncatedHeader] = MiniLmEmbedder.MaxTokens.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }

                return result;
            }
            catch (ArgumentException e) when (attempt == 0 && FieldError.TryRead(e, out var parts) && parts.Field == "embedderId")
            {
                bankEmbedders.Forget(clusterBank);
            }
        }
    }

    private static string? IdempotencyKey(HttpRequest request)
    {
        string? key = request.Headers[IdempotencyHeader];
        if (key is not null)
        {
            WireValidation.OperationId(key, IdempotencyHeader);
        }

        return key;
    }

    private static string Required(string? value, string field, string expected) => value ?? throw Missing(field, expected);

    private static ArgumentNullException Missing(string field, string expected) => FieldError.Missing(field, expected);
}
