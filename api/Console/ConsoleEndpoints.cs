using System.Reflection;
using System.Security.Claims;
using MemRL.Client;
using MemRL.GrainInterfaces;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace MemRL.Api.Console;

/// <summary>
/// The operator console (docs/console.md): its two reads under <c>/v1</c> (behind the API's keys, tenant scoping and
/// rate limit like every other read) and its static page under <c>/console</c>. The page holds no data and needs no
/// key; everything it shows comes from <c>/v1</c> with the key the operator gives it.
/// </summary>
internal static class ConsoleEndpoints
{
    /// <summary>The page's policy: its own script and style only, no inline code, no frames, fetches to this origin only.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly Dictionary<string, (string Resource, string ContentType)> Assets = new(StringComparer.Ordinal)
    {
        ["index.html"] = ("MemRL.Api.Console.index.html", "text/html; charset=utf-8"),
        ["console.js"] = ("MemRL.Api.Console.console.js", "text/javascript; charset=utf-8"),
        ["console.css"] = ("MemRL.Api.Console.console.css", "text/css; charset=utf-8"),
    };

    /// <summary>Maps explain and insight into the API's bank group (which carries auth, rate limit and the id filter).</summary>
    public static void MapReads(RouteGroupBuilder banks)
    {
        banks.MapPost("/{bank}/explain", ExplainAsync).WithName("ExplainRecall")
            .WithSummary("A recall explained: the whole Phase-A pool with each candidate's scores and verdict; issues no recall token.")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(503);
        banks.MapGet("/{bank}/insight", InsightAsync).WithName("GetInsight")
            .WithSummary("Shards (silo, active since, recent search latency), the reward timeline, and the best and worst memories by Q.")
            .ProducesProblem(400).ProducesProblem(404);
    }

    /// <summary>Maps the page and its assets, read from this assembly's resources (nothing on disk, nothing fetched).</summary>
    public static void MapPages(IEndpointRouteBuilder app)
    {
        // "/console" and "/console/" are one route; the page names its assets by absolute path, so either works.
        app.MapGet("/console", (HttpResponse response) => Asset("index.html", response)).AllowAnonymous().ExcludeFromDescription();
        app.MapGet("/console/{asset}", (string asset, HttpResponse response) => Asset(asset, response)).AllowAnonymous().ExcludeFromDescription();
    }

    private static IResult Asset(string name, HttpResponse response)
    {
        if (!Assets.TryGetValue(name, out var asset))
        {
            return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not found",
                detail: $"The console has no asset '{name}'; expected one of {string.Join(", ", Assets.Keys)}.",
                extensions: new Dictionary<string, object?> { ["field"] = "path", ["expected"] = string.Join(", ", Assets.Keys), ["actual"] = name });
        }

        var headers = response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers["Cross-Origin-Opener-Policy"] = "same-origin";
        headers.CacheControl = "no-cache";
        var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(asset.Resource)
            ?? throw new InvalidOperationException($"The console asset {asset.Resource} is not embedded in MemRL.Api.");
        return Results.Stream(stream, asset.ContentType);
    }

    private static async Task<Ok<RecallExplanation>> ExplainAsync(
        string bank, RecallBody body, HttpResponse response, ClaimsPrincipal user, MemoryClient memory, TextEmbedders embedders, BankEmbedders bankEmbedders,
        CancellationToken cancellationToken)
    {
        var client = memory.Bank(Tenants.ClusterBankName(Tenants.TenantOf(user), bank));
        var input = new Endpoints.VectorOrText(body.Query, "query", body.QueryText, "queryText", body.EmbedderId);
        var explanation = await Endpoints.WithBankVectorAsync(input, bank, user, memory, embedders, bankEmbedders, response, cancellationToken, (query, embedderId) =>
            client.ExplainAsync(query, new RecallSettings(body.K1, body.K2, body.Lambda, body.Delta, body.RequireFullCoverage, embedderId), cancellationToken));
        return TypedResults.Ok(explanation);
    }

    // extremes is read as text, as limit is: the framework's binding error would name the .NET type.
    private static async Task<Ok<BankInsight>> InsightAsync(string bank, string? extremes, ClaimsPrincipal user, MemoryClient memory)
    {
        const int defaultExtremes = 5;
        int count = extremes is null ? defaultExtremes
            : int.TryParse(extremes, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n)
              && n is >= 0 and <= WireValidation.MaxInsightExtremes ? n
            : throw MemRL.Errors.FieldError.OutOfRange("extremes", WireValidation.InsightExtremesExpected, extremes);
        return TypedResults.Ok(await memory.Bank(Tenants.ClusterBankName(Tenants.TenantOf(user), bank)).GetInsightAsync(count));
    }
}
