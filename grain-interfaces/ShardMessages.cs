namespace MemRL.GrainInterfaces;

/// <summary>Phase A request to one shard. <see cref="BankVersion"/> lets the shard reject a caller with stale options.</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardSearch")]
public sealed record ShardSearch(
    [property: Id(0)] long BankVersion,
    [property: Id(1)] float[] Query,
    [property: Id(2)] int K1,
    [property: Id(3)] double Delta,
    [property: Id(4)] FilterClause[]? Filter = null);

/// <summary>Compact memory candidate: no text travels in Phase A.</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardMemoryCandidate")]
public readonly record struct ShardMemoryCandidate([property: Id(0)] long Sequence, [property: Id(1)] double Q, [property: Id(2)] bool Success);

/// <summary>A key that passed delta on one shard, with its (capped) memories, oldest first.</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardKeyCandidate")]
public sealed record ShardKeyCandidate(
    [property: Id(0)] long KeySequence,
    [property: Id(1)] int Slot,
    [property: Id(2)] float Similarity,
    [property: Id(3)] ShardMemoryCandidate[] Memories);

/// <summary>A shard's Phase-A answer.</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardCandidates")]
public sealed record ShardCandidates([property: Id(0)] int Shard, [property: Id(1)] ShardKeyCandidate[] Keys);

/// <summary>Nearest-key request: the nearest key a write of <see cref="Scope"/> may join.</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardNearest")]
public sealed record ShardNearest([property: Id(0)] long BankVersion, [property: Id(1)] float[] Intent, [property: Id(2)] ScopeFields? Scope = null);

/// <summary>A key and its similarity to some intent; the slot routes writes that join it.</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardKeyMatch")]
public readonly record struct ShardKeyMatch([property: Id(0)] long KeySequence, [property: Id(1)] int Slot, [property: Id(2)] float Similarity);

/// <summary>A memory's texts (the second hop).</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardMemoryText")]
public sealed record ShardMemoryText(
    [property: Id(0)] long Sequence,
    [property: Id(1)] string Experience,
    [property: Id(2)] string IntentText,
    [property: Id(3)] ScopeFields? Scope = null,
    [property: Id(4)] Dictionary<string, string>? Metadata = null);

/// <summary>
/// Reward for some memories of one shard, from one recall. <see cref="PayloadHash"/> is the whole reward's (every
/// shard's part carries the same), so an operation id means one thing bank-wide; <see cref="RecallId"/> and
/// <see cref="RecallExpiresAt"/> come from the recall token: each memory takes at most one reward per recall, and the
/// shard remembers it until the token expires.
/// </summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardReward")]
public sealed record ShardReward(
    [property: Id(0)] long BankVersion,
    [property: Id(1)] string OperationId,
    [property: Id(2)] MemoryId[] Memories,
    [property: Id(3)] double Reward,
    [property: Id(4)] byte[] PayloadHash,
    [property: Id(5)] Guid RecallId,
    [property: Id(6)] DateTimeOffset RecallExpiresAt);

/// <summary>Where a write goes: the slot of its memory's key and the key it joins (null: a new key in that slot).</summary>
[GenerateSerializer, Immutable, Alias("memrl.WriteRoute")]
public readonly record struct WriteRoute([property: Id(0)] int Slot, [property: Id(1)] long? JoinKey);

/// <summary>
/// Registers an operation id at its home shard (the shard of <c>OperationIds.SlotOf(id)</c>), which keeps the bank-wide
/// record of that id: a different payload under the id is a conflict whatever shard the first call went to, and a write's
/// route is fixed by its first attempt, so a retry lands where the first attempt did. <see cref="Route"/> is the route a
/// write proposes (null for rewards and deletes); <see cref="Replacing"/>, when set, replaces that earlier route only
/// (the key it joined was deleted before the write applied).
/// </summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardClaim")]
public sealed record ShardClaim(
    [property: Id(0)] long BankVersion,
    [property: Id(1)] string OperationId,
    [property: Id(2)] byte[] PayloadHash,
    [property: Id(3)] WriteRoute? Route,
    [property: Id(4)] WriteRoute? Replacing);

/// <summary>The home shard's answer: the route every attempt of the write takes, or the write's result when the home
/// shard applied it itself.</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardClaimResult")]
public sealed record ShardClaimResult([property: Id(0)] WriteRoute? Route, [property: Id(1)] ShardWriteResult? Applied);

