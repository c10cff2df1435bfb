using System.Globalization;
using System.Net;
using MemRL.Grains.Storage;
using Microsoft.Extensions.Configuration;

namespace MemRL.Silo;

/// <summary>
/// The host's own settings (section "MemRL:Cluster"; the "Orleans" section is left to Orleans, which binds
/// "Orleans:Clustering" itself and refuses a section it does not recognise). Everything has a default, so
/// <c>dotnet run --project silo</c> needs no configuration; a multi-silo cluster sets <c>MemRL:Cluster:Redis</c> and
/// PostgreSQL storage.
/// </summary>
/// <param name="RedisClustering">StackExchange.Redis connection string of the membership store (key
/// <c>MemRL:Cluster:Redis</c>); null for single-silo localhost clustering.</param>
/// <param name="AzureClustering">Azure Storage connection string of the Orleans membership and reminders tables (key
/// <c>MemRL:Cluster:AzureStorage</c>); null unless the cluster runs on Azure. Exclusive with <paramref name="RedisClustering"/>.</param>
/// <param name="ClusterId">Orleans cluster id (key <c>MemRL:Cluster:ClusterId</c>). Default "memrl".</param>
/// <param name="ServiceId">Orleans service id (key <c>MemRL:Cluster:ServiceId</c>). Default "memrl".</param>
/// <param name="AdvertisedAddress">Address other silos reach this one at (key <c>MemRL:Cluster:AdvertisedAddress</c>). Default loopback.</param>
/// <param name="SiloPort">Silo-to-silo port (key <c>MemRL:Cluster:SiloPort</c>). Default 11111.</param>
/// <param name="GatewayPort">Client gateway port (key <c>MemRL:Cluster:GatewayPort</c>). Default 30000.</param>
/// <param name="ListenOnAnyAddress">Bind 0.0.0.0 rather than the advertised address (key <c>MemRL:Cluster:ListenOnAnyAddress</c>), as in containers.</param>
/// <param name="ShutdownTimeout">How long a graceful stop may take (key <c>MemRL:Cluster:ShutdownTimeout</c>). Default 45 s.</param>
internal sealed record SiloSettings(string? RedisClustering, string? AzureClustering, string ClusterId, string ServiceId, IPAddress AdvertisedAddress, int SiloPort, int GatewayPort, bool ListenOnAnyAddress,
    TimeSpan ShutdownTimeout)
{
    public static SiloSettings Read(IConfiguration configuration)
    {
        var section = configuration.GetSection("MemRL:Cluster");
        string? redis = section["Redis"];
        string? azure = section["AzureStorage"];
        if (!string.IsNullOrWhiteSpace(redis) && !string.IsNullOrWhiteSpace(azure))
        {
            throw new InvalidOperationException(
                "MemRL:Cluster:Redis and MemRL:Cluster:AzureStorage are both set; expected one membership store (Redis, or Azure Table storage).");
        }

        if (!string.IsNullOrWhiteSpace(azure) && !AzureStorageClients.IsConnectionString(azure))
        {
            // Not echoed: a connection string carries the account key.
            throw new InvalidOperationException(
                $"MemRL:Cluster:AzureStorage is not a valid Azure Storage connection string ({azure.Length} characters); "
                + "expected 'DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;EndpointSuffix=core.windows.net', explicit endpoints, or UseDevelopmentStorage=true.");
        }

        string? address = section["AdvertisedAddress"];
        var settings = new SiloSettings(
            string.IsNullOrWhiteSpace(redis) ? null : redis,
            string.IsNullOrWhiteSpace(azure) ? null : azure,
            section["ClusterId"] ?? "memrl",
            section["ServiceId"] ?? "memrl",
            string.IsNullOrWhiteSpace(address) ? IPAddress.Loopback
                : IPAddress.TryParse(address, out var ip) ? ip
                : throw new InvalidOperationException($"MemRL:Cluster:AdvertisedAddress is '{address}'; expected an IP address such as 10.0.0.5."),
            Port(section, "SiloPort", 11111),
            Port(section, "GatewayPort", 30000),
            bool.TryParse(section["ListenOnAnyAddress"], out bool any) && any,
            Duration(section, "ShutdownTimeout", TimeSpan.FromSeconds(45)));

        // SQLite is one writer per file on one machine: several silos would each take it for their own.
        var provider = configuration.GetSection(StorageOptions.Section).GetValue<StorageProvider?>("Provider") ?? StorageProvider.Sqlite;
        if ((settings.RedisClustering ?? settings.AzureClustering) is not null && provider == StorageProvider.Sqlite)
        {
            string key = settings.RedisClustering is not null ? "MemRL:Cluster:Redis" : "MemRL:Cluster:AzureStorage";
            throw new InvalidOperationException(
                $"MemRL:Storage:Provider is Sqlite (the single-silo default) but {key} is set for a multi-silo cluster; "
                + "expected MemRL:Storage:Provider=PostgreSql with MemRL:Storage:PostgreSqlConnectionString, or Azure with MemRL:Storage:AzureConnectionString.");
        }

        return settings;
    }

    private static TimeSpan Duration(IConfigurationSection section, string key, TimeSpan fallback)
    {
        string? text = section[key];
        if (text is null)
        {
            return fallback;
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) && value > TimeSpan.Zero
            ? value
            : throw new InvalidOperationException($"MemRL:Cluster:{key} is '{text}'; expected a positive duration such as 00:00:45.");
    }

    private static int Port(IConfigurationSection section, string key, int fallback)
    {
        string? text = section[key];
        if (text is null)
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port is > 0 and < 65536
            ? port
            : throw new InvalidOperationException($"MemRL:Cluster:{key} is '{text}'; expected a port number in 1..65535.");
    }
}
