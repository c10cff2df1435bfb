using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using MemRL.Core.Bank;
using MemRL.Errors;
using MemRL.GrainInterfaces;

namespace MemRL.Grains.Storage;

/// <summary>A shard's change events: our own versioned format, so a log written today stays readable (golden files).</summary>
public abstract record ShardEvent;

/// <summary>A new intent key (its text and vector live in the key's payload row).</summary>
public sealed record KeyCreated(long Key, int Slot) : ShardEvent;

/// <summary>A key moved in from another shard: its payload vector is already the stored unit vector and is inserted as
/// is, so similarities stay bit-identical to the source shard's (re-normalising could move the last bits).</summary>
public sealed record KeyImported(long Key, int Slot) : ShardEvent;

/// <summary>A new memory of <paramref name="Key"/> (its texts live in the memory's payload row).</summary>
public sealed record MemoryAdded(long Memory, long Key, bool Success, double Q, DateTimeOffset CreatedAt) : ShardEvent;

/// <summary>
/// The scope and metadata of <paramref name="Memory"/>, written in the same commit right after its <see cref="MemoryAdded"/>
/// (only when it has any), so logs of memories without them keep the bytes they always had.
/// </summary>
public sealed record MemoryTagged(long Memory, MemoryScope Scope, MemoryMetadata Metadata) : ShardEvent;

/// <summary>
/// An edit of <paramref name="Memory"/>, which now has <paramref name="Revision"/>. When <paramref name="Experience"/> is
/// set the new text is in the memory's payload row, rewritten in the same commit, so replay (and a snapshot taken before
/// the edit) read it from there; a metadata edit (<paramref name="Metadata"/>) is a <see cref="MemoryTagged"/> with the
/// memory's unchanged scope in the same commit. A slot move or an import restores an edited memory's revision with one
/// of these with neither flag set. <paramref name="At"/> is when the shard applied it (its history entry's time).
/// </summary>
public sealed record MemoryEdited(long Memory, int Revision, bool Experience, bool Metadata, DateTimeOffset At) : ShardEvent;

/// <summary>The result of an applied edit (it has no value: a retry reads the memory as it is then).</summary>
public sealed record EditApplied
{
    public static readonly EditApplied Instance = new();

    private EditApplied()
    {
    }
}

/// <summary>
/// <paramref name="Memory"/> archived at <paramref name="At"/> (docs/retention.md): it leaves its key at once, and a key left
/// with archived memories only leaves the HNSW graph (its unit vector is kept aside for a restore). Purging an archived
/// memory is a <see cref="MemoryDeleted"/>.
/// </summary>
public sealed record MemoryArchived(long Memory, DateTimeOffset At) : ShardEvent;

/// <summary>
/// <paramref name="Memory"/> active again from <paramref name="At"/>: an archived memory returns to its key (and its key to
/// the graph); a moved or imported copy that is active already takes <paramref name="At"/> as its restore time, so the
/// age rules' clock moves with the memory.
/// </summary>
public sealed record MemoryRestored(long Memory, DateTimeOffset At) : ShardEvent;

/// <summary>
/// <paramref name="Memory"/> lives until <paramref name="ExpiresAt"/> (its time to live, given at write time; null: no
/// expiry): the first retention run at or after it archives the memory. Follows its <see cref="MemoryAdded"/> in the
/// write's commit; a slot move or an import writes it for the copy it brings.
/// </summary>
public sealed record MemoryExpires(long Memory, DateTimeOffset? ExpiresAt) : ShardEvent;

/// <summary>The result of an archive or a restore of one memory: whether it changed anything (false when the memory was
/// already archived, or already active), so a retry answers what the first call did.</summary>
public sealed record ArchiveApplied(bool Changed);

/// <summary>A Q update: the reward applied and the resulting values, so replay restores the exact bits.</summary>
public sealed record QUpdated(long Memory, double Reward, double Q, int Visits, DateTimeOffset UpdatedAt) : ShardEvent;