/// <summary>A memory's Q after an update.</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardQ")]
public readonly record struct ShardQ([property: Id(0)] MemoryId Id, [property: Id(1)] double Q, [property: Id(2)] int Visits);

/// <summary>A write routed to the shard that owns <see cref="Slot"/>.</summary>
/// <param name="JoinKey">The key to join (from the write rule), or null for a new key.</param>
[GenerateSerializer, Immutable, Alias("memrl.ShardWrite")]
public sealed record ShardWrite(
    [property: Id(0)] long BankVersion,
    [property: Id(1)] string OperationId,
    [property: Id(2)] int Slot,
    [property: Id(3)] long? JoinKey,
    [property: Id(4)] float[] Intent,
    [property: Id(5)] string IntentText,
    [property: Id(6)] string Experience,
    [property: Id(7)] bool Success,
    [property: Id(8)] ScopeFields? Scope = null,
    [property: Id(9)] Dictionary<string, string>? Metadata = null,
    [property: Id(10)] double? TtlSeconds = null);

/// <summary>The outcome of a shard write.</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardWriteResult")]
public sealed record ShardWriteResult([property: Id(0)] MemoryId Id, [property: Id(1)] bool CreatedKey, [property: Id(2)] double Q);

/// <summary>
/// A delete by scope, sent to every shard: each erases the memories it owns that pass <see cref="Filter"/> (which names a
/// scope field) and records the count under the operation id, so a retry returns the same count.
/// </summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardDeleteMatching")]
public sealed record ShardDeleteMatching([property: Id(0)] long BankVersion, [property: Id(1)] string OperationId, [property: Id(2)] FilterClause[] Filter);

/// <summary>An edit routed by memory id: the new experience text and/or the whole new metadata (null: unchanged).</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardEdit")]
public sealed record ShardEdit(
    [property: Id(0)] long BankVersion, [property: Id(1)] string OperationId, [property: Id(2)] MemoryId Id,
    [property: Id(3)] string? Experience, [property: Id(4)] Dictionary<string, string>? Metadata);

/// <summary>An archive (<paramref name="Archive"/> true) or a restore of one memory, routed by its id (docs/retention.md).</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardArchive")]
public sealed record ShardArchive([property: Id(0)] long BankVersion, [property: Id(1)] string OperationId, [property: Id(2)] MemoryId Id, [property: Id(3)] bool Archive);

/// <summary>An active memory the cap may archive, with what the cap orders by (<c>RetentionPolicy.UtilityOrder</c>).</summary>
[GenerateSerializer, Immutable, Alias("memrl.RetentionCandidate")]
public readonly record struct RetentionCandidate([property: Id(0)] MemoryId Id, [property: Id(1)] double Q, [property: Id(2)] long LastActiveTicks);

/// <summary>
/// What one shard's part of a retention run at a given time would be, changing nothing (docs/retention.md): its active
/// memories, the archived ones past their retention period and the active ones the rules archive (each ascending by
/// sequence, at most one past the run's bound), and, when the bank is capped, its lowest-utility active memories the rules leave
/// (at most the bound): the coordinator merges these into the bank-wide run, exactly.
/// </summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardRetentionPlan")]
public sealed record ShardRetentionPlan(
    [property: Id(0)] int Active,
    [property: Id(1)] MemoryId[] Purge,
    [property: Id(2)] MemoryId[] Archive,
    [property: Id(3)] RetentionCandidate[] Lowest);

/// <summary>One shard's part of a retention run: the memories to purge and to archive at <paramref name="Now"/>, and
/// whether the run as a whole left work for the next (recorded with the part, so a retry answers the first run).</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardRetentionApply")]
public sealed record ShardRetentionApply(
    [property: Id(0)] long BankVersion,
    [property: Id(1)] string OperationId,
    [property: Id(2)] DateTimeOffset Now,
    [property: Id(3)] MemoryId[] Purge,
    [property: Id(4)] MemoryId[] Archive,
    [property: Id(5)] bool More);

/// <summary>What one shard's part of a retention run changed (a memory deleted or restored in between is skipped), with
/// the run's time and whether it left work.</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardRetentionApplied")]
public sealed record ShardRetentionApplied([property: Id(0)] int Purged, [property: Id(1)] int Archived, [property: Id(2)] DateTimeOffset At, [property: Id(3)] bool More);

