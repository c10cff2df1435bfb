using System.Text.Json;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;

namespace MemRL.Api;

/// <summary>
/// Every error as RFC 9457 problem details, naming the field, the expected and the actual value where the error is
/// about input (DESIGN §5). The answer is built from the error's data (<see cref="FieldError"/>) and its type, never
/// from its message: the same rule gives the same status and parts whether it fired in the .NET client, the
/// coordinator or a shard on another silo, and rewording a message cannot change what a client branches on.
/// </summary>
internal static class Problems
{
    public const string BankItem = "memrl:bank";
    public const string MemoryIdItem = "memrl:memoryId";

    /// <summary>
    /// Writes a problem: the parts of bad input (<paramref name="field"/>, <paramref name="expected"/>,
    /// <paramref name="actual"/>), a reason code a client may branch on (<see cref="MemRL.Errors.Reasons"/>), and any
    /// further members (a quota's name, limit and current value); absent parts are left out.
    /// </summary>
    public static Task WriteAsync(HttpContext context, int status, string title, string detail,
        string? field = null, string? expected = null, string? actual = null, string? reason = null,
        IReadOnlyDictionary<string, object?>? extensions = null)
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

    /// <summary>The house sentence of an error's parts: "{field} is {actual}; expected {expected}."</summary>
    public static string Sentence(FieldErrorParts parts) => parts switch
    {
        { Reason: Reasons.Missing } => $"{parts.Field} is missing; expected {parts.Expected}.",
        { Actual: null } => $"{parts.Field} is invalid; expected {parts.Expected}.",
        _ => $"{parts.Field} is {parts.Actual}; expected {parts.Expected}.",
    };

    /// <summary>The user's bank name in place of the cluster's "{tenant}.{bank}", so answers speak the caller's names.</summary>
    public static string Scrub(string text, string? tenant) => tenant is null ? text : text.Replace($"'{tenant}.", "'", StringComparison.Ordinal);
}

/// <summary>Maps exceptions escaping an endpoint to problem details, by type and <see cref="FieldError"/> data.</summary>
internal sealed partial class ProblemExceptionHandler(ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    private const string RetryLater = "retry after the Retry-After delay.";

    /// <summary>Retry-After of a storage-overloaded answer, in seconds.</summary>
    internal const int StorageOverloadedRetryAfterSeconds = 5;

    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        string? tenant = context.User.FindFirst(Tenants.TenantClaim)?.Value;
        string bank = context.Items[Problems.BankItem] as string ?? "";
        string? Scrub(string? text) => text is null ? null : Problems.Scrub(text, tenant);
        if (await BindingProblems.TryWriteAsync(context, exception))
        {
            return true;
        }

        switch (exception)
        {
            // Bodies that are not JSON, not the endpoint's shape, too large or of another media type were answered by
            // BindingProblems above; what is left is a route, query or header value of the wrong type.
            case BadHttpRequestException bad:
                await Problems.WriteAsync(context, bad.StatusCode, "Bad request",
                    "A route, query or header value could not be read as its type (see /openapi/v1.json).");
                return true;
            case ArgumentException argument when FieldError.TryRead(argument, out var parts):
                // A number too large for its type was read as infinity: repeat what the caller sent, not what it became.
                if (parts.Actual is "Infinity" or "-Infinity" or "∞" or "-∞" && await BindingProblems.SentValueAsync(context, parts.Field) is { } sent)
                {
                    parts = parts with { Actual = sent };
                }

                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "Invalid argument", Scrub(Problems.Sentence(parts))!,
                    parts.Field, Scrub(parts.Expected), Scrub(parts.Actual), parts.Reason);
                return true;
            case ArgumentException argument:
                // Every rule attaches its parts; an error without them still names the parameter it was raised for.
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "Invalid argument",
                    argument.ParamName is { } name ? $"{name} is invalid." : "An argument is invalid.", field: argument.ParamName);
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
                // bank): a token from another tenant must look exactly like one that never existed. Only the reason
                // code tells an expired token apart.
                bool expired = FieldError.ReasonOf(invalid) == Reasons.TokenExpired;
                // The signer names the field the token came in (token on reward, recallToken on write).
                string tokenField = FieldError.TryRead(invalid, out var tokenParts) ? tokenParts.Field : "token";
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "Invalid recall token",
                    expired ? $"{tokenField} has expired; recall again for a fresh token."
                        : $"{tokenField} is not a recall token of bank '{bank}'; pass the token a recall on this bank returned.",
                    field: tokenField, expected: "a recall token of this bank, unexpired", reason: expired ? Reasons.TokenExpired : Reasons.TokenInvalid);
                return true;
            case OperationConflictException:
                await Problems.WriteAsync(context, StatusCodes.Status409Conflict, "Idempotency conflict",
                    "Idempotency-Key was used before with a different body; send that body again, or use a new key.",
                    field: "Idempotency-Key", expected: "the same body as the first call with this key");
                return true;
            case RewardConflictException conflict:
                // Each memory takes one reward per recall: the same value again answers the first result, another is this.
                string earlier = FieldError.Format(conflict.Earlier);
                await Problems.WriteAsync(context, StatusCodes.Status409Conflict, "Reward conflict",
                    $"Memory '{conflict.MemoryId}' was already rewarded {earlier} by this recall; each memory takes one reward per recall.",
                    field: "reward", expected: $"{earlier}, the value this recall already gave memory '{conflict.MemoryId}'",
                    actual: FieldError.Format(conflict.Now), reason: Reasons.RewardConflict);
                return true;
            case BankConflictException:
                await Problems.WriteAsync(context, StatusCodes.Status409Conflict, "Bank conflict",
                    "The bank exists with a different definition, or is already changing its shard count; choose another name, or retry when the change finishes.",
                    field: "name", expected: "the spec the existing bank has, or another name");
                return true;
            case OverloadedException:
                context.Response.Headers.RetryAfter = "1";
                await Problems.WriteAsync(context, StatusCodes.Status429TooManyRequests, "Overloaded", "A shard of the bank has more calls queued than its bound; " + RetryLater,
                    expected: "a retry after the time in Retry-After");
                return true;
            case IncompleteCoverageException:
                context.Response.Headers.RetryAfter = "1";
                await Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "Unavailable",
                    "Not every shard of the bank answered in time; " + RetryLater,
                    expected: "a retry after the time in Retry-After");
                return true;
            case ShardUnavailableException { StorageOverloaded: true }:
                // The store already retried with backoff for about 16 s; asking for a longer pause than the generic
                // 503 spreads the callers' retries instead of adding to the load that throttled it.
                context.Response.Headers.RetryAfter = StorageOverloadedRetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "Storage overloaded",
                    "The storage service is throttling this bank's shard (its account or partition is over its throughput target); "
                    + "the change is not acknowledged. Slow down and " + RetryLater,
                    expected: "a retry after the time in Retry-After", reason: Reasons.StorageOverloaded);
                return true;
            case ShardUnavailableException or StaleBankVersionException or TimeoutException:
                context.Response.Headers.RetryAfter = "1";
                await Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "Unavailable", "The bank is briefly unavailable; " + RetryLater,
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
