namespace MemRL.GrainInterfaces;

/// <summary>
/// A bank's durable description (key: the bank name): options, embedder id, the versioned slot → shard map, and the
/// bank-wide sequence handed out to shards in ranges.
/// </summary>
[Alias("memrl.IBankGrain")]
public interface IBankGrain : IGrainWithStringKey
{
    /// <summary>Creates the bank; creating it again with the same spec returns the existing bank, a different spec is a conflict.</summary>
    [Alias("Create")]
    Task<BankInfo> CreateAsync(BankSpec spec);

    /// <summary>The bank, or null when it does not exist or an import is still filling it.</summary>
    [Alias("Get")]
    Task<BankInfo?> GetAsync();

    /// <summary>
    /// The bank for its own shards and its importer: unlike <see cref="GetAsync"/>, also while an import fills it.
    /// Null when it does not exist.
    /// </summary>
    [Alias("Describe")]
    Task<BankInfo?> DescribeAsync();

    /// <summary>
    /// Creates the bank for an import (docs/export-format.md): hidden (<see cref="GetAsync"/> answers null, listings leave it
    /// out, every call through the coordinator is "not found") until <see cref="CompleteImportAsync"/>, and held by a lease
    /// of <paramref name="lease"/> that the importer renews (<see cref="RenewImportAsync"/>). When the lease runs out the
    /// importer is taken for dead and the next touch of the name deletes the half-imported bank, so an import completes or
    /// leaves no bank. The same <paramref name="importId"/> again returns the bank (a retry); an existing bank, or an import
    /// under another id whose lease is live, is a conflict.
    /// </summary>
    [Alias("BeginImport")]
    Task<BankInfo> BeginImportAsync(BankSpec spec, string importId, TimeSpan lease);

    /// <summary>Extends the lease of the import <paramref name="importId"/> to <paramref name="lease"/> from now; a conflict when it is not this bank's import.</summary>
    [Alias("RenewImport")]
    Task RenewImportAsync(string importId, TimeSpan lease);

    /// <summary>Makes the imported bank visible; nothing when it is visible already and <paramref name="importId"/> was its import.</summary>
    [Alias("CompleteImport")]
    Task<BankInfo> CompleteImportAsync(string importId);

    /// <summary>
    /// Deletes the bank if the import <paramref name="importId"/> is still filling it (the importer failed); nothing
    /// otherwise, so an importer that stalled past its lease never deletes a bank created under the name since.
    /// </summary>
    [Alias("AbandonImport")]
    Task AbandonImportAsync(string importId);

    /// <summary>Replaces the bank's MemRL options (validated); bumps the version.</summary>
    [Alias("UpdateOptions")]
    Task<BankInfo> UpdateOptionsAsync(BankOptions options);

    /// <summary>
    /// Reserves <paramref name="count"/> bank-wide sequences for <paramref name="shard"/>: [start, start + count). The
    /// range is durable before it is returned, so no sequence is ever issued twice, even across crashes.
    /// </summary>
    [Alias("ReserveSequences")]
    Task<long> ReserveSequencesAsync(int shard, int count);

    /// <summary>
    /// Grows the bank to <paramref name="shardCount"/> shards by remapping virtual slots; the memories of moved slots are
    /// copied to their new shard while those slots are read-only, then the new map takes effect everywhere at once.
    /// </summary>
    [Alias("GrowShards")]
    Task<BankInfo> GrowShardsAsync(int shardCount);

    /// <summary>
    /// Starts an export's cut: freezes every slot (writes, deletes and new rewards refused as retryable; a reward spanning
    /// shards that was checked everywhere before the freeze may still finish) and returns the frozen bank with the bank's
    /// sequence end. The caller reads the shards at the returned version, then calls <see cref="EndExportAsync"/>.
    /// </summary>
    [Alias("BeginExport")]
    Task<ExportCut> BeginExportAsync();

    /// <summary>Lifts the freeze of the export begun at <paramref name="frozenVersion"/>; nothing when it was lifted already.</summary>
    [Alias("EndExport")]
    Task<BankInfo> EndExportAsync(long frozenVersion);

    /// <summary>
    /// Makes every sequence this bank hands out from now on at least <paramref name="floor"/>: an import keeps the
    /// exported sequences, so new writes must start above them.
    /// </summary>
    [Alias("RaiseSequences")]
    Task RaiseSequencesAsync(long floor);

