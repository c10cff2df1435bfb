using Microsoft.Extensions.Options;

namespace MemRL.Grains;

/// <summary>Cluster-wide settings of the MemRL grains (configuration section "MemRL").</summary>
public sealed class MemRLClusterOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "MemRL";

    /// <summary>Base64 HMAC key (≥ 32 bytes) signing recall tokens; every silo of a cluster must share it. When empty, a
    /// random key is made at start-up, which suits a single silo only. Key: <c>MemRL:RecallTokenKey</c>.</summary>
    public string? RecallTokenKey { get; set; }

    /// <summary>How long a recall token may be used for reward and write. Default 1 hour.</summary>
    public TimeSpan RecallTokenLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Deadline of one shard's Phase-A answer; shards slower than this count as not answered. Default 2 s.</summary>
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

        if (options.RecallTokenLifetime <= TimeSpan.Zero)
        {
            failures.Add($"MemRL:RecallTokenLifetime is {options.RecallTokenLifetime}; expected a positive duration.");
        }

        if (options.ShardTimeout <= TimeSpan.Zero)
        {
            failures.Add($"MemRL:ShardTimeout is {options.ShardTimeout}; expected a positive duration.");
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
}
