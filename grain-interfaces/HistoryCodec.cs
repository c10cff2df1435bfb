using System.Buffers.Binary;

namespace MemRL.GrainInterfaces;

/// <summary>
/// The bytes of one history row (the store's history entry, a slot move's <see cref="HistoryRowExport.Entry"/>, and an
/// export stream's history rows: docs/history.md, docs/export-format.md): a format version, the entry kind, then the kind's
/// fields, little-endian. Versioned like the log: a reader refuses a version or kind it does not know rather than guess.
/// Kind 1 (reward): value (double), time (UTC ticks), recall id (16 bytes), resulting Q (double), resulting visits (int32).
/// Kind 2 (edit): time (UTC ticks), revision after the edit (int32), what changed (u8: bit 0 experience, bit 1 metadata;
/// other bits refused), the memory's Q (double) and visits (int32) at the time (an edit changes neither).
/// Kinds 3 (archive) and 4 (restore): time (UTC ticks), revision after it (int32), the memory's Q (double) and visits
/// (int32) at the time.
/// </summary>
public static class HistoryCodec
{
    private const byte Version = 1;
    private const int RewardLength = 2 + 8 + 8 + 16 + 8 + 4;
    private const int EditLength = 2 + 8 + 4 + 1 + 8 + 4;
    private const int LifecycleLength = 2 + 8 + 4 + 8 + 4;
    private const byte ExperienceBit = 1, MetadataBit = 2;

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

    /// <summary>An edit entry's bytes.</summary>
    public static byte[] EncodeEdit(DateTimeOffset at, int revision, bool experience, bool metadata, double q, int visits)
    {
        var bytes = new byte[EditLength];
        bytes[0] = Version;
        bytes[1] = MemoryHistoryEntry.EditKind;
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(2), at.UtcTicks);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(10), revision);
        bytes[14] = (byte)((experience ? ExperienceBit : 0) | (metadata ? MetadataBit : 0));
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(15), q);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(23), visits);
        return bytes;
    }

    /// <summary>An archive (<paramref name="archived"/>) or restore entry's bytes.</summary>
    public static byte[] EncodeLifecycle(bool archived, DateTimeOffset at, int revision, double q, int visits)
    {
        var bytes = new byte[LifecycleLength];
        bytes[0] = Version;
        bytes[1] = (byte)(archived ? MemoryHistoryEntry.ArchiveKind : MemoryHistoryEntry.RestoreKind);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(2), at.UtcTicks);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(10), revision);
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(14), q);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(22), visits);
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

        return (bytes[1], bytes.Length) switch
        {
            (MemoryHistoryEntry.RewardKind, RewardLength) => new MemoryHistoryEntry(
                MemoryHistoryEntry.RewardKind,
                ordinal,
                BinaryPrimitives.ReadDoubleLittleEndian(bytes[2..]),
                new DateTimeOffset(BinaryPrimitives.ReadInt64LittleEndian(bytes[10..]), TimeSpan.Zero),
                new Guid(bytes.Slice(18, 16)),
                BinaryPrimitives.ReadDoubleLittleEndian(bytes[34..]),
                BinaryPrimitives.ReadInt32LittleEndian(bytes[42..])),
            (MemoryHistoryEntry.EditKind, EditLength) when (bytes[14] & ~(ExperienceBit | MetadataBit)) == 0 => new MemoryHistoryEntry(
                MemoryHistoryEntry.EditKind,
                ordinal,
                null,
                new DateTimeOffset(BinaryPrimitives.ReadInt64LittleEndian(bytes[2..]), TimeSpan.Zero),
                null,
                BinaryPrimitives.ReadDoubleLittleEndian(bytes[15..]),
                BinaryPrimitives.ReadInt32LittleEndian(bytes[23..]))
            {
                Revision = BinaryPrimitives.ReadInt32LittleEndian(bytes[10..]),
                Changed = [.. Changed(bytes[14])],
            },
            (MemoryHistoryEntry.ArchiveKind or MemoryHistoryEntry.RestoreKind, LifecycleLength) => new MemoryHistoryEntry(
                bytes[1],
                ordinal,
                null,
                new DateTimeOffset(BinaryPrimitives.ReadInt64LittleEndian(bytes[2..]), TimeSpan.Zero),
                null,
                BinaryPrimitives.ReadDoubleLittleEndian(bytes[14..]),
                BinaryPrimitives.ReadInt32LittleEndian(bytes[22..]))
            {
                Revision = BinaryPrimitives.ReadInt32LittleEndian(bytes[10..]),
            },
            _ => throw new InvalidDataException(
                $"History row {ordinal} has kind {bytes[1]} and {bytes.Length} bytes; expected kind {MemoryHistoryEntry.RewardKind} in {RewardLength} bytes, kind {MemoryHistoryEntry.EditKind} in {EditLength} bytes with change bits 0-1, or kind {MemoryHistoryEntry.ArchiveKind} or {MemoryHistoryEntry.RestoreKind} in {LifecycleLength} bytes."),
        };
    }

    private static IEnumerable<string> Changed(byte bits)
    {
        if ((bits & ExperienceBit) != 0)
        {
            yield return "experience";
        }

        if ((bits & MetadataBit) != 0)
        {
            yield return "metadata";
        }
    }
}
