using System.Buffers.Binary;
using System.Text;
using Azure.Data.Tables;

namespace MemRL.Grains.Storage;

/// <summary>
/// How the Azure store fits values into table entities, whose limits are Azure's (Table service scalability targets):
/// a binary property holds at most 64 KiB, an entity at most 1 MiB, a transaction at most 100 entities and a 4 MiB
/// body, in which binary travels as base64. A value is inline as up to <see cref="InlineSegments"/> 64 KiB properties
/// <c>D0…</c> (512 KiB, half the entity limit so the base64 body of a batch stays well inside 4 MiB), or, larger, a
/// blob the entity names in <c>Blob</c>. A blob is always written before the entity that names it commits, so a failed
/// commit leaves at most an unreferenced blob, never a reference to a missing one.
/// </summary>
internal static class AzureValues
{
    public const int SegmentBytes = 64 * 1024;
    public const int InlineSegments = 8;
    public const int InlineBytes = SegmentBytes * InlineSegments;

    // Property names, keys and framing of a stored entity: a fixed allowance on top of its base64 values.
    private const long EntityOverheadBytes = 1024;

    /// <summary>True when <paramref name="length"/> bytes fit inline in one entity.</summary>
    public static bool FitsInline(long length) => length <= InlineBytes;

    /// <summary>Sets <paramref name="value"/> as inline segments of <paramref name="entity"/>.</summary>
    public static void SetInline(TableEntity entity, ReadOnlySpan<byte> value)
    {
        int segments = (value.Length + SegmentBytes - 1) / SegmentBytes;
        entity["N"] = segments;
        for (int i = 0; i < segments; i++)
        {
            int start = i * SegmentBytes;
            entity[$"D{i}"] = value.Slice(start, Math.Min(SegmentBytes, value.Length - start)).ToArray();
        }
    }

    /// <summary>The inline value of <paramref name="entity"/> (null when it names a blob instead).</summary>
    public static byte[]? GetInline(TableEntity entity)
    {
        if (entity.GetString("Blob") is not null)
        {
            return null;
        }

        int segments = entity.GetInt32("N") ?? 0;
        var parts = new byte[segments][];
        for (int i = 0; i < segments; i++)
        {
            parts[i] = entity.GetBinary($"D{i}") ?? throw new InvalidDataException(
                $"Entity '{entity.PartitionKey}/{entity.RowKey}' lacks segment D{i} of {segments}; expected every segment of its value.");
        }

        return segments == 1 ? parts[0] : parts.SelectMany(p => p).ToArray();
    }

    /// <summary>What <paramref name="entity"/> costs in a transaction body (its binary as base64, plus an allowance).</summary>
    public static long BatchBytes(TableEntity entity)
    {
        long bytes = EntityOverheadBytes;
        foreach (var value in ((IDictionary<string, object>)entity).Values)
        {
            bytes += value switch
            {
                byte[] b => (b.Length + 2) / 3 * 4,
                string s => s.Length * 2,
                _ => 16,
            };
        }

        return bytes;
    }

    /// <summary>A payload row's value: <c>[u8 version = 1][i32 intent bytes][intent UTF-8][i32 experience bytes or -1][experience][i32 floats or -1][floats]</c>, little-endian.</summary>
    public static byte[] EncodePayload(StoredPayload payload)
    {
        int intentBytes = Encoding.UTF8.GetByteCount(payload.IntentText);
        int experienceBytes = payload.Experience is null ? -1 : Encoding.UTF8.GetByteCount(payload.Experience);
        int floats = payload.Vector?.Length ?? -1;
        var buffer = new byte[1 + 4 + intentBytes + 4 + Math.Max(0, experienceBytes) + 4 + Math.Max(0, floats) * 4];
        var span = buffer.AsSpan();
        span[0] = 1;
        int at = 1;
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], intentBytes);
        at += 4 + Encoding.UTF8.GetBytes(payload.IntentText, span[(at + 4)..]);
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], experienceBytes);
        at += 4;
        if (payload.Experience is not null)
        {
            at += Encoding.UTF8.GetBytes(payload.Experience, span[at..]);
        }

        BinaryPrimitives.WriteInt32LittleEndian(span[at..], floats);
        at += 4;
        if (payload.Vector is not null)
        {
            StoreRows.ToBytes(payload.Vector).CopyTo(span[at..]);
        }

        return buffer;
    }

    /// <summary>Reads back <see cref="EncodePayload"/>.</summary>
    public static StoredPayload DecodePayload(long sequence, ReadOnlySpan<byte> value)
    {
        if (value.Length < 13 || value[0] != 1)
        {
            throw new InvalidDataException($"Payload {sequence} has format {(value.Length == 0 ? "(empty)" : value[0].ToString(System.Globalization.CultureInfo.InvariantCulture))}; expected format 1.");
        }

        int at = 1;
        int intentBytes = BinaryPrimitives.ReadInt32LittleEndian(value[at..]);
        string intent = Encoding.UTF8.GetString(value.Slice(at + 4, intentBytes));
        at += 4 + intentBytes;
        int experienceBytes = BinaryPrimitives.ReadInt32LittleEndian(value[at..]);
        at += 4;
        string? experience = experienceBytes < 0 ? null : Encoding.UTF8.GetString(value.Slice(at, experienceBytes));
        at += Math.Max(0, experienceBytes);
        int floats = BinaryPrimitives.ReadInt32LittleEndian(value[at..]);
        at += 4;
        float[]? vector = floats < 0 ? null : StoreRows.ToFloats(value.Slice(at, floats * 4).ToArray());
        return new StoredPayload(sequence, intent, experience, vector);
    }

    /// <summary>UTF-8 bytes of a memory's intent and experience (what <see cref="StoredBankUsage.TextBytes"/> counts); 0 for a key.</summary>
    public static long TextBytes(StoredPayload payload) =>
        payload.Experience is null ? 0 : Encoding.UTF8.GetByteCount(payload.IntentText) + Encoding.UTF8.GetByteCount(payload.Experience);

    /// <summary>A list of sequences as little-endian i64s (the deletes a commit leaves to finish after it).</summary>
    public static byte[] EncodeSequences(IReadOnlyList<long> rows, IReadOnlyList<long> blobs)
    {
        var buffer = new byte[8 + (rows.Count + blobs.Count) * 8];
        BinaryPrimitives.WriteInt32LittleEndian(buffer, rows.Count);
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(4), blobs.Count);
        int at = 8;
        foreach (long s in rows.Concat(blobs))
        {
            BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(at), s);
            at += 8;
        }

        return buffer;
    }

    /// <summary>Reads back <see cref="EncodeSequences"/>.</summary>
    public static (long[] Rows, long[] Blobs) DecodeSequences(ReadOnlySpan<byte> value)
    {
        int rows = BinaryPrimitives.ReadInt32LittleEndian(value);
        int blobs = BinaryPrimitives.ReadInt32LittleEndian(value[4..]);
        var all = new long[rows + blobs];
        for (int i = 0; i < all.Length; i++)
        {
            all[i] = BinaryPrimitives.ReadInt64LittleEndian(value[(8 + i * 8)..]);
        }

        return (all[..rows], all[rows..]);
    }
}
