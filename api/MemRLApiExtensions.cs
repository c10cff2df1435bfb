using System.Text.Json.Serialization;
using System.Threading.RateLimiting;
using MemRL.Api.Mcp;
using MemRL.Client;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MemRL.Api;

/// <summary>Hosts the HTTP API in a silo (or any web host that can reach the cluster through <see cref="IGrainFactory"/>).</summary>
public static class MemRLApiExtensions
{
    /// <summary>
    /// Registers the API: options (section <c>MemRL:Api</c>, validated at start-up), API-key authentication, the
    /// writer policy, the per-tenant rate limit, problem details, OpenAPI, the text embedder and Kestrel's body limit
    /// and addresses.
    /// </summary>
    public static WebApplicationBuilder AddMemRLApi(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<ApiOptions>().BindConfiguration(ApiOptions.Section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ApiOptions>, ApiOptionsValidator>());
        var options = builder.Configuration.GetSection(ApiOptions.Section).Get<ApiOptions>() ?? new ApiOptions();
        builder.WebHost.UseUrls(options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBytes;
            // Kestrel's own limits sit above the API's (RequestEdge), so a long path or header reaches the application
            // and gets problem details naming it; only a request past these gets Kestrel's bare answer (docs/http-api.md).
            kestrel.Limits.MaxRequestLineSize = KestrelRequestLineBytes(options);
            kestrel.Limits.MaxRequestHeadersTotalSize = KestrelHeaderBytes(options);
            kestrel.Limits.MaxRequestHeaderCount = KestrelHeaderCount;
            // Latin-1 lets a header with a non-ASCII byte through to RequestEdge, which names it; Kestrel's default
            // (ASCII only) answers a bare 400.
            kestrel.RequestHeaderEncodingSelector = _ => System.Text.Encoding.Latin1;
        });

        services.TryAddSingleton(sp => new MemoryClient(sp.GetRequiredService<IGrainFactory>()));
        services.TryAddSingleton<ApiKeyRing>();
        services.TryAddSingleton<TextEmbedders>();
        services.TryAddSingleton<BankEmbedders>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<TenantUsage>();
        services.AddHostedService<LocalKeyBootstrap>();
        // The MCP server (docs/mcp.md): the same keys, tenants and client behind /mcp.
        services.AddMemRLMcp();

        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(Endpoints.WriterPolicy, policy => policy.RequireClaim(Tenants.WriterClaim));

        services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(Endpoints.TenantRateLimit, context =>
            {
                var api = context.RequestServices.GetRequiredService<IOptions<ApiOptions>>().Value;
                // The embedded default's own tenant is not limited: the bucket keeps tenants from starving each other,
                // and with no key configured there is one tenant, the owner. 1,000 agents on one silo sent ~4,000
                // requests/s and half were refused at 2,000/s. Overload is still refused by the shards (429 Overloaded).
                if (context.User.HasClaim(c => c.Type == Tenants.LocalClaim))
                {
                    return RateLimitPartition.GetNoLimiter(LocalKeys.Tenant);
                }

                string tenant = context.User.FindFirst(Tenants.TenantClaim)?.Value ?? "";
                // Refilled ten times a second (one token per period below 10/s), so a tenant's rate is smooth, not a
                // burst at the top of each second.
                bool slow = api.RatePerSecond < 10;
                return RateLimitPartition.GetTokenBucketLimiter(tenant, _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = api.RateBurst,
                    TokensPerPeriod = slow ? 1 : api.RatePerSecond / 10,
                    ReplenishmentPeriod = slow ? TimeSpan.FromSeconds(1.0 / api.RatePerSecond) : TimeSpan.FromMilliseconds(100),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(1);
                rejected.HttpContext.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                var api = rejected.HttpContext.RequestServices.GetRequiredService<IOptions<ApiOptions>>().Value;
                await Problems.WriteAsync(rejected.HttpContext, StatusCodes.Status429TooManyRequests, "Rate limit",
                    "This tenant is over its request rate (MemRL:Api:RatePerSecond); retry after the time in Retry-After.",
                    expected: $"at most {api.RatePerSecond} requests/s for this tenant, bursts up to {api.RateBurst} (MemRL:Api:RatePerSecond, RateBurst)");
            };
        });

