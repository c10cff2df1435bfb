using System.Net;
using System.Net.Sockets;
using MemRL.Api;
using MemRL.Api.Mcp;
using MemRL.Grains.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace MemRL.Silo;

/// <summary>
/// <c>MemRL.Silo mcp</c>: MCP over stdin/stdout for hosts that launch servers as processes. It bridges every tool call
/// to a silo's Streamable HTTP endpoint, so the tools, keys and tenants are the HTTP server's and nothing is served
/// twice. Stdout carries JSON-RPC only: <see cref="Console.Out"/> is pointed at stderr before anything can write, and
/// every log line (the local key notice included) goes to stderr.
/// </summary>
internal static partial class McpStdio
{
    public static async Task<int> RunAsync(string[] args)
    {
        // Raw stdout for the protocol; anything else that writes to the console lands on stderr.
        var protocolOut = Console.OpenStandardOutput();
        Console.SetOut(Console.Error);
        if (!TryTakeRoot(ref args, out string? error))
        {
            await Console.Error.WriteLineAsync(error);
            return 2;
        }

        // The host's own configuration sources (appsettings.json in the working folder, environment, command line).
        var configuration = WebApplication.CreateBuilder(args).Configuration;
        using var loggerFactory = LoggerFactory.Create(logging => logging
            .AddConfiguration(configuration.GetSection("Logging"))
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
        var logger = loggerFactory.CreateLogger("MemRL.Mcp.Stdio");
        var target = BridgeTarget.Read(configuration);
        await using var connection = new SiloConnection(target, args, loggerFactory, logger);
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        try
        {
            await connection.ConnectAsync(stop.Token);
        }
        catch (Exception e) when (e is TimeoutException or SiloLockHeldException or HttpRequestException or InvalidOperationException or McpException)
        {
            LogNoSilo(logger, target.Endpoint, e.Message);
            return 1;
        }

        // Requests are forwarded without the host's _meta: it carries the host's protocol revision (2026-07-28 has no
        // sessions), while the bridge's own session with the silo is 2025-11-25.
        var options = new McpServerOptions
        {
            ServerInfo = new Implementation { Name = "memrl", Title = "MemRL memory", Version = typeof(McpStdio).Assembly.GetName().Version?.ToString() ?? "1.0" },
            ServerInstructions = connection.Instructions ?? McpServerExtensions.Instructions,
            Capabilities = new ServerCapabilities { Tools = new ToolsCapability() },
            Handlers = new McpServerHandlers
            {
                ListToolsHandler = (request, cancellationToken) =>
                    new ValueTask<ListToolsResult>(connection.CallAsync(
                        (client, ct) => client.ListToolsAsync(new ListToolsRequestParams { Cursor = request.Params?.Cursor }, ct).AsTask(), retry: true, cancellationToken)),
                CallToolHandler = (request, cancellationToken) =>
                    new ValueTask<CallToolResult>(connection.CallAsync(
                        // A call is retried only when it never reached a silo (SiloConnection.CallAsync), so a write is not applied twice.
                        (client, ct) => client.CallToolAsync(new CallToolRequestParams { Name = request.Params!.Name, Arguments = request.Params.Arguments }, ct).AsTask(), retry: true, cancellationToken)),
            },
        };
        await using var server = McpServer.Create(new StreamServerTransport(Console.OpenStandardInput(), protocolOut, "memrl", loggerFactory), options, loggerFactory);
        await server.RunAsync(stop.Token);
        return 0;
    }

    /// <summary>
    /// <c>--root DIR</c> (first): work in DIR, where <c>./data</c> and <c>appsettings.json</c> are, for hosts whose
    /// configuration cannot set a working directory.
    /// </summary>
    private static bool TryTakeRoot(ref string[] args, out string? error)
    {
        error = null;
        if (args is ["--root", var root, .. var rest])
        {
            if (!Directory.Exists(root))
            {
                error = $"--root is '{root}'; expected an existing folder (the one holding ./data).";
                return false;
            }

            Directory.SetCurrentDirectory(root);
            args = rest;
        }

        return true;
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "No silo answered at {Endpoint} and none could be started: {Reason}")]
    private static partial void LogNoSilo(ILogger logger, Uri endpoint, string reason);
}

