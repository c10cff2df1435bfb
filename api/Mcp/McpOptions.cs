using Microsoft.Extensions.Options;

namespace MemRL.Api.Mcp;

/// <summary>The MCP server's settings, section <c>MemRL:Mcp</c>. Every member has a default that suits one laptop.</summary>
public sealed class McpOptions
{
    /// <summary>Configuration section.</summary>
    public const string Section = "MemRL:Mcp";

    /// <summary>Whether the silo serves MCP at <see cref="Path"/> (key <c>MemRL:Mcp:Enabled</c>). Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Where Streamable HTTP is served (key <c>MemRL:Mcp:Path</c>). Default <c>/mcp</c>.</summary>
    public string Path { get; set; } = "/mcp";

    /// <summary>
    /// The bank a tool call uses when it names none (key <c>MemRL:Mcp:DefaultBank</c>), so that every session of a host
    /// shares one memory instead of each model inventing a name. Default <c>agent</c>.
    /// </summary>
    public string DefaultBank { get; set; } = "agent";

    /// <summary>
    /// Recalls one MCP session keeps a short recall id for (key <c>MemRL:Mcp:RecallsPerSession</c>); the oldest is
    /// forgotten first. Default 32: an agent rewards the recall of the step it just took, rarely one 32 steps back.
    /// </summary>
    public int RecallsPerSession { get; set; } = 32;

    /// <summary>
    /// Sessions whose short recall ids are kept at once (key <c>MemRL:Mcp:MaxSessions</c>); past it the least recently
    /// used session's ids are forgotten. Default 4096 (about 40 MB at 32 recalls of 300 bytes each).
    /// </summary>
    public int MaxSessions { get; set; } = 4096;

    /// <summary>
    /// How long an MCP session may stay idle before the server ends it (key <c>MemRL:Mcp:IdleTimeout</c>). Default 2 h,
    /// the SDK's; short recall ids expire with their tokens anyway.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromHours(2);
}

/// <summary>Checks <see cref="McpOptions"/> at start-up, naming the configuration key of each bad value.</summary>
internal sealed class McpOptionsValidator : IValidateOptions<McpOptions>
{
    public ValidateOptionsResult Validate(string? name, McpOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrEmpty(options.Path) || options.Path[0] != '/' || options.Path.Length > 1 && options.Path[^1] == '/')
        {
            failures.Add($"MemRL:Mcp:Path is '{options.Path}'; expected a path starting with '/' and not ending with one, such as /mcp.");
        }

        if (!Tenants.IsValidBankName(options.DefaultBank))
        {
            failures.Add($"MemRL:Mcp:DefaultBank is '{options.DefaultBank}'; expected {Tenants.BankNameRule}.");
        }

        if (options.RecallsPerSession is < 1 or > 1024)
        {
            failures.Add($"MemRL:Mcp:RecallsPerSession is {options.RecallsPerSession}; expected an integer in [1, 1024].");
        }

        if (options.MaxSessions is < 1 or > 1_000_000)
        {
            failures.Add($"MemRL:Mcp:MaxSessions is {options.MaxSessions}; expected an integer in [1, 1000000].");
        }

        if (options.IdleTimeout <= TimeSpan.Zero)
        {
            failures.Add($"MemRL:Mcp:IdleTimeout is {options.IdleTimeout}; expected a positive duration such as 02:00:00.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
