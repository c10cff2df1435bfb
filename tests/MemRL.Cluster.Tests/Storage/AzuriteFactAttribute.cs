using MemRL.Grains.Storage;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// A fact that needs Azure Storage: it runs when <c>MEMRL_TEST_AZURITE</c> holds a connection string (.ci/run starts
/// Azurite, the emulator, on loopback and sets it) and is skipped, with that reason, otherwise.
/// </summary>
public sealed class AzuriteFactAttribute : FactAttribute
{
    public const string Variable = "MEMRL_TEST_AZURITE";

    public AzuriteFactAttribute()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            Skip = $"{Variable} is not set; set it to an Azure Storage connection string of Azurite (as .ci/run does) to run the Azure tests.";
        }
    }

    public static string? ConnectionString => Environment.GetEnvironmentVariable(Variable);

    /// <summary>The configured store on <paramref name="connectionString"/>, as a silo would open it.</summary>
    public static AzureMemoryStore OpenStore(string connectionString) =>
        AzureStorageClients.CreateStore(new StorageOptions { Provider = StorageProvider.Azure, AzureConnectionString = connectionString });
}
