using System.Net;

namespace MemRL.Api.Tests.Hostile;

/// <summary>
/// The hostile catalogue over HTTP, one test per case: each answer has the required status and a problem-details body
/// naming the field, the expected and the actual value (and the reason where the kind matters), and the scene's banks
/// are exactly as they were. Run: <c>dotnet test tests/MemRL.Api.Tests --no-build --filter FullyQualifiedName~Hostile</c>.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class HostileInputTests(HostileFixture fixture)
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (string name in HostileCatalogue.Cases.Keys)
        {
            data.Add(name);
        }

        return data;
    }

    [Fact]
    public void Catalogue_HasAtLeast200Cases_OverEveryRoute()
    {
        Assert.True(HostileCatalogue.Cases.Count >= 200, $"only {HostileCatalogue.Cases.Count} cases");
        foreach (var (label, _, path, _) in HostileCatalogue.Routes)
        {
            Assert.True(HostileCatalogue.Cases.Values.Count(c => c.Path == path) >= 5, $"route {label} has fewer than 5 cases");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task HostileRequest_GetsTheContractAnswer_AndChangesNothing(string name)
    {
        var c = HostileCatalogue.Cases[name];
        var scene = await fixture.SceneAsync();
        string before = await scene.FingerprintAsync();
        var reply = await c.SendAsync(scene);
        string after = await scene.FingerprintAsync();
        // A refused create must not have made the bank it named.
        var made = await fixture.Alpha.GetAsync($"/v1/banks/{scene.NewBank}");
        bool created = made.StatusCode == HttpStatusCode.OK;
        bool accepted = reply.Status is >= 200 and < 300;
        if (after != before || created)
        {
            // The next case gets a fresh scene: this defect fails this case only.
            scene.Dirty = true;
        }

        string context = $"{c.Name}: {c.Method} {Cut(scene.Fill(c.Path))}";
        // A wrong status is often a wrong effect too: say both in one message.
        string effect = before == after ? "" : $"\nand the state changed:\n{StateFingerprint.Diff(before, after)}";
        Assert.True(reply.Status < 500, $"{context}: a client's request must never get a 5xx, got {reply.Status}: {ProblemAssert.Cut(reply.Body)}{effect}");
        Assert.True(reply.Status == c.Status || c.AlsoAccepted.Contains(reply.Status),
            $"{context}: expected {c.Status}{string.Concat(c.AlsoAccepted.Select(s => $" or {s}"))}, got {reply.Status}: {ProblemAssert.Cut(reply.Body)}{effect}");
        if (c.TransportRejection && ProblemAssert.IsTransportRejection(reply))
        {
            Assert.True(before == after, $"{context}: a refused request changed the state:\n{StateFingerprint.Diff(before, after)}");
        }
        else if (!accepted)
        {
            var problem = ProblemAssert.IsProblem(reply, context);
            if (c.Field is not null && reply.Status == c.Status)
            {
                ProblemAssert.Names(problem, context, [scene.Fill(c.Field), .. c.AlsoFields], c.Actual is null ? null : scene.Fill(c.Actual), c.Reason);
            }

            Assert.False(created, $"{context}: a refused create made bank {scene.NewBank}");
            Assert.True(before == after, $"{context}: a refused request changed the state:\n{StateFingerprint.Diff(before, after)}");
        }
        else
        {
            // Accepted edge values (-0, one denormal) are reads: they must not change anything either.
            Assert.True(before == after, $"{context}: an accepted read changed the state:\n{StateFingerprint.Diff(before, after)}");
        }
    }

    private static string Cut(string s) => s.Length <= 160 ? s : s[..160] + "…";
}
