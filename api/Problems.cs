using System.Text.Json;
using System.Text.RegularExpressions;
using MemRL.GrainInterfaces;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;

namespace MemRL.Api;

/// <summary>
/// Every error as RFC 9457 problem details, naming the field, the expected and the actual value where the error is
/// about input (DESIGN §5). The cluster's exceptions keep their meaning: the same rule gives the same status whether it
/// fired in the .NET client, the coordinator or a shard.
/// </summary>
internal static partial class Problems
{
    public const string BankItem = "memrl:bank";
    public const string MemoryIdItem = "memrl:memoryId";

    public static Task WriteAsync(HttpContext context, int status, string title, string detail,
        string? field = null, string? expected = null, string? actual = null)
    {
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail, Type = $"https://httpstatuses.io/{status}" };
        if (field is not null)
        {
            problem.Extensions["field"] = field;
        }

        if (expected is not null)
        {
            problem.Extensions["expected"] = expected;
        }

        if (actual is not null)
        {
            problem.Extensions["actual"] = actual;
        }

        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(problem, JsonSerializerOptions.Web, "application/problem+json");
    }

    /// <summary>
    /// As <see cref="WriteAsync"/>, with a reason code a client may branch on (<see cref="MemRL.Errors.Reasons"/>) and any
    /// further members (a quota's name, limit and current value).
    /// </summary>
    public static Task WriteWithReasonAsync(HttpContext context, int status, string title, string detail,
        string? field, string? expected, string? actual, string? reason, IReadOnlyDictionary<string, object?>? extensions = null)
    {
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail, Type = $"https://httpstatuses.io/{status}" };
        foreach (var (name, value) in new (string, object?)[] { ("field", field), ("expected", expected), ("actual", actual), ("reason", reason) })
        {
            if (value is not null)
            {
                problem.Extensions[name] = value;
            }
        }

        foreach (var (name, value) in extensions ?? new Dictionary<string, object?>())
        {
            problem.Extensions[name] = value;
        }

        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(problem, JsonSerializerOptions.Web, "application/problem+json");
    }

    /// <summary>
    /// Splits the house message form "&lt;field&gt; is &lt;actual&gt;; expected &lt;expected&gt;." into its parts; other messages
    /// keep the parameter name as the field.
    /// </summary>
    public static (string? Field, string? Expected, string? Actual) Parse(string message, string? paramName)
    {
        message = ParameterSuffix().Replace(message, "");
        var m = HouseForm().Match(message);
        return m.Success
            ? (JsonName(m.Groups["field"].Value), m.Groups["expected"].Value, m.Groups["actual"].Value.Trim('\''))
            : (paramName is null ? null : JsonName(paramName), null, null);
    }

    /// <summary>A .NET member name as the JSON field it binds to: "K1" → "k1", "MemoryIds[2]" → "memoryIds[2]".</summary>
    public static string JsonName(string name) =>
        name.Length > 0 && char.IsUpper(name[0]) && !name.Contains('-', StringComparison.Ordinal) ? char.ToLowerInvariant(name[0]) + name[1..] : name;

    /// <summary>The user's bank name in place of the cluster's "{tenant}.{bank}", so messages speak the caller's names.</summary>
    public static string Scrub(string text, string? tenant) => tenant is null ? text : text.Replace($"'{tenant}.", "'", StringComparison.Ordinal);

    [GeneratedRegex(@"\s*\(Parameter '[^']*'\)$")]
    private static partial Regex ParameterSuffix();

    [GeneratedRegex(@"^(?<field>[^\s;]+) (?:is|has) (?<actual>.+?); (?:expected |it must be |every element must be )?(?<expected>.+?)\.?$", RegexOptions.Singleline)]
    private static partial Regex HouseForm();
}

