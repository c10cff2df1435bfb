using MemRL.Grains;
using MemRL.Silo;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

// Two shapes, chosen by configuration (appsettings.json or environment, e.g. MemRL__Cluster__Redis):
// - embedded default (nothing configured): one silo, localhost clustering, data in ./data/memrl.db (SQLite);
// - cluster: MemRL:Cluster:Redis names the membership store and MemRL:Storage:Provider=PostgreSql the data store.
var builder = Host.CreateApplicationBuilder(args);
var settings = SiloSettings.Read(builder.Configuration);
builder.UseOrleans(silo =>
{
    if (settings.RedisClustering is { } redis)
    {
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = settings.ClusterId;
            o.ServiceId = settings.ServiceId;
        });
        silo.ConfigureEndpoints(settings.AdvertisedAddress, settings.SiloPort, settings.GatewayPort, listenOnAnyHostAddress: settings.ListenOnAnyAddress);
        silo.UseRedisClustering(redis);
    }
    else
    {
        silo.UseLocalhostClustering(settings.SiloPort, settings.GatewayPort);
    }

    silo.AddMemRL();
});

using var host = builder.Build();
await host.RunAsync();