    /// <summary>
    /// Deletes the bank and every memory in it, physically; false when there was no bank. A bank created later under
    /// the same name is a new bank: ids and recall tokens of this one never reach it.
    /// </summary>
    [Alias("Delete")]
    Task<bool> DeleteAsync();
}

/// <summary>
/// One memory shard (key: "{bank}/{shard}"): an HNSW index over its intent keys and their memories with Q. Every write,
/// delete and Q update is applied one turn at a time, which is what makes concurrent agents safe without locks.
/// </summary>
[Alias("memrl.IMemoryShardGrain")]
public interface IMemoryShardGrain : IGrainWithStringKey
{
    /// <summary>
    /// How many rewards spanning shards were checked here (leased) and not yet applied: an export's cut waits until none
    /// is left, so such a reward is in the export whole or not at all.
    /// </summary>
    [Alias("PendingRewards")]
    Task<int> PendingRewardsAsync(long bankVersion);

    /// <summary>Phase A on this shard: its top-k1 keys with similarity ≥ delta, as compact candidates.</summary>
    [Alias("Search")]
    Task<ShardCandidates> SearchAsync(ShardSearch request, CancellationToken cancellationToken = default);

    /// <summary>The nearest key to an intent (the write rule's input when no recall token is given).</summary>
    [Alias("Nearest")]
    Task<ShardKeyMatch?> NearestKeyAsync(ShardNearest request, CancellationToken cancellationToken = default);

    /// <summary>Experience texts of the named memories (the second hop, for the k2 winners only).</summary>
    [Alias("Fetch")]
    Task<ShardMemoryText[]> FetchAsync(long bankVersion, long[] sequences);

    /// <summary>Applies one reward to each named memory of this shard (at most once per recall and memory).</summary>
    [Alias("Reward")]
    Task<ShardQ[]> RewardAsync(ShardReward request);

    /// <summary>
    /// Checks a reward without applying it (every memory here, not moving, not rewarded by this recall with another
    /// value, and a finite Q after it), and holds the check for a short lease so a conflicting reward cannot pass in
    /// between: a reward spanning shards is checked on every shard before any part applies.
    /// </summary>
    [Alias("PrepareReward")]
    Task PrepareRewardAsync(ShardReward request);

    /// <summary>Registers an operation id at its home shard (see <see cref="ShardClaim"/>).</summary>
    [Alias("Claim")]
    Task<ShardClaimResult> ClaimAsync(ShardClaim request);

    /// <summary>Adds a memory, to <see cref="ShardWrite.JoinKey"/> or to a new key.</summary>
    [Alias("Write")]
    Task<ShardWriteResult> WriteAsync(ShardWrite request);

    /// <summary>Deletes a memory (and its key when it was the last).</summary>
    [Alias("Delete")]
    Task<bool> DeleteAsync(ShardDelete request);

    /// <summary>Edits an active memory's experience and/or metadata; throws MemoryNotFoundException when there is none.</summary>
    [Alias("Edit")]
    Task EditAsync(ShardEdit request);

    /// <summary>Archives or restores one memory; false when it already was so. Throws MemoryNotFoundException when the
    /// shard has no such memory, active or archived.</summary>
    [Alias("Archive")]
    Task<bool> ArchiveAsync(ShardArchive request);

    /// <summary>This shard's part of a retention run at <paramref name="now"/>, changing nothing.</summary>
    [Alias("PlanRetention")]
    Task<ShardRetentionPlan> PlanRetentionAsync(long bankVersion, DateTimeOffset now);

    /// <summary>Applies this shard's part of a retention run, once per operation id, in one commit.</summary>
    [Alias("ApplyRetention")]
    Task<ShardRetentionApplied> ApplyRetentionAsync(ShardRetentionApply request);

    /// <summary>Deletes every memory this shard owns that passes the request's filter; returns how many.</summary>
    [Alias("DeleteMatching")]
    Task<int> DeleteMatchingAsync(ShardDeleteMatching request);

    /// <summary>One memory, or null.</summary>
    [Alias("Get")]
    Task<MemoryInfo?> GetAsync(long bankVersion, MemoryId id);

