using MemRL.Errors;
using MemRL.GrainInterfaces;

namespace MemRL.Api.Mcp.Tools;

/// <summary>
/// <c>write</c>: stores an experience with its outcome. A missing bank is created for the server's text embedder (the
/// first write of a new host makes its memory). The operation id is derived from the session and the arguments, so a
/// host that retries the same call stores it once.
/// </summary>
internal sealed class WriteTool(McpOptions options) : MemoryTool("write", "Write a memory",
    "Call this at the END of a task, after reward: store what you learned so later tasks can recall it. intent is the task "
    + "in plain words (what a later recall would search for); experience is what to remember: on success the steps or script "
    + "that worked, on failure a short reflection on what went wrong and what to try instead; success is the outcome. Pass the "
    + "recallId of the task's recall, if any, so the memory joins the right group. Failures are worth writing too.",
    [
        ToolArgument.Text("intent", "The task or intent, in plain words, as a later recall would phrase it.", BankLimits.MaxIntentTextLength, required: true, minLength: 1),
        ToolArgument.Text("experience", "What to remember: the steps that worked, or a reflection on the failure.", BankLimits.MaxExperienceLength, required: true, minLength: 1),
        ToolArgument.Boolean("success", "Whether the task succeeded.", required: true),
        ToolArgument.Text("recallId", "The recallId of this task's recall, if you recalled for it.", 64, minLength: 1),
        BankArgument(options),
        .. ScopeArguments,
        ToolArgument.StringMap("metadata", "Free key-values stored with the memory (at most 16; keys of letters, digits, '_', '.', '-').",
            Core.Bank.MemoryMetadata.MaxEntries, Core.Bank.MemoryMetadata.MaxValueLength),
        ToolArgument.Number("ttlSeconds", "Forget this memory after this many seconds (1 to 3155760000): the next retention run after it archives it. Leave out to keep it.",
            1, 3_155_760_000),
    ], readOnly: false, idempotent: true)
{
    protected override async Task<object> CallAsync(ToolCall call)
    {
        var a = call.Arguments;
        string intent = a.Text("intent", BankLimits.MaxIntentTextLength, required: true, minLength: 1)!;
        string experience = a.Text("experience", BankLimits.MaxExperienceLength, required: true, minLength: 1)!;
        bool success = a.Boolean("success", required: true)!.Value;
        string? recallId = a.Text("recallId", 64, minLength: 1);
        var scope = ScopeOf(a);
        var metadata = a.StringMap("metadata");
        var tags = Core.Bank.MemoryMetadata.From(metadata);
        double? ttlSeconds = a.Number("ttlSeconds", 1, 3_155_760_000);
        string bankName = call.BankName;
        var ids = call.Get<RecallIds>();
        string? token = null;
        if (recallId is not null)
        {
            if (!ids.TryGet(call.Tenant, call.Session, recallId.Trim(), out var entry))
            {
                throw FieldError.Invalid("recallId",
                    $"the recallId of one of this session's last {ids.PerSession} recalls, made within {ids.Lifetime.TotalMinutes:0} minutes, or no recallId",
                    FieldError.Quote(recallId));
            }

            if (entry.Bank != bankName)
            {
                throw FieldError.Invalid("recallId", $"a recall of bank '{bankName}', the bank written to", $"recall '{entry.Id}' of bank '{entry.Bank}'");
            }

            token = entry.Token;
        }

        var usage = call.Get<TenantUsage>();
        long textBytes = System.Text.Encoding.UTF8.GetByteCount(experience) + System.Text.Encoding.UTF8.GetByteCount(intent);
        await usage.CheckWriteAsync(call.Tenant, textBytes);
        string operationId = OperationId(call, intent, experience, success, token, scope, tags, ttlSeconds);
        var bank = call.Bank();
        Task<WriteResponse> Write(float[] vector, string embedderId) => bank.WriteAsync(vector, intent, experience, success, token, operationId, embedderId, scope, metadata, ttlSeconds);
        WriteResponse written;
        bool truncated;
        bool createdBank = false;
        try
        {
            (written, truncated) = await BankText.WithVectorAsync(call, intent, "intent", Write);
        }
        catch (BankNotFoundException)
        {
            await BankText.CreateDefaultBankAsync(call);
            createdBank = true;
            (written, truncated) = await BankText.WithVectorAsync(call, intent, "intent", Write);
        }

        usage.AddWrite(call.Tenant, textBytes);
        return new WriteResult(true, written.MemoryId, bankName, success, written.Q, written.CreatedKey, createdBank ? true : null,
            truncated ? "The intent was longer than the embedding model reads; only its start is indexed." : null);
    }

    protected override string RenameField(string field) => field switch
    {
        "intentText" => "intent",
        "recallToken" => "recallId",
        _ => field,
    };

    // The same call in the same session is the same operation (a host's retry); any other argument makes a new one.
    // The ttl counts only when given, after a part no metadata key can be ("\0ttl"): a write without one keeps the id it had.
    private static string OperationId(ToolCall call, string intent, string experience, bool success, string? token, ScopeFields? scope, Core.Bank.MemoryMetadata tags,
        double? ttlSeconds) =>
        OperationIdOf("mcp-write-",
        [
            call.Session, call.BankName, intent, experience, success ? "1" : "0", token ?? "",
            scope?.UserId ?? "\0", scope?.AgentId ?? "\0", scope?.SessionId ?? "\0", scope?.RunId ?? "\0",
            .. tags.Entries.SelectMany(e => new[] { e.Key, e.Value }),
            .. ttlSeconds is { } ttl ? new[] { "\0ttl", ttl.ToString("R", System.Globalization.CultureInfo.InvariantCulture) } : [],
        ]);

    private sealed record WriteResult(bool Written, string MemoryId, string Bank, bool Success, double Q, bool NewIntentKey, bool? CreatedBank, string? Note);
}
