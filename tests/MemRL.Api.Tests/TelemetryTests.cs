using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;

namespace MemRL.Api.Tests;

/// <summary>
/// One trace follows a recall from the HTTP request through the coordinator to the shards, and the metrics the
/// dashboards need are recorded. Listeners are process-wide, so the test tells its own trace apart by the trace id it
/// sends in the W3C traceparent header.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class TelemetryTests(ApiSiloFixture fixture)
{

    [Fact]
    public async Task Recall_IsOneTraceFromHttpToEveryShard_AndMetricsAreRecorded()
    {
        var spans = new ConcurrentBag<Activity>();
        using var tracing = new ActivityListener
        {
            ShouldListenTo = _ => true,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Add,
        };
        ActivitySource.AddActivityListener(tracing);
        var measured = new ConcurrentDictionary<string, int>();
        using var metrics = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "MemRL")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        metrics.SetMeasurementEventCallback<double>((i, _, _, _) => measured.AddOrUpdate(i.Name, 1, (_, n) => n + 1));
        metrics.SetMeasurementEventCallback<long>((i, _, _, _) => measured.AddOrUpdate(i.Name, 1, (_, n) => n + 1));
        metrics.SetMeasurementEventCallback<int>((i, _, _, _) => measured.AddOrUpdate(i.Name, 1, (_, n) => n + 1));
        metrics.Start();

        using var http = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));
        string bank = ApiSiloFixture.NewBankName("traced");
        const int shards = 3;
        await http.CreateVectorBankAsync(bank, shards);
        for (int i = 0; i < 6; i++)
        {
            (await http.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, i), experience = $"e{i}", success = true })).Ok(HttpStatusCode.Created);
        }

        var traceId = ActivityTraceId.CreateRandom();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/banks/{bank}/recall")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new { query = Http.Vector(Dimension, 1) }),
        };
        request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");
        var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        string token = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
        (await http.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0 })).Ok();

        // Spans end as the calls return; the shards' may be reported a moment after the HTTP response.
        await Wait.UntilAsync(() => spans.Count(s => s.TraceId == traceId && s.OperationName == "memrl.shard.search") >= shards, "every shard's search span", seconds: 10);

        var trace = spans.Where(s => s.TraceId == traceId).ToList();
        var server = Assert.Single(trace, s => s.Kind == ActivityKind.Server && s.Source.Name == "Microsoft.AspNetCore");
        var recall = Assert.Single(trace, s => s.OperationName == "memrl.recall");
        Assert.Equal(shards, trace.Count(s => s.OperationName == "memrl.shard.search"));
        Assert.Equal(shards, (int)recall.GetTagItem("memrl.shards_answered")!);
        // Every span of the trace descends from the HTTP request.
        var byId = trace.ToDictionary(s => s.SpanId);
        foreach (var span in trace.Where(s => s != server))
        {
            var parent = span;
            while (parent.ParentSpanId != default && byId.TryGetValue(parent.ParentSpanId, out var up))
            {
                parent = up;
            }

            Assert.Equal(server.SpanId, parent.SpanId);
        }

        metrics.RecordObservableInstruments();
        foreach (string name in new[] { "memrl.recall.duration", "memrl.recall.pool_size", "memrl.recall.shards_answered", "memrl.writes", "memrl.rewards", "memrl.q",
            "memrl.commit.duration", "memrl.commit.events", "memrl.shard.keys", "memrl.shard.memories" })
        {
            Assert.True(measured.ContainsKey(name), $"{name} was not recorded; recorded: {string.Join(", ", measured.Keys.Order())}");
        }
    }
}