    /// <summary>
    /// The memory's history entries with an ordinal below <paramref name="beforeOrdinal"/>, newest first, at most
    /// <paramref name="limit"/>; null when the memory does not exist here. Read after everything applied is durable.
    /// </summary>
    [Alias("GetHistory")]
    Task<MemoryHistoryEntry[]?> GetHistoryAsync(long bankVersion, MemoryId id, long beforeOrdinal, int limit);

    /// <summary>Takes a newer bank description (options, slot map); older ones are ignored.</summary>
    [Alias("ApplyBank")]
    Task ApplyBankAsync(BankInfo bank);

    /// <summary>
    /// One page of what this shard holds in <paramref name="slots"/> (the input of a slot move): keys in sequence order
    /// after <paramref name="afterKey"/>, at most <paramref name="maxKeys"/> of them and about
    /// <paramref name="maxBytes"/> of text and vectors, so no message grows with the bank.
    /// </summary>
    [Alias("ExportSlotPage")]
    Task<SlotExportPage> ExportSlotsAsync(long bankVersion, int[] slots, long afterKey, int maxKeys, int maxBytes);

    /// <summary>
    /// Takes keys moved from another shard. What is applied is the difference between the keys sent and the copies
    /// already here, so a repeated or resumed import changes nothing it already holds.
    /// </summary>
    [Alias("ImportKeys")]
    Task ImportAsync(long bankVersion, IReadOnlyList<KeyExport> keys);

    /// <summary>
    /// Deletes this shard's copies of <paramref name="slots"/> (which it must not own): what an earlier move that did not
    /// complete left here. A move calls it on each target before copying, so a memory deleted at the source since cannot
    /// come back with the new map.
    /// </summary>
    [Alias("DropCopies")]
    Task DropCopiesAsync(long bankVersion, int[] slots);

    /// <summary>
    /// The exactly-once records that belong to <paramref name="slots"/> (operation ids homed there or whose results name
    /// their memories, and the recall rewards of their memories), as log records of this shard's own format, one per
    /// slot that has any: a slot move carries them, so a retry after the move is still recognised.
    /// </summary>
    [Alias("ExportSlotRecords")]
    Task<IReadOnlyList<byte[]>> ExportSlotRecordsAsync(long bankVersion, int[] slots);

    /// <summary>Takes records exported by <see cref="ExportSlotRecordsAsync"/>; ones already here are kept, so a repeat is harmless.</summary>
    [Alias("ImportSlotRecords")]
    Task ImportSlotRecordsAsync(long bankVersion, IReadOnlyList<byte[]> records);

    /// <summary>Counts and fixed-size histograms of Q, visits and age (computed here; the coordinator merges them).</summary>
    [Alias("Stats")]
    Task<ShardStats> GetStatsAsync(long bankVersion);

    /// <summary>
    /// Up to <paramref name="limit"/> memories this shard owns with a sequence above <paramref name="afterSequence"/>, by
    /// sequence; with <paramref name="filter"/>, only those that pass it; <paramref name="state"/> picks active, archived
    /// or both.
    /// </summary>
    [Alias("List")]
    Task<ShardMemoryPage> ListAsync(long bankVersion, long afterSequence, int limit, FilterClause[]? filter = null, MemoryListState state = MemoryListState.Active);

    /// <summary>Up to <paramref name="count"/> of this shard's key vectors, drawn uniformly with <paramref name="seed"/>.</summary>
    [Alias("SampleKeys")]
    Task<float[][]> SampleKeysAsync(long bankVersion, int count, int seed);

    /// <summary>
    /// What the operator console shows of this shard: where it runs, since when, its recent search latency and reward
    /// timeline (kept in memory), and its <paramref name="extremes"/> best and worst memories by Q.
    /// </summary>
    [Alias("Insight")]
    Task<ShardInsight> GetInsightAsync(long bankVersion, int extremes);

    /// <summary>The bank incarnation <paramref name="incarnation"/> is deleted: refuse every later call and deactivate.</summary>
    [Alias("Forget")]
    Task ForgetAsync(uint incarnation);
}

