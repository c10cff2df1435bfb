using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace MemRL.Api;

/// <summary>
/// The first look at a request, before routing: the raw request target and the headers as the caller sent them.
/// Kestrel resolves dot segments ("/memories/..", "%2E%2E") before the router sees the path, so
/// <c>DELETE /v1/banks/b/memories/..</c> would reach <c>DELETE /v1/banks/b</c>; no route of this API has a dot segment,
/// an encoded slash or a control character, so any such target is refused here, where the path is still the one sent.
/// Kestrel's own limits are set above these (<see cref="MemRLApiExtensions.AddMemRLApi"/>), so long paths and headers get the
/// application's problem details rather than Kestrel's empty answers.
/// </summary>
internal sealed class RequestEdge(RequestDelegate next, IOptions<ApiOptions> options)
{
    private readonly ApiOptions _options = options.Value;

    public Task InvokeAsync(HttpContext context)
    {
        string raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "";
        if (!TryCheckTarget(raw, _options, out string? detail, out string? expected, out string? actual, out int status))
        {
            return Problems.WriteAsync(context, status, "Bad request target", detail, field: "path", expected: expected, actual: actual);
        }

        if (!TryCheckHeaders(context.Request.Headers, _options, out detail, out string? field, out expected, out actual, out status))
        {
            return Problems.WriteAsync(context, status, "Bad request header", detail, field: field, expected: expected, actual: actual);
        }

        if (context.Request.ContentLength is > 0 || context.Request.Headers.ContainsKey("Transfer-Encoding"))
        {
            // Kept in memory (bodies are at most MaxRequestBytes) so that a JSON error can quote what was sent.
            context.Request.EnableBuffering(bufferThreshold: (int)Math.Min(int.MaxValue, _options.MaxRequestBytes));
        }

        return next(context);
    }

