using System.Buffers.Binary;

namespace MemRL.GrainInterfaces;

/// <summary>
/// The bytes of one history row (the store's history entry, a slot move's <see cref="HistoryRowExport.Entry"/>, and an
/// export stream's history rows: docs/history.md, docs/export-format.md): a format version, the entry kind, then the kind's
/// fields, little-endian. Versioned like the log: a reader refuses a version or kind it does not know rather than guess.
/// Kind 1 (reward): value (double), time (UTC ticks), recall id (16 bytes), resulting Q (double), resulting visits (int32).
/// </summary>
public static class HistoryCodec
{
    private const byte Version = 1;
    private const int RewardLength = 2 + 8 + 8 + 16 + 8 + 4;

    /// <summary>A reward entry's bytes.</summary>
    public static byte[] EncodeReward(double reward, DateTimeOffset at, Guid recallId, double q, int visits)
    {
        var bytes = new byte[RewardLength];
        bytes[0] = Version;
        bytes[1] = MemoryHistoryEntry.RewardKind;
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(2), reward);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(10), at.UtcTicks);
        recallId.TryWriteBytes(bytes.AsSpan(18, 16));
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(34), q);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(42), visits);
        return bytes;
    }

    /// <summary>A stored row read back as the entry the API answers.</summary>
    /// <exception cref="InvalidDataException">An unknown version or kind, or a row of the wrong length.</exception>
    public static MemoryHistoryEntry Decode(long ordinal, ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 2 || bytes[0] != Version)
        {
            throw new InvalidDataException($"History row {ordinal} has format version {(bytes.Length > 0 ? bytes[0] : -1)}; expected {Version}.");
        }

        if (bytes[1] != MemoryHistoryEntry.RewardKind || bytes.Length != RewardLength)
        {
            throw new InvalidDataException($"History row {ordinal} has kind {bytes[1]} and {bytes.Length} bytes; expected kind {MemoryHistoryEntry.RewardKind} in {RewardLength} bytes.");
        }

        return new MemoryHistoryEntry(
            MemoryHistoryEntry.RewardKind,
            ordinal,
            BinaryPrimitives.ReadDoubleLittleEndian(bytes[2..]),
            new DateTimeOffset(BinaryPrimitives.ReadInt64LittleEndian(bytes[10..]), TimeSpan.Zero),
            new Guid(bytes.Slice(18, 16)),
            BinaryPrimitives.ReadDoubleLittleEndian(bytes[34..]),
            BinaryPrimitives.ReadInt32LittleEndian(bytes[42..]));
    }
}
