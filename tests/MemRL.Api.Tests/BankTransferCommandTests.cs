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

    // The local key's tenant is the default; these banks are the test tenant's, so --tenant names it.
    private static Task<(int Code, string Output, string Errors)> RunAsync(string[] args, string work, Dictionary<string, string> env) =>
        ExternalProcess.RunSeparatelyAsync("dotnet", [McpSilo.SiloDll, .. args, "--tenant", "alpha"], work, TimeSpan.FromMinutes(2), env);
}
