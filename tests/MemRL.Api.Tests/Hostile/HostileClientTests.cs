using MemRL.Client;
using MemRL.Errors;
using MemRL.GrainInterfaces;

namespace MemRL.Api.Tests.Hostile;

/// <summary>
/// The same hostile inputs through the .NET client (MemoryClient and BankClient), which the API calls: each is refused
/// with an exception of the ArgumentException family whose FieldError data names the field, what was expected, the
/// actual value (where one was sent) and the reason (where the kind matters), and the scene is unchanged.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class HostileClientTests(HostileFixture fixture)
{
    /// <param name="Fields">The field names accepted (the client's parameter and the wire member may differ in spelling).</param>
    /// <param name="Actual">Exact actual, "*" for present, null for not checked.</param>
    public sealed record ClientCase(string Name, Func<MemoryClient, BankClient, Scene, Task> Act, string[] Fields, string? Actual = null, string? Reason = null);

    private static readonly float[] Good = Http.Vector(Dimension, 0);

    public static IReadOnlyDictionary<string, ClientCase> Cases { get; } = Build();

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (string name in Cases.Keys)
        {
            data.Add(name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public async Task Client_RefusesHostileInput_WithFieldErrorData_AndChangesNothing(string name)
    {
        var c = Cases[name];
        var scene = await fixture.SceneAsync();
        var memory = fixture.Silo.Memory;
        var bank = memory.Bank(Tenants.ClusterBankName("alpha", scene.Bank));
        string before = await scene.FingerprintAsync();
        Exception? thrown = null;
        try
        {
            await c.Act(memory, bank, scene);
        }
        catch (Exception e)
        {
            thrown = e;
        }

        string after = await scene.FingerprintAsync();
        if (after != before)
        {
            scene.Dirty = true;
        }

        // A recall token that is not this bank's is its own kind of bad input (HTTP 400 with reason token-invalid/expired).
        Assert.True(thrown is ArgumentException or InvalidRecallTokenException, $"{name}: expected the ArgumentException family, got {thrown?.GetType().FullName ?? "no exception"}: {thrown?.Message}");
        Assert.True(FieldError.TryRead(thrown!, out var parts), $"{name}: {thrown!.GetType().Name} carries no FieldError data: {thrown.Message}");
        Assert.True(c.Fields.Contains(parts.Field), $"{name}: expected field {string.Join(" or ", c.Fields)}, got '{parts.Field}': {thrown.Message}");
        Assert.False(string.IsNullOrWhiteSpace(parts.Expected), $"{name}: the error must say what was expected: {thrown.Message}");
        if (c.Actual == "*")
        {
            Assert.False(string.IsNullOrEmpty(parts.Actual), $"{name}: the error must repeat the value: {thrown.Message}");
        }
        else if (c.Actual is not null)
        {
            Assert.True(c.Actual == parts.Actual, $"{name}: expected actual '{c.Actual}', got '{parts.Actual}': {thrown.Message}");
        }

        if (c.Reason is not null)
        {
            Assert.True(c.Reason == parts.Reason, $"{name}: expected reason '{c.Reason}', got '{parts.Reason}': {thrown.Message}");
        }

        Assert.True(before == after, $"{name}: a refused call changed the state:\n{StateFingerprint.Diff(before, after)}");
    }

    private static float[] With(int at, float value)
    {
        var v = (float[])Good.Clone();
        v[at] = value;
        return v;
    }

    private static Dictionary<string, ClientCase> Build()
    {
        var all = new List<ClientCase>();
        void Add(string name, Func<MemoryClient, BankClient, Scene, Task> act, string[] fields, string? actual = null, string? reason = null) =>
            all.Add(new ClientCase(name, act, fields, actual, reason));

        // Recall.
        Add("recall: query null", (_, b, _) => b.RecallAsync(null!), ["query"], null, Reasons.Missing);
        Add("recall: query empty", (_, b, _) => b.RecallAsync([]), ["query"]);
        Add("recall: query of 3 dimensions", (_, b, _) => b.RecallAsync([1, 0, 0]), ["query"], "*");
        Add("recall: query zero", (_, b, _) => b.RecallAsync(new float[Dimension]), ["query"]);
        Add("recall: query NaN element", (_, b, _) => b.RecallAsync(With(3, float.NaN)), ["query[3]"], "NaN");
        Add("recall: query +Infinity element", (_, b, _) => b.RecallAsync(With(3, float.PositiveInfinity)), ["query[3]"], "*");
        Add("recall: query -Infinity element", (_, b, _) => b.RecallAsync(With(3, float.NegativeInfinity)), ["query[3]"], "*");
        Add("recall: k1 0", (_, b, _) => b.RecallAsync(Good, new RecallSettings(K1: 0)), ["k1"], "0");
        Add("recall: k1 -1", (_, b, _) => b.RecallAsync(Good, new RecallSettings(K1: -1)), ["k1"], "-1");
        Add("recall: k1 int.MaxValue", (_, b, _) => b.RecallAsync(Good, new RecallSettings(K1: int.MaxValue)), ["k1"], "2147483647");
        Add("recall: k2 0", (_, b, _) => b.RecallAsync(Good, new RecallSettings(K2: 0)), ["k2"], "0");
        Add("recall: k2 above k1", (_, b, _) => b.RecallAsync(Good, new RecallSettings(K1: 2, K2: 3)), ["k2"], "3");
        Add("recall: lambda 1.5", (_, b, _) => b.RecallAsync(Good, new RecallSettings(Lambda: 1.5)), ["lambda"], "1.5");
        Add("recall: lambda NaN", (_, b, _) => b.RecallAsync(Good, new RecallSettings(Lambda: double.NaN)), ["lambda"], "NaN");
        Add("recall: lambda -Infinity", (_, b, _) => b.RecallAsync(Good, new RecallSettings(Lambda: double.NegativeInfinity)), ["lambda"], "*");
        Add("recall: delta 2", (_, b, _) => b.RecallAsync(Good, new RecallSettings(Delta: 2)), ["delta"], "2");
        Add("recall: delta NaN", (_, b, _) => b.RecallAsync(Good, new RecallSettings(Delta: double.NaN)), ["delta"], "NaN");
        Add("recall: embedderId of another model", (_, b, _) => b.RecallAsync(Good, new RecallSettings(EmbedderId: "other-model")), ["embedderId"], "other-model");

        // Reward.
        string[] token = ["token", "recallToken"];
        Add("reward: token null", (_, b, _) => b.RewardAsync(null!, 1), token, null, Reasons.Missing);
        Add("reward: token empty", (_, b, _) => b.RewardAsync("", 1), token);
        Add("reward: token 'a.b'", (_, b, _) => b.RewardAsync("a.b", 1), token, null, Reasons.TokenInvalid);
        Add("reward: token garbage", (_, b, _) => b.RewardAsync("garbage", 1), token, null, Reasons.TokenInvalid);
        Add("reward: token forged", (_, b, s) => b.RewardAsync(s.ForgedToken, 1), token, null, Reasons.TokenInvalid);
        Add("reward: token of another bank", (_, b, s) => b.RewardAsync(s.OtherToken, 1), token, null, Reasons.TokenInvalid);
        Add("reward: token of another tenant", (_, b, s) => b.RewardAsync(s.BetaToken, 1), token, null, Reasons.TokenInvalid);
        Add("reward: reward NaN", (_, b, s) => b.RewardAsync(s.Token, double.NaN), ["reward"], "NaN");
        Add("reward: reward +Infinity", (_, b, s) => b.RewardAsync(s.Token, double.PositiveInfinity), ["reward"], "*");
        Add("reward: reward -Infinity", (_, b, s) => b.RewardAsync(s.Token, double.NegativeInfinity), ["reward"], "*");
        Add("reward: reward 2, outside the default range [-1, 1]", (_, b, s) => b.RewardAsync(s.Token, 2), ["reward"], "2");
        Add("reward: reward -1.0000001", (_, b, s) => b.RewardAsync(s.Token, -1.0000001), ["reward"], "-1.0000001");
        Add("reward: memoryIds garbage", (_, b, s) => b.RewardAsync(s.Token, 1, memoryIds: ["garbage"]), ["memoryIds[0]"], "garbage");
        Add("reward: memoryIds garbage second", (_, b, s) => b.RewardAsync(s.Token, 1, memoryIds: [s.Returned[0], "nope"]), ["memoryIds[1]"], "nope");
        Add("reward: memoryIds null element", (_, b, s) => b.RewardAsync(s.Token, 1, memoryIds: [null!]), ["memoryIds[0]"]);
        Add("reward: memoryIds not returned by the recall", (_, b, s) => b.RewardAsync(s.Token, 1, memoryIds: [s.Returned[0], s.NotReturned]), ["memoryIds[1]"], "*");
        Add("reward: operationId of 201 characters", (_, b, s) => b.RewardAsync(s.Token, 1, new string('o', 201)), ["operationId", "Idempotency-Key"], "*");
        Add("reward: operationId with a control character", (_, b, s) => b.RewardAsync(s.Token, 1, "a\u0001b"), ["operationId", "Idempotency-Key"]);
        Add("reward: operationId empty", (_, b, s) => b.RewardAsync(s.Token, 1, ""), ["operationId", "Idempotency-Key"]);

        // Write.
        Add("write: intent null", (_, b, _) => b.WriteAsync(null!, "t", "e", true), ["intent"], null, Reasons.Missing);
        Add("write: intent empty", (_, b, _) => b.WriteAsync([], "t", "e", true), ["intent"]);
        Add("write: intent of 3 dimensions", (_, b, _) => b.WriteAsync([1, 0, 0], "t", "e", true), ["intent"], "*");
        Add("write: intent NaN element", (_, b, _) => b.WriteAsync(With(3, float.NaN), "t", "e", true), ["intent[3]"], "NaN");
        Add("write: intentText null", (_, b, _) => b.WriteAsync(Good, null!, "e", true), ["intentText"], null, Reasons.Missing);
        Add("write: intentText over 64 Ki", (_, b, _) => b.WriteAsync(Good, new string('t', (64 * 1024) + 1), "e", true), ["intentText"], "*");
        Add("write: experience null", (_, b, _) => b.WriteAsync(Good, "t", null!, true), ["experience"], null, Reasons.Missing);
        Add("write: experience over 1 Mi", (_, b, _) => b.WriteAsync(Good, "t", new string('x', (1 << 20) + 1), true), ["experience"], "*");
        Add("write: recallToken 'a.b'", (_, b, _) => b.WriteAsync(Good, "t", "e", true, "a.b"), ["recallToken"], null, Reasons.TokenInvalid);
        Add("write: recallToken of another tenant", (_, b, s) => b.WriteAsync(Good, "t", "e", true, s.BetaToken), ["recallToken"], null, Reasons.TokenInvalid);
        Add("write: operationId of 201 characters", (_, b, _) => b.WriteAsync(Good, "t", "e", true, operationId: new string('o', 201)), ["operationId", "Idempotency-Key"], "*");
        Add("write: embedderId of another model", (_, b, _) => b.WriteAsync(Good, "t", "e", true, embedderId: "other-model"), ["embedderId"], "other-model");

        // Get, delete, list, calibrate.
        Add("get: memoryId null", (_, b, _) => b.GetAsync(null!), ["memoryId"], null, Reasons.Missing);
        Add("get: memoryId garbage", (_, b, _) => b.GetAsync("garbage"), ["memoryId"], "garbage");
        Add("get: memoryId with the slot out of range", (_, b, _) => b.GetAsync("00000001-ffff-1"), ["memoryId"], "00000001-ffff-1");
        Add("delete: memoryId '..'", (_, b, _) => b.DeleteAsync(".."), ["memoryId"], "..");
        Add("delete: memoryId '1-2-3'", (_, b, _) => b.DeleteAsync("1-2-3"), ["memoryId"], "1-2-3");
        Add("delete: operationId of 201 characters", (_, b, s) => b.DeleteAsync(s.Ids[0], new string('o', 201)), ["operationId", "Idempotency-Key"], "*");
        Add("list: limit 0", (_, b, _) => b.ListAsync(limit: 0), ["limit"], "0");
        Add("list: limit 1001", (_, b, _) => b.ListAsync(limit: 1001), ["limit"], "1001");
        Add("list: limit int.MaxValue", (_, b, _) => b.ListAsync(limit: int.MaxValue), ["limit"], "2147483647");
        Add("list: cursor garbage", (_, b, _) => b.ListAsync("garbage"), ["cursor"], "garbage", Reasons.CursorInvalid);
        Add("list: cursor 'a.b'", (_, b, _) => b.ListAsync("a.b"), ["cursor"], "a.b", Reasons.CursorInvalid);
        Add("list: cursor forged", (_, b, s) => b.ListAsync(s.ForgedCursor), ["cursor"], "*", Reasons.CursorInvalid);
        Add("list: cursor of another bank", (_, b, s) => b.ListAsync(s.OtherCursor), ["cursor"], "*", Reasons.CursorInvalid);
        Add("list: cursor of another tenant", (_, b, s) => b.ListAsync(s.BetaCursor), ["cursor"], "*", Reasons.CursorInvalid);
        Add("calibrate: sample 1", (_, b, _) => b.CalibrateAsync(1), ["sample", "sampleSize"], "1");
        Add("calibrate: sample 5001", (_, b, _) => b.CalibrateAsync(5001), ["sample", "sampleSize"], "5001");
        Add("calibrate: sample int.MinValue", (_, b, _) => b.CalibrateAsync(int.MinValue), ["sample", "sampleSize"], "-2147483648");

        // Banks.
        var spec = new BankSpec(Dimension, "test-embedder");
        Add("bank: name with a space", (m, _, _) => Task.FromResult(m.Bank("a b")), ["bank", "name"], "a b");
        Add("bank: name empty", (m, _, _) => Task.FromResult(m.Bank("")), ["bank", "name"]);
        Add("bank: name null", (m, _, _) => Task.FromResult(m.Bank(null!)), ["bank", "name"], null, Reasons.Missing);
        Add("bank: name of 129 characters", (m, _, _) => Task.FromResult(m.Bank(new string('n', 129))), ["bank", "name"], "*");
        Add("bank: name with a slash", (m, _, _) => m.GetBankAsync("a/b"), ["bank", "name"], "a/b");
        Add("bank: delete a name with a NUL", (m, _, _) => m.DeleteBankAsync("a\0b"), ["bank", "name"]);
        Add("bank: create with spec null", (m, _, s) => m.CreateBankAsync(Tenants.ClusterBankName("alpha", s.NewBank), null!), ["spec"], null, Reasons.Missing);
        Add("bank: create with dimension 0", (m, _, s) => m.CreateBankAsync(Tenants.ClusterBankName("alpha", s.NewBank), spec with { Dimension = 0 }), ["dimension"], "0");
        Add("bank: create with shardCount 65", (m, _, s) => m.CreateBankAsync(Tenants.ClusterBankName("alpha", s.NewBank), spec with { ShardCount = 65 }), ["shardCount"], "65");
        Add("bank: create with options.alpha NaN", (m, _, s) => m.CreateBankAsync(Tenants.ClusterBankName("alpha", s.NewBank), spec with { Options = new BankOptions { Alpha = double.NaN } }),
            ["options.alpha", "alpha"], "NaN");
        Add("bank: create with index.m 0", (m, _, s) => m.CreateBankAsync(Tenants.ClusterBankName("alpha", s.NewBank), spec with { Index = new IndexSettings(M: 0) }), ["index.m", "m"], "0");
        Add("bank: update options null", (m, _, s) => m.UpdateOptionsAsync(Tenants.ClusterBankName("alpha", s.Bank), null!), ["options"], null, Reasons.Missing);
        Add("bank: update options alpha 1.5", (m, _, s) => m.UpdateOptionsAsync(Tenants.ClusterBankName("alpha", s.Bank), new BankOptions { Alpha = 1.5 }), ["options.alpha", "alpha"], "1.5");
        Add("bank: update options k2 above k1", (m, _, s) => m.UpdateOptionsAsync(Tenants.ClusterBankName("alpha", s.Bank), new BankOptions { K1 = 2, K2 = 5 }), ["options.k2", "k2"], "5");
        Add("bank: grow to 0 shards", (m, _, s) => m.GrowShardsAsync(Tenants.ClusterBankName("alpha", s.Bank), 0), ["shardCount"], "0");
        Add("bank: grow to 65 shards", (m, _, s) => m.GrowShardsAsync(Tenants.ClusterBankName("alpha", s.Bank), 65), ["shardCount"], "65");
        return all.ToDictionary(c => c.Name, StringComparer.Ordinal);
    }
}