        // Answers the framework writes itself (no route, wrong method, body over the limit) are problem details too,
        // and still say what went wrong.
        // The checks themselves come with the silo (AddMemRL); the probes below need the service either way.
        services.AddHealthChecks();
        services.AddProblemDetails(problems => problems.CustomizeProblemDetails = context =>
        {
            var details = context.ProblemDetails;
            details.Detail ??= details.Status switch
            {
                StatusCodes.Status404NotFound => $"No endpoint at {context.HttpContext.Request.Path}; see /openapi/v1.json.",
                StatusCodes.Status405MethodNotAllowed => $"{context.HttpContext.Request.Method} is not allowed on {context.HttpContext.Request.Path}; see /openapi/v1.json.",
                StatusCodes.Status413PayloadTooLarge => $"The request body is larger than MemRL:Api:MaxRequestBytes ({options.MaxRequestBytes} bytes).",
                _ => details.Title,
            };
        });
        services.AddExceptionHandler<ProblemExceptionHandler>();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.Configure<JsonOptions>(json =>
        {
            json.SerializerOptions.Converters.Add(new JsonStringEnumConverter());
            // A misspelt member ("lamda") would otherwise be dropped and the caller believe the option was set.
            // Every type read from a request, nested options and index settings included; responses are unaffected.
            json.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        });
        services.AddOpenApi(openApi => openApi.AddOperationTransformer((operation, context, cancellationToken) =>
        {
            // limit is bound as text so that a bad value is answered in the caller's terms (Endpoints.PageLimit); the
            // document still says what it is.
            foreach (var parameter in operation.Parameters?.OfType<Microsoft.OpenApi.OpenApiParameter>() ?? [])
            {
                bool history = operation.OperationId == "GetMemoryHistory";
                if (parameter is { Name: "limit", In: Microsoft.OpenApi.ParameterLocation.Query })
                {
                    parameter.Schema = new Microsoft.OpenApi.OpenApiSchema
                    {
                        Type = Microsoft.OpenApi.JsonSchemaType.Integer, Format = "int32", Minimum = "1",
                        Maximum = (history ? GrainInterfaces.MemoryHistoryPage.MaxLimit : GrainInterfaces.BankLimits.MaxPageSize).ToString(System.Globalization.CultureInfo.InvariantCulture),
                        Default = System.Text.Json.Nodes.JsonValue.Create(history ? GrainInterfaces.MemoryHistoryPage.DefaultLimit : 100),
                    };
                }
                else if (parameter is { Name: "state", In: Microsoft.OpenApi.ParameterLocation.Query })
                {
                    // Bound as text so that a bad value is answered naming the field (Endpoints.ListStateOf).
                    parameter.Description = "Which memories: active (in recall, the default), archived (restorable until purged) or all (docs/retention.md).";
                    parameter.Schema = new Microsoft.OpenApi.OpenApiSchema
                    {
                        Type = Microsoft.OpenApi.JsonSchemaType.String,
                        Enum = [System.Text.Json.Nodes.JsonValue.Create("active"), System.Text.Json.Nodes.JsonValue.Create("archived"), System.Text.Json.Nodes.JsonValue.Create("all")],
                        Default = System.Text.Json.Nodes.JsonValue.Create("active"),
                    };
                }
                else if (history && parameter is { Name: "cursor", In: Microsoft.OpenApi.ParameterLocation.Query })
                {
                    // Bound as text for the same reason; a history cursor is an ordinal.
                    parameter.Schema = new Microsoft.OpenApi.OpenApiSchema { Type = Microsoft.OpenApi.JsonSchemaType.Integer, Format = "int64", Minimum = "1" };
                }
            }

            // The filter of a listing or a delete by scope is read from the query string as a whole (ScopeBinding): the
            // document names its scope fields; metadata.<key> parameters are free-form and described there.
            if (operation.OperationId is "ListMemories" or "DeleteMemoriesByScope")
            {
                operation.Parameters ??= [];
                foreach (string field in Core.Bank.MemoryScope.FieldNames)
                {
                    operation.Parameters.Add(new Microsoft.OpenApi.OpenApiParameter
                    {
                        Name = field, In = Microsoft.OpenApi.ParameterLocation.Query, Required = false, Explode = true,
                        Style = Microsoft.OpenApi.ParameterStyle.Form,
                        Description = $"Only memories whose {field} is one of these values (repeat the parameter for a set). "
                            + "Other filter fields: metadata.<key>=<value>. Fields combine with AND (docs/scopes.md).",
                        Schema = new Microsoft.OpenApi.OpenApiSchema
                        {
                            Type = Microsoft.OpenApi.JsonSchemaType.Array,
                            Items = new Microsoft.OpenApi.OpenApiSchema { Type = Microsoft.OpenApi.JsonSchemaType.String, MinLength = 1, MaxLength = Core.Bank.MemoryScope.MaxValueLength },
                        },
                    });
                }
            }

            return Task.CompletedTask;
        }));
        return builder;
    }

    /// <summary>Kestrel's request-line limit: twice the API's path and query limits, at least 64 KiB.</summary>
    public static int KestrelRequestLineBytes(ApiOptions options) => Math.Max(64 << 10, 2 * (options.MaxPathLength + options.MaxQueryLength));

    /// <summary>Kestrel's header-block limit: twice the API's, at least 128 KiB.</summary>
    public static int KestrelHeaderBytes(ApiOptions options) => Math.Max(128 << 10, 2 * options.MaxHeadersTotalBytes);

    /// <summary>Kestrel's header-count limit (its default is 100); the API's byte limits bind first.</summary>
    public const int KestrelHeaderCount = 1000;

    /// <summary>Adds the middleware and maps the routes and the OpenAPI document (<c>/openapi/v1.json</c>).</summary>
    public static WebApplication MapMemRLApi(this WebApplication app)
    {
        app.UseExceptionHandler();
        // Not the default writer: it follows Accept, so a browser (Accept: text/html) got plain text. Problem details
        // whatever the caller accepts: an API has one error format.
        app.UseStatusCodePages(context => StatusCodeProblemAsync(context.HttpContext));
        // Before routing, which would otherwise run first and match the path Kestrel resolved (RequestEdge says why).
        app.UseMiddleware<RequestEdge>();
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.MapOpenApi().AllowAnonymous();
        MapProbe(app, "/health/live", _ => false);
        MapProbe(app, "/health/startup", check => check.Tags.Contains(GrainInterfaces.HealthTags.Startup));
        MapProbe(app, "/health/ready", check => check.Tags.Contains(GrainInterfaces.HealthTags.Ready));
        Endpoints.Map(app);
        Console.ConsoleEndpoints.MapPages(app);

        if (app.Services.GetRequiredService<IOptions<Mcp.McpOptions>>().Value.Enabled)
        {
            app.MapMemRLMcp();
        }

        return app;
    }

    private static Task StatusCodeProblemAsync(HttpContext context)
    {
        var request = context.Request;
        int status = context.Response.StatusCode;
        string path = request.Path.Value ?? "/";
        return status switch
        {
            StatusCodes.Status404NotFound => Problems.WriteAsync(context, status, "Not found",
                $"No endpoint at {path}; see /openapi/v1.json.", field: "path", expected: "a route of this API (see /openapi/v1.json)", actual: path),
            StatusCodes.Status405MethodNotAllowed => Problems.WriteAsync(context, status, "Method not allowed",
                $"{request.Method} is not allowed on {path}; see /openapi/v1.json.", field: "method",
                expected: context.Response.Headers.Allow is { Count: > 0 } allow ? $"one of {string.Join(", ", allow.ToArray())}" : "a method this route allows (see /openapi/v1.json)",
                actual: request.Method),
            StatusCodes.Status413PayloadTooLarge => Problems.WriteAsync(context, status, "Request too large",
                $"The request body is larger than MemRL:Api:MaxRequestBytes ({MaxRequestBytes(context)} bytes).", field: "body",
                expected: $"at most {MaxRequestBytes(context)} bytes", actual: request.ContentLength is { } length ? $"{length} bytes" : null),
            // The framework answers a body of another media type without throwing.
            StatusCodes.Status415UnsupportedMediaType => Problems.WriteAsync(context, status, "Unsupported media type",
                request.ContentType is { } sent ? $"Content-Type is '{sent}'; expected application/json." : "The request has a body without a Content-Type; expected application/json.",
                field: "Content-Type", expected: "application/json", actual: request.ContentType),
            _ => Problems.WriteAsync(context, status, Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status),
                $"{request.Method} {path} answered {status} ({Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status)}).",
                field: "path", expected: "a request this API accepts (see /openapi/v1.json)", actual: path),
        };
    }

    private static long MaxRequestBytes(HttpContext context) => context.RequestServices.GetRequiredService<IOptions<ApiOptions>>().Value.MaxRequestBytes;

    // Probes need no key (the kubelet has none) and say nothing about banks: only each check's status and reason.
    // Live runs no check: a process that answers HTTP is alive; restarting it for a storage outage would not help.
    private static void MapProbe(WebApplication app, string path, Func<HealthCheckRegistration, bool> predicate) =>
        app.MapHealthChecks(path, new HealthCheckOptions
        {
            Predicate = predicate,
            ResponseWriter = (context, report) => context.Response.WriteAsJsonAsync(new
            {
                status = report.Status.ToString(),
                checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
            }),
        }).AllowAnonymous().DisableRateLimiting();
}

