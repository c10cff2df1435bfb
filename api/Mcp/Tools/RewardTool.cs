using MemRL.Errors;

namespace MemRL.Api.Mcp.Tools;

/// <summary>
/// <c>reward</c>: one reward for a recall of this session, by its short id or, without one, the session's latest
/// recall. The bank is the recall's own, so there is no bank argument to get wrong.
/// </summary>
internal sealed class RewardTool(McpOptions options, RecallIds ids) : MemoryTool("reward", "Reward a recall",
    "Call this AFTER the outcome of a task you recalled for is known: it updates the learned utility q of exactly the "
    + "memories that recall returned, so memories that helped rank higher next time and misleading ones sink. Pass the "
    + "reward (1 for success, 0 for failure, or a value in the bank's reward range) and the recallId recall returned; "
    + $"without recallId the session's latest recall is rewarded. Each recall takes one reward; recall ids last {ids.Lifetime.TotalMinutes:0} "
    + $"minutes and the session keeps its last {ids.PerSession}. Then call write with what you learned.",
    [
        ToolArgument.Number("reward", "The outcome: 1 for success, 0 for failure (or a value in the bank's reward range).", required: true),
        ToolArgument.Text("recallId", "The recallId a recall of this session returned (default: the latest recall).", 64, minLength: 1),
        ToolArgument.TextList("memoryIds", "Reward only these of the recalled memories (default: all that recall returned).", 64, 200),
    ], readOnly: false, idempotent: true)
{
    private readonly McpOptions _options = options;

    protected override async Task<object> CallAsync(ToolCall call)
    {
        var a = call.Arguments;
        double reward = a.Number("reward", required: true)!.Value;
        string? recallId = a.Text("recallId", 64, minLength: 1);
        var memoryIds = a.TextList("memoryIds", 64, 200);
        RecallEntry? entry;
        if (recallId is null)
        {
            if (!ids.TryGetLast(call.Tenant, call.Session, out entry))
            {
                throw FieldError.Missing("recallId",
                    $"the recallId of a recall of this session; this session has no recall of the last {ids.Lifetime.TotalMinutes:0} minutes (call recall first)");
            }
        }
        else if (!ids.TryGet(call.Tenant, call.Session, recallId.Trim(), out entry))
        {
            throw FieldError.Invalid("recallId",
                $"the recallId of one of this session's last {ids.PerSession} recalls, made within {ids.Lifetime.TotalMinutes:0} minutes (after a restart or a new session, recall again)",
                FieldError.Quote(recallId));
        }

        if (entry.Memories == 0)
        {
            throw FieldError.Invalid("recallId", "a recall that returned memories: there is nothing to reward (write what you learned instead)",
                $"recall '{entry.Id}', which returned none");
        }

        var bank = call.Get<MemRL.Client.MemoryClient>().Bank(Tenants.ClusterBankName(call.Tenant, entry.Bank));
        MemRL.GrainInterfaces.RewardResponse result;
        try
        {
            result = await bank.RewardAsync(entry.Token, reward, memoryIds: memoryIds);
        }
        catch (MemRL.GrainInterfaces.OperationConflictException)
        {
            // The reward's operation id is the recall's (and the memories named): the recall was rewarded with another value.
            throw FieldError.Invalid("reward", $"the value recall '{entry.Id}' was already rewarded with (each recall takes one reward; recall again for the next step)",
                FieldError.Format(reward), Reasons.RewardConflict);
        }
        return new RewardResult(entry.Id, entry.Bank, [.. result.Updated.Select(u => new UpdatedView(u.Id, u.Q, u.Visits))],
            "Now call write with what you learned from this task (a script on success, a reflection on failure).");
    }

    protected override string RenameField(string field) => field is "token" ? "recallId" : field;

    private sealed record RewardResult(string RecallId, string Bank, IReadOnlyList<UpdatedView> Updated, string Hint);

    private sealed record UpdatedView(string MemoryId, double Q, int Visits);
}
