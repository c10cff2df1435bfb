using MemRL.Errors;
using MemRL.GrainInterfaces;

namespace MemRL.Api.Mcp.Tools;

/// <summary><c>get</c>: one memory by id, with its learned utility and reward history summary.</summary>
internal sealed class GetTool(McpOptions options) : MemoryTool("get", "Get a memory",
    "Read one memory by its memoryId (as recall, write or list returned it): its intent, experience, outcome, learned "
    + "utility q, how often it was rewarded (visits) and its last reward.",
    [
        ToolArgument.Text("memoryId", "The memory's id, as recall, write or list returned it.", 200, required: true, minLength: 1),
        BankArgument(options),
    ], readOnly: true, idempotent: true)
{
    protected override async Task<object> CallAsync(ToolCall call) =>
        MemoryView.From(await call.Bank().GetAsync(MemoryIdArgument.Read(call)));
}

/// <summary>The memory id argument, checked for its form before it reaches the cluster (as the HTTP API does).</summary>
internal static class MemoryIdArgument
{
    public static string Read(ToolCall call)
    {
        string id = call.Arguments.Text("memoryId", 200, required: true, minLength: 1)!.Trim();
        return MemoryId.TryParse(id, out _)
            ? id
            : throw FieldError.Invalid("memoryId", "a memory id as recall, write or list returned it (hex groups such as '0a1b2c3d-…')", FieldError.Quote(id));
    }
}

/// <summary>A memory as the tools show it.</summary>
internal sealed record MemoryView(string MemoryId, string Intent, string Experience, bool Success, double Q, int Visits, double? LastReward,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, ScopeFields? Scope, Dictionary<string, string>? Metadata, int Revision,
    DateTimeOffset? ExpiresAt)
{
    public static MemoryView From(MemoryInfo m) =>
        new(m.Id, m.IntentText, m.Experience, m.Success, m.Q, m.Visits, m.LastReward, m.CreatedAt, m.UpdatedAt, m.Scope, m.Metadata, m.Revision, m.ExpiresAt);
}
