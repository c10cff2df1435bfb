using System.Globalization;
using System.Text;
using MemRL.GrainInterfaces;

namespace MemRL.Grains;

/// <summary>
/// The opaque cursor of a memory listing: the shard to continue in and the last sequence returned there. Base64url of a
/// versioned text, so it survives URLs and can change form later.
/// </summary>
internal static class ListCursor
{
    private const string Version = "c1";

    public static void ValidateLimit(int limit)
    {
        if (limit is < 1 or > BankLimits.MaxPageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(limit), $"limit is {limit}; expected an integer in [1, {BankLimits.MaxPageSize}].");
        }
    }

    public static string Format(int shard, long afterSequence) =>
        System.Buffers.Text.Base64Url.EncodeToString(Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{Version}:{shard}:{afterSequence}")));

    public static (int Shard, long After) Parse(string? cursor)
    {
        if (cursor is null)
        {
            return (0, -1);
        }

        string? text = null;
        if (cursor.Length <= 64)
        {
            var bytes = new byte[System.Buffers.Text.Base64Url.GetMaxDecodedLength(cursor.Length)];
            if (System.Buffers.Text.Base64Url.TryDecodeFromChars(cursor, bytes, out int written))
            {
                text = Encoding.ASCII.GetString(bytes, 0, written);
            }
        }

        var parts = text?.Split(':');
        if (parts is [Version, var shardText, var afterText]
            && int.TryParse(shardText, NumberStyles.None, CultureInfo.InvariantCulture, out int shard)
            && long.TryParse(afterText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long after) && after >= -1)
        {
            return (shard, after);
        }

        throw new ArgumentException($"cursor is '{cursor}'; expected a cursor a previous listing of this bank returned (or none for the first page).", nameof(cursor));
    }
}
