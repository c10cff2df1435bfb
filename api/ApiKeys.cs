using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MemRL.Api;

/// <summary>
/// The keys this silo accepts, by the SHA-256 of the key. Keys are 256-bit random strings, so a fast hash is the right
/// one (as for GitHub or Stripe tokens): there is nothing to brute-force, and the store never holds a usable key.
/// </summary>
public sealed class ApiKeyRing
{
    // Replaced whole, never changed in place: readers on other threads see one complete ring or the next.
    private volatile Dictionary<string, ApiKeyEntry> _byHash = new(StringComparer.Ordinal);
    private readonly Lock _writer = new();
    private readonly ApiOptions _options;
    private DateTime? _localStamp;

    /// <summary>Creates the ring from the configured entries.</summary>
    public ApiKeyRing(IOptions<ApiOptions> options)
    {
        _options = options.Value;
        foreach (var entry in _options.Keys)
        {
            Add(entry);
        }
    }

    /// <summary>How many keys are accepted.</summary>
    public int Count => _byHash.Count;

    /// <summary>Whether the ring holds the local keys (no key configured), which <see cref="RefreshLocal"/> rereads.</summary>
    public bool UsesLocalKeys { get; private set; }

    /// <summary>Prefix of every key this server mints, so a leaked key is recognisable (secret scanners match it).</summary>
    public const string KeyPrefix = "memrl_";

    /// <summary>Accepts one more key.</summary>
    public void Add(ApiKeyEntry entry)
    {
        lock (_writer)
        {
            _byHash = new Dictionary<string, ApiKeyEntry>(_byHash, StringComparer.Ordinal) { [entry.Sha256.ToLowerInvariant()] = entry };
        }
    }

    /// <summary>Accepts the local ring's keys in place of the ones loaded before (at start, and after a rotation).</summary>
    public void LoadLocal()
    {
        lock (_writer)
        {
            _localStamp = LocalKeys.Stamp(_options);
            var next = _byHash.Where(e => !e.Value.Local).ToDictionary(StringComparer.Ordinal);
            foreach (var entry in LocalKeys.Accepted(_options))
            {
                next[entry.Sha256.ToLowerInvariant()] = entry;
            }

            _byHash = next;
            UsesLocalKeys = true;
        }
    }

    /// <summary>Rereads the local ring if a rotation changed it since it was read; true when it did.</summary>
    public bool RefreshLocal()
    {
        if (!UsesLocalKeys || LocalKeys.Stamp(_options) == _localStamp)
        {
            return false;
        }

        LoadLocal();
        return true;
    }

    /// <summary>The entry of <paramref name="key"/>, or null when the key is unknown or past its <see cref="ApiKeyEntry.NotAfter"/>.</summary>
    public ApiKeyEntry? Find(string key)
    {
        string hash = Hash(key);
        var entry = _byHash.GetValueOrDefault(hash);
        // A key this silo does not know may be one a rotation just made (the file is stat'ed only on a miss).
        if (entry is null && RefreshLocal())
        {
            entry = _byHash.GetValueOrDefault(hash);
        }

        return entry is { NotAfter: { } notAfter } && notAfter <= DateTimeOffset.UtcNow ? null : entry;
    }

    /// <summary>Lower-case hex SHA-256 of the key's UTF-8 bytes: what configuration stores.</summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>A new random key (256 bits, base64url) with the <see cref="KeyPrefix"/>.</summary>
    public static string NewKey() => KeyPrefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    private static string Base64Url(byte[] bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);
}

/// <summary>
/// Authenticates <c>Authorization: Bearer &lt;key&gt;</c> against the <see cref="ApiKeyRing"/>. The principal carries the
/// tenant and, for keys that may write, the writer claim. Challenges and refusals answer in problem details.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiKeyRing keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        const string bearer = "Bearer ";
        if (!header.StartsWith(bearer, StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(AuthenticateResult.Fail("Authorization is not 'Bearer <key>'."));
        }

        var entry = keys.Find(header[bearer.Length..].Trim());
        if (entry is null)
        {
            return Task.FromResult(AuthenticateResult.Fail("The API key is not known."));
        }

        // NameIdentifier names the key (by a prefix of its hash, never the key): an MCP session is bound to the key that
        // opened it, and the MCP SDK refuses stateful sessions without such a claim (docs/mcp.md).
        var claims = new List<Claim> { new(Tenants.TenantClaim, entry.Tenant), new(ClaimTypes.NameIdentifier, $"{entry.Tenant}:{entry.Sha256.ToLowerInvariant()[..16]}") };
        if (entry.Local)
        {
            claims.Add(new Claim(Tenants.LocalClaim, "true"));
        }

        if (!entry.ReadOnly)
        {
            claims.Add(new Claim(Tenants.WriterClaim, "true"));
        }

        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
    }

    // RFC 6750 §3: a 401 says which scheme to use, and error="invalid_token" when a key was sent and is not known. The
    // key itself is never repeated; actual says what kind of value came.
    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        string? header = Request.Headers.Authorization;
        var result = await HandleAuthenticateOnceSafeAsync();
        bool sent = !string.IsNullOrEmpty(header);
        Response.Headers.WWWAuthenticate = sent ? "Bearer realm=\"memrl\", error=\"invalid_token\"" : "Bearer realm=\"memrl\"";
        string? actual = !sent ? null
            : header!.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? "a Bearer key this server does not know"
            : $"the scheme '{header.Split(' ')[0]}'";
        await Problems.WriteAsync(Context, StatusCodes.Status401Unauthorized, "Unauthorized",
            !sent ? "Send 'Authorization: Bearer <key>' with an API key of this server."
                : header!.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? "The API key is not known. Send 'Authorization: Bearer <key>' with an API key of this server."
                : "Authorization is not 'Bearer <key>'. Send 'Authorization: Bearer <key>' with an API key of this server.",
            field: "Authorization", expected: "Bearer <an API key of this server>", actual: actual);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problems.WriteAsync(Context, StatusCodes.Status403Forbidden, "Forbidden",
            "This API key is read-only; the call changes the bank.", field: "Authorization", expected: "a read-write key", actual: "a read-only key");
}