/// <summary>
/// The front door for agents: fans recall out to every shard, merges to the exact global top-k1, runs Phase B, signs a
/// recall token; routes rewards, writes, reads and deletes by memory id. A reentrant stateless worker, so concurrent
/// recalls run concurrently.
/// </summary>
[Alias("memrl.IMemoryCoordinatorGrain")]
public interface IMemoryCoordinatorGrain : IGrainWithIntegerKey
{
    [Alias("Recall")]
    Task<RecallResponse> RecallAsync(string bank, RecallRequest request, CancellationToken cancellationToken = default);

    [Alias("Reward")]
    Task<RewardResponse> RewardAsync(string bank, RewardRequest request);

    [Alias("Write")]
    Task<WriteResponse> WriteAsync(string bank, WriteRequest request);

    [Alias("Get")]
    Task<MemoryInfo> GetAsync(string bank, string memoryId);

    /// <summary>One page of a memory's history, newest first; <paramref name="cursor"/> is a page's NextCursor (null: the newest).</summary>
    [Alias("GetHistory")]
    Task<MemoryHistoryPage> GetHistoryAsync(string bank, string memoryId, long? cursor, int limit);

    [Alias("Delete")]
    Task<bool> DeleteAsync(string bank, string memoryId, string operationId);

    /// <summary>
    /// Replaces a memory's experience text and/or its whole metadata (null: unchanged; at least one given), once per
    /// operation id; returns the memory as it is after the edit. Its id, key, Q and visits do not change.
    /// </summary>
    [Alias("Edit")]
    Task<MemoryInfo> EditAsync(string bank, string memoryId, string? experience, Dictionary<string, string>? metadata, string operationId);

    /// <summary>
    /// Archives (<paramref name="archive"/> true) or restores one memory, once per operation id; returns the memory as it
    /// is then. Archived, it leaves recall at once and stays restorable for the bank's retention period (docs/retention.md).
    /// </summary>
    [Alias("Archive")]
    Task<MemoryInfo> ArchiveAsync(string bank, string memoryId, bool archive, string operationId);

    /// <summary>
    /// One retention run of the bank's policy (docs/retention.md), once per operation id: purges archived memories past
    /// their retention period, archives what the rules name, then caps the bank, at most the policy's maxPerRun changes.
    /// </summary>
    [Alias("RunRetention")]
    Task<RetentionRunResult> RunRetentionAsync(string bank, string operationId);

    /// <summary>Deletes every memory that passes <paramref name="filter"/> (which must name a scope field); returns how many.</summary>
    [Alias("DeleteMatching")]
    Task<int> DeleteMatchingAsync(string bank, FilterClause[] filter, string operationId);

    [Alias("Stats")]
    Task<BankStats> GetStatsAsync(string bank);

    [Alias("List")]
    Task<MemoryPage> ListAsync(string bank, string? cursor, int limit, FilterClause[]? filter = null, MemoryListState state = MemoryListState.Active);

    /// <summary>
    /// Runs a recall's Phase A and Phase B and returns the whole pool with each candidate's scores and verdict. Signs no
    /// recall token: nothing it returns can be rewarded, and it changes nothing.
    /// </summary>
    [Alias("Explain")]
    Task<RecallExplanation> ExplainAsync(string bank, RecallRequest request, CancellationToken cancellationToken = default);

    /// <summary>The bank's shards, merged reward timeline and its <paramref name="extremes"/> best and worst memories by Q.</summary>
    [Alias("Insight")]
    Task<BankInsight> GetInsightAsync(string bank, int extremes);

    /// <summary>
    /// Calibrates the bank from a sample of its intent keys (DESIGN §1): delta at the top-20 % quantile of pairwise
    /// similarity, and the similarity mean and deviation; with <paramref name="apply"/>, writes them into the options.
    /// </summary>
    [Alias("Calibrate")]
    Task<BankCalibration> CalibrateAsync(string bank, int sampleSize, bool apply);
}

/// <summary>
/// The banks under a name prefix (a tenant's) with what they store, read from the store in one query: the count and
/// size of memories without asking any shard. Stateless: any silo answers.
/// </summary>
[Alias("memrl.IBankCatalogGrain")]
public interface IBankCatalogGrain : IGrainWithIntegerKey
{
    /// <summary>The live banks whose name starts with <paramref name="prefix"/>, in ordinal order, with their usage.</summary>
    [Alias("List")]
    Task<IReadOnlyList<BankUsage>> ListAsync(string prefix);
}