/// <summary>
/// Where the bridge sends calls: <c>MemRL:Mcp:SiloUrl</c> when set (a silo elsewhere; never started here), else the
/// first of <c>MemRL:Api:Urls</c>, the address the embedded silo would listen on. The key: <c>MEMRL_API_KEY</c>, else
/// the embedded default's local key file.
/// </summary>
/// <param name="Endpoint">The silo's MCP endpoint.</param>
/// <param name="MayStartEmbedded">Whether no silo answering means this process starts one (loopback, not configured elsewhere).</param>
/// <param name="ApiKey">The key given in the environment, or null to read the local key file.</param>
/// <param name="LocalKeyPath">The embedded default's key file.</param>
internal sealed record BridgeTarget(Uri Endpoint, bool MayStartEmbedded, string? ApiKey, string LocalKeyPath)
{
    public static BridgeTarget Read(IConfiguration configuration)
    {
        string? remote = configuration["MemRL:Mcp:SiloUrl"];
        var api = configuration.GetSection(ApiOptions.Section).Get<ApiOptions>() ?? new ApiOptions();
        string path = configuration.GetSection(McpOptions.Section)["Path"] ?? new McpOptions().Path;
        string baseUrl = remote ?? api.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[0];
        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var silo) || silo.Scheme is not ("http" or "https"))
        {
            throw new InvalidOperationException($"{(remote is null ? "MemRL:Api:Urls" : "MemRL:Mcp:SiloUrl")} is '{baseUrl}'; expected an http(s) URL such as http://127.0.0.1:8080.");
        }

        // A wildcard listen address is reached on loopback.
        var builder = new UriBuilder(silo) { Path = path };
        if (builder.Host is "0.0.0.0" or "+" or "*" or "[::]")
        {
            builder.Host = "127.0.0.1";
        }

        string? key = Environment.GetEnvironmentVariable("MEMRL_API_KEY");
        bool loopback = builder.Uri.IsLoopback;
        return new BridgeTarget(builder.Uri, remote is null && loopback, string.IsNullOrWhiteSpace(key) ? null : key.Trim(), api.LocalKeyPath);
    }
}

