using MemRL.GrainInterfaces;

namespace MemRL.Api;

// The JSON bodies of the HTTP API. Responses reuse the cluster's wire records where they already say the right thing
// (RecalledMemory, MemoryQ, MemoryInfo, BankStats, Coverage); only banks get their own view, which speaks the
// tenant's bank name instead of the cluster's. Request members are nullable so a missing field gets a 400 that names
// it rather than a silent default.

/// <summary>Create a bank. Dimension and embedder default to the server's text embedder.</summary>
public sealed record CreateBankBody(
    string? Name, int? Dimension = null, string? EmbedderId = null, int? ShardCount = null, BankOptions? Options = null, IndexSettings? Index = null);

/// <summary>A bank as a tenant sees it.</summary>
public sealed record BankView(
    string Name, int Dimension, string EmbedderId, int ShardCount, long Version, DateTimeOffset CreatedAt, BankOptions Options, IndexSettings Index)
{
    internal static BankView From(BankInfo info, string name) =>
        new(name, info.Dimension, info.EmbedderId, info.ShardCount, info.Version, info.CreatedAt, info.Options, info.Index);
}

/// <summary>Recall by vector (<see cref="Query"/>) or by text (<see cref="QueryText"/>, embedded by the server).</summary>
/// <param name="EmbedderId">With a vector: the model that made it; a bank made for another model refuses the call.</param>
/// <param name="Filter">Fields combined with AND, each a string (equality) or an array of strings (set membership):
/// <c>userId</c>, <c>agentId</c>, <c>sessionId</c>, <c>runId</c>, <c>metadata.&lt;key&gt;</c>. OR across fields is not supported.</param>
public sealed record RecallBody(
    float[]? Query = null, string? QueryText = null, int? K1 = null, int? K2 = null, double? Lambda = null, double? Delta = null,
    bool RequireFullCoverage = false, string? EmbedderId = null, Dictionary<string, System.Text.Json.JsonElement>? Filter = null);

/// <summary>A recall's answer: the memories best first, the coverage, and the token that rewards them.</summary>
public sealed record RecallView(string Token, Coverage Coverage, int PoolSize, bool Explored, IReadOnlyList<RecalledMemory> Memories);

/// <summary>Reward the memories a recall returned, or the subset named.</summary>
public sealed record RewardBody(string? Token, double? Reward, IReadOnlyList<string>? MemoryIds = null);

/// <summary>Write an experience; the intent by vector, or by text alone (then the server embeds it).</summary>
/// <param name="EmbedderId">With a vector: the model that made it; a bank made for another model refuses the call.</param>
/// <param name="Scope">Who the memory belongs to (userId, agentId, sessionId, runId; each optional).</param>
/// <param name="Metadata">Free string key–values stored with the memory: at most 16, keys of [A-Za-z0-9_.-] up to 64
/// characters, values up to 256, 4 KiB in all.</param>
/// <param name="TtlSeconds">How long the memory lives, in seconds (1 to 3,155,760,000: 100 years): the first retention run
/// after that archives it, whatever its Q; restorable for the bank's retention period, then purged (docs/retention.md).</param>
public sealed record WriteBody(
    string? Experience, bool? Success, float[]? Intent = null, string? IntentText = null, string? RecallToken = null, string? EmbedderId = null,
    ScopeFields? Scope = null, Dictionary<string, string>? Metadata = null, double? TtlSeconds = null);

/// <summary>
/// Edit a memory (<c>PATCH …/memories/{id}</c>): <see cref="Experience"/> replaces its text, <see cref="Metadata"/> its
/// whole metadata (<c>{}</c> clears it); a member left out is unchanged, and at least one is required. The id, key,
/// scope, Q and visits stay.
/// </summary>
public sealed record EditMemoryBody(string? Experience = null, Dictionary<string, string>? Metadata = null);

/// <summary>A batch of writes (<c>POST …/memories:batch</c>): at most 1,000 items, applied in order, each as one write.</summary>
public sealed record WriteBatchBody(IReadOnlyList<WriteBatchItemBody?>? Items);

/// <summary>One write of a batch: the members of a single write, and optionally the item's own idempotency key (else
/// it is derived from the batch's Idempotency-Key and the item's index).</summary>
public sealed record WriteBatchItemBody(
    string? Experience, bool? Success, float[]? Intent = null, string? IntentText = null, string? RecallToken = null, string? EmbedderId = null,
    ScopeFields? Scope = null, Dictionary<string, string>? Metadata = null, string? IdempotencyKey = null, double? TtlSeconds = null);

/// <summary>How many memories a delete by scope erased.</summary>
public sealed record DeletedView(int Deleted);

/// <summary>What an import created: the new bank and how many intent keys and memories it holds.</summary>
public sealed record ImportView(BankView Bank, long Keys, long Memories);

/// <summary>Calibrate a bank from a sample of its keys; <see cref="Apply"/> writes the result into its options.</summary>
public sealed record CalibrateBody(int? Sample = null, bool Apply = false);

/// <summary>A calibration as a tenant sees it.</summary>
public sealed record CalibrationView(
    double Delta, double SimilarityMean, double SimilarityStdDev, int SampleSize, long PairCount, bool Applied, BankView Bank);

/// <summary>The tenant's banks, in name order.</summary>
public sealed record BankListView(IReadOnlyList<BankUsageView> Banks);

/// <summary>A bank's name and what it stores (as last committed), which count against the tenant's quotas.</summary>
public sealed record BankUsageView(string Name, long Memories, long TextBytes);
