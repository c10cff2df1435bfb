using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using MemRL.Errors;
using MemRL.GrainInterfaces;

namespace MemRL.Client.Export;

/// <summary>
/// The bank export stream (docs/export-format.md): a preamble (magic, format version), then frames
/// (kind, payload length, payload, CRC-32 of the three): one header, one frame per intent key with its memories, one
/// trailer with the counts. Little-endian throughout. The version comes before any frame so that a newer stream is
/// refused before anything in it is interpreted.
/// </summary>
public static class ExportFormat
{
    /// <summary>
    /// The version this code writes; it reads every version up to it. Version 2 adds each key's reward history after its
    /// memories; a version-1 stream reads as keys without history. Version 3 adds each memory's revision (its edit count,
    /// after its flags); earlier streams read as revision 0. Version 4 adds archive state: flag bit 0 (archived) is followed
    /// by the archive time and flag bit 1 (restored) by the last restore time, both after the revision. Version 5 adds a
    /// memory's expiry (its time to live's end): flag bit 2, followed by its time after the restore time.
    /// </summary>
    public const ushort Version = 5;

    /// <summary>The first version whose key frames end with the key's history rows.</summary>
    internal const ushort HistoryVersion = 2;

    /// <summary>The first version whose memories carry their revision.</summary>
    internal const ushort RevisionVersion = 3;

    /// <summary>The first version whose memories carry archive state (flags bits 0 and 1, with their times).</summary>
    internal const ushort ArchiveVersion = 4;

    /// <summary>The first version whose memories may carry an expiry (flag bit 2, with its time).</summary>
    internal const ushort ExpiryVersion = 5;

    /// <summary>Largest history entry a reader accepts: the known kinds are under 64 bytes.</summary>
    internal const int MaxHistoryEntry = 256;

    /// <summary>"MEMRLEXP".</summary>
    public static ReadOnlySpan<byte> Magic => "MEMRLEXP"u8;

    /// <summary>Largest frame payload a reader accepts (a key with its memories' texts): bounds the memory one frame takes.</summary>
    public const int MaxFramePayload = 256 << 20;

    internal const byte HeaderKind = 1;
    internal const byte KeyKind = 2;
    internal const byte TrailerKind = 3;

    // Memory flags byte: bit 0 archived, bit 1 restored (from version 4 each is followed by its time after the revision;
    // writers of versions 1-3 never set them), bit 2 expires (from version 5, its time after those); other bits refused
    // until defined.
    internal const byte ArchivedFlag = 1;
    internal const byte RestoredFlag = 2;
    internal const byte ExpiresFlag = 4;
    internal const byte KnownFlags = ArchivedFlag | RestoredFlag | ExpiresFlag;

    /// <summary>The flag bits a stream of <paramref name="version"/> may set.</summary>
    internal static byte FlagsOf(ushort version) =>
        version >= ExpiryVersion ? KnownFlags : version >= ArchiveVersion ? (byte)(ArchivedFlag | RestoredFlag) : (byte)0;

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    internal static uint Crc(byte kind, ReadOnlySpan<byte> length, ReadOnlySpan<byte> payload)
    {
        var crc = new Crc32();
        crc.Append([kind]);
        crc.Append(length);
        crc.Append(payload);
        return crc.GetCurrentHashAsUInt32();
    }
}

/// <summary>What the header frame says: the bank's definition and where the cut was taken.</summary>
/// <param name="Bank">The exported bank's name.</param>
/// <param name="SequenceEnd">Every key and memory sequence in the stream is below this: an import starts the new bank's sequences here.</param>
/// <param name="BankVersion">The bank version of the cut (the freeze): what the export contains is the bank as of it.</param>
/// <param name="ScopeUserId">Set when only one user's memories were exported.</param>
/// <param name="Metadata">Free-form facts about the export (source incarnation, creation time); not interpreted on import.</param>
public sealed record ExportHeader(
    string Bank,
    int Dimension,
    string EmbedderId,
    int ShardCount,
    BankOptions Options,
    IndexSettings Index,
    long SequenceEnd,
    long BankVersion,
    DateTimeOffset ExportedAt,
    string? ScopeUserId,
    Dictionary<string, string> Metadata);