/// <summary>A delete routed by memory id.</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardDelete")]
public sealed record ShardDelete([property: Id(0)] long BankVersion, [property: Id(1)] string OperationId, [property: Id(2)] MemoryId Id);

/// <summary>One intent key with its vector and memories, as it moves between shards.</summary>
[GenerateSerializer, Immutable, Alias("memrl.KeyExport")]
public sealed record KeyExport(
    [property: Id(0)] long KeySequence,
    [property: Id(1)] int Slot,
    [property: Id(2)] string IntentText,
    [property: Id(3)] float[] Vector,
    [property: Id(5)] IReadOnlyList<MemoryInfo> Memories, // Id(4) held the retired MemoryExport list: never reuse it
    [property: Id(6)] IReadOnlyList<HistoryRowExport>? History = null);

/// <summary>One history row of a moved memory (docs/history.md), carried with its key so the target keeps the history.</summary>
[GenerateSerializer, Immutable, Alias("memrl.HistoryRowExport")]
public sealed record HistoryRowExport([property: Id(0)] long Memory, [property: Id(1)] long Ordinal, [property: Id(2)] byte[] Entry);

/// <summary>One page of a slot move's export; <see cref="NextAfterKey"/> is where the next page starts, null after the last.</summary>
[GenerateSerializer, Immutable, Alias("memrl.SlotExportPage")]
public sealed record SlotExportPage([property: Id(0)] KeyExport[] Keys, [property: Id(1)] long? NextAfterKey);

/// <summary>A page of one shard's memories, by sequence; <see cref="More"/> when memories past the page remain.</summary>
[GenerateSerializer, Immutable, Alias("memrl.ShardMemoryPage")]
public sealed record ShardMemoryPage([property: Id(0)] MemoryInfo[] Memories, [property: Id(1)] bool More);

/// <summary>An export's cut: the bank frozen for it, and the end of the bank's sequences (every exported sequence is below).</summary>
[GenerateSerializer, Immutable, Alias("memrl.ExportCut")]
public sealed record ExportCut([property: Id(0)] BankInfo Bank, [property: Id(1)] long SequenceEnd);

/// <summary>The key of a bank's shard grain: "{bank}/{shard}" (one definition for the silo and the client's exporter).</summary>
public static class ShardKeys
{
    public static string Of(string bank, int shard) => $"{bank}/{shard}";
}

/// <summary>
/// One entry of a memory's history (docs/history.md), newest first in a page: <see cref="Kind"/> 1 is a reward, 2 an
/// edit, 3 an archive, 4 a restore. A reader skips a kind it does not know.
/// </summary>
/// <param name="Ordinal">The memory's visits + revision after the change: the page cursor.</param>
/// <param name="Reward">The reward's value (rewards only).</param>
/// <param name="At">When the shard applied it.</param>
/// <param name="RecallId">The recall token's id the reward came with (rewards only).</param>
/// <param name="Q">The memory's Q after the change (an edit leaves it as it was).</param>
/// <param name="Visits">The memory's visits after the change (an edit leaves them as they were).</param>
[GenerateSerializer, Immutable, Alias("memrl.MemoryHistoryEntry")]
public sealed record MemoryHistoryEntry(
    [property: Id(0)] int Kind,
    [property: Id(1)] long Ordinal,
    [property: Id(2)] double? Reward,
    [property: Id(3)] DateTimeOffset At,
    [property: Id(4)] Guid? RecallId,
    [property: Id(5)] double Q,
    [property: Id(6)] int Visits)
{
    /// <summary>The memory's revision after an edit, archive or restore (null for rewards).</summary>
    [Id(7)]
    public int? Revision { get; init; }

    /// <summary>What an edit replaced: "experience" and/or "metadata" (edits only).</summary>
    [Id(8)]
    public string[]? Changed { get; init; }

    /// <summary>The kind of a reward entry.</summary>
    public const int RewardKind = 1;

    /// <summary>The kind of an edit entry.</summary>
    public const int EditKind = 2;

    /// <summary>The kind of an archive entry (by a call or a retention run).</summary>
    public const int ArchiveKind = 3;

    /// <summary>The kind of a restore entry.</summary>
    public const int RestoreKind = 4;
}
