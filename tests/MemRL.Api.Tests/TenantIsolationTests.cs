using System.Net;
using System.Text.Json;

namespace MemRL.Api.Tests;

/// <summary>
/// Tenants with their own keys build banks and memories; then every tenant tries every endpoint with every other
/// tenant's bank names, memory ids and recall tokens. Each attempt must get exactly the answer a missing resource gets
/// (no access, no existence leak), and no bank may change.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class TenantIsolationTests(ApiSiloFixture fixture)
{

    private sealed record Holding(string Tenant, HttpClient Http, string Bank, List<string> Ids, string Token);

    [Fact]
    public async Task NoKeyReachesAnotherTenantsBanks_AndTheAnswersMatchMissingOnes()
    {
        var random = new Random(20261130);
        string[] tenants = ["alpha", "beta", "gamma"];
        var holdings = new List<Holding>();
        // Random bank names, some shared between tenants: a name must be scoped, not merely unlikely to collide.
        string shared = ApiSiloFixture.NewBankName("shared");
        foreach (string tenant in tenants)
        {
            var http = fixture.Silo.Client(ApiSilo.KeyOf(tenant));
            foreach (string bank in new[] { shared, ApiSiloFixture.NewBankName($"{tenant}-own") })
            {
                await http.CreateVectorBankAsync(bank, shards: 1 + random.Next(3));
                var ids = new List<string>();
                int count = 2 + random.Next(4);
                for (int i = 0; i < count; i++)
                {
                    var w = (await http.PostJsonAsync($"/v1/banks/{bank}/memories",
                        new { intent = Http.Vector(Dimension, random.Next(Dimension), seed: random.Next()), intentText = $"{tenant} secret {i}", experience = $"{tenant} experience {i}", success = true }))
                        .Ok(HttpStatusCode.Created);
                    ids.Add(w.Str("memoryId"));
                }

                var recall = (await http.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 0) })).Ok();
                holdings.Add(new Holding(tenant, http, bank, ids, recall.Str("token")));
            }
        }

        var before = new Dictionary<Holding, string>();
        foreach (var h in holdings)
        {
            before[h] = await BadInputTests.SnapshotAsync(h.Http, h.Bank, h.Ids);
        }

        int attempts = 0;
        foreach (var attacker in tenants)
        {
            var http = fixture.Silo.Client(ApiSilo.KeyOf(attacker));
            var mine = holdings.First(h => h.Tenant == attacker && h.Bank != shared);
            foreach (var victim in holdings.Where(h => h.Tenant != attacker))
            {
                // Another tenant's bank name that the attacker does not have answers as a missing bank.
                if (victim.Bank != shared)
                {
                    foreach (var (method, path, body) in BankCalls(victim.Bank, victim.Ids[0], victim.Token))
                    {
                        var missing = await http.SendJsonAsync(method, path.Replace(victim.Bank, "never-created-bank", StringComparison.Ordinal), body);
                        var probe = await http.SendJsonAsync(method, path, body);
                        AssertSameAnswer(missing, probe, victim.Bank, "never-created-bank");
                        attempts++;
                    }
                }

                // Another tenant's memory ids and tokens on the attacker's own bank answer as missing ids and forged tokens.
                foreach (string id in victim.Ids)
                {
                    var missingId = await http.GetJsonAsync($"/v1/banks/{mine.Bank}/memories/{ForgedId(id)}");
                    var probe = await http.GetJsonAsync($"/v1/banks/{mine.Bank}/memories/{id}");
                    AssertSameAnswer(missingId, probe, id, ForgedId(id));
                    var delete = await http.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{mine.Bank}/memories/{id}");
                    Assert.Equal(HttpStatusCode.NotFound, delete.Status);
                    attempts += 2;
                }

                var forged = await http.PostJsonAsync($"/v1/banks/{mine.Bank}/reward", new { token = ForgedToken(victim.Token), reward = 1.0 });
                var stolen = await http.PostJsonAsync($"/v1/banks/{mine.Bank}/reward", new { token = victim.Token, reward = 1.0 });
                AssertSameAnswer(forged, stolen, "", "");
                var stolenWrite = await http.PostJsonAsync($"/v1/banks/{mine.Bank}/memories",
                    new { intent = Http.Vector(Dimension, 3), experience = "x", success = true, recallToken = victim.Token });
                Assert.Equal(HttpStatusCode.BadRequest, stolenWrite.Status);
                attempts += 3;
            }
        }

        Assert.True(attempts > 50, $"only {attempts} attempts were made");
        foreach (var h in holdings)
        {
            Assert.Equal(before[h], await BadInputTests.SnapshotAsync(h.Http, h.Bank, h.Ids));
        }

        // The shared name is three different banks: each tenant still sees its own memories only.
        foreach (var h in holdings.Where(h => h.Bank == shared))
        {
            var recall = (await h.Http.PostJsonAsync($"/v1/banks/{shared}/recall", new { query = Http.Vector(Dimension, 0), k1 = 20, k2 = 20 })).Ok();
            foreach (var m in recall.Body.GetProperty("memories").EnumerateArray())
            {
                Assert.StartsWith($"{h.Tenant} ", m.GetProperty("experience").GetString(), StringComparison.Ordinal);
            }
        }
    }

    private static IEnumerable<(HttpMethod Method, string Path, object? Body)> BankCalls(string bank, string id, string token)
    {
        yield return (HttpMethod.Get, $"/v1/banks/{bank}", null);
        yield return (HttpMethod.Get, $"/v1/banks/{bank}/stats", null);
        yield return (HttpMethod.Put, $"/v1/banks/{bank}/options", new { alpha = 0.5 });
        yield return (HttpMethod.Post, $"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 1) });
        yield return (HttpMethod.Post, $"/v1/banks/{bank}/reward", new { token, reward = 1.0 });
        yield return (HttpMethod.Post, $"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 2), experience = "x", success = true });
        yield return (HttpMethod.Get, $"/v1/banks/{bank}/memories/{id}", null);
        yield return (HttpMethod.Delete, $"/v1/banks/{bank}/memories/{id}", null);
    }

    // The answer to a probe must equal the answer for a resource that does not exist, once the two names are swapped.
    private static void AssertSameAnswer(Reply missing, Reply probe, string probeName, string missingName)
    {
        Assert.Equal(missing.Status, probe.Status);
        Assert.NotEqual(HttpStatusCode.OK, probe.Status);
        string Normalise(Reply r, string name) => probeName.Length == 0
            ? r.Body.GetRawText()
            : r.Body.GetRawText().Replace(name, "<name>", StringComparison.Ordinal);
        Assert.Equal(Normalise(missing, missingName), Normalise(probe, probeName));
    }

    private static string ForgedId(string id)
    {
        // Same shape, another incarnation: an id that no bank of this tenant issued.
        var parts = id.Split('-');
        parts[0] = parts[0] == "00000001" ? "00000002" : "00000001";
        return string.Join('-', parts);
    }

    private static string ForgedToken(string token)
    {
        char[] chars = token.ToCharArray();
        chars[^2] = chars[^2] == 'A' ? 'B' : 'A';
        return new string(chars);
    }
}