/// <summary>
/// With no key configured (the embedded default), accepts the local key ring (<see cref="LocalKeys"/>): the key of the
/// last run when its file is still there, else a new one, logged and written where the owner alone can read it. The API
/// is never open without a key, and a restart does not change the key clients hold.
/// </summary>
// A lifecycle service doing its work in StartingAsync, which runs before any hosted service starts: the key is in the
// ring and in its file before Kestrel listens, so no caller who sees the API up can find the key missing.
internal sealed partial class LocalKeyBootstrap(ApiKeyRing keys, IOptions<ApiOptions> options, ILogger<LocalKeyBootstrap> logger) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        if (keys.Count > 0)
        {
            return Task.CompletedTask;
        }

        var (key, reused) = LocalKeys.Ensure(options.Value, DateTimeOffset.UtcNow);
        keys.LoadLocal();
        string path = Path.GetFullPath(options.Value.LocalKeyPath);
        if (reused)
        {
            LogLocalKeyReused(logger, path);
        }
        else
        {
            LogLocalKey(logger, key, path);
        }

        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Warning, Message = "No API key is configured (MemRL:Api:Keys): a new key for tenant 'local' is {Key} (also in {Path}). Send it as 'Authorization: Bearer <key>'.")]
    private static partial void LogLocalKey(ILogger logger, string key, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No API key is configured (MemRL:Api:Keys): the local key of the last run is accepted again; it is in {Path}.")]
    private static partial void LogLocalKeyReused(ILogger logger, string path);
}