/// <summary>
/// The bridge's link to a silo: finds one that answers or starts the embedded one (under <see cref="SiloLock"/>), holds
/// one MCP session with it, and reconnects when that silo goes away (a host session that had started the embedded
/// silo ended). Short recall ids belong to the session, so after a reconnect earlier ones are unknown (docs/mcp.md).
/// </summary>
internal sealed partial class SiloConnection(BridgeTarget target, string[] siloArgs, ILoggerFactory loggerFactory, ILogger logger) : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private readonly SemaphoreSlim _connecting = new(1, 1);
    private McpClient? _client;
    private WebApplication? _embedded;

    /// <summary>The silo's server instructions, once connected.</summary>
    public string? Instructions => _client?.ServerInstructions;

    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        await _connecting.WaitAsync(cancellationToken);
        try
        {
            var stale = _client;
            _client = null;
            if (stale is not null)
            {
                await stale.DisposeAsync();
            }

            await EnsureSiloAsync(cancellationToken);
            string key = target.ApiKey ?? (File.Exists(target.LocalKeyPath) ? (await File.ReadAllTextAsync(target.LocalKeyPath, cancellationToken)).Trim() : "")
                ?? "";
            if (key.Length == 0)
            {
                throw new InvalidOperationException(
                    $"No API key: set MEMRL_API_KEY, or run where the embedded silo's key file {Path.GetFullPath(target.LocalKeyPath)} is.");
            }

            var transport = new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = target.Endpoint,
                TransportMode = HttpTransportMode.StreamableHttp,
                AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {key}" },
                Name = "memrl-silo",
                // The tools send nothing unsolicited, and an open GET would hold a silo's graceful stop for its full timeout.
                EnableStandaloneGetStream = false,
            }, loggerFactory);
            _client = await McpClient.CreateAsync(transport, new McpClientOptions
            {
                ClientInfo = new Implementation { Name = "memrl-stdio-bridge", Version = "1.0" },
                // The silo keeps short recall ids per session, which the 2025-11-25 revision is the last to have.
                ProtocolVersion = "2025-11-25",
            }, loggerFactory, cancellationToken);
            LogConnected(logger, target.Endpoint, _embedded is not null);
        }
        finally
        {
            _connecting.Release();
        }
    }

    /// <summary>
    /// Runs <paramref name="call"/> on the session; when the silo cannot be reached (connection refused: the request
    /// was never sent), connects again, to a silo that answers or one started here, and retries once.
    /// </summary>
    public async Task<T> CallAsync<T>(Func<McpClient, CancellationToken, Task<T>> call, bool retry, CancellationToken cancellationToken)
    {
        var client = _client ?? throw new InvalidOperationException("The bridge is not connected.");
        try
        {
            return await call(client, cancellationToken);
        }
        catch (Exception e) when (retry && NeverSent(e))
        {
            LogReconnecting(logger, target.Endpoint, e.Message);
            await ConnectAsync(cancellationToken);
            return await call(_client!, cancellationToken);
        }
    }

    // Only a refused connection proves the call did not reach a silo; a reset mid-call may have been applied.
    private static bool NeverSent(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
            {
                return true;
            }

            if (inner is HttpRequestException { StatusCode: HttpStatusCode.NotFound })
            {
                // The session is gone (the silo restarted): the call was refused before any tool ran.
                return true;
            }
        }

        return false;
    }

    private async Task EnsureSiloAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + StartTimeout;
        bool waitedForOther = false;
        while (true)
        {
            var state = await ProbeAsync(http, cancellationToken);
            if (state == SiloState.Ready)
            {
                return;
            }

            if (state == SiloState.None && target.MayStartEmbedded && _embedded is null)
            {
                try
                {
                    await StartEmbeddedAsync(cancellationToken);
                    continue;
                }
                catch (SiloLockHeldException)
                {
                    // Another host session is starting the embedded silo: wait for it to answer rather than race it.
                    if (!waitedForOther)
                    {
                        LogWaiting(logger);
                        waitedForOther = true;
                    }
                }
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No silo became ready at {target.Endpoint} within {StartTimeout.TotalSeconds:0} s.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }

    private async Task StartEmbeddedAsync(CancellationToken cancellationToken)
    {
        var app = SiloApp.Create(siloArgs, builder =>
        {
            // Every log line to stderr: stdout is the protocol's.
            builder.Logging.ClearProviders();
            builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        });
        LogStarting(logger, target.Endpoint);
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        _embedded = app;
    }

    private async Task<SiloState> ProbeAsync(HttpClient http, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await http.GetAsync(new Uri(target.Endpoint, "/health/ready"), cancellationToken);
            // Answering but not ready: a silo is starting there.
            return response.IsSuccessStatusCode ? SiloState.Ready : SiloState.Starting;
        }
        catch (HttpRequestException)
        {
            return SiloState.None;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return SiloState.Starting;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync();
        }

        if (_embedded is not null)
        {
            // A graceful stop: in-flight commits land before the process (and the lock) goes.
            await _embedded.StopAsync();
            await _embedded.DisposeAsync();
        }

        _connecting.Dispose();
    }

    private enum SiloState
    {
        None,
        Starting,
        Ready,
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Connected to the silo's MCP endpoint {Endpoint} (embedded here: {Embedded})")]
    private static partial void LogConnected(ILogger logger, Uri endpoint, bool embedded);

    [LoggerMessage(Level = LogLevel.Information, Message = "No silo answers at {Endpoint}; starting the embedded silo in this process")]
    private static partial void LogStarting(ILogger logger, Uri endpoint);

    [LoggerMessage(Level = LogLevel.Information, Message = "Another process holds the data folder's lock; waiting for its silo to answer")]
    private static partial void LogWaiting(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The silo at {Endpoint} cannot be reached ({Reason}); connecting again")]
    private static partial void LogReconnecting(ILogger logger, Uri endpoint, string reason);
}
