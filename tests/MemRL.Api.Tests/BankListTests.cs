using System.Net;

namespace MemRL.Api.Tests;

/// <summary>GET /v1/banks lists the caller's banks only, by the caller's names, with what each stores.</summary>
[Collection(ApiCollection.Name)]
public sealed class BankListTests(ApiSiloFixture fixture)
{
    [Fact]
    public async Task ListBanks_ShowsTheCallersBanksOnly_WithTheirUsage()
    {
        using var alpha = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));
        using var beta = fixture.Silo.Client(ApiSilo.KeyOf("beta"));
        using var reader = fixture.Silo.Client(ApiSilo.KeyOf("alpha", readOnly: true));
        string bank = ApiSiloFixture.NewBankName("listed");
        await alpha.CreateVectorBankAsync(bank);
        (await alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 1), intentText = "abc", experience = "hello", success = true }))
            .Ok(HttpStatusCode.Created);

        var mine = (await reader.GetJsonAsync("/v1/banks")).Ok().Body.GetProperty("banks").EnumerateArray().ToList();
        var names = mine.Select(b => b.GetProperty("name").GetString()!).ToList();
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
        var listed = mine.Single(b => b.GetProperty("name").GetString() == bank);
        Assert.Equal(1, listed.GetProperty("memories").GetInt64());
        Assert.Equal(8, listed.GetProperty("textBytes").GetInt64());
        Assert.All(names, n => Assert.DoesNotContain("alpha.", n, StringComparison.Ordinal));

        var theirs = (await beta.GetJsonAsync("/v1/banks")).Ok().Body.GetProperty("banks").EnumerateArray().Select(b => b.GetProperty("name").GetString()).ToList();
        Assert.DoesNotContain(bank, theirs);

        (await alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}")).Ok(HttpStatusCode.NoContent);
        var after = (await alpha.GetJsonAsync("/v1/banks")).Ok().Body.GetProperty("banks").EnumerateArray().Select(b => b.GetProperty("name").GetString()).ToList();
        Assert.DoesNotContain(bank, after);
    }
}
