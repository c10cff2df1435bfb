using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using MemRL.Api;
using MemRL.Client;
using MemRL.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MemRL.Api.Tests;

/// <summary>
/// A silo with the HTTP API on a loopback port, composed as the silo host composes it (Orleans + MemRL grains + the
/// API), with SQLite in a temporary file and fixed test keys. Tests talk to it over real HTTP.
/// </summary>
public sealed class ApiSilo : IAsyncDisposable
{
    /// <summary>Test keys: five tenants with read-write keys, and a read-only key of the first.</summary>
    public static readonly IReadOnlyDictionary<string, (string Tenant, bool ReadOnly)> Keys = new Dictionary<string, (string, bool)>
    {
        ["memrl_test-alpha-key-000000000000000000000000000"] = ("alpha", false),
        ["memrl_test-beta-key-0000000000000000000000000000"] = ("beta", false),
        ["memrl_test-gamma-key-000000000000000000000000000"] = ("gamma", false),
        ["memrl_test-delta-key-000000000000000000000000000"] = ("delta", false),
        ["memrl_test-epsilon-key-0000000000000000000000000"] = ("epsilon", false),
        ["memrl_test-alpha-reader-0000000000000000000000000"] = ("alpha", true),
    };

    private readonly WebApplication _app;
    private readonly string _database;

    private ApiSilo(WebApplication app, string database, Uri address)
    {
        _app = app;
        _database = database;
        Address = address;
    }

    public Uri Address { get; }

    /// <summary>The .NET client on the same silo: tests use it to check that nothing changed behind the API's back.</summary>
    public MemoryClient Memory => _app.Services.GetRequiredService<MemoryClient>();

    public static string KeyOf(string tenant, bool readOnly = false) => Keys.First(k => k.Value == (tenant, readOnly)).Key;

    /// <summary>Starts a silo; <paramref name="testKeys"/> false configures no key, as the embedded default (local keys).</summary>
    /// <param name="services">Registrations made before the silo's own (a test clock, say), which the silo then keeps.</param>
    public static async Task<ApiSilo> StartAsync(
        IDictionary<string, string?>? settings = null, Func<string, MemRL.Grains.Storage.IMemoryStore>? store = null, bool testKeys = true,
        Action<IServiceCollection>? services = null)
    {
        string database = Path.Combine(Path.GetTempPath(), $"memrl-api-{Guid.NewGuid():N}.db");
        var builder = WebApplication.CreateBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var config = new Dictionary<string, string?>
        {
            ["MemRL:Api:Urls"] = "http://127.0.0.1:0",
            ["MemRL:Storage:SqlitePath"] = database,
            // The hashing embedder keeps the API tests fast and small; TextEmbedderTests start MiniLM silos themselves.
            ["MemRL:Api:Embedder:Kind"] = "Hashing",
            // Retention runs when a test asks for one, never behind its back.
            ["MemRL:RetentionInterval"] = "00:00:00",
        };
        int i = 0;
        foreach (var (key, (tenant, readOnly)) in testKeys ? Keys : new Dictionary<string, (string, bool)>())
        {
            config[$"MemRL:Api:Keys:{i}:Tenant"] = tenant;
            config[$"MemRL:Api:Keys:{i}:Sha256"] = ApiKeyRing.Hash(key);
            config[$"MemRL:Api:Keys:{i}:ReadOnly"] = readOnly ? "true" : "false";
            i++;
        }

        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            config[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(config);
        services?.Invoke(builder.Services);
        if (store is not null)
        {
            builder.Services.AddSingleton(store(database));
        }

        builder.UseOrleans(silo => silo.UseLocalhostClustering(FreePort(), FreePort()).AddMemRL());
        builder.AddMemRLApi();
        var app = builder.Build();
        app.MapMemRLApi();
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ApiSilo(app, database, new Uri(address));
    }

    /// <summary>An HTTP client for <paramref name="key"/> (null: no Authorization header).</summary>
    public HttpClient Client(string? key)
    {
        var http = new HttpClient { BaseAddress = Address };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return http;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        foreach (string suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(_database + suffix);
        }
    }

    /// <summary>A loopback port nothing listens on now.</summary>
    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>One silo shared by the tests of a collection; each test uses fresh bank names.</summary>
public sealed class ApiSiloFixture : IAsyncLifetime
{
    public ApiSilo Silo { get; private set; } = null!;

    /// <summary>A bank name no other test uses.</summary>
    public static string NewBankName(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    public async Task InitializeAsync() => Silo = await ApiSilo.StartAsync();

    public async Task DisposeAsync() => await Silo.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class ApiCollection : ICollectionFixture<ApiSiloFixture>
{
    public const string Name = nameof(ApiCollection);
}