/// <summary>Maps exceptions escaping an endpoint to problem details.</summary>
internal sealed partial class ProblemExceptionHandler(ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        string? tenant = context.User.FindFirst(Tenants.TenantClaim)?.Value;
        string bank = context.Items[Problems.BankItem] as string ?? "";
        string Scrub(string text) => Problems.Scrub(text, tenant);
        if (await BindingProblems.TryWriteAsync(context, exception))
        {
            return true;
        }

        switch (exception)
        {
            case BadHttpRequestException bad when bad.InnerException is JsonException json:
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "Malformed JSON", json.Message,
                    field: json.Path is { Length: > 2 } path ? path[2..] : null, expected: "JSON matching the endpoint's schema (see /openapi/v1.json)");
                return true;
            case BadHttpRequestException bad:
                await Problems.WriteAsync(context, bad.StatusCode, bad.StatusCode == 413 ? "Request too large" : "Bad request", bad.Message);
                return true;
            case ArgumentException argument:
                var (field, expected, actual) = Problems.Parse(argument.Message, argument.ParamName);
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "Invalid argument",
                    Scrub(Problems.JsonName(argument.Message.Replace($" (Parameter '{argument.ParamName}')", "", StringComparison.Ordinal))),
                    field, expected, actual is null ? null : Scrub(actual));
                return true;
            case BankNotFoundException:
                await Problems.WriteAsync(context, StatusCodes.Status404NotFound, "Bank not found", $"Bank '{bank}' does not exist.", field: "bank",
                    expected: "the name of one of this tenant's banks (GET /v1/banks)", actual: bank);
                return true;
            case MemoryNotFoundException:
                string id = context.Items[Problems.MemoryIdItem] as string ?? "";
                await Problems.WriteAsync(context, StatusCodes.Status404NotFound, "Memory not found",
                    $"Memory '{id}' does not exist in bank '{bank}'.", field: "memoryId", expected: "the id of a memory of this bank", actual: id);
                return true;
            case InvalidRecallTokenException invalid:
                // One answer for forged tokens and for other banks' tokens (which would otherwise name the issuing
                // bank): a token from another tenant must look exactly like one that never existed.
                bool expired = invalid.Message.Contains("expired", StringComparison.Ordinal);
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "Invalid recall token",
                    expired ? invalid.Message : $"token is not a recall token of bank '{bank}'; pass the token a recall on this bank returned.",
                    field: "token", expected: "a recall token of this bank, unexpired");
                return true;
            case OperationConflictException conflict:
                await Problems.WriteAsync(context, StatusCodes.Status409Conflict, "Idempotency conflict", conflict.Message,
                    field: "Idempotency-Key", expected: "the same body as the first call with this key");
                return true;
            case BankConflictException conflict:
                await Problems.WriteAsync(context, StatusCodes.Status409Conflict, "Bank conflict", Scrub(conflict.Message), field: "name",
                    expected: "the spec the existing bank has, or another name");
                return true;
            case OverloadedException overloaded:
                context.Response.Headers.RetryAfter = "1";
                await Problems.WriteAsync(context, StatusCodes.Status429TooManyRequests, "Overloaded", Scrub(overloaded.Message),
                    expected: "a retry after the time in Retry-After");
                return true;
            case IncompleteCoverageException or ShardUnavailableException or StaleBankVersionException or TimeoutException:
                context.Response.Headers.RetryAfter = "1";
                await Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "Unavailable", Scrub(exception.Message),
                    expected: "a retry after the time in Retry-After");
                return true;
            case OperationCanceledException when context.RequestAborted.IsCancellationRequested:
                return true;
            default:
                LogUnexpected(logger, context.Request.Method, context.Request.Path, exception);
                await Problems.WriteAsync(context, StatusCodes.Status500InternalServerError, "Internal error",
                    "The server failed; the error is logged. Retrying with the same Idempotency-Key is safe.");
                return true;
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Path} failed")]
    private static partial void LogUnexpected(ILogger logger, string method, PathString path, Exception exception);
}
