using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace MemRL.Api.Tests;

/// <summary>What came back on a raw socket: status, headers (names lower-cased) and the body, de-chunked.</summary>
public sealed record RawReply(int Status, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public string? ContentType => Headers.TryGetValue("content-type", out var type) ? type.Split(';')[0].Trim() : null;

    /// <summary>Asserts problem details with this status and field, and returns them.</summary>
    public JsonElement Problem(int status, string field)
    {
        Assert.True(Status == status, $"expected {status}, got {Status}: {Body}");
        Assert.True(ContentType == "application/problem+json", $"expected problem+json, got {ContentType}: {Body}");
        var json = JsonDocument.Parse(Body).RootElement.Clone();
        Assert.Equal(field, json.GetProperty("field").GetString());
        Assert.False(string.IsNullOrEmpty(json.GetProperty("expected").GetString()), Body);
        Assert.False(string.IsNullOrEmpty(json.GetProperty("actual").GetString()), Body);
        Assert.Equal(status, json.GetProperty("status").GetInt32());
        return json;
    }
}

/// <summary>
/// HTTP/1.1 over a bare TCP socket, bytes exactly as given: HttpClient (and Uri) resolve dot segments and re-encode
/// targets before sending, so they cannot send the requests the edge tests are about.
/// </summary>
public static class RawHttp
{
    /// <summary>Sends <paramref name="requestLine"/> with a Host, the headers and an optional body; reads until the server closes.</summary>
    public static async Task<RawReply> SendAsync(Uri server, string requestLine, IEnumerable<string>? headers = null, string? body = null)
    {
        var text = new StringBuilder();
        text.Append(requestLine).Append("\r\n");
        text.Append("Host: ").Append(server.Authority).Append("\r\n");
        foreach (string header in headers ?? [])
        {
            text.Append(header).Append("\r\n");
        }

        if (body is not null)
        {
            text.Append("Content-Length: ").Append(Encoding.UTF8.GetByteCount(body)).Append("\r\n");
        }

        text.Append("Connection: close\r\n\r\n").Append(body);
        return await SendBytesAsync(server, Encoding.Latin1.GetBytes(text.ToString()));
    }

    /// <summary>Sends <paramref name="request"/> verbatim; reads until the server closes (or 30 s pass).</summary>
    public static async Task<RawReply> SendBytesAsync(Uri server, byte[] request)
    {
        using var tcp = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await tcp.ConnectAsync(server.Host, server.Port, timeout.Token);
        var stream = tcp.GetStream();
        try
        {
            await stream.WriteAsync(request, timeout.Token);
        }
        catch (IOException)
        {
            // The server may answer and close before a long request is written; its answer is still readable.
        }

        using var received = new MemoryStream();
        var buffer = new byte[16 << 10];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                received.Write(buffer, 0, n);
            }
        }
        catch (IOException) when (received.Length > 0)
        {
            // A reset after the answer (the server closed with unread request bytes) loses nothing already read.
        }

        return Parse(Encoding.Latin1.GetString(received.ToArray()));
    }

    private static RawReply Parse(string response)
    {
        int end = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(end > 0, $"no HTTP response head in: {response}");
        var lines = response[..end].Split("\r\n");
        int status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim().ToLowerInvariant()] = line[(colon + 1)..].Trim();
        }

        string body = response[(end + 4)..];
        if (headers.TryGetValue("transfer-encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = Dechunk(body);
        }

        return new RawReply(status, headers, body);
    }

    private static string Dechunk(string chunked)
    {
        var body = new StringBuilder();
        int at = 0;
        while (true)
        {
            int lineEnd = chunked.IndexOf("\r\n", at, StringComparison.Ordinal);
            int size = Convert.ToInt32(chunked[at..lineEnd].Split(';')[0], 16);
            if (size == 0)
            {
                return body.ToString();
            }

            body.Append(chunked, lineEnd + 2, size);
            at = lineEnd + 2 + size + 2;
        }
    }
}