    /// <summary>
    /// False, with the problem's parts, for a target this API never routes: not origin- or absolute-form, a path over
    /// <see cref="ApiOptions.MaxPathLength"/> or a query over <see cref="ApiOptions.MaxQueryLength"/>, a '.' or '..' segment
    /// however encoded, an encoded '/' or '\', a raw '\', or a control character raw or encoded.
    /// </summary>
    internal static bool TryCheckTarget(
        string raw, ApiOptions options, out string detail, out string? expected, out string? actual, out int status)
    {
        status = StatusCodes.Status400BadRequest;
        expected = null;
        actual = raw;
        detail = "";
        string path = raw;
        if (!raw.StartsWith('/') && Uri.TryCreate(raw, UriKind.Absolute, out _))
        {
            // Absolute form (a proxy's "GET http://host/v1/..."): judge the path part as sent, before Uri normalizes it.
            int start = raw.IndexOf("//", StringComparison.Ordinal);
            int slash = start < 0 ? -1 : raw.IndexOf('/', start + 2);
            path = slash < 0 ? "/" : raw[slash..];
        }
        else if (!raw.StartsWith('/'))
        {
            expected = "an origin-form target such as /v1/banks/{bank}";
            detail = $"The request target is '{Clip(raw)}'; expected a path starting with '/'.";
            return false;
        }

        int q = path.IndexOf('?', StringComparison.Ordinal);
        string query = q < 0 ? "" : path[(q + 1)..];
        path = q < 0 ? path : path[..q];
        actual = Clip(path);
        if (path.Length > options.MaxPathLength)
        {
            expected = $"a path of at most {options.MaxPathLength.ToString(CultureInfo.InvariantCulture)} characters";
            detail = $"The path has {path.Length.ToString(CultureInfo.InvariantCulture)} characters; expected at most {options.MaxPathLength.ToString(CultureInfo.InvariantCulture)}.";
            return false;
        }

        if (query.Length > options.MaxQueryLength)
        {
            actual = $"{query.Length.ToString(CultureInfo.InvariantCulture)} characters";
            expected = $"a query of at most {options.MaxQueryLength.ToString(CultureInfo.InvariantCulture)} characters";
            detail = $"The query string has {query.Length.ToString(CultureInfo.InvariantCulture)} characters; expected at most {options.MaxQueryLength.ToString(CultureInfo.InvariantCulture)}.";
            return false;
        }

        expected = "a path of this API: no '.' or '..' segment, no encoded '/' or '\\', no '\\', no control characters";
        // The path only: a query value is data, never a route (a cursor may be anything; the handler judges it).
        if (FindBadCharacter(path) is { } bad)
        {
            detail = $"The path contains {bad}; no route of this API has one.";
            return false;
        }

        foreach (string segment in path.Split('/'))
        {
            // Any spelling of '.' ("%2E", "%2e") counts: Kestrel decodes it, then resolves the segment.
            string decoded = segment.Replace("%2E", ".", StringComparison.OrdinalIgnoreCase);
            if (decoded is "." or "..")
            {
                detail = $"The path has the segment '{segment}', which would address another resource; send the resource's own path.";
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// False for a header this API refuses: one longer than <see cref="ApiOptions.MaxHeaderBytes"/> (name and value), all
    /// together over <see cref="ApiOptions.MaxHeadersTotalBytes"/>, or a value with a character outside printable ASCII
    /// (Kestrel passes Latin-1 through to here; it refuses control characters itself).
    /// </summary>
    internal static bool TryCheckHeaders(
        IHeaderDictionary headers, ApiOptions options, out string detail, out string? field, out string? expected, out string? actual, out int status)
    {
        status = StatusCodes.Status431RequestHeaderFieldsTooLarge;
        long total = 0;
        foreach (var (name, values) in headers)
        {
            if (!IsToken(name))
            {
                status = StatusCodes.Status400BadRequest;
                field = "headers";
                expected = "header names of token characters (RFC 9110 §5.1)";
                actual = Escape(name);
                detail = $"A header name, '{Escape(name)}', has a character no header name may have.";
                return false;
            }

            foreach (string? value in values)
            {
                int length = name.Length + (value?.Length ?? 0);
                total += length + 4;
                if (length > options.MaxHeaderBytes)
                {
                    field = name;
                    expected = $"a header of at most {options.MaxHeaderBytes.ToString(CultureInfo.InvariantCulture)} bytes (name and value)";
                    actual = $"{length.ToString(CultureInfo.InvariantCulture)} bytes";
                    detail = $"The header {name} has {length.ToString(CultureInfo.InvariantCulture)} bytes; expected at most {options.MaxHeaderBytes.ToString(CultureInfo.InvariantCulture)}.";
                    return false;
                }

                if (value is not null && !IsPrintableOrTab(value))
                {
                    status = StatusCodes.Status400BadRequest;
                    field = name;
                    expected = "printable ASCII";
                    // Never repeat a credential, even a malformed one.
                    actual = IsSecret(name) ? $"{value.Length.ToString(CultureInfo.InvariantCulture)} characters, not all printable ASCII" : Clip(value);
                    detail = $"The header {name} has a character outside printable ASCII.";
                    return false;
                }
            }
        }

        if (total > options.MaxHeadersTotalBytes)
        {
            field = "headers";
            expected = $"headers of at most {options.MaxHeadersTotalBytes.ToString(CultureInfo.InvariantCulture)} bytes in all";
            actual = $"{total.ToString(CultureInfo.InvariantCulture)} bytes";
            detail = $"The headers have {total.ToString(CultureInfo.InvariantCulture)} bytes in all; expected at most {options.MaxHeadersTotalBytes.ToString(CultureInfo.InvariantCulture)}.";
            return false;
        }

        field = expected = actual = null;
        detail = "";
        status = StatusCodes.Status200OK;
        return true;
    }

    private static bool IsPrintableOrTab(string value)
    {
        foreach (char c in value)
        {
            if (c is not ('\t' or (>= ' ' and <= '~')))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsToken(string name)
    {
        foreach (char c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)))
            {
                return false;
            }
        }

        return name.Length > 0;
    }

    private static string Escape(string text) =>
        string.Concat(text.Select(c => c is >= ' ' and <= '~' ? c.ToString() : $"\\u{((int)c).ToString("x4", CultureInfo.InvariantCulture)}"));

    private static bool IsSecret(string name) =>
        name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) || name.Equals("Cookie", StringComparison.OrdinalIgnoreCase);

    // A description of the first character (raw or percent-encoded) no route of the API has, or null.
    private static string? FindBadCharacter(string raw)
    {
        for (int i = 0; i < raw.Length; i++)
        {
            char c = raw[i];
            if (c == '\\')
            {
                return "a '\\'";
            }

            if (char.IsControl(c))
            {
                return $"the control character U+{((int)c).ToString("X4", CultureInfo.InvariantCulture)}";
            }

            if (c == '%' && i + 2 < raw.Length
                && int.TryParse(raw.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int code))
            {
                if (code is '/' or '\\')
                {
                    return $"an encoded '{(char)code}' ({raw.Substring(i, 3)})";
                }

                if (code < 0x20 || code == 0x7F)
                {
                    return $"an encoded control character ({raw.Substring(i, 3)})";
                }
            }
        }

        return null;
    }

    private static string Clip(string value) => value.Length <= 200 ? value : string.Concat(value.AsSpan(0, 200), "…");
}
