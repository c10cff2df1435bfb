using MemRL.Api;
using MemRL.Grains;
using MemRL.Grains.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orleans.Configuration;

namespace MemRL.Silo;

/// <summary>The silo application: what <c>MemRL.Silo</c> runs, and what <c>MemRL.Silo mcp</c> embeds when no silo answers.</summary>
internal static class SiloApp
{
    /// <summary>
    /// Builds the silo from <paramref name="args"/> and the host's configuration; <paramref name="customize"/> runs
    /// last before the build (the stdio server sends every log line to stderr there). With SQLite storage the silo
    /// holds <see cref="SiloLock"/> on its data folder for its whole life, so a second silo on the same files refuses
    /// to start instead of fighting for the ports and the database.
    /// </summary>
    /// <exception cref="SiloLockHeldException">Another process holds the data folder's lock.</exception>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? customize = null)
    {
        // Two shapes, chosen by configuration (appsettings.json or environment, e.g. MemRL__Cluster__Redis):
        // - embedded default (nothing configured): one silo, localhost clustering, data in ./data/memrl.db (SQLite), the HTTP
        //   API on http://127.0.0.1:8080 with a fresh local key;
        // - cluster: MemRL:Cluster:Redis names the membership store and MemRL:Storage:Provider=PostgreSql the data store;
        // - Azure: MemRL:Cluster:AzureStorage (membership and reminders in Azure Tables) and MemRL:Storage:Provider=Azure.
        var builder = WebApplication.CreateBuilder(args);
        var settings = SiloSettings.Read(builder.Configuration);
        builder.UseOrleans(silo =>
        {
            if (settings.RedisClustering is not null || settings.AzureClustering is not null)
            {
                silo.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = settings.ClusterId;
                    o.ServiceId = settings.ServiceId;
                });
                silo.ConfigureEndpoints(settings.AdvertisedAddress, settings.SiloPort, settings.GatewayPort, listenOnAnyHostAddress: settings.ListenOnAnyAddress);
                if (settings.AzureClustering is { } azure)
                {
                    // Orleans' own Azure Table providers: membership, and the reminder table for grains that schedule work.
                    silo.UseAzureStorageClustering(o => o.TableServiceClient = new Azure.Data.Tables.TableServiceClient(azure));
                    silo.UseAzureTableReminderService(o => o.TableServiceClient = new Azure.Data.Tables.TableServiceClient(azure));
                }
                else
                {
                    silo.UseRedisClustering(settings.RedisClustering!);
                }

                // In a pod (the kubelet sets KUBERNETES_SERVICE_HOST): silo names follow pods, and silos of deleted pods are
                // declared dead at once instead of after missed probes. Outside a cluster it would stop the process, so only here.
                if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST")))
                {
                    silo.UseKubernetesHosting();
                }
            }
            else
            {
                silo.UseLocalhostClustering(settings.SiloPort, settings.GatewayPort);
            }

            silo.AddMemRL();
        });
        builder.AddMemRLApi();
        // Traces and metrics: MemRL's own (recall phases, commits, Q, shard sizes), Orleans' grain calls and the HTTP server,
        // one trace from an API request through the coordinator to every shard. Exported by OTLP when the standard
        // OTEL_EXPORTER_OTLP_ENDPOINT is set (a collector, Jaeger, Aspire dashboard); otherwise collected for nobody.
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("memrl-silo"))
            .WithTracing(tracing => tracing.AddSource(Telemetry.Name, "Microsoft.Orleans.*").AddAspNetCoreInstrumentation())
            .WithMetrics(metrics => metrics.AddMeter(Telemetry.Name, "Microsoft.Orleans").AddAspNetCoreInstrumentation());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            telemetry.UseOtlpExporter();
        }

        // A stop (SIGTERM on a rolling update) deactivates every grain, letting in-flight calls and commits finish, then leaves
        // the cluster. Time for that, within the pod's termination grace period (deploy/k8s: 60 s).
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.ShutdownTimeout);

        var provider = builder.Configuration.GetSection(StorageOptions.Section).GetValue<StorageProvider?>("Provider") ?? StorageProvider.Sqlite;
        if (provider == StorageProvider.Sqlite)
        {
            string sqlite = builder.Configuration.GetSection(StorageOptions.Section)["SqlitePath"] ?? new StorageOptions().SqlitePath;
            builder.Services.AddSingleton(SiloLock.Acquire(sqlite));
        }

        customize?.Invoke(builder);
        var app = builder.Build();
        app.MapMemRLApi();
        return app;
    }
}