/// <summary>One memory of a key frame. Ids are not stored: they name the bank incarnation, which an import changes.</summary>
public sealed record ExportedMemory(
    long Sequence,
    string IntentText,
    string Experience,
    bool Success,
    double Q,
    int Visits,
    double? LastReward,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    ScopeFields? Scope,
    Dictionary<string, string>? Metadata,
    int Revision = 0,
    DateTimeOffset? ArchivedAt = null,
    DateTimeOffset? RestoredAt = null,
    DateTimeOffset? ExpiresAt = null)
{
    /// <summary>Whether the memory was archived at the cut (out of recall, restorable).</summary>
    public bool Archived => ArchivedAt is not null;
}

/// <summary>
/// One intent key: its slot and sequence (kept on import), its stored unit vector, its memories, and (format 2) the
/// reward history rows of those memories (each names its memory by sequence; the entry bytes are docs/history.md's).
/// </summary>
public sealed record ExportedKey(long Sequence, int Slot, string IntentText, float[] Vector, IReadOnlyList<ExportedMemory> Memories,
    IReadOnlyList<HistoryRowExport>? History = null);

/// <summary>The trailer's counts: a reader checks them against what it read, so a stream cut at a frame boundary is refused.</summary>
public sealed record ExportCounts(long Keys, long Memories);

/// <summary>Writes an export stream frame by frame; holds one frame in memory at a time.</summary>
public sealed class ExportWriter(Stream output)
{
    private readonly MemoryStream _frame = new();
    private long _keys;
    private long _memories;
    private bool _headerWritten;

    public ExportCounts Counts => new(_keys, _memories);

    public async Task WriteHeaderAsync(ExportHeader header, CancellationToken cancellationToken = default)
    {
        if (_headerWritten)
        {
            throw new InvalidOperationException("The export header was already written.");
        }

        byte[] preamble = new byte[10];
        ExportFormat.Magic.CopyTo(preamble);
        BinaryPrimitives.WriteUInt16LittleEndian(preamble.AsSpan(8), ExportFormat.Version);
        await output.WriteAsync(preamble, cancellationToken);
        await WriteFrameAsync(ExportFormat.HeaderKind, JsonSerializer.SerializeToUtf8Bytes(header, ExportFormat.Json), cancellationToken);
        _headerWritten = true;
    }

