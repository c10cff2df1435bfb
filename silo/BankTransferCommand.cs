using System.Net;
using System.Net.Sockets;
using MemRL.Api;
using MemRL.Client;
using MemRL.Client.Export;
using MemRL.GrainInterfaces;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MemRL.Silo;

/// <summary>
/// <c>MemRL.Silo export --bank B [--out FILE] [--user-id U] [--tenant T]</c> and <c>import --bank B --in FILE [--tenant T]
/// [--lease-seconds S]</c>:
/// a bank to or from an export stream (docs/export-format.md) through a silo of this process on the configured store
/// (the embedded default's SQLite data folder; a configuration naming a cluster is refused). A running silo on the same SQLite folder holds
/// its lock, so the command refuses and says to use the HTTP routes instead. Progress goes to stderr; an export
/// without --out goes to stdout.
/// </summary>
internal static class BankTransferCommand
{
    public static async Task<int> RunAsync(string verb, string[] args, TextWriter errors)
    {
        string? bank = null, file = null, userId = null, tenant = LocalKeys.Tenant, lease = null;
        var host = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string? Value() => i + 1 < args.Length ? args[++i] : null;
            switch (args[i])
            {
                case "--bank": bank = Value(); break;
                case "--out" when verb == "export": file = Value(); break;
                case "--in" when verb == "import": file = Value(); break;
                case "--user-id" when verb == "export": userId = Value(); break;
                case "--tenant": tenant = Value(); break;
                case "--lease-seconds" when verb == "import": lease = Value(); break;
                default: host.Add(args[i]); break;
            }
        }

        if (bank is null || tenant is null || (verb == "import" && file is null))
        {
            await errors.WriteLineAsync(verb == "export"
                ? "usage: export --bank NAME [--out FILE] [--user-id USER] [--tenant TENANT] (default tenant 'local', the embedded key's)"
                : "usage: import --bank NAME --in FILE [--tenant TENANT] [--lease-seconds S] (the bank must not exist; S, 1 to 3600, default 60: "
                  + "how long a killed import hides and holds the name before it is deleted)");
            return 2;
        }

        TimeSpan? importLease = null;
        if (lease is not null)
        {
            if (!int.TryParse(lease, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int seconds) || seconds is < 1 or > 3600)
            {
                await errors.WriteLineAsync($"--lease-seconds must be an integer in [1, 3600]; got '{lease}'.");
                return 2;
            }

            importLease = TimeSpan.FromSeconds(seconds);
        }

        // A silo of this process would join a configured cluster and take grains from it: only the embedded store is
        // reached directly; a cluster's banks move through its HTTP routes.
        var settings = SiloSettings.Read(WebApplication.CreateBuilder([.. host]).Configuration);
        if (settings.RedisClustering is not null || settings.AzureClustering is not null)
        {
            await errors.WriteLineAsync($"{verb} works on the embedded store only; this configuration names a cluster: use its HTTP routes "
                + $"(GET /v1/banks/{bank}/export, POST /v1/banks/{bank}/import).");
            return 2;
        }

        // Ports of its own, so the command does not collide with a silo of another data folder on the default ports.
        if (!host.Any(a => a.Contains("SiloPort", StringComparison.OrdinalIgnoreCase)))
        {
            host.Add($"--MemRL:Cluster:SiloPort={FreePort()}");
        }

        if (!host.Any(a => a.Contains("GatewayPort", StringComparison.OrdinalIgnoreCase)))
        {
            host.Add($"--MemRL:Cluster:GatewayPort={FreePort()}");
        }

        WebApplication app;
        try
        {
            app = SiloApp.Create([.. host], builder =>
            {
                // No HTTP is served to anyone: a loopback port of the system's choosing, and every log line on stderr.
                builder.WebHost.UseUrls("http://127.0.0.1:0");
                builder.Logging.ClearProviders();
                builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
                builder.Logging.SetMinimumLevel(LogLevel.Warning);
            });
        }
        catch (SiloLockHeldException e)
        {
            await errors.WriteLineAsync($"{e.Message} A silo is running on this data folder: use its HTTP routes instead (GET /v1/banks/{bank}/export, POST /v1/banks/{bank}/import).");
            return 1;
        }

        await using (app)
        {
            await app.StartAsync();
            try
            {
                var memory = app.Services.GetRequiredService<MemoryClient>();
                string name = Tenants.ClusterBankName(tenant, bank);
                var progress = new StderrProgress(errors);
                if (verb == "export")
                {
                    await using var output = file is null ? Console.OpenStandardOutput() : new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
                    var counts = await memory.ExportBankAsync(name, output, userId, progress);
                    await errors.WriteLineAsync($"exported bank '{bank}': {counts.Keys} keys, {counts.Memories} memories");
                }
                else
                {
                    await using var input = new FileStream(file!, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
                    var result = await memory.ImportBankAsync(name, input, new ImportSettings(Lease: importLease), progress);
                    await errors.WriteLineAsync($"imported bank '{bank}': {result.Counts.Keys} keys, {result.Counts.Memories} memories");
                }

                return 0;
            }
            catch (Exception e) when (e is ArgumentException or BankNotFoundException or BankConflictException or IOException)
            {
                await errors.WriteLineAsync($"{verb} failed: {e.Message}");
                return 1;
            }
            finally
            {
                await app.StopAsync();
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    // Reported on the caller's thread (not Progress<T>'s thread pool), so lines come in order.
    private sealed class StderrProgress(TextWriter errors) : IProgress<ExportCounts>
    {
        public void Report(ExportCounts value) => errors.WriteLine($"  {value.Keys} keys, {value.Memories} memories");
    }
}
