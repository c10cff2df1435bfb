using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace MemRL.LocalCluster;

/// <summary>The .NET client the chaos tests and the scaling benchmark drive a local cluster with.</summary>
public static class LocalClusterClient
{
    /// <summary>
    /// A started .NET client of cluster <paramref name="clusterId"/>, finding the silos through Redis membership. Calls to
    /// a killed silo fail after 5 s rather than Orleans' default 30 s, so load keeps moving through a disruption.
    /// </summary>
    public static Task<IHost> ConnectAsync(string clusterId, string redis) => ConnectAsync(clusterId, client => client.UseRedisClustering(redis));

    /// <summary>The same client, finding the silos through Orleans' Azure Table membership on <paramref name="azure"/>.</summary>
    public static Task<IHost> ConnectAzureAsync(string clusterId, string azure) =>
        ConnectAsync(clusterId, client => client.UseAzureStorageClustering(o => o.TableServiceClient = new Azure.Data.Tables.TableServiceClient(azure)));

    private static async Task<IHost> ConnectAsync(string clusterId, Action<IClientBuilder> membership)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = clusterId; });
            membership(client);
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(5));
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }
}
