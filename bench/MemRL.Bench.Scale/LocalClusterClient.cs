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
    public static async Task<IHost> ConnectAsync(string clusterId, string redis)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = clusterId; });
            client.UseRedisClustering(redis);
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(5));
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }
}
