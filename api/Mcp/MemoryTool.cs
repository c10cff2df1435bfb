using System.Security.Claims;
using System.Text.Json;
using MemRL.Client;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace MemRL.Api.Mcp;

/// <summary>
/// One MCP tool over the bank: a declared argument list (which is its input schema), a read-only or changing
/// annotation (which is also what a read-only key may call), and a body. The base resolves the caller's tenant and
/// session, reads the arguments strictly, refuses a read-only key on a changing tool, and turns every expected error
/// into a tool error (<c>isError: true</c>) that names the argument, the expected and the actual value, so the model
/// can fix its call; nothing is changed by a refused call.
/// </summary>
internal abstract class MemoryTool : McpServerTool
{
    /// <summary>The bank argument every tool takes: the tenant's bank name, defaulting to <see cref="McpOptions.DefaultBank"/>.</summary>
    protected static ToolArgument BankArgument(McpOptions options) => ToolArgument.Text("bank",
        $"The memory bank to use (default '{options.DefaultBank}'). Leave it out unless told to use another bank.", Tenants.MaxBankNameLength, minLength: 1);

    /// <summary>
    /// Arguments every tool that reads or writes memories by content takes after its own: the memory's scope
    /// (docs/scopes.md). <c>write</c> stores it with the memory; <c>recall</c> and <c>list</c> see only memories whose
    /// fields equal every one given.
    /// </summary>
    protected static readonly IReadOnlyList<ToolArgument> ScopeArguments =
    [
        .. Core.Bank.MemoryScope.FieldNames.Select(field => ToolArgument.Text(field,
            $"Whose memory this is ({field}): write stores it; recall and list see only memories with this {field}. Leave it out to use the whole bank.",
            Core.Bank.MemoryScope.MaxValueLength, minLength: 1)),
    ];

    /// <summary>The scope the call names (null when it names none); its limits are the core's.</summary>
    protected static ScopeFields? ScopeOf(ToolArguments a)
    {
        int max = Core.Bank.MemoryScope.MaxValueLength;
        var scope = new ScopeFields(a.Text("userId", max, minLength: 1), a.Text("agentId", max, minLength: 1), a.Text("sessionId", max, minLength: 1),
            a.Text("runId", max, minLength: 1));
        return scope.ToScope("").IsEmpty ? null : scope;
    }

    private readonly Tool _tool;
    private readonly IReadOnlyList<ToolArgument> _arguments;

    protected MemoryTool(string name, string title, string description, IReadOnlyList<ToolArgument> arguments, bool readOnly, bool destructive = false, bool idempotent = false)
    {
        _arguments = arguments;
        ChangesBank = !readOnly;
        _tool = new Tool
        {
            Name = name,
            Title = title,
            Description = description,
            InputSchema = ToolArgument.InputSchema(arguments),
            Annotations = new ToolAnnotations
            {
                Title = title, ReadOnlyHint = readOnly, DestructiveHint = !readOnly && destructive, IdempotentHint = idempotent, OpenWorldHint = false,
            },
        };
    }

    /// <summary>Whether the tool changes the bank; a read-only key neither sees nor may call such a tool.</summary>
    public bool ChangesBank { get; }

    /// <inheritdoc />
    public override Tool ProtocolTool => _tool;

    /// <inheritdoc />
    public override IReadOnlyList<object> Metadata => [];

    /// <summary>Whether <paramref name="user"/> may call a tool that changes the bank.</summary>
    public static bool MayWrite(ClaimsPrincipal? user) => user?.HasClaim(c => c.Type == Tenants.WriterClaim) == true;