    public async Task WriteKeyAsync(ExportedKey key, CancellationToken cancellationToken = default)
    {
        _frame.SetLength(0);
        using (var w = new BinaryWriter(_frame, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(key.Sequence);
            w.Write(key.Slot);
            WriteString(w, key.IntentText);
            w.Write(key.Vector.Length);
            foreach (float x in key.Vector)
            {
                w.Write(x);
            }

            w.Write(key.Memories.Count);
            foreach (var m in key.Memories)
            {
                w.Write(m.Sequence);
                WriteString(w, m.IntentText);
                WriteString(w, m.Experience);
                w.Write(m.Success);
                w.Write(m.Q);
                w.Write(m.Visits);
                w.Write(m.LastReward.HasValue);
                w.Write(m.LastReward ?? 0);
                w.Write(m.CreatedAt.UtcTicks);
                w.Write(m.UpdatedAt.UtcTicks);
                WriteOptional(w, m.Scope?.UserId);
                WriteOptional(w, m.Scope?.AgentId);
                WriteOptional(w, m.Scope?.SessionId);
                WriteOptional(w, m.Scope?.RunId);
                var metadata = m.Metadata ?? [];
                w.Write(metadata.Count);
                foreach (var (name, value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    WriteString(w, name);
                    WriteString(w, value);
                }

                w.Write((byte)((m.ArchivedAt is null ? 0 : ExportFormat.ArchivedFlag) | (m.RestoredAt is null ? 0 : ExportFormat.RestoredFlag)
                    | (m.ExpiresAt is null ? 0 : ExportFormat.ExpiresFlag)));
                w.Write(m.Revision);
                if (m.ArchivedAt is { } archivedAt)
                {
                    w.Write(archivedAt.UtcTicks);
                }

                if (m.RestoredAt is { } restoredAt)
                {
                    w.Write(restoredAt.UtcTicks);
                }

                if (m.ExpiresAt is { } expiresAt)
                {
                    w.Write(expiresAt.UtcTicks);
                }
            }

            var history = key.History ?? [];
            w.Write(history.Count);
            foreach (var row in history)
            {
                w.Write(row.Memory);
                w.Write(row.Ordinal);
                w.Write(row.Entry.Length);
                w.Write(row.Entry);
            }
        }

        await WriteFrameAsync(ExportFormat.KeyKind, _frame.GetBuffer().AsMemory(0, (int)_frame.Length), cancellationToken);
        _keys++;
        _memories += key.Memories.Count;
    }

    public Task WriteTrailerAsync(CancellationToken cancellationToken = default)
    {
        byte[] payload = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(payload, _keys);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(8), _memories);
        return WriteFrameAsync(ExportFormat.TrailerKind, payload, cancellationToken);
    }

    private async Task WriteFrameAsync(byte kind, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        byte[] head = new byte[5];
        head[0] = kind;
        BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(1), payload.Length);
        byte[] crc = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(crc, ExportFormat.Crc(kind, head.AsSpan(1), payload.Span));
        await output.WriteAsync(head, cancellationToken);
        await output.WriteAsync(payload, cancellationToken);
        await output.WriteAsync(crc, cancellationToken);
    }

    private static void WriteString(BinaryWriter w, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        w.Write(bytes.Length);
        w.Write(bytes);
    }

    private static void WriteOptional(BinaryWriter w, string? value)
    {
        w.Write(value is not null);
        if (value is not null)
        {
            WriteString(w, value);
        }
    }
}

/// <summary>
/// Reads and checks an export stream: the preamble, every frame's CRC, the frame order, the vector lengths against the
/// header's dimension and the trailer's counts. Every refusal is a field error naming where the stream is wrong.
/// Holds one frame in memory at a time.
/// </summary>
public sealed class ExportReader(Stream input)
{
    private long _frames;
    private ushort _version;
    private long _keys;
    private long _memories;
    private bool _done;

    public ExportHeader? Header { get; private set; }

    public ExportCounts Counts => new(_keys, _memories);

    public async Task<ExportHeader> ReadHeaderAsync(CancellationToken cancellationToken = default)
    {
        byte[] preamble = new byte[10];
        int got = await input.ReadAtLeastAsync(preamble, preamble.Length, throwOnEndOfStream: false, cancellationToken);
        if (got < preamble.Length || !preamble.AsSpan(0, 8).SequenceEqual(ExportFormat.Magic))
        {
            throw FieldError.Invalid("stream.magic", "a MemRL bank export (it starts with 'MEMRLEXP')",
                got < 8 ? $"{got} byte(s)" : FieldError.Quote(Encoding.ASCII.GetString(preamble, 0, 8)), Reasons.ExportCorrupted);
        }

        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(preamble.AsSpan(8));
        if (version is 0 or > ExportFormat.Version)
        {
            throw FieldError.Invalid("stream.formatVersion", $"a format version in [1, {ExportFormat.Version}] (this build reads up to {ExportFormat.Version})",
                FieldError.Format(version), version > ExportFormat.Version ? Reasons.ExportVersion : Reasons.ExportCorrupted,
                version > ExportFormat.Version ? $"The export stream is format version {version}, newer than this build reads ({ExportFormat.Version}); import it with a newer MemRL." : null);
        }

        _version = version;
        var (kind, payload) = await ReadFrameAsync(cancellationToken);
        if (kind != ExportFormat.HeaderKind)
        {
            throw FieldError.Invalid("stream.frame[0].kind", $"the header frame (kind {ExportFormat.HeaderKind})", FieldError.Format(kind));
        }

        ExportHeader? header;
        try
        {
            header = JsonSerializer.Deserialize<ExportHeader>(payload, ExportFormat.Json);
        }
        catch (JsonException ex)
        {
            throw FieldError.Invalid("stream.header", "the header's JSON object", ex.Message);
        }

        if (header is null || header.Dimension < 1 || header.Dimension > BankLimits.MaxDimension)
        {
            throw FieldError.OutOfRange("stream.header.dimension", $"an integer in [1, {BankLimits.MaxDimension}]", header is null ? "null" : FieldError.Format(header.Dimension));
        }

        Header = header;
        return header;
    }

