using MemRL.Core.Bank;

namespace MemRL.Grains.Shard;

/// <summary>
/// For each scope value and metadata entry, the keys holding memories that carry it (with how many). A filtered search
/// reads here how many keys can match before it chooses between a filtered graph walk and an exact scan of those keys
/// (docs/scopes.md), and takes the keys to scan from the smallest list. Untagged memories appear nowhere. Kept in step
/// with the table by <see cref="ShardState.Apply"/> (and snapshot restore): one owner, not thread-safe.
/// </summary>
internal sealed class ScopePostings(MemoryTable table)
{
    private readonly Dictionary<(string Field, string Value), Dictionary<long, int>> _keysOf = [];

    /// <summary>Records the tags of memory <paramref name="memorySequence"/> (already in the table, with its tags).</summary>
    public void Add(long memorySequence)
    {
        if (table.TryGetMemory(memorySequence, out var memory))
        {
            foreach (var entry in EntriesOf(memory))
            {
                if (!_keysOf.TryGetValue(entry, out var keys))
                {
                    _keysOf[entry] = keys = [];
                }

                keys[memory.KeySequence] = keys.GetValueOrDefault(memory.KeySequence) + 1;
            }
        }
    }

    /// <summary>Forgets the tags of memory <paramref name="memorySequence"/> (call before the table deletes it).</summary>
    public void Remove(long memorySequence)
    {
        if (!table.TryGetMemory(memorySequence, out var memory))
        {
            return;
        }

        foreach (var entry in EntriesOf(memory))
        {
            if (_keysOf.TryGetValue(entry, out var keys) && keys.TryGetValue(memory.KeySequence, out int count))
            {
                if (count > 1)
                {
                    keys[memory.KeySequence] = count - 1;
                }
                else if (keys.Remove(memory.KeySequence) && keys.Count == 0)
                {
                    _keysOf.Remove(entry);
                }
            }
        }
    }

    /// <summary>
    /// The keys that can match <paramref name="filter"/>: those of its most selective field (every matching key is among
    /// them; not every one of them matches). Its count bounds the number of matching keys from above.
    /// </summary>
    public IReadOnlyCollection<long> CandidateKeys(MemoryFilter filter)
    {
        IReadOnlyCollection<long>? best = null;
        foreach (var field in filter.Fields)
        {
            IReadOnlyCollection<long> keys = field.Values.Count == 1
                ? KeysOf(field.Field, field.Values[0])
                : field.Values.SelectMany(v => KeysOf(field.Field, v)).ToHashSet();
            if (best is null || keys.Count < best.Count)
            {
                best = keys;
            }

            if (best.Count == 0)
            {
                break;
            }
        }

        return best ?? [];
    }

    private IReadOnlyCollection<long> KeysOf(string field, string value) =>
        _keysOf.TryGetValue((field, value), out var keys) ? keys.Keys : Array.Empty<long>();

    private static IEnumerable<(string, string)> EntriesOf(MemoryRecord memory)
    {
        var scope = memory.Scope;
        if (scope.UserId is { } user)
        {
            yield return ("userId", user);
        }

        if (scope.AgentId is { } agent)
        {
            yield return ("agentId", agent);
        }

        if (scope.SessionId is { } session)
        {
            yield return ("sessionId", session);
        }

        if (scope.RunId is { } run)
        {
            yield return ("runId", run);
        }

        foreach (var (key, value) in memory.Metadata.Entries)
        {
            yield return ("metadata." + key, value);
        }
    }
}
