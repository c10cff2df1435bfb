namespace MemRL.GrainInterfaces;

/// <summary>Base of the cluster's own errors; each maps to one HTTP status in the API.</summary>
[GenerateSerializer, Alias("memrl.MemRLException")]
public class MemRLException : Exception
{
    public MemRLException(string message) : base(message) { }
    public MemRLException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>No bank of that name exists (404).</summary>
[GenerateSerializer, Alias("memrl.BankNotFoundException")]
public sealed class BankNotFoundException(string bank) : MemRLException($"Bank '{bank}' does not exist.")
{
    [Id(0)] public string Bank { get; } = bank;
}

/// <summary>A bank of that name exists already with a different definition (409).</summary>
[GenerateSerializer, Alias("memrl.BankConflictException")]
public sealed class BankConflictException(string message) : MemRLException(message);

/// <summary>The memory does not exist in the bank, or its id belongs to another bank or incarnation (404).</summary>
[GenerateSerializer, Alias("memrl.MemoryNotFoundException")]
public sealed class MemoryNotFoundException(string message) : MemRLException(message);

/// <summary>The same operation id arrived with a different payload (409).</summary>
[GenerateSerializer, Alias("memrl.OperationConflictException")]
public sealed class OperationConflictException(string operationId)
    : MemRLException($"Operation id '{operationId}' was already used with a different payload; use a new id for a new operation.")
{
    [Id(0)] public string OperationId { get; } = operationId;
}

/// <summary>The recall token is forged, expired, malformed or for another bank (400/403).</summary>
[GenerateSerializer, Alias("memrl.InvalidRecallTokenException")]
public sealed class InvalidRecallTokenException(string message) : MemRLException(message);

/// <summary>A shard's queue is past its bound; retry later (429).</summary>
[GenerateSerializer, Alias("memrl.OverloadedException")]
public sealed class OverloadedException(string message) : MemRLException(message);

/// <summary>The caller required full coverage and some shards did not answer in time (503).</summary>
[GenerateSerializer, Alias("memrl.IncompleteCoverageException")]
public sealed class IncompleteCoverageException(int answered, int total, string detail)
    : MemRLException($"{answered} of {total} shards answered; the call required all of them. {detail}")
{
    [Id(0)] public int Answered { get; } = answered;
    [Id(1)] public int Total { get; } = total;
}

/// <summary>
/// A shard cannot serve: it lost its state, or it is unreachable (503). <see cref="StorageOverloaded"/> says the cause
/// was the storage service refusing for load (Azure's HTTP 429/503 still returned after the retries with backoff), which
/// a caller should meet by slowing down rather than by retrying at once (HTTP 503, reason <c>storage-overloaded</c>).
/// </summary>
[GenerateSerializer, Alias("memrl.ShardUnavailableException")]
public sealed class ShardUnavailableException(string message, bool storageOverloaded = false) : MemRLException(message)
{
    /// <summary>True when the storage service kept throttling the shard's reads or commits.</summary>
    [Id(0)] public bool StorageOverloaded { get; } = storageOverloaded;
}

/// <summary>The caller's cached bank version is older than the shard's; refresh and retry (internal).</summary>
[GenerateSerializer, Alias("memrl.StaleBankVersionException")]
public sealed class StaleBankVersionException(long callerVersion, long currentVersion)
    : MemRLException($"Bank version {callerVersion} is stale; the current version is {currentVersion}.")
{
    [Id(0)] public long CurrentVersion { get; } = currentVersion;
}

/// <summary>A write named a key to join that has since been deleted; the coordinator decides again (internal).</summary>
[GenerateSerializer, Alias("memrl.IntentKeyGoneException")]
public sealed class IntentKeyGoneException(long keySequence) : MemRLException($"Intent key {keySequence} no longer exists.")
{
    [Id(0)] public long KeySequence { get; } = keySequence;
}

/// <summary>
/// A write was routed to join a key whose memories are of another scope (a recall token's key, say): the coordinator
/// decides again without that key. Never reaches a caller.
/// </summary>
[GenerateSerializer, Alias("memrl.IntentKeyOtherScopeException")]
public sealed class IntentKeyOtherScopeException(long keySequence) : MemRLException($"Intent key {keySequence} holds memories of another scope.")
{
    [Id(0)] public long KeySequence { get; } = keySequence;
}

/// <summary>
/// The recall already rewarded this memory with another value (409): each memory takes at most one reward per recall.
/// The same value again is not an error (it returns the first reward's result).
/// </summary>
[GenerateSerializer, Alias("memrl.RewardConflictException")]
public sealed class RewardConflictException(string memoryId, double earlier, double now)
    : MemRLException(FormattableString.Invariant(
        $"Memory '{memoryId}' was already rewarded {earlier:R} by this recall; a second reward of {now:R} is refused (each memory takes one reward per recall)."))
{
    [Id(0)] public string MemoryId { get; } = memoryId;
    [Id(1)] public double Earlier { get; } = earlier;
    [Id(2)] public double Now { get; } = now;
}

/// <summary>
/// The write's operation id is registered at its home shard with another route (an earlier attempt chose it); the
/// coordinator follows that route instead (internal).
/// </summary>
[GenerateSerializer, Alias("memrl.WriteRoutedElsewhereException")]
public sealed class WriteRoutedElsewhereException(WriteRoute route)
    : MemRLException($"The write's operation id is registered with route slot {route.Slot}, key {route.JoinKey?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "new"}.")
{
    [Id(0)] public WriteRoute Route { get; } = route;
}
