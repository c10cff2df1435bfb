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
        _entries[operationId] = (payloadHash, result);
        _order.Enqueue(operationId);
        while (_order.Count > capacity)
        {
            _entries.Remove(_order.Dequeue());
        }
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
