using System.Security.Cryptography;

namespace MemRL.Grains;

/// <summary>
/// Idempotency of one shard's mutating calls: remembers the payload hash and result of the most recent operations, so a
/// retry returns the original result and the same id with another payload is a conflict. Bounded (FIFO); held in
/// persisted with the shard's log and snapshots, so the window survives reactivation and crashes.
/// </summary>
internal sealed class OperationLog(int capacity)
{
    private readonly Dictionary<string, (byte[] Hash, object Result)> _entries = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();

    /// <summary>Looks the operation up. Returns the stored result for a retry; throws on a conflicting payload.</summary>
    public bool TryGetResult<T>(string operationId, byte[] payloadHash, out T result)
    {
        if (_entries.TryGetValue(operationId, out var entry))
        {
            if (!CryptographicOperations.FixedTimeEquals(entry.Hash, payloadHash) || entry.Result is not T typed)
            {
                throw new GrainInterfaces.OperationConflictException(operationId);
            }

            result = typed;
            return true;
        }

        result = default!;
        return false;
    }

    /// <summary>
    /// Looks the operation up whatever its result type (a result here, or a claim for an operation applied elsewhere).
    /// Throws on a conflicting payload.
    /// </summary>
    public bool TryGet(string operationId, byte[] payloadHash, out object result)
    {
        if (_entries.TryGetValue(operationId, out var entry))
        {
            if (!CryptographicOperations.FixedTimeEquals(entry.Hash, payloadHash))
            {
                throw new GrainInterfaces.OperationConflictException(operationId);
            }

            result = entry.Result;
            return true;
        }

        result = null!;
        return false;
    }

    /// <summary>True when the operation id is remembered.</summary>
    public bool Contains(string operationId) => _entries.ContainsKey(operationId);

    /// <summary>The remembered operations, oldest first (for snapshots).</summary>
    public IEnumerable<(string OperationId, byte[] PayloadHash, object Result)> Entries
    {
        get
        {
            foreach (string id in _order)
            {
                var entry = _entries[id];
                yield return (id, entry.Hash, entry.Result);
            }
        }
    }

    /// <summary>Records an applied operation.</summary>
    public void Record(string operationId, byte[] payloadHash, object result)
    {
        // A claim replaced by its result (or by a new route) keeps its place in the order: one entry per id.
        if (!_entries.ContainsKey(operationId))
        {
            _order.Enqueue(operationId);
        }

        _entries[operationId] = (payloadHash, result);
        while (_order.Count > capacity)
        {
            _entries.Remove(_order.Dequeue());
        }
    }
}

/// <summary>
/// The payload hashes operation ids are bound to, one per kind of operation, computed the same way wherever they are
/// needed (the coordinator for claims, the shards for their own log): the kind is part of the hash, so an id reused
/// for another kind of call is a conflict.
/// </summary>
internal static class OperationHashes
{
    /// <summary>What a write is: the caller's payload, never its routing (a retry may route differently, DESIGN §7).</summary>
    /// <remarks>Scope and metadata count only when present, so a write without them hashes as it did before they existed
    /// (ids recorded then still match their retries).</remarks>
    /// <remarks>A time to live counts only when given, for the same reason: the same write with another one is another
    /// operation (a conflict), since the memory it made would expire at another time.</remarks>
    public static byte[] Write(ReadOnlySpan<float> intent, string intentText, string experience, bool success,
        Core.Bank.MemoryScope? scope = null, Core.Bank.MemoryMetadata? metadata = null, double? ttlSeconds = null)
    {
        using var hash = new PayloadHash().Add("write").Add(intent).Add(intentText).Add(experience).Add(success ? 1 : 0);
        if (scope is { IsEmpty: false } || metadata is { Count: > 0 })
        {
            hash.Add("tags");
            foreach (string? value in (ReadOnlySpan<string?>)[scope?.UserId, scope?.AgentId, scope?.SessionId, scope?.RunId])
            {
                hash.Add(value is null ? 0 : 1).Add(value ?? "");
            }

            foreach (var (key, value) in metadata?.Entries ?? [])
            {
                hash.Add(key).Add(value);
            }
        }

        if (ttlSeconds is { } ttl)
        {
            hash.Add("ttl").Add(ttl);
        }

        return hash.Finish();
    }

    /// <summary>What an edit is: the memory, and each part it replaces (or that it leaves it).</summary>
    public static byte[] Edit(GrainInterfaces.MemoryId memory, string? experience, Core.Bank.MemoryMetadata? metadata)
    {
        using var hash = new PayloadHash().Add("edit").Add(memory.Sequence).Add(experience is null ? 0 : 1).Add(experience ?? "");
        hash.Add(metadata is null ? 0 : 1);
        foreach (var (key, value) in metadata?.Entries ?? [])
        {
            hash.Add(key).Add(value);
        }

        return hash.Finish();
    }

    /// <summary>What an archive or a restore is: the memory and which of the two.</summary>
    public static byte[] Archive(GrainInterfaces.MemoryId memory, bool archive)
    {
        using var hash = new PayloadHash().Add(archive ? "archive" : "restore").Add(memory.Sequence);
        return hash.Finish();
    }

    /// <summary>What a retention run is: nothing but itself. A retry decides again at its own time on the shards its first
    /// attempt did not reach, so the payload cannot name the decisions (each shard's part applies once, whatever it was).</summary>
    public static byte[] RetentionRun()
    {
        using var hash = new PayloadHash().Add("retention-run");
        return hash.Finish();
    }

    /// <summary>What a delete by scope is: its filter, in canonical order.</summary>
    public static byte[] DeleteMatching(Core.Bank.MemoryFilter filter)
    {
        using var hash = new PayloadHash().Add("delete-matching");
        foreach (var field in filter.Fields)
        {
            hash.Add(field.Field).Add(field.Values.Count);
            foreach (string value in field.Values)
            {
                hash.Add(value);
            }
        }

        return hash.Finish();
    }

    /// <summary>What a reward is: its value and every memory it names, on every shard (sorted, so order does not matter).</summary>
    public static byte[] Reward(double reward, IEnumerable<GrainInterfaces.MemoryId> memories)
    {
        using var hash = new PayloadHash().Add("reward").Add(reward);
        foreach (long sequence in memories.Select(m => m.Sequence).Order())
        {
            hash.Add(sequence);
        }

        return hash.Finish();
    }

    /// <summary>What a delete is: the memory it names.</summary>
    public static byte[] Delete(GrainInterfaces.MemoryId memory)
    {
        using var hash = new PayloadHash().Add("delete").Add(memory.Sequence);
        return hash.Finish();
    }
}

/// <summary>Builds the payload hash an operation id is bound to.</summary>
internal sealed class PayloadHash : IDisposable
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public PayloadHash Add(string value)
    {
        Add(value.Length);
        _hash.AppendData(System.Text.Encoding.UTF8.GetBytes(value));
        return this;
    }

    public PayloadHash Add(long value)
    {
        Span<byte> bytes = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        _hash.AppendData(bytes);
        return this;
    }

    public PayloadHash Add(double value) => Add(BitConverter.DoubleToInt64Bits(value));

    public PayloadHash Add(ReadOnlySpan<float> values)
    {
        Add(values.Length);
        _hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
        return this;
    }

    public byte[] Finish() => _hash.GetHashAndReset();

    public void Dispose() => _hash.Dispose();
}
