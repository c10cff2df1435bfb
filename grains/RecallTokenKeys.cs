using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace MemRL.Grains;

/// <summary>
/// The HMAC keys recall tokens are signed with: tokens are signed with the newest key and verified with any key of the
/// ring, found by the 4-byte key id each token carries (so a rotation refuses no token the previous key signed).
/// Configured keys (<c>MemRL:RecallTokenKey</c> plus <c>MemRL:RecallTokenPreviousKeys</c>) are what a multi-silo
/// cluster uses, since every silo must share them; with none configured the ring lives in a file of the data
/// directory, so a restarted embedded silo still accepts the tokens it issued before.
/// </summary>
internal sealed partial class RecallTokenKeys
{
    /// <summary>Keys a rotation keeps, the newest included: older ones are dropped and their tokens refused.</summary>
    public const int KeptOnRotation = 3;

    private readonly (uint Id, byte[] Key)[] _keys;

    private RecallTokenKeys(IEnumerable<byte[]> oldestFirst)
    {
        _keys = oldestFirst.Select(k => (IdOf(k), k)).Reverse().ToArray();
        if (_keys.Length == 0)
        {
            throw new InvalidOperationException("A recall-token key ring needs at least one key.");
        }
    }

    /// <summary>The key new tokens are signed with, and its id.</summary>
    public (uint Id, byte[] Key) Current => _keys[0];

    /// <summary>Every key tokens are verified with, newest first.</summary>
    public IReadOnlyList<(uint Id, byte[] Key)> All => _keys;

    /// <summary>The key of <paramref name="id"/>, or false when the ring does not hold it.</summary>
    public bool TryGet(uint id, out byte[] key)
    {
        foreach (var (keyId, value) in _keys)
        {
            if (keyId == id)
            {
                key = value;
                return true;
            }
        }

        key = [];
        return false;
    }

    /// <summary>The ring file's path: <see cref="MemRLClusterOptions.RecallTokenKeyRingPath"/>, else beside the SQLite file.</summary>
    public static string RingPath(MemRLClusterOptions options, Storage.StorageOptions storage) =>
        options.RecallTokenKeyRingPath ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(storage.SqlitePath))!, MemRLClusterOptions.KeyRingFileName);

    /// <summary>The ring from configuration when a key is configured, else from (or newly into) the ring file.</summary>
    public static RecallTokenKeys Load(MemRLClusterOptions options, string ringPath, ILogger logger)
    {
        if (!string.IsNullOrEmpty(options.RecallTokenKey))
        {
            var configured = options.RecallTokenPreviousKeys.Select(Convert.FromBase64String).Append(Convert.FromBase64String(options.RecallTokenKey));
            return new RecallTokenKeys(configured);
        }

        var keys = ReadRing(ringPath);
        if (keys.Count == 0)
        {
            keys.Add(RandomNumberGenerator.GetBytes(32));
            WriteRing(ringPath, keys);
            LogNewRing(logger, Path.GetFullPath(ringPath));
        }

        return new RecallTokenKeys(keys);
    }

    /// <summary>
    /// Adds a new newest key to the ring file (keeping the newest <see cref="KeptOnRotation"/>) and returns how many keys
    /// it holds. Silos read the ring at start-up: restart them to sign with the new key.
    /// </summary>
    public static int Rotate(string ringPath)
    {
        var keys = ReadRing(ringPath);
        keys.Add(RandomNumberGenerator.GetBytes(32));
        keys = keys.Skip(Math.Max(0, keys.Count - KeptOnRotation)).ToList();
        WriteRing(ringPath, keys);
        return keys.Count;
    }

    // The first four bytes of the key's SHA-256: enough to pick among a handful of keys, and says nothing of the key.
    private static uint IdOf(byte[] key) => BinaryPrimitives.ReadUInt32LittleEndian(SHA256.HashData(key));

    private static List<byte[]> ReadRing(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        var ring = JsonSerializer.Deserialize<RingFile>(File.ReadAllText(path))
            ?? throw new InvalidDataException($"Recall-token key ring '{path}' is empty; expected {{\"keys\":[base64…]}} (delete it to start a new ring).");
        return ring.Keys.Select(k => Convert.FromBase64String(k)).ToList();
    }

    private static void WriteRing(string path, List<byte[]> keys) =>
        OwnerOnlyFile.Write(path, JsonSerializer.Serialize(new RingFile(keys.Select(Convert.ToBase64String).ToList())));

    private sealed record RingFile(List<string> Keys);

    [LoggerMessage(Level = LogLevel.Warning, Message = "MemRL:RecallTokenKey is not set; recall tokens are signed with a new key ring in {Path}, which suits a single silo (every silo of a multi-silo cluster must share the configured key).")]
    private static partial void LogNewRing(ILogger logger, string path);
}
