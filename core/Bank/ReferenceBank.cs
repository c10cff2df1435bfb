using System.Globalization;
using MemRL.Core.Recall;
using MemRL.Errors;
using MemRL.Index;

namespace MemRL.Core.Bank;

/// <summary>A memory returned by recall, with the numbers that explain its rank.</summary>
public sealed record RecalledMemory(
    long Sequence, long KeySequence, float Similarity, double Q, double ZSim, double ZQ, double Score, bool Success, string Experience);

/// <summary>The answer of <see cref="ReferenceBank.Recall"/>.</summary>
/// <param name="Memories">The k2 (or fewer) memories, best first; empty means "run without memory".</param>
/// <param name="Keys">Phase A's keys with their similarities: pass them to <see cref="ReferenceBank.Write"/> for the merge decision.</param>
/// <param name="PoolSize">Size of the Phase-B pool.</param>
/// <param name="Explored">True when epsilon-greedy chose at random.</param>
public sealed record RecallResult(IReadOnlyList<RecalledMemory> Memories, IReadOnlyList<KeyMatch> Keys, int PoolSize, bool Explored);

/// <summary>What one retention run did, each list in the order applied (docs/retention.md).</summary>
/// <param name="Purged">Archived memories removed for good (their retention period had ended).</param>
/// <param name="Archived">Active memories archived, by the rules then by the cap.</param>
/// <param name="More">True when the run stopped at <see cref="RetentionPolicy.MaxPerRun"/> with work left.</param>
public sealed record RetentionRun(IReadOnlyList<long> Purged, IReadOnlyList<long> Archived, bool More);

/// <summary>An ancestor a reward credited along provenance: its generation and new Q.</summary>
public sealed record CreditedMemory(long Sequence, int Depth, double Q);

/// <summary>The answer of <see cref="ReferenceBank.Write"/>.</summary>
public sealed record WriteResult(long MemorySequence, long KeySequence, bool CreatedKey);

/// <summary>
/// MemRL in one process with exact (brute-force) search: recall, reward, write and delete with the rules of this library.
/// It is the oracle the cluster is tested against and a baseline in benchmarks. Not thread-safe.
/// </summary>
public sealed class ReferenceBank
{
    /// <summary>Longest accepted experience text, in characters.</summary>
    public const int MaxExperienceLength = 1 << 20;

    private readonly MemoryTable _table = new();
    private readonly IRandomSource _random;
    private readonly TimeProvider _time;
    private MemRLOptions _options;
    private RetentionPolicy _retention = RetentionPolicy.None;
    private long _nextSequence;