    /// <summary>The next key, or null after the trailer (whose counts have then been checked).</summary>
    public async Task<ExportedKey?> ReadKeyAsync(CancellationToken cancellationToken = default)
    {
        var header = Header ?? throw new InvalidOperationException("Read the header first.");
        if (_done)
        {
            return null;
        }

        var (kind, payload) = await ReadFrameAsync(cancellationToken);
        string at = $"stream.frame[{_frames - 1}]";
        if (kind == ExportFormat.TrailerKind)
        {
            if (payload.Length != 16)
            {
                throw FieldError.Invalid($"{at}.length", "16 bytes (the trailer's two counts)", FieldError.Format(payload.Length));
            }

            var counts = new ExportCounts(BinaryPrimitives.ReadInt64LittleEndian(payload), BinaryPrimitives.ReadInt64LittleEndian(payload.AsSpan(8)));
            if (counts != Counts)
            {
                throw FieldError.Invalid("stream.trailer", $"{_keys} key(s) and {_memories} memory(ies), as read", $"{counts.Keys} key(s) and {counts.Memories} memory(ies)");
            }

            if (await input.ReadAsync(new byte[1], cancellationToken) != 0)
            {
                throw FieldError.Invalid("stream", "the end of the stream after the trailer", "more bytes");
            }

            _done = true;
            return null;
        }

        if (kind != ExportFormat.KeyKind)
        {
            throw FieldError.Invalid($"{at}.kind", $"a key frame ({ExportFormat.KeyKind}) or the trailer ({ExportFormat.TrailerKind})", FieldError.Format(kind));
        }

        try
        {
            var key = DecodeKey(payload, header.Dimension, _version, at);
            _keys++;
            _memories += key.Memories.Count;
            return key;
        }
        catch (EndOfStreamException)
        {
            throw FieldError.Invalid(at, "a key frame whose fields fill its payload", "a payload that ends early");
        }
    }

