using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using MemRL.Errors;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MemRL.Api;

/// <summary>
/// Problems for requests the framework could not bind: a body that is not JSON, not the endpoint's shape, too large
/// or of another media type. The framework's own messages name .NET types ("System.Nullable`1[System.Int32]",
/// "MemRL.Api.RewardBody"); these speak the caller's JSON instead: the member's path as the field, what the
/// endpoint's schema wants there as expected, and the value or token sent as actual. Also the API layer's own
/// answers that carry a reason code (unknown or missing member, quota), ahead of the general exception mapping.
/// </summary>
internal static class BindingProblems
{
    /// <summary>Writes the problem for a binding failure and returns true; false for any other exception.</summary>
    public static async Task<bool> TryWriteAsync(HttpContext context, Exception exception)
    {
        if (exception is QuotaExceededException quota)
        {
            await quota.WriteAsync(context);
            return true;
        }

        // The two reasons this class's callers raise (unknown member, missing member) go out with their reason code;
        // every other argument error is the exception handler's.
        if (exception is ArgumentException argument && FieldError.TryRead(argument, out var read) && read.Reason is Reasons.UnknownMember or Reasons.Missing)
        {
            string? tenant = context.User.FindFirst(Tenants.TenantClaim)?.Value;
            string message = Problems.Sentence(read);
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, read.Reason == Reasons.Missing ? "Member missing" : "Unknown member",
                Problems.Scrub(message, tenant), read.Field, read.Expected, read.Actual is null ? null : Problems.Scrub(read.Actual, tenant), read.Reason);
            return true;
        }

        if (exception is not BadHttpRequestException bad)
        {
            return false;
        }

