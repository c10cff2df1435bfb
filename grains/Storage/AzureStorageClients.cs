using System.Text.RegularExpressions;
using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;

namespace MemRL.Grains.Storage;

/// <summary>
/// Builds the Azure clients from <see cref="StorageOptions"/>: a connection string, or an account name reached with
/// DefaultAzureCredential (managed or workload identity on Azure, a developer's login elsewhere). Every client retries
/// throttling and transient failures (HTTP 408/429/500/502/503/504, timeouts) with exponential backoff; what is still
/// throttled after that reaches the store as an overload (<see cref="StoreOverloadedException"/>).
/// </summary>
public static partial class AzureStorageClients
{
    /// <summary>The retry policy of the store's clients: 5 retries, 0.25 s doubling to at most 8 s (about 16 s in all).</summary>
    public static void ConfigureRetries(ClientOptions options)
    {
        options.Retry.Mode = RetryMode.Exponential;
        options.Retry.MaxRetries = 5;
        options.Retry.Delay = TimeSpan.FromMilliseconds(250);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(8);
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(30);
    }

    /// <summary>The store the options describe (validated already by <see cref="Validate"/>).</summary>
    public static AzureMemoryStore CreateStore(StorageOptions options, Action<ClientOptions>? configure = null)
    {
        var tableOptions = new TableClientOptions();
        var blobOptions = new BlobClientOptions();
        foreach (ClientOptions o in (ClientOptions[])[tableOptions, blobOptions])
        {
            ConfigureRetries(o);
            configure?.Invoke(o);
        }

        if (!string.IsNullOrWhiteSpace(options.AzureConnectionString))
        {
            return new AzureMemoryStore(new TableServiceClient(options.AzureConnectionString, tableOptions),
                new BlobServiceClient(options.AzureConnectionString, blobOptions), options.AzurePrefix);
        }

        var credential = new DefaultAzureCredential();
        return new AzureMemoryStore(
            new TableServiceClient(new Uri($"https://{options.AzureAccountName}.table.core.windows.net"), credential, tableOptions),
            new BlobServiceClient(new Uri($"https://{options.AzureAccountName}.blob.core.windows.net"), credential, blobOptions), options.AzurePrefix);
    }

    /// <summary>Adds a failure naming the configuration key for each Azure setting that is missing or malformed.</summary>
    public static void Validate(StorageOptions options, List<string> failures)
    {
        bool hasConnectionString = !string.IsNullOrWhiteSpace(options.AzureConnectionString);
        bool hasAccount = !string.IsNullOrWhiteSpace(options.AzureAccountName);
        if (hasConnectionString == hasAccount)
        {
            failures.Add(hasConnectionString
                ? "MemRL:Storage:AzureConnectionString and MemRL:Storage:AzureAccountName are both set; expected one of them when Provider is Azure."
                : "MemRL:Storage:AzureConnectionString is empty and MemRL:Storage:AzureAccountName too; expected an Azure Storage connection string "
                  + "(or UseDevelopmentStorage=true for Azurite), or an account name for a managed identity, when Provider is Azure.");
        }
        else if (hasConnectionString && !IsConnectionString(options.AzureConnectionString!))
        {
            // The value is not echoed: a connection string carries the account key.
            failures.Add($"MemRL:Storage:AzureConnectionString is not a valid Azure Storage connection string ({options.AzureConnectionString!.Length} characters); "
                + "expected 'DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;EndpointSuffix=core.windows.net', explicit TableEndpoint and BlobEndpoint, or UseDevelopmentStorage=true.");
        }
        else if (hasAccount && !AccountName().IsMatch(options.AzureAccountName!))
        {
            failures.Add($"MemRL:Storage:AzureAccountName is '{options.AzureAccountName}'; expected 3 to 24 lowercase letters and digits.");
        }

        if (options.AzurePrefix is null || !Prefix().IsMatch(options.AzurePrefix))
        {
            failures.Add($"MemRL:Storage:AzurePrefix is '{options.AzurePrefix}'; expected 3 to 40 lowercase letters and digits, starting with a letter.");
        }
    }

    /// <summary>True when both the table and the blob client accept <paramref name="connectionString"/>.</summary>
    public static bool IsConnectionString(string connectionString)
    {
        try
        {
            _ = new TableServiceClient(connectionString);
            _ = new BlobServiceClient(connectionString);
            return true;
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException or UriFormatException)
        {
            return false;
        }
    }

    [GeneratedRegex("^[a-z0-9]{3,24}$")]
    private static partial Regex AccountName();

    [GeneratedRegex("^[a-z][a-z0-9]{2,39}$")]
    private static partial Regex Prefix();
}