    private static ExportedKey DecodeKey(byte[] payload, int dimension, ushort version, string at)
    {
        using var r = new BinaryReader(new MemoryStream(payload), Encoding.UTF8);
        long sequence = r.ReadInt64();
        int slot = r.ReadInt32();
        if (slot is < 0 or >= BankLimits.VirtualSlots)
        {
            throw FieldError.OutOfRange($"{at}.slot", $"an integer in [0, {BankLimits.VirtualSlots - 1}]", FieldError.Format(slot));
        }

        string intentText = ReadString(r);
        int length = r.ReadInt32();
        if (length != dimension)
        {
            throw FieldError.Invalid($"{at}.vector", $"{dimension} components (the header's dimension)", FieldError.Format(length));
        }

        float[] vector = new float[length];
        for (int i = 0; i < length; i++)
        {
            vector[i] = r.ReadSingle();
        }

        int count = r.ReadInt32();
        if (count < 1 || count > payload.Length)
        {
            throw FieldError.OutOfRange($"{at}.memories", "at least 1 memory per key", FieldError.Format(count));
        }

        var memories = new ExportedMemory[count];
        for (int i = 0; i < count; i++)
        {
            long memory = r.ReadInt64();
            string intent = ReadString(r);
            string experience = ReadString(r);
            bool success = r.ReadBoolean();
            double q = r.ReadDouble();
            int visits = r.ReadInt32();
            bool hasReward = r.ReadBoolean();
            double reward = r.ReadDouble();
            var createdAt = ReadTicks(r, $"{at}.memories[{i}].createdAt");
            var updatedAt = ReadTicks(r, $"{at}.memories[{i}].updatedAt");
            string? user = ReadOptional(r), agent = ReadOptional(r), session = ReadOptional(r), run = ReadOptional(r);
            int entries = r.ReadInt32();
            if (entries < 0 || entries > payload.Length)
            {
                throw FieldError.OutOfRange($"{at}.memories[{i}].metadata", "a count of entries that fits the frame", FieldError.Format(entries));
            }

            Dictionary<string, string>? metadata = entries == 0 ? null : new(StringComparer.Ordinal);
            for (int e = 0; e < entries; e++)
            {
                metadata![ReadString(r)] = ReadString(r);
            }

            byte flags = r.ReadByte();
            byte known = ExportFormat.FlagsOf(version);
            if ((flags & ~known) != 0)
            {
                throw FieldError.Invalid($"{at}.memories[{i}].flags", $"only bits known to format version {version} (mask {known:x2})", $"{flags:x2}");
            }

            int revision = version >= ExportFormat.RevisionVersion ? r.ReadInt32() : 0;
            if (revision < 0)
            {
                throw FieldError.OutOfRange($"{at}.memories[{i}].revision", "an integer ≥ 0 (the memory's edit count)", FieldError.Format(revision));
            }

            DateTimeOffset? archivedAt = (flags & ExportFormat.ArchivedFlag) != 0 ? ReadTicks(r, $"{at}.memories[{i}].archivedAt") : null;
            DateTimeOffset? restoredAt = (flags & ExportFormat.RestoredFlag) != 0 ? ReadTicks(r, $"{at}.memories[{i}].restoredAt") : null;
            DateTimeOffset? expiresAt = (flags & ExportFormat.ExpiresFlag) != 0 ? ReadTicks(r, $"{at}.memories[{i}].expiresAt") : null;
            var scope = user is null && agent is null && session is null && run is null ? null : new ScopeFields(user, agent, session, run);
            memories[i] = new ExportedMemory(memory, intent, experience, success, q, visits, hasReward ? reward : null,
                createdAt, updatedAt, scope, metadata, revision, archivedAt, restoredAt, expiresAt);
        }

        var history = version >= ExportFormat.HistoryVersion ? DecodeHistory(r, payload.Length, memories, at) : null;
        if (r.BaseStream.Position != payload.Length)
        {
            throw FieldError.Invalid(at, "a key frame whose fields fill its payload exactly", $"{payload.Length - r.BaseStream.Position} byte(s) left over");
        }

        return new ExportedKey(sequence, slot, intentText, vector, memories, history);
    }

