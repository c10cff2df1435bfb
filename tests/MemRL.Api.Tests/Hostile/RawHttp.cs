using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace MemRL.Api.Tests.Hostile;

/// <summary>
/// One HTTP/1.1 exchange as exact bytes over a socket. HttpClient (like every well-behaved client) collapses dot
/// segments and refuses control characters before sending, so a test of what the server does with "/memories/.." or
/// "%00" in a path, or with a malformed header, must write the request line itself.
/// </summary>
public static class RawHttp
{
    /// <summary>How long one exchange may take before the test fails (a server that never answers is a defect too).</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Sends <paramref name="method"/> <paramref name="target"/> (the request target verbatim, Latin-1 so control
    /// characters go as single bytes) with the headers and body given, plus Host, Content-Length and Connection: close;
    /// reads the whole answer.
    /// </summary>
    public static async Task<WireReply> SendAsync(
        Uri server, string method, string target, IEnumerable<(string Name, string Value)> headers, byte[]? body = null)
    {
        var head = new StringBuilder();
        head.Append(method).Append(' ').Append(target).Append(" HTTP/1.1\r\n");
        head.Append("Host: ").Append(server.Authority).Append("\r\n");
        foreach (var (name, value) in headers)
        {
            head.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        if (body is not null)
        {
            head.Append("Content-Length: ").Append(body.Length).Append("\r\n");
        }

        head.Append("Connection: close\r\n\r\n");
        byte[] request = [.. Encoding.Latin1.GetBytes(head.ToString()), .. body ?? []];
        return await ExchangeAsync(server, request);
    }

    /// <summary>Writes <paramref name="request"/> as given and reads the answer until the server closes.</summary>
    public static async Task<WireReply> ExchangeAsync(Uri server, byte[] request)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port, deadline.Token);
        var stream = tcp.GetStream();
        try
        {
            await stream.WriteAsync(request, deadline.Token);
            await stream.FlushAsync(deadline.Token);
        }
        catch (IOException)
        {
            // The server may answer and close before the whole request is written (a body over the limit): read what it said.
        }

        using var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, deadline.Token)) > 0)
            {
                received.Write(buffer, 0, n);
            }
        }
        catch (IOException) when (received.Length > 0)
        {
            // A reset after the answer (Kestrel aborts connections it refused): the answer is complete enough to judge.
        }

        return WireReply.Parse(received.ToArray());
    }
}

/// <summary>An HTTP answer as received: status, headers (names case-insensitive, repeated ones kept) and body text.</summary>
public sealed record WireReply(int Status, string Reason, IReadOnlyList<(string Name, string Value)> Headers, string Body)
{
    public string? Header(string name) => Headers.Where(h => string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();

    /// <summary>The media type of Content-Type, without parameters.</summary>
    public string? MediaType => Header("Content-Type")?.Split(';')[0].Trim();

    /// <summary>The body as JSON, or Undefined when it is empty or not JSON.</summary>
    public JsonElement Json
    {
        get
        {
            try
            {
                return Body.Length == 0 ? default : JsonDocument.Parse(Body).RootElement.Clone();
            }
            catch (JsonException)
            {
                return default;
            }
        }
    }

    public static WireReply Parse(byte[] bytes)
    {
        int end = IndexOf(bytes, "\r\n\r\n"u8);
        if (end < 0)
        {
            throw new InvalidDataException($"no complete HTTP head in {bytes.Length} bytes: '{Encoding.Latin1.GetString(bytes)}'");
        }

        string[] lines = Encoding.Latin1.GetString(bytes, 0, end).Split("\r\n");
        string[] status = lines[0].Split(' ', 3);
        if (status.Length < 2 || !status[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || !int.TryParse(status[1], out int code))
        {
            throw new InvalidDataException($"not an HTTP status line: '{lines[0]}'");
        }

        var headers = new List<(string, string)>();
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            headers.Add(colon < 0 ? (line, "") : (line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }

        byte[] body = bytes[(end + 4)..];
        bool chunked = headers.Any(h => string.Equals(h.Item1, "Transfer-Encoding", StringComparison.OrdinalIgnoreCase)
            && h.Item2.Contains("chunked", StringComparison.OrdinalIgnoreCase));
        if (chunked)
        {
            body = Dechunk(body);
        }

        return new WireReply(code, status.Length > 2 ? status[2] : "", headers, Encoding.UTF8.GetString(body));
    }

    private static byte[] Dechunk(byte[] body)
    {
        using var output = new MemoryStream();
        int at = 0;
        while (at < body.Length)
        {
            int lineEnd = IndexOf(body.AsSpan(at), "\r\n"u8);
            if (lineEnd < 0)
            {
                break;
            }

            string sizeText = Encoding.ASCII.GetString(body, at, lineEnd).Split(';')[0].Trim();
            int size = Convert.ToInt32(sizeText, 16);
            at += lineEnd + 2;
            if (size == 0)
            {
                break;
            }

            output.Write(body, at, Math.Min(size, body.Length - at));
            at += size + 2;
        }

        return output.ToArray();
    }

    private static int IndexOf(ReadOnlySpan<byte> haystack, ReadOnlySpan<byte> needle) => haystack.IndexOf(needle);
}
