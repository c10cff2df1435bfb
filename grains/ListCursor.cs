using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MemRL.Errors;
using MemRL.GrainInterfaces;

namespace MemRL.Grains;

/// <summary>A decoded list cursor: the bank it was issued for, the shard to continue in and the last sequence returned there.</summary>
internal readonly record struct ListPosition(uint Incarnation, ulong BankHash, int Shard, long After);

/// <summary>
/// The opaque cursor of a memory listing. Base64url of a versioned text, so it survives URLs and can change form later.
/// It names the bank it belongs to (incarnation and a hash of the cluster's bank name, which includes the tenant), so
/// a cursor of another bank, of another tenant's bank of the same name or of a deleted and re-created bank is refused
/// rather than read as a position in this one. Decoding is total: any text is a position or a <c>cursor-invalid</c> error.
/// </summary>
internal static class ListCursor
{
    private const string Version = "c2";

    // "c2:" + 8 + ":" + 16 + ":" + shard (≤ 10) + ":" + sequence (≤ 20) is at most 60 bytes, 80 characters encoded.
    private const int MaxEncodedLength = 96;

    /// <summary>The cursor continuing after <paramref name="afterSequence"/> in <paramref name="shard"/> of <paramref name="bank"/>.</summary>
    public static string Format(BankInfo bank, int shard, long afterSequence) =>
        Base64Url.EncodeToString(Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"{Version}:{bank.Incarnation:x8}:{HashOf(bank.Name):x16}:{shard}:{afterSequence}")));

    /// <summary>Decodes a cursor; null (the first page) gives null.</summary>
    /// <exception cref="ArgumentException">The cursor is not one this service issues (reason <see cref="Reasons.CursorInvalid"/>).</exception>
    public static ListPosition? Decode(string? cursor)
    {
        if (cursor is null)
        {
            return null;
        }

        return TryDecode(cursor, out var position) ? position : throw Invalid(cursor);
    }

    /// <summary>Where the listing of <paramref name="bank"/> continues: the start for no cursor, else the cursor's position if it is this bank's.</summary>
    /// <exception cref="ArgumentException">The cursor belongs to another bank or names a shard the bank lacks (reason <see cref="Reasons.CursorInvalid"/>).</exception>
    public static (int Shard, long After) Resolve(ListPosition? position, string? cursor, BankInfo bank)
    {
        if (position is not { } p)
        {
            return (0, -1);
        }

        if (p.Incarnation != bank.Incarnation || p.BankHash != HashOf(bank.Name) || p.Shard >= bank.ShardCount)
        {
            throw Invalid(cursor);
        }

        return (p.Shard, p.After);
    }

    private static bool TryDecode(string cursor, out ListPosition position)
    {
        position = default;
        if (cursor.Length is 0 or > MaxEncodedLength)
        {
            return false;
        }

        // DecodeFromChars reports bad input as a status; TryDecodeFromChars would throw FormatException on it.
        Span<byte> bytes = stackalloc byte[Base64Url.GetMaxDecodedLength(cursor.Length)];
        if (Base64Url.DecodeFromChars(cursor, bytes, out int consumed, out int written) != OperationStatus.Done || consumed != cursor.Length)
        {
            return false;
        }

        bytes = bytes[..written];
        if (bytes.ContainsAnyExceptInRange((byte)0x21, (byte)0x7E))
        {
            return false;
        }

        string[] parts = Encoding.ASCII.GetString(bytes).Split(':');
        if (parts is not [Version, var incarnationText, var hashText, var shardText, var afterText]
            || incarnationText.Length != 8 || hashText.Length != 16
            || !uint.TryParse(incarnationText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint incarnation)
            || !ulong.TryParse(hashText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong hash)
            || !int.TryParse(shardText, NumberStyles.None, CultureInfo.InvariantCulture, out int shard)
            || !long.TryParse(afterText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long after) || after < -1)
        {
            return false;
        }

        position = new ListPosition(incarnation, hash, shard, after);
        return true;
    }

    // Not a secret: the cursor is only ever read back against the bank named by the call, which the caller must be
    // allowed to list; the hash tells that bank's cursors from any other's.
    private static ulong HashOf(string clusterBankName)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(clusterBankName), digest);
        return BinaryPrimitives.ReadUInt64BigEndian(digest);
    }

    private static ArgumentException Invalid(string? cursor) =>
        FieldError.Invalid("cursor", "a cursor a previous listing of this bank returned (or none for the first page)", FieldError.Quote(cursor), Reasons.CursorInvalid);
}
