using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using MemRL.Client;

namespace MemRL.Api.Tests.Hostile;

/// <summary>One bank whose state a hostile case must leave alone: who sees it, its name, and a canary memory.</summary>
public sealed record Watched(string Tenant, HttpClient Http, string Bank, string? CanaryId);

/// <summary>
/// Everything a refused request must leave as it was, as one comparable string: per watched bank its description
/// (version, options, index), its stats (counts, per-shard sizes, the Q and visits distributions; not the ages, which move
/// with the clock), every listed memory with its q, visits and last reward, and the canary memory's Q and visits read
/// through the .NET client, behind the API's back.
/// A bank that cannot be read is part of the state too ("unreadable after a reward" is one of the defects).
/// </summary>
public static class StateFingerprint
{
    public static async Task<string> TakeAsync(MemoryClient memory, IEnumerable<Watched> banks)
    {
        var text = new StringBuilder();
        foreach (var w in banks)
        {
            text.Append('[').Append(w.Tenant).Append('/').Append(w.Bank).Append("]\n");
            text.Append("bank ").Append(await ReadAsync(w.Http, $"/v1/banks/{w.Bank}")).Append('\n');
            text.Append("stats ").Append(WithoutAges(await ReadAsync(w.Http, $"/v1/banks/{w.Bank}/stats"))).Append('\n');
            text.Append("list ").Append(await ListAsync(w.Http, w.Bank)).Append('\n');
            if (w.CanaryId is not null)
            {
                text.Append("canary ").Append(await CanaryAsync(memory, w)).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>The lines of two fingerprints that differ, for a failure message a reader can act on.</summary>
    public static string Diff(string before, string after)
    {
        var a = before.Split('\n');
        var b = after.Split('\n');
        var lines = new List<string>();
        for (int i = 0; i < Math.Max(a.Length, b.Length); i++)
        {
            string x = i < a.Length ? a[i] : "";
            string y = i < b.Length ? b[i] : "";
            if (x != y)
            {
                lines.Add($"- {Cut(x)}\n+ {Cut(y)}");
            }
        }

        return string.Join('\n', lines);
    }

    private static string Cut(string s) => s.Length <= 600 ? s : s[..600] + "…";

    private static async Task<string> ReadAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path);
        string body = await response.Content.ReadAsStringAsync();
        return response.StatusCode == HttpStatusCode.OK ? body : $"{(int)response.StatusCode} {body}";
    }

    // The memories' ages move with the clock, not with anything a request did.
    private static string WithoutAges(string stats)
    {
        if (!stats.StartsWith('{'))
        {
            return stats;
        }

        var json = System.Text.Json.Nodes.JsonNode.Parse(stats)!.AsObject();
        json.Remove("ageSecondsDistribution");
        return json.ToJsonString();
    }

    // Every page, oldest first per shard: the ids and the values a reward or a write would move.
    private static async Task<string> ListAsync(HttpClient http, string bank)
    {
        var memories = new List<string>();
        string? cursor = null;
        for (int page = 0; page < 100; page++)
        {
            string path = $"/v1/banks/{bank}/memories?limit=1000" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}");
            using var response = await http.GetAsync(path);
            string body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.OK)
            {
                memories.Add($"page {page}: {(int)response.StatusCode} {body}");
                break;
            }

            using var json = JsonDocument.Parse(body);
            foreach (var m in json.RootElement.GetProperty("memories").EnumerateArray())
            {
                memories.Add(string.Join(':',
                    m.GetProperty("id").GetString(), m.GetProperty("q").GetRawText(), m.GetProperty("visits").GetRawText(),
                    m.GetProperty("lastReward").GetRawText(), m.GetProperty("success").GetRawText(), m.GetProperty("experience").GetString()?.Length));
            }

            cursor = json.RootElement.GetProperty("nextCursor").GetString();
            if (cursor is null)
            {
                break;
            }
        }

        return string.Join(' ', memories);
    }

    private static async Task<string> CanaryAsync(MemoryClient memory, Watched w)
    {
        try
        {
            var m = await memory.Bank(Tenants.ClusterBankName(w.Tenant, w.Bank)).GetAsync(w.CanaryId!);
            return string.Create(CultureInfo.InvariantCulture, $"{m.Id} q={m.Q:R} visits={m.Visits} success={m.Success}");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return $"{e.GetType().Name}: {e.Message}";
        }
    }
}
