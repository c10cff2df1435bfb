namespace MemRL.Grains.Storage;

/// <summary>
/// Durable state of banks and shards (DESIGN §3). One implementation per backend (SQLite, PostgreSQL); the grains see
/// only this interface. Every method either commits entirely or not at all: a caller that sees an exception must
/// assume nothing about whether the write landed, which is why shards deactivate and reload after any failure.
/// </summary>
public interface IMemoryStore
{
    /// <summary>The bank's stored description, or null when none was ever written.</summary>
    Task<StoredBank?> ReadBankAsync(string bank, CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes the bank's description and sequence high-water mark if the stored revision is still
    /// <paramref name="expectedRevision"/> (0: no row yet); the new row has revision <c>expectedRevision + 1</c>.
    /// Returns false when another activation wrote first (the caller is fenced off).
    /// </summary>
    Task<bool> TryWriteBankAsync(string bank, long expectedRevision, StoredBank value, CancellationToken cancellationToken = default);

    /// <summary>Everything a shard needs to activate: its latest snapshot, the log after it, and its payload rows.</summary>
    Task<ShardImage> LoadShardAsync(string shard, CancellationToken cancellationToken = default);

    /// <summary>
    /// Appends <see cref="ShardBatch.Record"/> at position <c>ExpectedHead + 1</c> and applies the payload puts and
    /// deletes, in one transaction, only if the shard's log head is still <see cref="ShardBatch.ExpectedHead"/>.
    /// </summary>
    /// <exception cref="StoreFencedException">Another activation appended first.</exception>
    Task AppendAsync(string shard, ShardBatch batch, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores a snapshot taken at log position <paramref name="position"/> (a consistent cut: it reflects exactly the
    /// events up to that position), replacing older snapshots, and only after it commits drops the log up to it.
    /// Returns false (and changes nothing) when a snapshot at or past that position exists already.
    /// </summary>
    Task<bool> WriteSnapshotAsync(string shard, long position, IReadOnlyList<ReadOnlyMemory<byte>> chunks, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes log records after <paramref name="newHead"/> (a torn or corrupt tail found on load) if the head is still
    /// <paramref name="expectedHead"/>.
    /// </summary>
    /// <exception cref="StoreFencedException">The head moved.</exception>
    Task DiscardTailAsync(string shard, long expectedHead, long newHead, CancellationToken cancellationToken = default);

    /// <summary>
    /// Physically removes every shard of <paramref name="bank"/> (keys <c>"{bank}/{n}"</c>): log, snapshots, payload rows
    /// and head rows, in one transaction. The bank's own row is left to the caller (it keeps a tombstone there).
    /// </summary>
    Task PurgeShardsAsync(string bank, CancellationToken cancellationToken = default);

    /// <summary>
    /// The history rows of memory <paramref name="memorySequence"/> of <paramref name="shard"/> whose ordinal is below
    /// <paramref name="beforeOrdinal"/>, newest (highest ordinal) first, at most <paramref name="limit"/>. The store keeps
    /// at most <see cref="StoredHistory.Slots"/> rows per memory (the key is the ordinal modulo it); the caller filters
    /// rows past the memory's live ordinal by passing at most <c>live + 1</c>.
    /// </summary>
    Task<IReadOnlyList<StoredHistory>> ReadHistoryAsync(string shard, long memorySequence, long beforeOrdinal, int limit, CancellationToken cancellationToken = default);

    /// <summary>
    /// Every bank row whose name starts with <paramref name="prefix"/> (a tenant's "{tenant}."), in ordinal order, tombstones
    /// included (the caller tells them apart), with the memories stored under the bank's shards and the UTF-8 bytes of
    /// their experience and intent text. One query, read from the stored rows: no shard is asked.
    /// </summary>
    Task<IReadOnlyList<StoredBankUsage>> ListBanksAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Completes when the store answers a trivial query; throws when it cannot be reached (readiness probes).</summary>
    Task ProbeAsync(CancellationToken cancellationToken = default);
}

/// <summary>A bank row: its description (a document of <see cref="BankRowCodec"/>, opaque to the stores) and the end of the last sequence range handed out.</summary>
/// <param name="Revision">Write counter used to fence concurrent activations of the bank grain.</param>
/// <param name="SequenceEnd">No sequence below this may be handed out again: it is persisted before a range is.</param>
public sealed record StoredBank(long Revision, string Description, long SequenceEnd);

/// <summary>A bank row as <see cref="IMemoryStore.ListBanksAsync"/> lists it, with what its shards store.</summary>
/// <param name="TextBytes">UTF-8 bytes of the experience and intent text of the bank's memories (not of its keys).</param>
public sealed record StoredBankUsage(string Bank, string Description, long Memories, long TextBytes);

/// <summary>One group commit of a shard: its change events and the payload rows they reference.</summary>
/// <param name="ExpectedHead">The log position the shard believes is last; the append is conditional on it.</param>
/// <param name="Record">The commit's events framed as one log record (<see cref="EventCodec"/>).</param>
/// <param name="Puts">Experience texts, intent texts and key vectors created by the batch.</param>
/// <param name="Deletes">Payload rows (by sequence) removed physically by the batch.</param>
public sealed record ShardBatch(long ExpectedHead, byte[] Record, IReadOnlyList<StoredPayload> Puts, IReadOnlyList<long> Deletes)
{
    /// <summary>
    /// History rows the batch's events produce, upserted by key (memory, ordinal mod <see cref="StoredHistory.Slots"/>) in
    /// the same transaction as <see cref="Record"/>, so a row exists exactly when the change it describes is durable. A
    /// memory in <see cref="Deletes"/> loses all its rows in the same commit.
    /// </summary>
    public IReadOnlyList<StoredHistory> History { get; init; } = [];
}

/// <summary>One history entry of a memory as stored: its ordinal (visits + revision after the change) and the encoded entry (<see cref="MemRL.GrainInterfaces.HistoryCodec"/>, opaque to stores).</summary>
public sealed record StoredHistory(long Memory, long Ordinal, byte[] Entry)
{
    /// <summary>Rows kept per memory: entry n + Slots overwrites entry n, so the bound holds without a trim query.</summary>
    public const int Slots = 256;

    /// <summary>The row's slot within the memory's rows.</summary>
    public int Slot => (int)(Ordinal % Slots);
}

/// <summary>
/// A payload row. For a memory: its intent text and experience. For a key: its intent text and vector. Kept out of the
/// log so that a delete removes the text physically (the log holds references only).
/// </summary>
public sealed record StoredPayload(long Sequence, string IntentText, string? Experience, float[]? Vector);

/// <summary>One log record as stored.</summary>
public readonly record struct StoredEvent(long Position, byte[] Record);

/// <summary>What a shard loads on activation.</summary>
/// <param name="Head">Position of the last log record (0: empty log).</param>
/// <param name="SnapshotPosition">Position the snapshot reflects (0: no snapshot).</param>
/// <param name="SnapshotChunks">The snapshot's chunks in order; empty without a snapshot.</param>
/// <param name="Tail">Log records after the snapshot, ascending.</param>
/// <param name="Payloads">Every payload row of the shard.</param>
public sealed record ShardImage(long Head, long SnapshotPosition, IReadOnlyList<byte[]> SnapshotChunks, IReadOnlyList<StoredEvent> Tail, IReadOnlyList<StoredPayload> Payloads);

/// <summary>A conditional write lost: another activation of the same grain wrote first.</summary>
public sealed class StoreFencedException(string message) : Exception(message);

/// <summary>The store could not be reached or failed a write (wraps the backend's error with the shard or bank named).</summary>
public sealed class StoreUnavailableException(string message, Exception inner) : Exception(message, inner);
