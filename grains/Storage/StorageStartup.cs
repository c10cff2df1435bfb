using Microsoft.Extensions.Hosting;

namespace MemRL.Grains.Storage;

/// <summary>
/// Opens the store when the silo starts, so that a bad connection string or an unreachable database stops the start
/// with a clear error, and the schema is created or migrated before the first grain needs it.
/// </summary>
internal sealed class StorageStartup(IMemoryStore store) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => store switch
    {
        PostgreSqlMemoryStore postgres => postgres.EnsureSchemaAsync().WaitAsync(cancellationToken),
        AzureMemoryStore azure => azure.EnsureCreatedAsync().WaitAsync(cancellationToken),
        _ => Task.CompletedTask,
    };

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
