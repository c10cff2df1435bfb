using MemRL.Core.Bank;

namespace MemRL.GrainInterfaces;

/// <summary>Who a memory belongs to, on the wire and in JSON (<see cref="MemoryScope"/> in the core); every field optional.</summary>
[GenerateSerializer, Immutable, Alias("memrl.ScopeFields")]
public sealed record ScopeFields(
    [property: Id(0)] string? UserId = null,
    [property: Id(1)] string? AgentId = null,
    [property: Id(2)] string? SessionId = null,
    [property: Id(3)] string? RunId = null)
{
    /// <summary>The validated core scope; errors name <c>{prefix}.{field}</c>.</summary>
    public MemoryScope ToScope(string prefix = "scope") => new MemoryScope(UserId, AgentId, SessionId, RunId).Validated(prefix);

    /// <summary>The wire form of <paramref name="scope"/>; null for a memory written without one.</summary>
    public static ScopeFields? From(MemoryScope scope) =>
        scope.IsEmpty ? null : new ScopeFields(scope.UserId, scope.AgentId, scope.SessionId, scope.RunId);
}

/// <summary>One field of a filter on the wire: the memory's value must be one of <see cref="Values"/>.</summary>
/// <param name="Field">userId, agentId, sessionId, runId or metadata.&lt;key&gt;.</param>
[GenerateSerializer, Immutable, Alias("memrl.FilterClause")]
public sealed record FilterClause([property: Id(0)] string Field, [property: Id(1)] string[] Values);

/// <summary>Conversions between the wire's scope, metadata and filter and the core's validated types.</summary>
public static class ScopeWire
{
    /// <summary>The validated filter (null: none); errors name <c>filter.{field}</c>.</summary>
    public static MemoryFilter? ToFilter(IReadOnlyList<FilterClause>? clauses, string prefix = "filter") =>
        MemoryFilter.Create(clauses?.Select(c => new FilterField(c?.Field!, c?.Values!)), prefix);

    /// <summary>The wire form of a validated filter (its canonical order: the same filter hashes the same).</summary>
    public static FilterClause[]? ToClauses(MemoryFilter? filter) =>
        filter?.Fields.Select(f => new FilterClause(f.Field, [.. f.Values])).ToArray();

    /// <summary>The filter "every field this scope sets, equal" (null for an empty or absent scope): an agent's own memories.</summary>
    public static FilterClause[]? FilterOf(ScopeFields? scope)
    {
        if (scope is null)
        {
            return null;
        }

        var clauses = new List<FilterClause>(4);
        foreach (var (field, value) in (ReadOnlySpan<(string, string?)>)[("userId", scope.UserId), ("agentId", scope.AgentId), ("sessionId", scope.SessionId), ("runId", scope.RunId)])
        {
            if (value is not null)
            {
                clauses.Add(new FilterClause(field, [value]));
            }
        }

        return clauses.Count == 0 ? null : [.. clauses];
    }

    /// <summary>The validated metadata; errors name <c>metadata.{key}</c>.</summary>
    public static MemoryMetadata ToMetadata(IReadOnlyDictionary<string, string>? metadata) => MemoryMetadata.From(metadata);

    /// <summary>The wire form of <paramref name="metadata"/>; null when empty.</summary>
    public static Dictionary<string, string>? From(MemoryMetadata metadata) =>
        metadata.Count == 0 ? null : metadata.Entries.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
}
