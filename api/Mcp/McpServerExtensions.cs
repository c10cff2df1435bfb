using MemRL.Api.Mcp.Tools;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ModelContextProtocol.AspNetCore;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace MemRL.Api.Mcp;

/// <summary>The MCP server the silo hosts: Streamable HTTP at <see cref="McpOptions.Path"/>, behind the API's keys and tenants.</summary>
public static class McpServerExtensions
{
    /// <summary>What a host shows the model about the whole server: the loop the tools serve.</summary>
    public const string Instructions =
        "MemRL is a memory that learns which past experiences help. For every task: (1) call recall with the task before "
        + "acting and use what it returns (successes as examples, failures as warnings); (2) act; (3) once the outcome is "
        + "known, call reward with the recallId (1 success, 0 failure); (4) call write with what you learned (the steps that "
        + "worked, or a reflection on the failure) and the outcome. Rewards are what make useful memories rank higher.";

    /// <summary>Registers the tools, the short recall ids and the Streamable HTTP transport (section <c>MemRL:Mcp</c>).</summary>
    public static IServiceCollection AddMemRLMcp(this IServiceCollection services)
    {
        services.AddOptions<McpOptions>().BindConfiguration(McpOptions.Section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<McpOptions>, McpOptionsValidator>());
        services.TryAddSingleton<RecallIds>();
        services.AddMcpServer(server =>
            {
                server.ServerInfo = new Implementation { Name = "memrl", Title = "MemRL memory", Version = typeof(McpServerExtensions).Assembly.GetName().Version?.ToString() ?? "1.0" };
                server.ServerInstructions = Instructions;
            })
            .WithHttpTransport()
            .WithRequestFilters(filters => filters.AddListToolsFilter(next => async (context, cancellationToken) =>
            {
                // A read-only key is shown only the tools it may call; calling another anyway is refused by the tool.
                var result = await next(context, cancellationToken);
                if (!MemoryTool.MayWrite(context.User))
                {
                    var writers = context.Server.ServerOptions.ToolCollection?.OfType<MemoryTool>().Where(t => t.ChangesBank).Select(t => t.ProtocolTool.Name).ToHashSet();
                    result.Tools = [.. result.Tools.Where(t => writers?.Contains(t.Name) != true)];
                }

                return result;
            }));
        // The tools need options and the recall-id store at construction (their descriptions state the limits), so they
        // are made from the container rather than by the SDK's reflection.
        services.AddSingleton<McpServerTool>(sp => new RecallTool(sp.GetRequiredService<IOptions<McpOptions>>().Value));
        services.AddSingleton<McpServerTool>(sp => new RewardTool(sp.GetRequiredService<IOptions<McpOptions>>().Value, sp.GetRequiredService<RecallIds>()));
        services.AddSingleton<McpServerTool>(sp => new WriteTool(sp.GetRequiredService<IOptions<McpOptions>>().Value));
        services.AddSingleton<McpServerTool>(sp => new GetTool(sp.GetRequiredService<IOptions<McpOptions>>().Value));
        services.AddSingleton<McpServerTool>(sp => new ListTool(sp.GetRequiredService<IOptions<McpOptions>>().Value));
        services.AddSingleton<McpServerTool>(sp => new EditMemoryTool(sp.GetRequiredService<IOptions<McpOptions>>().Value));
        services.AddSingleton<McpServerTool>(sp => new DeleteMemoryTool(sp.GetRequiredService<IOptions<McpOptions>>().Value));
        services.AddSingleton<McpServerTool>(sp => new BankStatsTool(sp.GetRequiredService<IOptions<McpOptions>>().Value));
        services.AddOptions<HttpServerTransportOptions>().Configure<IOptions<McpOptions>>((transport, mcp) =>
        {
            // Stateful: short recall ids and "the session's last recall" are session state. A client of the
            // 2026-07-28 revision (no sessions) is told to fall back to the initialize handshake (docs/mcp.md).
            // The SDK marks stateful mode as back-compat for 2025-11-25 clients (MCP9006); every host today is one, and
            // the stateless alternative needs a cluster-wide recall-id store (docs/mcp.md, "Sessions").
            transport.SessionMode = HttpServerSessionMode.Stateful;
#pragma warning disable MCP9006
            transport.IdleTimeout = mcp.Value.IdleTimeout;
            transport.MaxIdleSessionCount = mcp.Value.MaxSessions;
#pragma warning restore MCP9006
        });
        return services;
    }

    /// <summary>Maps Streamable HTTP at <see cref="McpOptions.Path"/>, behind the API keys and the per-tenant rate limit.</summary>
    public static IEndpointConventionBuilder MapMemRLMcp(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<McpOptions>>().Value;
        return app.MapMcp(options.Path).RequireAuthorization().RequireRateLimiting(Endpoints.TenantRateLimit);
    }
}
