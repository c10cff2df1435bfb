using MemRL.GrainInterfaces;

namespace MemRL.Api.Mcp.Tools;

/// <summary><c>list</c>: a page of the bank's memories, with a cursor for the next.</summary>
internal sealed class ListTool(McpOptions options) : MemoryTool("list", "List memories",
    "List the bank's memories a page at a time (not ranked: use recall to find memories for a task). Pass the nextCursor "
    + "of a page to get the next one; a page without nextCursor is the last.",
    [
        ToolArgument.Integer("limit", "Memories per page (default 20).", 1, BankLimits.MaxPageSize),
        ToolArgument.Text("cursor", "The nextCursor of the previous page.", 1000, minLength: 1),
        BankArgument(options),
        .. ScopeArguments,
    ], readOnly: true, idempotent: true)
{
    protected override async Task<object> CallAsync(ToolCall call)
    {
        var a = call.Arguments;
        int limit = a.Integer("limit", 1, BankLimits.MaxPageSize) ?? 20;
        string? cursor = a.Text("cursor", 1000, minLength: 1);
        var page = await call.Bank().ListAsync(cursor, limit, ScopeWire.FilterOf(ScopeOf(a)));
        return new ListResult([.. page.Memories.Select(MemoryView.From)], page.NextCursor);
    }

    private sealed record ListResult(IReadOnlyList<MemoryView> Memories, string? NextCursor);
}