/// <summary>A memory deleted (and its key, when it was the key's last memory).</summary>
public sealed record MemoryDeleted(long Memory) : ShardEvent;

/// <summary>An applied operation: its id, payload hash and result, so a retry after a crash returns the same answer.</summary>
public sealed record OperationApplied(string OperationId, byte[] PayloadHash, object Result) : ShardEvent;

/// <summary>
/// A recall's reward of one memory: the value and the Q and visits it left, remembered until the token expires, so a
/// second reward of the same (recall, memory) returns this result (same value) or is a conflict (another value).
/// </summary>
public sealed record RecallRewarded(Guid Recall, long Memory, double Reward, double Q, int Visits, long ExpiresTicks) : ShardEvent;

/// <summary>
/// Frames and reads log records. One record is one group commit:
/// <c>[u32 body length][u32 CRC-32 of body][body]</c>, little-endian, where the body is
/// <c>[u8 format version][i32 event count]</c> then per event <c>[u8 kind][fields]</c>. The length and CRC let a reader
/// tell a torn or corrupt record from a good one; because a record holds a whole commit, a torn one is dropped whole and
/// a commit is never half-applied. Kinds and field orders are frozen once written: change them only by adding a kind or
/// a format version, and keep decoding the old ones (tests/MemRL.Cluster.Tests/golden/).
/// </summary>
public static class EventCodec
{
    /// <summary>The format version this code writes.</summary>
    public const byte FormatVersion = 1;

    private const int HeaderSize = 8;

    private enum Kind : byte { KeyCreated = 1, MemoryAdded = 2, QUpdated = 3, MemoryDeleted = 4, Operation = 5, KeyImported = 6, RecallRewarded = 7, MemoryTagged = 8, MemoryArchived = 9, MemoryRestored = 10, MemoryEdited = 12, MemoryExpires = 13 }

    private enum ResultKind : byte { Reward = 1, Write = 2, Delete = 3, Claim = 4, DeleteMatching = 5, Retention = 6, Archive = 7, Edit = 8 }

