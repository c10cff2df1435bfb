using MemRL.GrainInterfaces;

namespace MemRL.Api.Mcp.Tools;

/// <summary><c>delete_memory</c>: removes one memory for good (its text and vector are deleted from storage).</summary>
internal sealed class DeleteMemoryTool(McpOptions options) : MemoryTool("delete_memory", "Delete a memory",
    "Delete one memory for good, by memoryId: only when it is wrong or harmful (a memory that merely did not help sinks by "
    + "itself through reward). Its text and vector are removed from storage.",
    [
        ToolArgument.Text("memoryId", "The id of the memory to delete.", 200, required: true, minLength: 1),
        BankArgument(options),
    ], readOnly: false, destructive: true, idempotent: true)
{
    protected override async Task<object> CallAsync(ToolCall call)
    {
        string id = MemoryIdArgument.Read(call);
        bool deleted = await call.Bank().DeleteAsync(id);
        call.Get<TenantUsage>().Forget(call.Tenant);
        return deleted ? new DeleteResult(true, id) : throw new MemoryNotFoundException(id);
    }

    private sealed record DeleteResult(bool Deleted, string MemoryId);
}