    // Each row must belong to one of the key's memories, within the ordinals its visits and revision leave (the newest 256,
    // none above visits + revision), once, and decode as a known history entry: an import writes these rows as they are.
    private static HistoryRowExport[] DecodeHistory(BinaryReader r, int payloadLength, ExportedMemory[] memories, string at)
    {
        int count = r.ReadInt32();
        if (count < 0 || count > payloadLength)
        {
            throw FieldError.OutOfRange($"{at}.history", "a count of history rows that fits the frame", FieldError.Format(count));
        }

        var newest = memories.ToDictionary(m => m.Sequence, m => (long)m.Visits + m.Revision);
        var seen = new HashSet<(long, long)>();
        var rows = new HistoryRowExport[count];
        for (int h = 0; h < count; h++)
        {
            string field = $"{at}.history[{h}]";
            long memory = r.ReadInt64();
            long ordinal = r.ReadInt64();
            int length = r.ReadInt32();
            if (!newest.TryGetValue(memory, out long last))
            {
                throw FieldError.Invalid($"{field}.memory", "the sequence of one of the key's memories", FieldError.Format(memory));
            }

            if (ordinal < Math.Max(1, last - 255) || ordinal > last || !seen.Add((memory, ordinal)))
            {
                throw FieldError.OutOfRange($"{field}.ordinal", $"an ordinal in [{Math.Max(1, last - 255)}, {last}] (the memory's newest rewards and edits), once",
                    FieldError.Format(ordinal));
            }

            if (length < 0 || length > ExportFormat.MaxHistoryEntry || length > r.BaseStream.Length - r.BaseStream.Position)
            {
                throw FieldError.OutOfRange($"{field}.entry", $"an entry of at most {ExportFormat.MaxHistoryEntry} bytes within the frame", FieldError.Format(length));
            }

            byte[] entry = r.ReadBytes(length);
            try
            {
                HistoryCodec.Decode(ordinal, entry);
            }
            catch (InvalidDataException ex)
            {
                throw FieldError.Invalid($"{field}.entry", "a history entry this build knows (docs/history.md)", ex.Message);
            }

            rows[h] = new HistoryRowExport(memory, ordinal, entry);
        }

        return rows;
    }

    private async Task<(byte Kind, byte[] Payload)> ReadFrameAsync(CancellationToken cancellationToken)
    {
        string at = $"stream.frame[{_frames}]";
        byte[] head = new byte[5];
        await ReadExactlyAsync(head, at, cancellationToken);
        int length = BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(1));
        if (length < 0 || length > ExportFormat.MaxFramePayload)
        {
            throw FieldError.OutOfRange($"{at}.length", $"a payload length in [0, {ExportFormat.MaxFramePayload}] bytes", FieldError.Format(length),
                Reasons.ExportCorrupted, $"Frame {_frames} of the export stream claims {length} bytes; the stream is corrupted.");
        }

        byte[] payload = new byte[length];
        await ReadExactlyAsync(payload, at, cancellationToken);
        byte[] crc = new byte[4];
        await ReadExactlyAsync(crc, at, cancellationToken);
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(crc);
        uint computed = ExportFormat.Crc(head[0], head.AsSpan(1), payload);
        if (stored != computed)
        {
            throw FieldError.Invalid($"{at}.crc", $"the CRC-32 of the frame ({computed:x8})", $"{stored:x8}", Reasons.ExportCorrupted,
                $"Frame {_frames} of the export stream fails its CRC check (stored {stored:x8}, computed {computed:x8}); the stream is corrupted.");
        }

        _frames++;
        return (head[0], payload);
    }

    private async Task ReadExactlyAsync(byte[] buffer, string at, CancellationToken cancellationToken)
    {
        int got = await input.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken);
        if (got < buffer.Length)
        {
            throw FieldError.Invalid(at, "a whole frame followed, at the end, by the trailer", $"the stream ends {got} of {buffer.Length} byte(s) into it",
                Reasons.ExportTruncated, $"The export stream is truncated: it ends inside frame {_frames}, before the trailer.");
        }
    }

    private static string ReadString(BinaryReader r)
    {
        int length = r.ReadInt32();
        if (length < 0 || length > r.BaseStream.Length - r.BaseStream.Position)
        {
            throw new EndOfStreamException();
        }

        return Encoding.UTF8.GetString(r.ReadBytes(length));
    }

    // UTC ticks; a value no DateTimeOffset holds is a corrupted stream, named by its field.
    private static DateTimeOffset ReadTicks(BinaryReader r, string field)
    {
        long ticks = r.ReadInt64();
        if (ticks < 0 || ticks > DateTimeOffset.MaxValue.UtcTicks)
        {
            throw FieldError.OutOfRange(field, $"UTC ticks in [0, {DateTimeOffset.MaxValue.UtcTicks}]", FieldError.Format(ticks));
        }

        return new DateTimeOffset(ticks, TimeSpan.Zero);
    }

    private static string? ReadOptional(BinaryReader r) => r.ReadBoolean() ? ReadString(r) : null;
}
