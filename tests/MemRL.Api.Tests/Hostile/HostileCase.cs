using System.Net.Http.Headers;
using System.Text;

namespace MemRL.Api.Tests.Hostile;

/// <summary>
/// One hostile request and the answer the contract requires. Path, body, headers and <see cref="Actual"/> may hold the
/// scene's placeholders ({bank}, {token}, {id}, …; see <see cref="Scene.Fill"/>).
/// </summary>
/// <param name="Status">The status required.</param>
/// <param name="Field">The problem's field, or null when the case does not name one.</param>
/// <param name="Actual">The problem's actual: exact text, "*" for present and non-empty, null for not checked.</param>
/// <param name="Reason">The problem's reason code, or null when the case does not require one.</param>
public sealed record HostileCase(string Name, string Method, string Path, string? Body, int Status, string? Field = null, string? Actual = null, string? Reason = null)
{
    /// <summary>Whose key: alpha, beta, reader (alpha read-only), none, or unknown.</summary>
    public string Key { get; init; } = "alpha";

    /// <summary>Content-Type sent with a body; null sends none.</summary>
    public string? ContentType { get; init; } = "application/json";

    /// <summary>More headers, verbatim.</summary>
    public IReadOnlyList<(string Name, string Value)> Headers { get; init; } = [];

    /// <summary>Sent through HttpClient with Expect: 100-continue (large bodies), instead of as raw bytes.</summary>
    public bool ExpectContinue { get; init; }

    /// <summary>Statuses also accepted where the contract leaves the choice open (each still checked for shape and state).</summary>
    public IReadOnlyList<int> AlsoAccepted { get; init; } = [];

    /// <summary>Whether Kestrel's own bodiless refusal (see <see cref="ProblemAssert.IsTransportRejection"/>) is accepted.</summary>
    public bool TransportRejection { get; init; }

    /// <summary>Other field names the contract allows for this case (a control character is a bad path and a bad id).</summary>
    public IReadOnlyList<string> AlsoFields { get; init; } = [];

    /// <summary>The body as bytes, when it must not be UTF-8 text (invalid encodings).</summary>
    public byte[]? BodyBytes { get; init; }

    public override string ToString() => Name;

    /// <summary>Sends the case against <paramref name="scene"/>: as exact bytes over a socket, or through HttpClient for large bodies.</summary>
    public async Task<WireReply> SendAsync(Scene scene)
    {
        var silo = scene.Fixture.Silo;
        string path = scene.Fill(Path);
        string? auth = Key switch
        {
            "alpha" => $"Bearer {ApiSilo.KeyOf("alpha")}",
            "beta" => $"Bearer {ApiSilo.KeyOf("beta")}",
            "reader" => $"Bearer {ApiSilo.KeyOf("alpha", readOnly: true)}",
            "unknown" => "Bearer memrl_not-a-key-of-this-server-000000000000",
            "none" => null,
            _ => throw new ArgumentException($"Key is '{Key}'; expected alpha, beta, reader, unknown or none.", nameof(Key)),
        };
        byte[]? body = BodyBytes ?? (Body is null ? null : Encoding.UTF8.GetBytes(scene.Fill(Body)));
        var headers = Headers.Select(h => (h.Name, scene.Fill(h.Value))).ToList();
        if (ExpectContinue)
        {
            using var http = new HttpClient { BaseAddress = silo.Address };
            using var request = new HttpRequestMessage(new HttpMethod(Method), path);
            request.Headers.ExpectContinue = true;
            if (auth is not null)
            {
                request.Headers.TryAddWithoutValidation("Authorization", auth);
            }

            if (body is not null)
            {
                request.Content = new ByteArrayContent(body);
                if (ContentType is not null)
                {
                    request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(ContentType);
                }
            }

            foreach (var (name, value) in headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }

            using var response = await http.SendAsync(request);
            return await ProblemAssert.ToWireAsync(response);
        }

        var all = new List<(string, string)>();
        if (auth is not null)
        {
            all.Add(("Authorization", auth));
        }

        if (body is not null && ContentType is not null)
        {
            all.Add(("Content-Type", ContentType));
        }

        all.AddRange(headers);
        return await RawHttp.SendAsync(silo.Address, Method, path, all, body);
    }
}