    /// <summary>Encodes one commit's events as one framed record.</summary>
    public static byte[] Encode(IReadOnlyList<ShardEvent> events)
    {
        if (events.Count == 0)
        {
            throw FieldError.OutOfRange(nameof(events), "at least one event", "0 events");
        }
        using var body = new MemoryStream(64 * events.Count);
        using (var w = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(FormatVersion);
            w.Write(events.Count);
            foreach (var value in events)
            {
                WriteEvent(w, value);
            }
        }

        var bodySpan = body.GetBuffer().AsSpan(0, (int)body.Length);
        var record = new byte[HeaderSize + bodySpan.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)bodySpan.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(4), Crc32.HashToUInt32(bodySpan));
        bodySpan.CopyTo(record.AsSpan(HeaderSize));
        return record;
    }

    // One line per kind, field for field the mirror of ReadEvent: the frozen layout of a kind is read in one place.
    private static void WriteEvent(BinaryWriter w, ShardEvent value) => _ = value switch
    {
        KeyCreated e => w.Put(Kind.KeyCreated).Put(e.Key).Put(e.Slot),
        KeyImported e => w.Put(Kind.KeyImported).Put(e.Key).Put(e.Slot),
        MemoryAdded e => w.Put(Kind.MemoryAdded).Put(e.Memory).Put(e.Key).Put(e.Success).Put(e.Q).Put(e.CreatedAt),
        QUpdated e => w.Put(Kind.QUpdated).Put(e.Memory).Put(e.Reward).Put(e.Q).Put(e.Visits).Put(e.UpdatedAt),
        MemoryDeleted e => w.Put(Kind.MemoryDeleted).Put(e.Memory),
        OperationApplied e => WriteOperation(w.Put(Kind.Operation), e),
        RecallRewarded e => WriteRecallRewarded(w.Put(Kind.RecallRewarded), e),
        MemoryTagged e => WriteTags(w.Put(Kind.MemoryTagged).Put(e.Memory), e.Scope, e.Metadata),
        MemoryEdited e => w.Put(Kind.MemoryEdited).Put(e.Memory).Put(e.Revision).Put(e.Experience).Put(e.Metadata).Put(e.At),
        MemoryArchived e => w.Put(Kind.MemoryArchived).Put(e.Memory).Put(e.At),
        MemoryRestored e => w.Put(Kind.MemoryRestored).Put(e.Memory).Put(e.At),
        MemoryExpires e => e.ExpiresAt is { } at ? w.Put(Kind.MemoryExpires).Put(e.Memory).Put(true).Put(at) : w.Put(Kind.MemoryExpires).Put(e.Memory).Put(false),
        _ => throw FieldError.Invalid(nameof(value), "one of the shard event records", value.GetType().Name),
    };

    /// <summary>
    /// Decodes one record (one commit). Returns false for a torn or corrupt record (short, wrong length, CRC mismatch): such a record
    /// must never be applied. Throws for a well-formed record of a format version this code does not know (a newer
    /// writer), because skipping it would silently lose changes.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> record, out IReadOnlyList<ShardEvent> events)
    {
        events = [];
        if (record.Length < HeaderSize)
        {
            return false;
        }

        uint length = BinaryPrimitives.ReadUInt32LittleEndian(record);
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(record[4..]);
        if (length != (uint)(record.Length - HeaderSize) || Crc32.HashToUInt32(record[HeaderSize..]) != crc)
        {
            return false;
        }

        using var r = new BinaryReader(new MemoryStream(record[HeaderSize..].ToArray()), Encoding.UTF8);
        byte version = r.ReadByte();
        if (version != FormatVersion)
        {
            throw new InvalidDataException($"Log record format version is {version}; this silo reads version {FormatVersion} only.");
        }

        int count = r.ReadInt32();
        if (count < 1)
        {
            throw new InvalidDataException($"Log record holds {count} events; expected at least 1.");
        }

        var decoded = new ShardEvent[count];
        for (int i = 0; i < count; i++)
        {
            decoded[i] = ReadEvent(r);
        }

        if (r.BaseStream.Position != r.BaseStream.Length)
        {
            throw new InvalidDataException($"Log record has {r.BaseStream.Length - r.BaseStream.Position} bytes past its {count} events; expected none.");
        }

        events = decoded;
        return true;
    }

    private static ShardEvent ReadEvent(BinaryReader r)
    {
        var kind = (Kind)r.ReadByte();
        return kind switch
        {
            Kind.KeyCreated => new KeyCreated(r.ReadInt64(), r.ReadInt32()),
            Kind.KeyImported => new KeyImported(r.ReadInt64(), r.ReadInt32()),
            Kind.MemoryAdded => new MemoryAdded(r.ReadInt64(), r.ReadInt64(), r.ReadBoolean(), r.ReadDouble(), ReadTime(r)),
            Kind.QUpdated => new QUpdated(r.ReadInt64(), r.ReadDouble(), r.ReadDouble(), r.ReadInt32(), ReadTime(r)),
            Kind.MemoryDeleted => new MemoryDeleted(r.ReadInt64()),
            Kind.Operation => ReadOperation(r),
            Kind.RecallRewarded => ReadRecallRewarded(r),
            Kind.MemoryTagged => ReadTagged(r),
            Kind.MemoryEdited => new MemoryEdited(r.ReadInt64(), r.ReadInt32(), r.ReadBoolean(), r.ReadBoolean(), ReadTime(r)),
            Kind.MemoryArchived => new MemoryArchived(r.ReadInt64(), ReadTime(r)),
            Kind.MemoryRestored => new MemoryRestored(r.ReadInt64(), ReadTime(r)),
            Kind.MemoryExpires => new MemoryExpires(r.ReadInt64(), r.ReadBoolean() ? ReadTime(r) : null),
            _ => throw new InvalidDataException($"Log event kind is {(byte)kind}; expected 1 to 10, 12 or 13."),
        };
    }

    private static MemoryTagged ReadTagged(BinaryReader r)
    {
        long memory = r.ReadInt64();
        var (scope, metadata) = ReadTags(r);
        return new MemoryTagged(memory, scope, metadata);
    }

    // Also a shard snapshot's layout of a memory's scope and metadata: four optional strings, then the entries by key.
    internal static BinaryWriter WriteTags(BinaryWriter w, MemoryScope scope, MemoryMetadata metadata)
    {
        foreach (string? value in (ReadOnlySpan<string?>)[scope.UserId, scope.AgentId, scope.SessionId, scope.RunId])
        {
            w.Put(value is not null);
            if (value is not null)
            {
                w.Put(value);
            }
        }

        w.Put(metadata.Count);
        foreach (var (key, value) in metadata.Entries)
        {
            w.Put(key).Put(value);
        }

        return w;
    }

    internal static (MemoryScope Scope, MemoryMetadata Metadata) ReadTags(BinaryReader r)
    {
        var values = new string?[4];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = r.ReadBoolean() ? r.ReadString() : null;
        }

        int count = r.ReadInt32();
        if (count is < 0 or > MemoryMetadata.MaxEntries)
        {
            throw new InvalidDataException($"A memory's metadata holds {count} entries; expected 0 to {MemoryMetadata.MaxEntries}.");
        }

        var entries = new KeyValuePair<string, string>[count];
        for (int i = 0; i < count; i++)
        {
            entries[i] = new(r.ReadString(), r.ReadString());
        }

        return (new MemoryScope(values[0], values[1], values[2], values[3]), MemoryMetadata.From(entries));
    }

    // Also a shard snapshot's layout of its remembered rewards and operations (ShardState).
    internal static BinaryWriter WriteRecallRewarded(BinaryWriter w, RecallRewarded e) =>
        w.Put(e.Recall).Put(e.Memory).Put(e.Reward).Put(e.Q).Put(e.Visits).Put(e.ExpiresTicks);

    internal static RecallRewarded ReadRecallRewarded(BinaryReader r) =>
        new(new Guid(r.ReadBytes(16)), r.ReadInt64(), r.ReadDouble(), r.ReadDouble(), r.ReadInt32(), r.ReadInt64());

    internal static BinaryWriter WriteOperation(BinaryWriter w, OperationApplied e)
    {
        w.Put(e.OperationId).Put((byte)e.PayloadHash.Length).Write(e.PayloadHash);
        _ = e.Result switch
        {
            ShardQ[] qs => WriteRewardResult(w.Put(ResultKind.Reward), qs),
            ShardWriteResult write => w.Put(ResultKind.Write).Put(write.Id).Put(write.CreatedKey).Put(write.Q),
            bool deleted => w.Put(ResultKind.Delete).Put(deleted),
            int count => w.Put(ResultKind.DeleteMatching).Put(count),
            EditApplied => w.Put(ResultKind.Edit),
            ArchiveApplied archive => w.Put(ResultKind.Archive).Put(archive.Changed),
            ShardRetentionApplied run => w.Put(ResultKind.Retention).Put(run.Purged).Put(run.Archived).Put(run.At).Put(run.More),
            // A claim without a route, or a route without a join key, still writes the absent fields (as zero).
            OperationClaim claim => w.Put(ResultKind.Claim)
                .Put(claim.Route.HasValue).Put(claim.Route?.Slot ?? 0).Put(claim.Route?.JoinKey.HasValue ?? false).Put(claim.Route?.JoinKey ?? 0),
            _ => throw FieldError.Invalid(nameof(e), "an operation result of type ShardQ[], ShardWriteResult, bool, int, EditApplied, ArchiveApplied, ShardRetentionApplied or OperationClaim", e.Result.GetType().Name),
        };
        return w;
    }

    internal static OperationApplied ReadOperation(BinaryReader r)
    {
        string id = r.ReadString();
        byte[] hash = r.ReadBytes(r.ReadByte());
        object result = (ResultKind)r.ReadByte() switch
        {
            ResultKind.Reward => ReadRewardResult(r),
            ResultKind.Write => new ShardWriteResult(ReadId(r), r.ReadBoolean(), r.ReadDouble()),
            ResultKind.Delete => r.ReadBoolean(),
            ResultKind.Claim => ReadClaim(r),
            ResultKind.DeleteMatching => r.ReadInt32(),
            ResultKind.Edit => EditApplied.Instance,
            ResultKind.Archive => new ArchiveApplied(r.ReadBoolean()),
            ResultKind.Retention => new ShardRetentionApplied(r.ReadInt32(), r.ReadInt32(), ReadTime(r), r.ReadBoolean()),
            var other => throw new InvalidDataException($"Operation result kind is {(byte)other}; expected 1 to 8."),
        };
        return new OperationApplied(id, hash, result);
    }

    private static OperationClaim ReadClaim(BinaryReader r)
    {
        bool hasRoute = r.ReadBoolean();
        int slot = r.ReadInt32();
        bool joins = r.ReadBoolean();
        long join = r.ReadInt64();
        return new OperationClaim(hasRoute ? new WriteRoute(slot, joins ? join : null) : null);
    }

    private static BinaryWriter WriteRewardResult(BinaryWriter w, ShardQ[] qs)
    {
        w.Put(qs.Length);
        foreach (var q in qs)
        {
            w.Put(q.Id).Put(q.Q).Put(q.Visits);
        }

        return w;
    }

    private static ShardQ[] ReadRewardResult(BinaryReader r)
    {
        var qs = new ShardQ[r.ReadInt32()];
        for (int i = 0; i < qs.Length; i++)
        {
            qs[i] = new ShardQ(ReadId(r), r.ReadDouble(), r.ReadInt32());
        }

        return qs;
    }

    private static MemoryId ReadId(BinaryReader r) => new(r.ReadUInt32(), r.ReadInt32(), r.ReadInt64());

    private static DateTimeOffset ReadTime(BinaryReader r) => new(r.ReadInt64(), TimeSpan.Zero);

    // Field writers that return the writer, so a kind's layout is one chain. Each takes exactly one field type: an int
    // must never widen to the long overload (that would move every later byte), so there is one overload per width.
    private static BinaryWriter Put(this BinaryWriter w, Kind kind) => w.Put((byte)kind);

    private static BinaryWriter Put(this BinaryWriter w, ResultKind kind) => w.Put((byte)kind);

    private static BinaryWriter Put(this BinaryWriter w, byte value) { w.Write(value); return w; }
    private static BinaryWriter Put(this BinaryWriter w, bool value) { w.Write(value); return w; }
    private static BinaryWriter Put(this BinaryWriter w, int value) { w.Write(value); return w; }
    private static BinaryWriter Put(this BinaryWriter w, uint value) { w.Write(value); return w; }
    private static BinaryWriter Put(this BinaryWriter w, long value) { w.Write(value); return w; }
    private static BinaryWriter Put(this BinaryWriter w, double value) { w.Write(value); return w; }
    private static BinaryWriter Put(this BinaryWriter w, string value) { w.Write(value); return w; }

    // UTC ticks: the offset is not kept (every time in the log is UTC).
    private static BinaryWriter Put(this BinaryWriter w, DateTimeOffset value) => w.Put(value.UtcTicks);

    private static BinaryWriter Put(this BinaryWriter w, Guid value)
    {
        Span<byte> bytes = stackalloc byte[16];
        value.TryWriteBytes(bytes);
        w.Write(bytes);
        return w;
    }

    private static BinaryWriter Put(this BinaryWriter w, MemoryId id) => w.Put(id.Incarnation).Put(id.Slot).Put(id.Sequence);
}

/// <summary>
/// An operation id registered at its home shard for an operation applied elsewhere (see <c>ShardClaim</c>): its route,
/// for a write. Kept in the shard's operation log beside the results of operations applied here.
/// </summary>
public sealed record OperationClaim(WriteRoute? Route);
