using Microsoft.Extensions.Options;

namespace MemRL.Grains.Storage;

/// <summary>Which backend holds banks and shards, and how (configuration section "MemRL:Storage").</summary>
public sealed class StorageOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "MemRL:Storage";

    /// <summary>The backend. Default <see cref="StorageProvider.Sqlite"/>, which needs nothing installed. Key: <c>MemRL:Storage:Provider</c>.</summary>
    public StorageProvider Provider { get; set; } = StorageProvider.Sqlite;

    /// <summary>The SQLite file (created with its folder when missing). Default <c>./data/memrl.db</c>. Key: <c>MemRL:Storage:SqlitePath</c>.</summary>
    public string SqlitePath { get; set; } = Path.Combine("data", "memrl.db");

    /// <summary>SQLite's synchronous setting: Full (default) survives power loss, Normal only a process kill. Key: <c>MemRL:Storage:SqliteSynchronous</c>.</summary>
    public SqliteSynchronousMode SqliteSynchronous { get; set; } = SqliteSynchronousMode.Full;

    /// <summary>Npgsql connection string; required when Provider is PostgreSql. Key: <c>MemRL:Storage:PostgreSqlConnectionString</c>.</summary>
    public string? PostgreSqlConnectionString { get; set; }

    /// <summary>
    /// Azure Storage connection string (an account key or SAS, or <c>UseDevelopmentStorage=true</c> for Azurite); one of
    /// this and <see cref="AzureAccountName"/> is required when Provider is Azure. Key: <c>MemRL:Storage:AzureConnectionString</c>.
    /// </summary>
    public string? AzureConnectionString { get; set; }

    /// <summary>
    /// Storage account name for a managed identity (DefaultAzureCredential: workload identity, managed identity, az login),
    /// reaching https://{name}.table.core.windows.net and .blob.core.windows.net. Key: <c>MemRL:Storage:AzureAccountName</c>.
    /// </summary>
    public string? AzureAccountName { get; set; }

    /// <summary>Prefix of the store's tables ({prefix}banks, {prefix}shards) and container ({prefix}-blobs). Default "memrl". Key: <c>MemRL:Storage:AzurePrefix</c>.</summary>
    public string AzurePrefix { get; set; } = "memrl";

    /// <summary>Log records a shard accumulates before it writes a snapshot and truncates its log. Default 10,000. Key: <c>MemRL:Storage:SnapshotEveryEvents</c>.</summary>
    public int SnapshotEveryEvents { get; set; } = 10_000;

    /// <summary>Size in bytes of one snapshot chunk (one stored value). Default 1 MiB. Key: <c>MemRL:Storage:SnapshotChunkBytes</c>.</summary>
    public int SnapshotChunkBytes { get; set; } = 1 << 20;
}

/// <summary>The storage backends.</summary>
public enum StorageProvider
{
    /// <summary>One SQLite file: the embedded, single-silo default.</summary>
    Sqlite,

    /// <summary>PostgreSQL: for multi-silo clusters.</summary>
    PostgreSql,

    /// <summary>Azure Storage (Tables and Blobs): for multi-silo clusters on Azure.</summary>
    Azure,
}

/// <summary>Checks <see cref="StorageOptions"/> on start, naming the configuration key.</summary>
internal sealed class StorageOptionsValidator : IValidateOptions<StorageOptions>
{
    public ValidateOptionsResult Validate(string? name, StorageOptions options)
    {
        var failures = new List<string>();
        if (!Enum.IsDefined(options.Provider))
        {
            failures.Add($"MemRL:Storage:Provider is '{options.Provider}'; expected Sqlite, PostgreSql or Azure.");
        }

        if (options.Provider == StorageProvider.Azure)
        {
            AzureStorageClients.Validate(options, failures);
        }

        if (options.Provider == StorageProvider.Sqlite && string.IsNullOrWhiteSpace(options.SqlitePath))
        {
            failures.Add("MemRL:Storage:SqlitePath is empty; expected a file path such as ./data/memrl.db.");
        }

        if (options.Provider == StorageProvider.PostgreSql && string.IsNullOrWhiteSpace(options.PostgreSqlConnectionString))
        {
            failures.Add("MemRL:Storage:PostgreSqlConnectionString is empty; expected an Npgsql connection string when Provider is PostgreSql.");
        }

        if (options.SnapshotEveryEvents < 1)
        {
            failures.Add($"MemRL:Storage:SnapshotEveryEvents is {options.SnapshotEveryEvents}; expected at least 1.");
        }

        if (options.SnapshotChunkBytes is < 4096 or > 64 << 20)
        {
            failures.Add($"MemRL:Storage:SnapshotChunkBytes is {options.SnapshotChunkBytes}; expected 4096 to 67108864.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