    /// <inheritdoc />
    public override async ValueTask<CallToolResult> InvokeAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken = default)
    {
        var services = request.Services ?? throw new InvalidOperationException("The MCP server runs without a service provider.");
        var user = request.User;
        string? tenant = user?.FindFirstValue(Tenants.TenantClaim);
        if (tenant is null)
        {
            // /mcp requires a key, so only a host that wires the tools elsewhere gets here.
            return Error("Authorization", "a request authenticated with an API key of this server", null, "The call carries no API key.");
        }

        if (ChangesBank && !MayWrite(user))
        {
            return Error("Authorization", "a read-write API key", "a read-only key",
                $"This API key is read-only and {_tool.Name} changes the bank; use recall, get, list or bank_stats, or connect with a read-write key.");
        }

        string? bank = null;
        try
        {
            var arguments = new ToolArguments(_arguments, request.Params?.Arguments);
            var call = new ToolCall(services, services.GetRequiredService<IOptions<McpOptions>>().Value, tenant, request.Server.SessionId, arguments, cancellationToken);
            bank = call.BankName;
            object result = await CallAsync(call);
            var structured = JsonSerializer.SerializeToElement(result, McpJson.Options);
            return new CallToolResult { Content = [new TextContentBlock { Text = structured.GetRawText() }], StructuredContent = structured };
        }
        catch (ArgumentException e) when (FieldError.TryRead(e, out var parts))
        {
            string field = RenameField(parts.Field);
            string? actual = parts.Actual is null ? null : Problems.Scrub(parts.Actual, tenant);
            return Error(field, Problems.Scrub(parts.Expected, tenant), actual, Sentence(field, Problems.Scrub(parts.Expected, tenant), actual, parts.Reason), parts.Reason);
        }
        catch (BankNotFoundException)
        {
            return Error("bank", "the name of one of this tenant's banks (a write creates a missing bank)", FieldError.Quote(bank),
                $"Bank '{bank}' does not exist; write a memory to create it, or pass the name of an existing bank.");
        }
        catch (MemoryNotFoundException)
        {
            return Error("memoryId", "the id of a memory of this bank, as recall, write or list returned it", null,
                $"No such memory in bank '{bank}'; it may have been deleted. Use list or recall for current ids.");
        }
        catch (InvalidRecallTokenException e)
        {
            bool expired = FieldError.ReasonOf(e) == Reasons.TokenExpired;
            return Error("recallId", "a recall of this session made less than the recall lifetime ago", null,
                expired ? "That recall has expired; recall again and reward the new recall." : "That recall is not valid for this bank; recall again.",
                expired ? Reasons.TokenExpired : Reasons.TokenInvalid);
        }
        catch (RewardConflictException conflict)
        {
            string earlier = FieldError.Format(conflict.Earlier);
            return Error("reward", $"{earlier}, the value this recall already gave its memories", FieldError.Format(conflict.Now),
                $"This recall was already rewarded {earlier}; each recall takes one reward. Recall again for the next step.", Reasons.RewardConflict);
        }
        catch (QuotaExceededException quota)
        {
            string limit = quota.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture);
            string current = quota.Current.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Error("bank", $"at most {limit} {quota.Quota} for this tenant (MemRL:Api:Quotas:{quota.Key})", current,
                $"The tenant's {quota.Quota} quota is {limit} and it has {current}; delete some, or ask for MemRL:Api:Quotas:{quota.Key} to be raised.", "quota");
        }
        catch (OperationConflictException)
        {
            return Error("arguments", "the same arguments as the first call of this operation", null,
                "This operation was already applied with other arguments; call again to make a new one.");
        }
        catch (Exception e) when (e is OverloadedException or IncompleteCoverageException or ShardUnavailableException or StaleBankVersionException or TimeoutException)
        {
            return Error("bank", "a bank whose shards answer", null, $"The bank is briefly unavailable ({e.GetType().Name}); retry the same call in a second.");
        }
    }

    /// <summary>The tool's work; throws <see cref="FieldError"/> exceptions (and the cluster's) for bad input.</summary>
    /// <summary>
    /// A tool call's operation id: <paramref name="prefix"/> and the SHA-256 of <paramref name="parts"/>, each
    /// length-prefixed UTF-8 so no two different part lists hash alike ("ab","c" vs "a","bc"). Tools pass what makes two
    /// calls the same operation (session, bank, arguments), so a host's retry maps to the id its first attempt used.
    /// </summary>
    protected static string OperationIdOf(string prefix, IEnumerable<string> parts)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (string part in parts)
        {
            byte[] bytes = System.Text.Encoding.UTF8.GetBytes(part);
            hash.AppendData(BitConverter.GetBytes(bytes.Length));
            hash.AppendData(bytes);
        }

        return prefix + Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    protected abstract Task<object> CallAsync(ToolCall call);

    /// <summary>The tool's name for a field the cluster or the HTTP layer named in its own terms (intentText, token).</summary>
    protected virtual string RenameField(string field) => field;

    // The house sentence; an actual value that is blank or padded is quoted, or the sentence would hide it.
    private static string Sentence(string field, string expected, string? actual, string? reason) => (actual, reason) switch
    {
        (_, Reasons.Missing) => $"{field} is missing; expected {expected}.",
        (null, _) => $"{field} is invalid; expected {expected}.",
        _ when actual.Length == 0 || actual.Trim().Length != actual.Length => $"{field} is '{actual}'; expected {expected}.",
        _ => $"{field} is {actual}; expected {expected}.",
    };

    private static CallToolResult Error(string field, string expected, string? actual, string message, string? reason = null)
    {
        var error = new Dictionary<string, string?> { ["field"] = field, ["expected"] = expected, ["actual"] = actual, ["reason"] = reason, ["message"] = message };
        var structured = JsonSerializer.SerializeToElement(new { error }, McpJson.Options);
        return new CallToolResult { IsError = true, Content = [new TextContentBlock { Text = $"Error: {message} ({structured.GetRawText()})" }], StructuredContent = structured };
    }
}

/// <summary>What one tool call works with: the caller's tenant and session, its arguments, and the services.</summary>
internal sealed class ToolCall(IServiceProvider services, McpOptions options, string tenant, string? session, ToolArguments arguments, CancellationToken cancellationToken)
{
    public IServiceProvider Services { get; } = services;

    public McpOptions Options { get; } = options;

    public string Tenant { get; } = tenant;

    public ToolArguments Arguments { get; } = arguments;

    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>The bank argument, or the default bank; validated as the HTTP API validates a bank name.</summary>
    public string BankName => field ??= Arguments.Text("bank", Tenants.MaxBankNameLength, minLength: 1) is { } given
        ? (Tenants.IsValidBankName(given) ? given : throw FieldError.Invalid("bank", Tenants.BankNameRule, FieldError.Quote(given)))
        : Options.DefaultBank;

    /// <summary>The cluster's name of <see cref="BankName"/>.</summary>
    public string ClusterBank => Tenants.ClusterBankName(Tenant, BankName);

    /// <summary>The MCP session, which short recall ids belong to.</summary>
    public string Session => session ?? throw FieldError.Invalid("recallId",
        "a call within an MCP session (recall ids are kept per session; this request has none)", null);

    public T Get<T>() where T : notnull => Services.GetRequiredService<T>();

    public BankClient Bank() => Get<MemoryClient>().Bank(ClusterBank);
}

/// <summary>The JSON of tool results: camelCase like the HTTP API, nulls left out.</summary>
internal static class McpJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };
}
