using MemRL.GrainInterfaces;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MemRL.Grains.Storage;
using Orleans.Configuration;

namespace MemRL.Grains;

/// <summary>Registers the MemRL grains' services on a silo.</summary>
public static class MemRLSiloBuilderExtensions
{
    /// <summary>Adds the MemRL cluster services (idempotent). Options bind from the "MemRL" configuration section.</summary>
    public static ISiloBuilder AddMemRL(this ISiloBuilder builder, Action<MemRLClusterOptions>? configure = null)
    {
        var services = builder.Services;
        // Registrations that would repeat on a second call (grain call filters, named health checks) happen once; the
        // StorageHealthCheck registration marks that they did.
        if (!services.Any(d => d.ServiceType == typeof(StorageHealthCheck)))
        {
            // Trace context crosses grain calls, so a recall's spans in the coordinator and shards join the caller's trace.
            builder.AddActivityPropagation();
            services.AddSingleton<StorageHealthCheck>().AddSingleton<SiloActiveHealthCheck>();
            services.AddHealthChecks()
                .AddCheck<SiloActiveHealthCheck>("silo", tags: [HealthTags.Startup, HealthTags.Ready])
                .AddCheck<StorageHealthCheck>("storage", tags: [HealthTags.Ready]);
        }

        services.AddOptions<MemRLClusterOptions>().BindConfiguration(MemRLClusterOptions.Section).ValidateOnStart();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MemRLClusterOptions>, MemRLClusterOptionsValidator>());
        // Shards load their whole state in OnActivateAsync: give activations the shard load timeout, never less than
        // what the host configured.
        services.AddOptions<GrainCollectionOptions>().Configure<IOptions<MemRLClusterOptions>>((collection, memrl) =>
            collection.ActivationTimeout = TimeSpan.FromTicks(Math.Max(collection.ActivationTimeout.Ticks, memrl.Value.ShardLoadTimeout.Ticks)));
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<BankDirectory>();
        services.TryAddSingleton<ShardCallGuard>();
        services.TryAddSingleton(sp =>
        {
            var memrl = sp.GetRequiredService<IOptions<MemRLClusterOptions>>().Value;
            string ring = RecallTokenKeys.RingPath(memrl, sp.GetRequiredService<IOptions<StorageOptions>>().Value);
            return RecallTokenKeys.Load(memrl, ring, sp.GetRequiredService<ILoggerFactory>().CreateLogger<RecallTokenKeys>());
        });
        services.TryAddSingleton<RecallTokenSigner>();
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StorageOptions>, StorageOptionsValidator>());
        // A store registered before or after this call (tests, custom backends) wins over the configured one.
        services.TryAddSingleton<IMemoryStore>(sp => CreateStore(sp.GetRequiredService<IOptions<StorageOptions>>().Value));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Hosting.IHostedService, StorageStartup>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Hosting.IHostedService, RetentionScheduler>());
        return builder;
    }

    private static IMemoryStore CreateStore(StorageOptions options) => options.Provider switch
    {
        StorageProvider.PostgreSql => new PostgreSqlMemoryStore(options.PostgreSqlConnectionString!),
        StorageProvider.Azure => AzureStorageClients.CreateStore(options),
        _ => new SqliteMemoryStore(options.SqlitePath, options.SqliteSynchronous),
    };
}
