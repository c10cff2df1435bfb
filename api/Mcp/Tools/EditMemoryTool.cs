using MemRL.GrainInterfaces;

namespace MemRL.Api.Mcp.Tools;

/// <summary>
/// <c>edit_memory</c>: corrects a memory's experience text and/or replaces its metadata, keeping its id and the utility it
/// earned. The operation id is derived from the session, the arguments and the revision the memory had when the call
/// read it, so a host's retry of a call that did not land applies once, and the same edit asked for again after
/// another edit (A→B, B→A, A→B) is applied again rather than taken for a retry.
/// </summary>
internal sealed class EditMemoryTool(McpOptions options) : MemoryTool("edit_memory", "Edit a memory",
    "Correct a memory by memoryId when what it says is wrong or out of date: experience replaces its text, metadata "
    + "replaces all its key-values ({} clears them); give at least one. Its id, intent, outcome and learned utility q stay, "
    + "so it ranks as before. To forget a memory use delete_memory; one that merely did not help sinks through reward.",
    [
        ToolArgument.Text("memoryId", "The id of the memory to edit, as recall, write or list returned it.", 200, required: true, minLength: 1),
        ToolArgument.Text("experience", "The corrected experience text (replaces the old one).", BankLimits.MaxExperienceLength, minLength: 1),
        ToolArgument.StringMap("metadata", "Key-values that replace the memory's (at most 16; keys of letters, digits, '_', '.', '-'; {} clears).",
            Core.Bank.MemoryMetadata.MaxEntries, Core.Bank.MemoryMetadata.MaxValueLength),
        BankArgument(options),
    ], readOnly: false, idempotent: false)
{
    protected override async Task<object> CallAsync(ToolCall call)
    {
        string id = MemoryIdArgument.Read(call);
        string? experience = call.Arguments.Text("experience", BankLimits.MaxExperienceLength, minLength: 1);
        var map = call.Arguments.StringMap("metadata");
        var metadata = map is null ? null : new Dictionary<string, string>(map, StringComparer.Ordinal);
        WireValidation.Edit(experience, metadata);
        var bank = call.Bank();
        var current = await bank.GetAsync(id);
        await call.Get<TenantUsage>().CheckEditAsync(call.Tenant, current.Experience, experience);

        var edited = await bank.EditAsync(id, experience, metadata, OperationId(call, id, current.Revision, experience, metadata));
        call.Get<TenantUsage>().Forget(call.Tenant);
        return MemoryView.From(edited);
    }

    private static string OperationId(ToolCall call, string id, int revision, string? experience, Dictionary<string, string>? metadata) =>
        OperationIdOf("mcp-edit-",
        [
            call.Session, call.BankName, id, revision.ToString(System.Globalization.CultureInfo.InvariantCulture),
            experience is null ? "\0" : "e" + experience, metadata is null ? "\0" : "m",
            .. (metadata ?? []).OrderBy(p => p.Key, StringComparer.Ordinal).SelectMany(p => new[] { p.Key, p.Value }),
        ]);
}
