namespace MemRL.Api.Tests.Console;

/// <summary>Runs only where node is on the PATH and <c>npm ci</c> has installed api/Console's tsc (.ci/run does).</summary>
public sealed class ConsoleTscFactAttribute : FactAttribute
{
    public ConsoleTscFactAttribute()
    {
        if (ExternalProcess.OnPath("node") is null)
        {
            Skip = "node is not on the PATH; install Node 20+ (CI does) to check the console's compiled script.";
        }
        else if (!File.Exists(ConsoleScriptTests.Tsc))
        {
            Skip = $"{ConsoleScriptTests.Tsc} is not installed; run 'npm ci' in api/Console (.ci/run does).";
        }
    }
}

/// <summary>
/// The silo embeds api/Console/wwwroot/console.js, committed so that building the silo needs only the .NET SDK; it must
/// be exactly what tsc makes of api/Console/src, so the TypeScript is the source of truth.
/// </summary>
public sealed class ConsoleScriptTests
{
    private static readonly string ConsoleDir = Path.Combine(LocalClusterRoot.Root, "api", "Console");

    internal static readonly string Tsc = Path.Combine(ConsoleDir, "node_modules", "typescript", "bin", "tsc");

    [ConsoleTscFact]
    public async Task CommittedScript_IsTheOutputOfTsc()
    {
        string outDir = Directory.CreateTempSubdirectory("memrl-console-tsc-").FullName;
        try
        {
            var (code, output) = await ExternalProcess.RunAsync("node", [Tsc, "-p", "tsconfig.json", "--outDir", outDir], ConsoleDir, TimeSpan.FromMinutes(2));
            Assert.True(code == 0, $"tsc failed:\n{output}");
            string built = await File.ReadAllTextAsync(Path.Combine(outDir, "console.js"));
            string committed = await File.ReadAllTextAsync(Path.Combine(ConsoleDir, "wwwroot", "console.js"));
            Assert.True(built == committed, "api/Console/wwwroot/console.js is not tsc's output of api/Console/src: run 'npx tsc -p tsconfig.json' in api/Console and commit it.");
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }
}
