using MemRL.Grains;
using MemRL.Silo;
using Microsoft.AspNetCore.Builder;

// `new-api-key --tenant NAME [--read-only]` mints a key and prints its configuration entry, then exits.
if (args is ["new-api-key", .. var rest])
{
    return NewApiKey.Run(rest, Console.Out, Console.Error);
}

// `rotate-local-key` gives the embedded default a new local key and keeps the previous ones accepted for a while.
if (args is ["rotate-local-key", .. var rotateArgs])
{
    return RotateLocalKey.Run(WebApplication.CreateBuilder(rotateArgs).Configuration, Console.Out, Console.Error);
}

// `mcp` serves MCP on stdin/stdout for hosts that launch servers as processes (docs/mcp.md): a bridge to a running
// silo's /mcp, or to an embedded silo it starts when none answers.
if (args is ["mcp", .. var mcpArgs])
{
    return await McpStdio.RunAsync(mcpArgs);
}

// `rotate-recall-token-key` adds a new signing key to the embedded default's key ring; tokens of the old keys stay valid.
if (args is ["rotate-recall-token-key", ..])
{
    // The host's own configuration sources (appsettings, environment, command line), so the command finds the same ring.
    return RecallTokenKeyCommand.Run(WebApplication.CreateBuilder(args[1..]).Configuration, Console.Out, Console.Error);
}

// `export --bank B [--out FILE]` / `import --bank B --in FILE` move a bank through the configured store (docs/export-format.md).
if (args is [("export" or "import") and var verb, .. var transferArgs])
{
    return await BankTransferCommand.RunAsync(verb, transferArgs, Console.Error);
}

await using var app = SiloApp.Create(args);
await app.RunAsync();
return 0;
