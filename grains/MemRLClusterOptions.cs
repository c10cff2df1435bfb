using Microsoft.Extensions.Options;

namespace MemRL.Grains;

/// <summary>Cluster-wide settings of the MemRL grains (configuration section "MemRL").</summary>
public sealed class MemRLClusterOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "MemRL";

    /// <summary>Base64 HMAC key (≥ 32 bytes) signing recall tokens; every silo of a cluster must share it. When empty,
    /// the silo keeps a key ring in <see cref="RecallTokenKeyRingPath"/> (made on first start, kept across restarts),
    /// which suits a single silo only. Key: <c>MemRL:RecallTokenKey</c>.</summary>
    public string? RecallTokenKey { get; set; }

    /// <summary>Keys that signed tokens before <see cref="RecallTokenKey"/> replaced them, oldest first: tokens they
    /// signed are still accepted (a rolling key change refuses none). Key: <c>MemRL:RecallTokenPreviousKeys:N</c>.</summary>
    public List<string> RecallTokenPreviousKeys { get; set; } = [];

    /// <summary>The key ring file used when no key is configured. Default: <c>recall-token-keys.json</c> in the folder of
    /// the SQLite file (<c>./data</c> on the embedded default); rotate with
    /// <c>dotnet run --project silo -- rotate-recall-token-key</c>. Key: <c>MemRL:RecallTokenKeyRingPath</c>.</summary>
    public string? RecallTokenKeyRingPath { get; set; }

    /// <summary>The file name of the key ring in the data folder.</summary>
    public const string KeyRingFileName = "recall-token-keys.json";

    /// <summary>
    /// How long a recall token may be used for reward and write, and so how long shards remember which memories each
    /// recall rewarded (about 100 bytes per rewarded memory: docs/exactly-once.md). Default 15 minutes.
    /// </summary>
    public TimeSpan RecallTokenLifetime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Deadline of one shard's Phase-A answer (shards slower than this count as not answered), and again of the
    /// winners' texts (a shard slower than this fails the recall: docs/fan-out.md). Default 2 s.</summary>
    public TimeSpan ShardTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Calls this silo may have waiting on one shard before it answers "overloaded". Default 1024.</summary>
    public int MaxPendingPerShard { get; set; } = 1024;

    /// <summary>Operation ids each shard remembers for idempotent retries. Default 100,000.</summary>
    public int OperationLogCapacity { get; set; } = 100_000;

    /// <summary>
    /// How long a shard may take to load (snapshot plus log replay) before its activation is abandoned. Orleans' own
    /// activation timeout, 30 s, is too short for a large shard replaying a long log (a 50k-key tail rebuilds its graph
    /// for longer than that); the silo's activation timeout is raised to this. Recall does not wait for it: a loading
    /// shard counts as not answered after <see cref="ShardTimeout"/>. Default 10 minutes. Key: <c>MemRL:ShardLoadTimeout</c>.
    /// </summary>
    public TimeSpan ShardLoadTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How often every bank with a retention policy is run (docs/retention.md), and once shortly after the silo starts.
    /// Zero turns the schedule off (runs on demand only: <c>POST /v1/banks/{bank}/retention:run</c>). At least 1 s
    /// otherwise. Default 1 hour. Key: <c>MemRL:RetentionInterval</c>.
    /// </summary>
    public TimeSpan RetentionInterval { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>Checks <see cref="MemRLClusterOptions"/> on start, naming the configuration key.</summary>
internal sealed class MemRLClusterOptionsValidator : IValidateOptions<MemRLClusterOptions>
{
    public ValidateOptionsResult Validate(string? name, MemRLClusterOptions options)
    {
        var failures = new List<string>();
        if (!string.IsNullOrEmpty(options.RecallTokenKey))
        {
            try
            {
                if (Convert.FromBase64String(options.RecallTokenKey).Length < 32)
                {
                    failures.Add("MemRL:RecallTokenKey decodes to fewer than 32 bytes; expected a base64 key of at least 32 bytes.");
                }
            }
            catch (FormatException)
            {
                failures.Add("MemRL:RecallTokenKey is not valid base64; expected a base64 key of at least 32 bytes.");
            }
        }

        for (int i = 0; i < options.RecallTokenPreviousKeys.Count; i++)
        {
            if (!IsKey(options.RecallTokenPreviousKeys[i]))
            {
                failures.Add($"MemRL:RecallTokenPreviousKeys:{i} is not a base64 key of at least 32 bytes; expected one.");
            }
        }

        if (options.RecallTokenPreviousKeys.Count > 0 && string.IsNullOrEmpty(options.RecallTokenKey))
        {
            failures.Add("MemRL:RecallTokenPreviousKeys is set without MemRL:RecallTokenKey; expected the current key beside the previous ones.");
        }

        if (options.RecallTokenLifetime <= TimeSpan.Zero)
        {
            failures.Add($"MemRL:RecallTokenLifetime is {options.RecallTokenLifetime}; expected a positive duration.");
        }

        if (options.ShardTimeout <= TimeSpan.Zero)
        {
            failures.Add($"MemRL:ShardTimeout is {options.ShardTimeout}; expected a positive duration.");
        }

        if (options.RetentionInterval != TimeSpan.Zero && (options.RetentionInterval < TimeSpan.FromSeconds(1) || options.RetentionInterval > TimeSpan.FromDays(365)))
        {
            failures.Add($"MemRL:RetentionInterval is {options.RetentionInterval}; expected 0 (off) or a duration from 1 second to 365 days.");
        }

        if (options.ShardLoadTimeout <= TimeSpan.Zero)
        {
            failures.Add($"MemRL:ShardLoadTimeout is {options.ShardLoadTimeout}; expected a positive duration.");
        }

        if (options.MaxPendingPerShard < 1)
        {
            failures.Add($"MemRL:MaxPendingPerShard is {options.MaxPendingPerShard}; expected at least 1.");
        }

        if (options.OperationLogCapacity < 1)
        {
            failures.Add($"MemRL:OperationLogCapacity is {options.OperationLogCapacity}; expected at least 1.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static bool IsKey(string text)
    {
        var bytes = new byte[((text.Length * 3) / 4) + 3];
        return Convert.TryFromBase64String(text, bytes, out int written) && written >= 32;
    }
}