    /// <summary>Creates an empty bank.</summary>
    /// <param name="dimension">Embedding dimension, at least 1.</param>
    /// <param name="options">MemRL options; validated.</param>
    /// <param name="random">Random source for epsilon-greedy; a fixed seed by default.</param>
    /// <param name="time">Clock for timestamps.</param>
    public ReferenceBank(int dimension, MemRLOptions? options = null, IRandomSource? random = null, TimeProvider? time = null)
    {
        if (dimension < 1)
        {
            throw FieldError.OutOfRange(nameof(dimension), "at least 1", FieldError.Format(dimension));
        }

        options ??= MemRLOptions.Default;
        options.Validate();
        Dimension = dimension;
        _options = options;
        _random = random ?? new SeededRandom(0);
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Embedding dimension.</summary>
    public int Dimension { get; }

    /// <summary>The bank's options; setting validates them first.</summary>
    public MemRLOptions Options
    {
        get => _options;
        set
        {
            _ = value ?? throw FieldError.Missing("options", "the bank's options");
            value.Validate();
            _options = value;
        }
    }

    /// <summary>The bank's retention policy (none by default); setting validates it first.</summary>
    public RetentionPolicy Retention
    {
        get => _retention;
        set
        {
            _ = value ?? throw FieldError.Missing("retention", "the bank's retention policy");
            value.Validate("retention.");
            _retention = value;
        }
    }

    /// <summary>The keys and memories, for inspection.</summary>
    public MemoryTable Table => _table;

    /// <summary>Phase A (exact) then Phase B.</summary>
    /// <param name="query">Query embedding.</param>
    /// <param name="overrides">Per-recall overrides of the bank's parameters.</param>
    /// <param name="filter">When given, Phase A sees only the memories that pass it, before the per-key cap.</param>
    public RecallResult Recall(ReadOnlySpan<float> query, RecallOverrides? overrides = null, MemoryFilter? filter = null)
    {
        var parameters = RecallParameters.Resolve(_options, overrides);
        VectorValidation.ThrowIfInvalid(query, Dimension, nameof(query));
        var unit = Normalize(query, nameof(query));
        var candidates = new List<KeyCandidate>();
        foreach (var key in _table.Keys)
        {
            if (filter is null || filter.MatchesAny(key))
            {
                candidates.Add(MemoryTable.ToCandidate(key, VectorMath.Dot(unit, key.Vector), _options.MaxMemoriesPerKey, filter));
            }
        }

        var outcome = RecallPipeline.Run([candidates], parameters, _options, _random);
        var memories = new List<RecalledMemory>(outcome.Selection.Selected.Count);
        foreach (var s in outcome.Selection.Selected)
        {
            _table.TryGetMemory(s.Entry.Memory.Sequence, out var record);
            memories.Add(new RecalledMemory(s.Entry.Memory.Sequence, s.Entry.KeySequence, s.Entry.Similarity, s.Entry.Memory.Q,
                s.ZSim, s.ZQ, s.Score, s.Entry.Memory.Success, record!.Experience));
        }

        return new RecallResult(memories, outcome.Keys, outcome.PoolSize, outcome.Selection.Explored);
    }

    /// <summary>Applies one reward to every named memory (one reward per recall, shared by the memories it returned).</summary>
    /// <returns>The new Q of each memory, in the order given.</returns>
    /// <exception cref="ArgumentException">An id is unknown (neither active nor archived) or repeated, or the reward is
    /// not finite; nothing is applied.</exception>
    public IReadOnlyList<double> Reward(IReadOnlyList<long> memoryIds, double reward)
    {
        if (memoryIds is null)
        {
            throw FieldError.Missing(nameof(memoryIds), "the ids of the memories to reward");
        }

        _options.ValidateReward(reward);
        var seen = new HashSet<long>();
        for (int i = 0; i < memoryIds.Count; i++)
        {
            long id = memoryIds[i];
            // Archived memories too: the reward comes from a recall made while they were active (docs/retention.md).
            if (!_table.TryGetAnyMemory(id, out var memory))
            {
                throw FieldError.Invalid($"memoryIds[{i}]", "a memory of this bank", id.ToString(CultureInfo.InvariantCulture));
            }

            if (!seen.Add(id))
            {
                throw FieldError.Invalid($"memoryIds[{i}]", "each memory once (one reward per recall)", id.ToString(CultureInfo.InvariantCulture));
            }

            // Every new Q is checked before any is applied: nothing is half-applied.
            QRule.UpdateFinite(memory.Q, reward, _options.Alpha, _options.QFloor);
        }

        // Credit along provenance (off by default): the ancestors and their new Q are fixed before anything applies.
        var credit = ProvenanceCredit.Plan(memoryIds, s => ProvenanceCredit.AncestorsIn(_table, s), _options);
        var creditQ = new double[credit.Count];
        for (int i = 0; i < credit.Count; i++)
        {
            _table.TryGetMemory(credit[i].Sequence, out var ancestor);
            creditQ[i] = ProvenanceCredit.Update(ancestor!.Q, reward, _options.Alpha, credit[i].Eligibility, _options.QFloor);
        }

        var now = _time.GetUtcNow();
        var result = new double[memoryIds.Count];
        for (int i = 0; i < memoryIds.Count; i++)
        {
            result[i] = _table.ApplyReward(memoryIds[i], reward, _options.Alpha, _options.QFloor, now);
        }

        var credited = new CreditedMemory[credit.Count];
        for (int i = 0; i < credit.Count; i++)
        {
            _table.ApplyCredit(credit[i].Sequence, creditQ[i], now);
            credited[i] = new CreditedMemory(credit[i].Sequence, credit[i].Depth, creditQ[i]);
        }

        LastCredited = credited;
        return result;
    }

    /// <summary>The ancestors the last <see cref="Reward"/> credited (empty with provenance off), in the order applied.</summary>
    public IReadOnlyList<CreditedMemory> LastCredited { get; private set; } = [];

    /// <summary>Stores a new experience with <c>Q = qInit(outcome)</c>, joining a key per <see cref="WriteRule"/>.</summary>
    /// <param name="intent">Intent embedding.</param>
    /// <param name="intentText">Intent text (kept for re-embedding).</param>
    /// <param name="experience">Experience text.</param>
    /// <param name="success">Outcome of the episode.</param>
    /// <param name="recallKeys">The Phase-A keys of this episode's recall (the authors' merge input); when null, the
    /// nearest key the write may join is considered instead.</param>
    /// <param name="scope">Who the memory belongs to: it joins only keys of the same scope unless the bank merges across
    /// scopes.</param>
    /// <param name="metadata">Key–values stored with the memory.</param>
    /// <param name="recalledMemories">The memories this episode's recall returned: recorded as the new memory's ancestors
    /// when <see cref="MemRLOptions.ProvenanceDecay"/> is on (those deleted since are left out), ignored otherwise.</param>
    /// <param name="timeToLive">How long the memory lives: the first retention run after it archives the memory (1 s to 100
    /// years; null: no expiry).</param>
    public WriteResult Write(ReadOnlySpan<float> intent, string intentText, string experience, bool success, IReadOnlyList<KeyMatch>? recallKeys = null,
        MemoryScope? scope = null, MemoryMetadata? metadata = null, IReadOnlyList<long>? recalledMemories = null, TimeSpan? timeToLive = null)
    {
        scope = (scope ?? MemoryScope.None).Validated("scope");
        if (timeToLive is { } ttl)
        {
            RetentionPolicy.ValidateTimeToLive(ttl, nameof(timeToLive));
        }

        VectorValidation.ThrowIfInvalid(intent, Dimension, nameof(intent));
        if (intentText is null)
        {
            throw FieldError.Missing(nameof(intentText), "the intent's text");
        }

        if (experience is null)
        {
            throw FieldError.Missing(nameof(experience), "the experience text");
        }

        if (experience.Length > MaxExperienceLength)
        {
            throw FieldError.Invalid(nameof(experience), $"at most {MaxExperienceLength} characters", $"{experience.Length} characters");
        }

        var unit = Normalize(intent, nameof(intent));
        var candidates = recallKeys ?? NearestKey(unit, scope);
        long? join = WriteRule.ChooseKey(
            candidates.Where(k => _table.TryGetKey(k.KeySequence, out var key) && MemoryTable.CanJoin(key, scope, _options.MergeAcrossScopes)),
            _options.MergeThreshold);
        var now = _time.GetUtcNow();
        long keySequence;
        if (join is { } existing)
        {
            keySequence = existing;
        }
        else
        {
            keySequence = _nextSequence++;
            _table.AddKey(keySequence, intentText, unit);
        }

        long memorySequence = _nextSequence++;
        _table.AddMemory(memorySequence, keySequence, intentText, experience, success, success ? _options.QInitSuccess : _options.QInitFailure, now,
            scope, metadata);
        if (timeToLive is { } lives)
        {
            _table.SetExpiry(memorySequence, now + lives);
        }

        if (_options.ProvenanceDecay > 0 && recalledMemories is { Count: > 0 })
        {
            _table.SetAncestors(memorySequence, [.. recalledMemories.Where(s => _table.TryGetMemory(s, out _)).Distinct()]);
        }

        return new WriteResult(memorySequence, keySequence, join is null);
    }

    /// <summary>Deletes a memory (and its key when it was the key's last memory).</summary>
    /// <returns>False when no such memory exists.</returns>
    public bool Delete(long memoryId) => _table.Delete(memoryId).Deleted;

    /// <summary>
    /// Edits an active memory: <paramref name="experience"/> replaces its text, <paramref name="metadata"/> its whole
    /// metadata (null leaves either as it is), and its revision rises by one. Q, visits, scope, timestamps and the key
    /// never change, so recall ranks the memory as before; a filter on metadata sees the new values.
    /// </summary>
    /// <returns>False when no such active memory exists (deleted, archived, or never written).</returns>
    public bool Edit(long memoryId, string? experience, MemoryMetadata? metadata)
    {
        if (!_table.TryGetMemory(memoryId, out var memory))
        {
            return false;
        }

        if (experience is not null)
        {
            _table.SetExperience(memoryId, experience);
        }

        if (metadata is not null)
        {
            _table.Tag(memoryId, memory.Scope, metadata);
        }

        _table.SetRevision(memoryId, memory.Revision + 1);
        return true;
    }

    /// <summary>Archives one active memory at <paramref name="now"/>: it leaves recall at once.</summary>
    /// <returns>False when it was already archived (archiving is idempotent).</returns>
    /// <exception cref="ArgumentException">No such memory, active or archived.</exception>
    public bool Archive(long memoryId, DateTimeOffset now)
    {
        if (_table.TryGetArchived(memoryId, out _))
        {
            return false;
        }

        if (!_table.TryGetMemory(memoryId, out _))
        {
            throw FieldError.Invalid("memoryId", "a memory of this bank", memoryId.ToString(CultureInfo.InvariantCulture));
        }

        ArchiveOne(memoryId, now);
        return true;
    }

    /// <summary>Restores an archived memory while its retention period lasts; it is recalled again at once.</summary>
    /// <returns>False when it was already active (restoring is idempotent).</returns>
    /// <exception cref="ArgumentException">The memory is not archived any more (purged, deleted or never written), or its
    /// retention period has ended.</exception>
    public bool Restore(long memoryId, DateTimeOffset now)
    {
        if (_table.TryGetMemory(memoryId, out _))
        {
            return false;
        }

        string id = memoryId.ToString(CultureInfo.InvariantCulture);
        if (!_table.TryGetArchived(memoryId, out var memory))
        {
            throw FieldError.Invalid("memoryId", "an archived memory of this bank", $"{id}, which is not in the archive (purged after its retention period, deleted, or never written)");
        }

        _retention.RequireRestorable(id, memory.ArchivedAt!.Value, now);
        _table.Restore(memoryId, now);
        _table.SetRevision(memoryId, memory.Revision + 1);
        return true;
    }

    /// <summary>
    /// One retention run at <paramref name="now"/>, at most <see cref="RetentionPolicy.MaxPerRun"/> changes: purges archived
    /// memories whose retention period has ended, then archives active memories the rules name (low Q after enough visits;
    /// idle past the window unless protected by high Q), then, above the cap, the lowest-utility active memories
    /// (<see cref="RetentionPolicy.UtilityOrder"/>). Each step goes in ascending sequence (the cap in utility order), so the
    /// same state and <paramref name="now"/> give the same run everywhere.
    /// </summary>
    public RetentionRun RunRetention(DateTimeOffset now)
    {
        var policy = _retention;
        int budget = policy.MaxPerRun;
        bool more = false;
        var purged = new List<long>();
        foreach (var m in _table.ArchivedMemories.Where(m => now >= m.ArchivedAt!.Value + policy.RetentionPeriod).OrderBy(m => m.Sequence).ToList())
        {
            if (budget == 0)
            {
                more = true;
                break;
            }

            _table.Purge(m.Sequence);
            purged.Add(m.Sequence);
            budget--;
        }

        var archived = new List<long>();
        foreach (var m in _table.Memories.Where(m => policy.ArchivesByRule(m, now)).OrderBy(m => m.Sequence).ToList())
        {
            if (budget == 0)
            {
                more = true;
                break;
            }

            ArchiveOne(m.Sequence, now);
            archived.Add(m.Sequence);
            budget--;
        }

        if (policy.MaxActive is { } cap && _table.MemoryCount > cap)
        {
            int excess = _table.MemoryCount - cap;
            var lowest = _table.Memories.ToList();
            lowest.Sort((a, b) => RetentionPolicy.UtilityOrder(a.Q, a.LastActiveAt, a.Sequence, b.Q, b.LastActiveAt, b.Sequence));
            int take = Math.Min(excess, budget);
            more |= take < excess;
            foreach (var m in lowest.Take(take))
            {
                ArchiveOne(m.Sequence, now);
                archived.Add(m.Sequence);
            }
        }

        return new RetentionRun(purged, archived, more);
    }

    // An archive is a change of the memory like an edit: its revision rises, numbering its history entry (docs/history.md).
    private void ArchiveOne(long memoryId, DateTimeOffset now)
    {
        _table.Archive(memoryId, now);
        _table.TryGetArchived(memoryId, out var memory);
        _table.SetRevision(memoryId, memory!.Revision + 1);
    }

    /// <summary>Deletes every memory that passes <paramref name="filter"/>, which must name a scope field.</summary>
    /// <returns>How many were deleted.</returns>
    public int DeleteMatching(MemoryFilter filter)
    {
        RequireScopeField(filter);
        // Archived memories belong to the scope too: deleting a user's memories must not leave restorable copies.
        var doomed = _table.Memories.Concat(_table.ArchivedMemories).Where(filter.Matches).Select(m => m.Sequence).ToList();
        foreach (long sequence in doomed)
        {
            _table.Delete(sequence);
        }

        return doomed.Count;
    }

    /// <summary>A delete by scope must name a scope field: a metadata-only filter could erase far more than meant.</summary>
    public static void RequireScopeField(MemoryFilter? filter)
    {
        if (filter is not { HasScopeField: true })
        {
            throw FieldError.Missing("filter", "at least one scope field (userId, agentId, sessionId or runId) to delete by");
        }
    }

    private float[] Normalize(ReadOnlySpan<float> vector, string field)
    {
        var unit = new float[Dimension];
        if (!VectorMath.TryNormalize(vector, unit))
        {
            // Validation admits only vectors that normalise; a zero vector here would silently match nothing.
            throw FieldError.Invalid(field, "a vector that can be scaled to unit length", "a vector that cannot", Reasons.NotFinite);
        }

        return unit;
    }

    private List<KeyMatch> NearestKey(float[] unit, MemoryScope scope)
    {
        KeyMatch? best = null;
        foreach (var key in _table.Keys)
        {
            if (!MemoryTable.CanJoin(key, scope, _options.MergeAcrossScopes))
            {
                continue;
            }

            var match = new KeyMatch(key.Sequence, VectorMath.Dot(unit, key.Vector));
            if (best is not { } b || match.Similarity > b.Similarity || (match.Similarity == b.Similarity && match.KeySequence < b.KeySequence))
            {
                best = match;
            }
        }

        return best is { } found ? [found] : [];
    }
}
