using System.Net;
using static MemRL.Api.Tests.Http;

namespace MemRL.Api.Tests;

/// <summary>
/// The built silo's <c>import</c> and <c>export</c> commands on a data folder of their own: a bank exported over HTTP,
/// imported by the command, exported by it again and imported back over HTTP recalls exactly as the original.
/// Needs <c>dotnet build silo -c Release</c>.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class BankTransferCommandTests(ApiSiloFixture fixture)
{
    [Fact]
    public async Task ImportThenExport_ThroughTheCommand_KeepsTheBank()
    {
        Assert.True(File.Exists(McpSilo.SiloDll), $"{McpSilo.SiloDll} is missing: run dotnet build silo -c Release");
        using var http = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));
        string source = ApiSiloFixture.NewBankName("cli-src");
        await http.CreateVectorBankAsync(source);
        for (int i = 0; i < 10; i++)
        {
            (await http.PostJsonAsync($"/v1/banks/{source}/memories", new { intent = Vector(Dimension, i, seed: i), experience = $"e{i}", success = i % 2 == 0 }))
                .Ok(HttpStatusCode.Created);
        }

        string token = (await http.PostJsonAsync($"/v1/banks/{source}/recall", new { query = Vector(Dimension, 3) })).Ok().Str("token");
        (await http.PostJsonAsync($"/v1/banks/{source}/reward", new { token, reward = 1.0 })).Ok();

        string work = Directory.CreateTempSubdirectory("memrl-cli-").FullName;
        try
        {
            string first = Path.Combine(work, "first.memrl-export"), second = Path.Combine(work, "second.memrl-export");
            await File.WriteAllBytesAsync(first, await (await ExportImportHttpTests.ExportAsync(http, source)).Content.ReadAsByteArrayAsync());
            var env = new Dictionary<string, string> { ["MemRL__Storage__SqlitePath"] = Path.Combine(work, "memrl.db") };

            var (code, _, errors) = await RunAsync(["import", "--bank", "moved", "--in", first], work, env);
            Assert.True(code == 0, $"import exited {code}: {errors}");
            Assert.Contains("imported bank 'moved': 10 keys, 10 memories", errors);

            (code, _, errors) = await RunAsync(["import", "--bank", "moved", "--in", first], work, env);
            Assert.True(code == 1, $"a second import of the same name must fail, exited {code}: {errors}");
            Assert.Contains("already exists", errors);

            (code, _, errors) = await RunAsync(["export", "--bank", "moved", "--out", second], work, env);
            Assert.True(code == 0, $"export exited {code}: {errors}");
            Assert.Contains("exported bank 'moved': 10 keys, 10 memories", errors);

            string back = ApiSiloFixture.NewBankName("cli-back");
            (await ExportImportHttpTests.ImportAsync(http, back, await File.ReadAllBytesAsync(second))).Ok(HttpStatusCode.Created);
            for (int i = 0; i < Dimension; i++)
            {
                var query = new { query = Vector(Dimension, i, seed: 900 + i), k1 = 20, k2 = 10 };
                Assert.Equal(ExportImportHttpTests.Recalled((await http.PostJsonAsync($"/v1/banks/{source}/recall", query)).Ok()),
                    ExportImportHttpTests.Recalled((await http.PostJsonAsync($"/v1/banks/{back}/recall", query)).Ok()));
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public async Task Import_KilledMidStream_LeavesNoBank_AndTheSameImportRunsWholeAfterItsLease()
    {
        Assert.True(File.Exists(McpSilo.SiloDll), $"{McpSilo.SiloDll} is missing: run dotnet build silo -c Release");
        using var http = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));
        string source = ApiSiloFixture.NewBankName("cli-kill");
        await http.CreateVectorBankAsync(source);
        const int Count = 6000;
        for (int b = 0; b < Count / 1000; b++)
        {
            var items = Enumerable.Range(b * 1000, 1000)
                .Select(i => new { intent = Vector(Dimension, i % Dimension, noise: 0.5f, seed: i), intentText = $"t{i}", experience = $"e{i}", success = i % 2 == 0 }).ToArray();
            (await http.PostJsonAsync($"/v1/banks/{source}/memories:batch", new { items })).Ok();
        }

        string work = Directory.CreateTempSubdirectory("memrl-cli-kill-").FullName;
        try
        {
            string stream = Path.Combine(work, "bank.memrl-export");
            await File.WriteAllBytesAsync(stream, await (await ExportImportHttpTests.ExportAsync(http, source)).Content.ReadAsByteArrayAsync());
            var env = new Dictionary<string, string> { ["MemRL__Storage__SqlitePath"] = Path.Combine(work, "memrl.db") };
            string[] import = [McpSilo.SiloDll, "import", "--bank", "moved", "--in", stream, "--tenant", "alpha", "--lease-seconds", "2"];

            // SIGKILLed at its first progress line: some pages are in the store, the rest never came, nothing cleaned up.
            var (killed, _, killedErrors) = await ExternalProcess.RunUntilKilledAsync("dotnet", import, work,
                line => line.Contains(" keys, ", StringComparison.Ordinal), TimeSpan.FromMinutes(2), env);
            Assert.True(killed, $"the import was to be killed at its first progress line: {killedErrors}");
            Assert.DoesNotContain("imported bank", killedErrors, StringComparison.Ordinal);

            // A new process on the same store: the half-imported bank is not there to export.
            var (code, _, errors) = await RunAsync(["export", "--bank", "moved", "--out", Path.Combine(work, "partial.memrl-export")], work, env);
            Assert.True(code == 1, $"exporting a half-imported bank must fail, exited {code}: {errors}");
            Assert.Contains("does not exist", errors, StringComparison.Ordinal);

            // After its lease the same import runs whole (the dead one is deleted first), and exports as many as the source.
            await Task.Delay(TimeSpan.FromSeconds(2.5));
            (code, _, errors) = await ExternalProcess.RunSeparatelyAsync("dotnet", import, work, TimeSpan.FromMinutes(2), env);
            Assert.True(code == 0, $"the import after the kill exited {code}: {errors}");
            Assert.Contains($"imported bank 'moved': {Count} keys, {Count} memories", errors);
            (code, _, errors) = await RunAsync(["export", "--bank", "moved", "--out", Path.Combine(work, "whole.memrl-export")], work, env);
            Assert.True(code == 0, $"export exited {code}: {errors}");
            Assert.Contains($"exported bank 'moved': {Count} keys, {Count} memories", errors);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    // The local key's tenant is the default; these banks are the test tenant's, so --tenant names it.
    private static Task<(int Code, string Output, string Errors)> RunAsync(string[] args, string work, Dictionary<string, string> env) =>
        ExternalProcess.RunSeparatelyAsync("dotnet", [McpSilo.SiloDll, .. args, "--tenant", "alpha"], work, TimeSpan.FromMinutes(2), env);
}