        var endpoint = context.Features.Get<IExceptionHandlerFeature>()?.Endpoint;
        switch (bad)
        {
            case { StatusCode: StatusCodes.Status415UnsupportedMediaType }:
                string? sent = context.Request.ContentType;
                await Problems.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
                    sent is null ? "The request has a body without a Content-Type; expected application/json." : $"Content-Type is '{sent}'; expected application/json.",
                    field: "Content-Type", expected: "application/json", actual: sent);
                return true;
            case { StatusCode: StatusCodes.Status413PayloadTooLarge }:
                long limit = context.RequestServices.GetRequiredService<IOptions<ApiOptions>>().Value.MaxRequestBytes;
                await Problems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "Request too large",
                    $"The request body is larger than MemRL:Api:MaxRequestBytes ({limit.ToString(CultureInfo.InvariantCulture)} bytes).",
                    field: "body", expected: $"at most {limit.ToString(CultureInfo.InvariantCulture)} bytes",
                    actual: context.Request.ContentLength is { } length ? $"{length.ToString(CultureInfo.InvariantCulture)} bytes" : null);
                return true;
            case { InnerException: JsonException json }:
                var requestType = endpoint?.Metadata.GetMetadata<IAcceptsMetadata>()?.RequestType;
                var parts = Describe(json, requestType, await ReadBodyAsync(context.Request), JsonOptionsOf(context));
                await WriteAsync(context, parts);
                return true;
            case { StatusCode: StatusCodes.Status400BadRequest } when context.Request.ContentLength is 0 or null && !context.Request.Headers.ContainsKey("Transfer-Encoding"):
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "Body missing",
                    "The request has no body; expected a JSON object (see /openapi/v1.json).", "body", "a JSON object", null, Reasons.Missing);
                return true;
            default:
                return false;
        }
    }

    /// <summary>The problem for <paramref name="json"/>, an error reading a <paramref name="root"/> from <paramref name="body"/>.</summary>
    public static FieldErrorParts Describe(JsonException json, Type? root, string? body, JsonSerializerOptions options)
    {
        var segments = Segments(json.Path);
        string field = segments.Count == 0 ? "body" : Join(segments);
        string? actual = body is null ? null : ValueAt(body, segments) ?? TokenAt(body, json);
        if (root is null)
        {
            return new FieldErrorParts(field, "JSON matching the endpoint's schema (see /openapi/v1.json)", actual, null);
        }

        // Walk the schema along the path: a member missing from its object is an unknown member.
        var type = root;
        for (int i = 0; i < segments.Count; i++)
        {
            var info = options.GetTypeInfo(Nullable.GetUnderlyingType(type) ?? type);
            if (segments[i] is string name)
            {
                var property = info.Kind == JsonTypeInfoKind.Object
                    ? info.Properties.FirstOrDefault(p => string.Equals(p.Name, name, options.PropertyNameCaseInsensitive ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal))
                    : null;
                if (property is null)
                {
                    string members = string.Join(", ", info.Properties.Select(p => p.Name));
                    return new FieldErrorParts(field, info.Kind == JsonTypeInfoKind.Object ? $"one of the members {members}" : Expected(type, options), actual, Reasons.UnknownMember);
                }

                type = property.PropertyType;
            }
            else
            {
                type = info.ElementType ?? typeof(object);
            }
        }

        return new FieldErrorParts(field, Expected(type, options), actual, null);
    }

    /// <summary>What a value of <paramref name="type"/> looks like in JSON, in the caller's words.</summary>
    public static string Expected(Type type, JsonSerializerOptions options)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type.IsEnum)
        {
            return $"one of {string.Join(", ", Enum.GetNames(type))}";
        }

        if (type == typeof(bool))
        {
            return "true or false";
        }

        if (type == typeof(string))
        {
            return "a string";
        }

        if (type == typeof(int) || type == typeof(long) || type == typeof(short))
        {
            return "an integer";
        }

        if (type == typeof(double) || type == typeof(float) || type == typeof(decimal))
        {
            return "a finite number";
        }

        var info = options.GetTypeInfo(type);
        return info.Kind switch
        {
            JsonTypeInfoKind.Enumerable => $"an array of {Plural(Expected(info.ElementType!, options))}",
            JsonTypeInfoKind.Object => $"an object with members {string.Join(", ", info.Properties.Select(p => p.Name))}",
            _ => "a value as /openapi/v1.json describes",
        };
    }

    private static string Plural(string one) => one switch
    {
        "an integer" => "integers",
        "a finite number" => "finite numbers",
        "a string" => "strings",
        "true or false" => "booleans",
        _ => $"({one})",
    };

    private static Task WriteAsync(HttpContext context, FieldErrorParts parts)
    {
        string detail = parts.Reason == Reasons.UnknownMember
            ? $"{parts.Field} is not a member of this request; expected {parts.Expected}."
            : $"{parts.Field} is {parts.Actual ?? "invalid"}; expected {parts.Expected}.";
        return Problems.WriteAsync(context, StatusCodes.Status400BadRequest, parts.Reason == Reasons.UnknownMember ? "Unknown member" : "Malformed JSON",
            detail, parts.Field, parts.Expected, parts.Actual, parts.Reason);
    }

    private static JsonSerializerOptions JsonOptionsOf(HttpContext context) =>
        context.RequestServices.GetService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>()?.Value.SerializerOptions ?? JsonSerializerOptions.Web;

    // The body as sent, when RequestEdge kept it (it buffers JSON bodies so that an error can quote them).
    private static async Task<string?> ReadBodyAsync(HttpRequest request)
    {
        if (!request.Body.CanSeek)
        {
            return null;
        }

        request.Body.Position = 0;
        using var reader = new StreamReader(request.Body, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, leaveOpen: true);
        return await reader.ReadToEndAsync();
    }

    // "$.options.alpha" → ["options", "alpha"]; "$.memoryIds[2]" → ["memoryIds", 2]; "$['a b']" → ["a b"].
    private static List<object> Segments(string? path)
    {
        var segments = new List<object>();
        if (string.IsNullOrEmpty(path))
        {
            return segments;
        }

        int i = path.StartsWith('$') ? 1 : 0;
        while (i < path.Length)
        {
            if (path[i] == '.')
            {
                int end = path.IndexOfAny(['.', '['], i + 1);
                end = end < 0 ? path.Length : end;
                segments.Add(path[(i + 1)..end]);
                i = end;
            }
            else if (path.AsSpan(i).StartsWith("['"))
            {
                int end = path.IndexOf("']", i, StringComparison.Ordinal);
                end = end < 0 ? path.Length : end;
                segments.Add(path[(i + 2)..end]);
                i = end + 2;
            }
            else if (path[i] == '[')
            {
                int end = path.IndexOf(']', i);
                end = end < 0 ? path.Length : end;
                segments.Add(int.TryParse(path.AsSpan(i + 1, end - i - 1), NumberStyles.None, CultureInfo.InvariantCulture, out int index) ? index : (object)path[(i + 1)..end]);
                i = end + 1;
            }
            else
            {
                break;
            }
        }

        return segments;
    }

    private static string Join(List<object> segments)
    {
        var text = new StringBuilder();
        foreach (object segment in segments)
        {
            if (segment is int index)
            {
                text.Append('[').Append(index.ToString(CultureInfo.InvariantCulture)).Append(']');
            }
            else
            {
                text.Append(text.Length == 0 ? "" : ".").Append((string)segment);
            }
        }

        return text.ToString();
    }

    // The JSON text at the path, when the body parses (a value of the wrong type or an unknown member's value).
    private static string? ValueAt(string body, List<object> segments)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var element = document.RootElement;
            foreach (object segment in segments)
            {
                if (segment is int index && element.ValueKind == JsonValueKind.Array && index < element.GetArrayLength())
                {
                    element = element[index];
                }
                else if (segment is string name && element.ValueKind == JsonValueKind.Object && TryGetMember(element, name, out var member))
                {
                    element = member;
                }
                else
                {
                    return null;
                }
            }

            // A string as the caller meant it (without its JSON quotes); anything else as written.
            return element.ValueKind == JsonValueKind.String ? element.GetString() : element.GetRawText();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// The value the caller sent at <paramref name="field"/> (a JSON path such as <c>query[3]</c>) in the request's body, or
    /// null when the body holds none there: an error about a number that overflowed to infinity while being read can then
    /// repeat what was sent ("1e39"), not what it became.
    /// </summary>
    public static async Task<string?> SentValueAsync(HttpContext context, string field)
    {
        string? body = await ReadBodyAsync(context.Request);
        return body is null ? null : ValueAt(body, Segments("$." + field));
    }

    private static bool TryGetMember(JsonElement element, string name, out JsonElement member)
    {
        foreach (var property in element.EnumerateObject())
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                member = property.Value;
                return true;
            }
        }

        member = default;
        return false;
    }

    // The text where the reader stopped, for a body that is not JSON at all (up to 20 characters, or "end of input").
    private static string TokenAt(string body, JsonException json)
    {
        var lines = body.Split('\n');
        int line = (int)Math.Min(json.LineNumber ?? 0, lines.Length - 1);
        string text = lines[line];
        int position = (int)Math.Min(json.BytePositionInLine ?? 0, text.Length);
        // The reader stops inside a bad literal ("nope" at 'o', "-Infinity" at 'I'): back to the literal's start, sign included.
        while (position > 0 && (char.IsAsciiLetter(text[position - 1]) || (text[position - 1] is '-' or '+' && (position == 1 || !char.IsAsciiLetterOrDigit(text[position - 2])))))
        {
            position--;
        }

        // A bare literal (NaN, Infinity) ends at the next separator: the rest of the body is not part of it.
        int literalEnd = text.IndexOfAny([',', '}', ']', ' ', '\t', '\r'], position);
        if (literalEnd > position && text.AsSpan(position, literalEnd - position).ContainsAnyExcept("+-.0123456789eEabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") is false)
        {
            return text[position..literalEnd];
        }

        string rest = string.Join('\n', lines.Skip(line + 1));
        string token = (text[position..] + (rest.Length > 0 ? "\n" + rest : "")).Trim();
        // Only separators left: the body ended where a value was due.
        return token.Trim(',', ':', ' ', '\t', '\r', '\n').Length == 0 ? "end of input" : token.Length <= 20 ? token : token[..20] + "…";
    }
}
