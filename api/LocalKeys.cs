using System.Text.Json;
using System.Text.Json.Serialization;

namespace MemRL.Api;

/// <summary>
/// The embedded default's keys (no key configured): a ring of SHA-256 hashes in <see cref="ApiOptions.LocalKeyRingPath"/>
/// and the current key's plaintext in <see cref="ApiOptions.LocalKeyPath"/>, both readable by the owner only. A start
/// reuses the current key, so a client keeps working across restarts; <c>rotate-local-key</c> adds a new key and keeps
/// the previous ones accepted for <see cref="ApiOptions.LocalKeyGrace"/>, at most <see cref="ApiOptions.LocalKeysKept"/>
/// keys in all. A running silo rereads the ring when a key it does not know arrives (<see cref="ApiKeyRing"/>).
/// </summary>
public static class LocalKeys
{
    /// <summary>The tenant of the local keys.</summary>
    public const string Tenant = "local";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>
    /// The key to use at start: the ring's current key when its plaintext file still matches, else a new current key
    /// (the lost one is dropped; keys rotated out earlier keep their grace). A plaintext file without a ring (a silo that made a
    /// fresh key at every start) is adopted as the current key.
    /// </summary>
    public static (string Key, bool Reused) Ensure(ApiOptions options, DateTimeOffset now)
    {
        var ring = Read(options.LocalKeyRingPath);
        string? plaintext = File.Exists(options.LocalKeyPath) ? File.ReadAllText(options.LocalKeyPath).Trim() : null;
        var current = ring.Keys.FirstOrDefault(k => k.ReplacedAt is null);
        if (plaintext is { Length: > 0 } && current is not null && current.Sha256 == ApiKeyRing.Hash(plaintext))
        {
            return (plaintext, true);
        }

        if (plaintext is { Length: > 0 } && ring.Keys.Count == 0 && plaintext.StartsWith(ApiKeyRing.KeyPrefix, StringComparison.Ordinal))
        {
            ring.Keys.Add(new LocalKey(ApiKeyRing.Hash(plaintext), now, null));
            Write(options.LocalKeyRingPath, ring);
            return (plaintext, true);
        }

        // The current key's file is gone (or not the ring's): a new key, and the lost one is no longer accepted, since
        // deleting the file is also how an owner revokes a key that leaked. Keys rotated out earlier keep their grace.
        return (Rotate(options, now, dropCurrent: true), false);
    }

    /// <summary>
    /// Adds a new current key, keeps the previous ones for the grace period (the current one too unless
    /// <paramref name="dropCurrent"/>), writes both files; returns the new key.
    /// </summary>
    public static string Rotate(ApiOptions options, DateTimeOffset now, bool dropCurrent = false)
    {
        var ring = Read(options.LocalKeyRingPath);
        string key = ApiKeyRing.NewKey();
        var kept = ring.Keys
            .Where(k => !(dropCurrent && k.ReplacedAt is null))
            .Select(k => k.ReplacedAt is null ? k with { ReplacedAt = now } : k)
            .Where(k => k.ReplacedAt + options.LocalKeyGrace > now)
            .OrderByDescending(k => k.ReplacedAt)
            .Take(options.LocalKeysKept - 1);
        var next = new LocalKeyRingFile([new LocalKey(ApiKeyRing.Hash(key), now, null), .. kept]);
        // The ring first: a key in the plaintext file is always one the ring accepts.
        Write(options.LocalKeyRingPath, next);
        OwnerOnlyFile.Write(options.LocalKeyPath, key + Environment.NewLine);
        return key;
    }

    /// <summary>The entries the ring accepts now: the current key, and previous keys until their grace ends.</summary>
    public static IReadOnlyList<ApiKeyEntry> Accepted(ApiOptions options) =>
        Read(options.LocalKeyRingPath).Keys
            .Take(options.LocalKeysKept)
            .Select(k => new ApiKeyEntry { Tenant = Tenant, Sha256 = k.Sha256, NotAfter = k.ReplacedAt + options.LocalKeyGrace, Local = true })
            .ToList();

    /// <summary>When the ring file last changed (a rotation), or null when there is none.</summary>
    public static DateTime? Stamp(ApiOptions options) =>
        File.Exists(options.LocalKeyRingPath) ? File.GetLastWriteTimeUtc(options.LocalKeyRingPath) : null;

    private static LocalKeyRingFile Read(string path)
    {
        if (!File.Exists(path))
        {
            return new LocalKeyRingFile([]);
        }

        var ring = JsonSerializer.Deserialize<LocalKeyRingFile>(File.ReadAllText(path), Json)
            ?? throw new InvalidDataException($"{path} is empty; expected the local key ring (delete it and {Path.GetFileName(path)}'s key file to start over).");
        return ring with { Keys = [.. ring.Keys] };
    }

    private static void Write(string path, LocalKeyRingFile ring) => OwnerOnlyFile.Write(path, JsonSerializer.Serialize(ring, Json));
}

/// <summary>The ring file: newest key first. Hashes only; the plaintext of the current key lives in its own file.</summary>
internal sealed record LocalKeyRingFile(List<LocalKey> Keys);

/// <summary>One local key: its hash, when it was made and when a rotation replaced it (null: the current key).</summary>
internal sealed record LocalKey(string Sha256, DateTimeOffset CreatedAt, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] DateTimeOffset? ReplacedAt);
