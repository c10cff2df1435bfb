using System.Text.Json;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using Microsoft.AspNetCore.Http;

namespace MemRL.Api;

/// <summary>
/// Filters as the HTTP API takes them: in a JSON body an object of fields, each a string (equality) or an array of
/// strings (set membership); in a query string one parameter per field, repeated for a set. Every field, value and limit
/// is then checked by the core's filter, which names what is wrong (docs/scopes.md).
/// </summary>
internal static class ScopeBinding
{
    /// <summary>The clauses of a JSON filter object; errors name <c>filter.{field}</c>.</summary>
    public static FilterClause[]? FromJson(Dictionary<string, JsonElement>? filter)
    {
        if (filter is null)
        {
            return null;
        }

        var clauses = new List<FilterClause>(filter.Count);
        foreach (var (field, value) in filter)
        {
            string[] values = value.ValueKind switch
            {
                JsonValueKind.String => [value.GetString()!],
                JsonValueKind.Array when value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String) =>
                    [.. value.EnumerateArray().Select(v => v.GetString()!)],
                _ => throw FieldError.Invalid($"filter.{field}", "a string, or an array of strings (set membership)", KindOf(value)),
            };
            clauses.Add(new FilterClause(field, values));
        }

        // Validated here so a bad filter fails before any text is embedded.
        return ScopeWire.ToClauses(ScopeWire.ToFilter(clauses));
    }

    /// <summary>
    /// The clauses of a query string: every parameter but <paramref name="reserved"/> is a filter field, repeated for a
    /// set (<c>?userId=a&amp;userId=b</c>); errors name the parameter.
    /// </summary>
    public static FilterClause[]? FromQuery(IQueryCollection query, params string[] reserved)
    {
        var clauses = query.Where(p => !reserved.Contains(p.Key, StringComparer.Ordinal))
            .Select(p => new FilterClause(p.Key, [.. p.Value.Select(v => v ?? "")]))
            .ToList();
        return ScopeWire.ToClauses(ScopeWire.ToFilter(clauses, prefix: ""));
    }

    private static string KindOf(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Array => "an array with a value that is not a string",
        JsonValueKind.Number => $"the number {value.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
        JsonValueKind.Null => "null (an absent field is not a value: leave the field out)",
        JsonValueKind.Object => "an object",
        _ => value.ValueKind.ToString(),
    };
}
