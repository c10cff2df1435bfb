using System.Globalization;
using System.Text;

namespace MemRL.Api.Tests.Hostile;

/// <summary>
/// The hostile requests, by endpoint, with the answer the contract ("Trustworthy edges") requires of each. Every case
/// is one test (see <see cref="HostileInputTests"/>); every case must also leave the scene exactly as it was.
/// </summary>
public static class HostileCatalogue
{
    private const string Bank = "/v1/banks/{bank}";
    private const string Recall = Bank + "/recall";
    private const string Reward = Bank + "/reward";
    private const string Write = Bank + "/memories";
    private const string Batch = Bank + "/memories:batch";
    private const string Options = Bank + "/options";
    private const string Calibrate = Bank + "/calibrate";
    private const string Export = Bank + "/export";
    private const string Import = "/v1/banks/{newBank}/import";

    /// <summary>Every case by name.</summary>
    public static IReadOnlyDictionary<string, HostileCase> Cases => ByName.Value;

    // Built on first use: the builders read Routes, which a plain initializer here would see before it is set.
    private static readonly Lazy<Dictionary<string, HostileCase>> ByName = new(Build);

    /// <summary>A valid vector of the test banks, as JSON.</summary>
    public static string V(int axis = 0) =>
        "[" + string.Join(',', Http.Vector(Dimension, axis).Select(x => x.ToString("R", CultureInfo.InvariantCulture))) + "]";

    /// <summary>A vector of the test banks with element 3 replaced by <paramref name="raw"/> (JSON text, sent verbatim).</summary>
    public static string VAt3(string raw)
    {
        var parts = Http.Vector(Dimension, 0).Select(x => x.ToString("R", CultureInfo.InvariantCulture)).ToArray();
        parts[3] = raw;
        return "[" + string.Join(',', parts) + "]";
    }

    /// <summary>Every element <paramref name="raw"/>.</summary>
    public static string VAll(string raw, int dimension = Dimension) => "[" + string.Join(',', Enumerable.Repeat(raw, dimension)) + "]";

    private static Dictionary<string, HostileCase> Build()
    {
        var all = new List<HostileCase>();
        Recalls(all);
        Rewards(all);
        Writes(all);
        Batches(all);
        Listing(all);
        MemoryPaths(all);
        Edits(all);
        PathTricks(all);
        Banks(all);
        OptionsCases(all);
        Calibrations(all);
        Transfers(all);
        Access(all);
        Transport(all);
        var byName = new Dictionary<string, HostileCase>(StringComparer.Ordinal);
        foreach (var c in all)
        {
            if (!byName.TryAdd(c.Name, c))
            {
                throw new InvalidOperationException($"two hostile cases are named '{c.Name}'");
            }
        }

        return byName;
    }

    private static HostileCase Bad(string name, string method, string path, string? body, string? field, string? actual = "*", string? reason = null) =>
        new(name, method, path, body, 400, field, actual, reason);

    private static void Recalls(List<HostileCase> all)
    {
        void Q(string name, string query, string field, string? actual = "*", string? reason = null) =>
            all.Add(Bad($"recall: query {name}", "POST", Recall, $$"""{"query":{{query}}}""", field, actual, reason));

        // Vectors whose float norm overflows (1e38 in every element) are not bad input: they are rescaled and answered
        // like the same direction at ordinary scale (HostileSequenceTests.Recall_OfAnOverflowingVector_...).
        Q("empty", "[]", "query");
        Q("of 3 dimensions", "[1,0,0]", "query");
        Q("of 10000 dimensions", VAll("0.01", 10000), "query");
        Q("zero", VAll("0"), "query");
        Q("all -0", VAll("-0"), "query");
        // One element near float's maximum: the norm is still a float, so refusing and answering are both honest.
        all.Add(Bad("recall: query 3.4e38 in one element", "POST", Recall, $$"""{"query":{{VAt3("3.4e38")}}}""", "query", "*", "not-finite") with { AlsoAccepted = [200] });
        Q("1e39 (beyond float) in one element", VAt3("1e39"), "query[3]", "1e39");
        Q("1e308 in one element", VAt3("1e308"), "query[3]", "1e308");
        Q("-1.7e308 in one element", VAt3("-1.7e308"), "query[3]", "-1.7e308");
        Q("NaN as a string", VAt3("\"NaN\""), "query[3]", "NaN");
        Q("Infinity as a string", VAt3("\"Infinity\""), "query[3]", "Infinity");
        Q("-Infinity as a string", VAt3("\"-Infinity\""), "query[3]", "-Infinity");
        Q("NaN as a bare token", VAt3("NaN"), "query[3]", "NaN");
        Q("Infinity as a bare token", VAt3("Infinity"), "query[3]", "Infinity");
        Q("-Infinity as a bare token", VAt3("-Infinity"), "query[3]", "-Infinity");
        Q("null element", VAt3("null"), "query[3]", "null");
        Q("string element", VAt3("\"x\""), "query[3]", "x");
        Q("boolean element", VAt3("true"), "query[3]", "true");
        Q("nested array element", VAt3("[1]"), "query[3]");
        Q("object element", VAt3("{}"), "query[3]");
        Q("as a string", "\"up\"", "query", "up");
        Q("as a number", "5", "query", "5");
        Q("as an object", "{\"x\":1}", "query");
        Q("as true", "true", "query", "true");
        Q("null", "null", "query", null, "missing");
        all.Add(Bad("recall: no query nor text", "POST", Recall, "{}", "query", null, "missing"));
        all.Add(Bad("recall: query and queryText both", "POST", Recall, $$"""{"query":{{V()}},"queryText":"x"}""", "query"));
        all.Add(Bad("recall: queryText over 64 Ki", "POST", Recall, $$"""{"queryText":"{{new string('q', (64 * 1024) + 1)}}"}""", "queryText"));
        all.Add(Bad("recall: queryText as a number", "POST", Recall, """{"queryText":7}""", "queryText", "7"));
        all.Add(Bad("recall: embedderId of another model", "POST", Recall, $$"""{"query":{{V()}},"embedderId":"other-model"}""", "embedderId", "other-model"));
        // Denormals: all of them make a norm that underflows (refuse it or answer it, but never 5xx); one among normal
        // elements is an ordinary vector.
        all.Add(Bad("recall: query of denormals only", "POST", Recall, $$"""{"query":{{VAll("1e-45")}}}""", "query") with { AlsoAccepted = [200] });

        void P(string member, string value, string? actual = "*", string? field = null) =>
            all.Add(Bad($"recall: {member} = {Cut(value)}", "POST", Recall, $$"""{"query":{{V()}},"{{member}}":{{value}}}""", field ?? member, actual));

        P("k1", "0", "0");
        P("k1", "-1", "-1");
        P("k1", "2147483647", "2147483647");
        P("k1", "2147483648", "2147483648");
        P("k1", "99999999999999999999", "99999999999999999999");
        P("k1", "100000000", "100000000");
        P("k1", "1e308", "1e308");
        P("k1", "1.5", "1.5");
        P("k1", "\"five\"", "five");
        P("k1", "true", "true");
        P("k1", "[]");
        P("k2", "0", "0");
        P("k2", "-1", "-1");
        P("k2", "2147483648", "2147483648");
        P("k2", "\"x\"", "x");
        all.Add(Bad("recall: k2 above k1", "POST", Recall, $$"""{"query":{{V()}},"k1":2,"k2":3}""", "k2", "3"));
        P("lambda", "1.5", "1.5");
        P("lambda", "-0.1", "-0.1");
        P("lambda", "1e308", "1e308");
        P("lambda", "-1.7e308", "-1.7e308");
        P("lambda", "1e309", "1e309");
        P("lambda", "\"NaN\"", "NaN");
        P("lambda", "NaN", "NaN");
        P("lambda", "\"Infinity\"", "Infinity");
        P("lambda", "Infinity", "Infinity");
        P("lambda", "-Infinity", "-Infinity");
        P("lambda", "\"x\"", "x");
        P("lambda", "{}");
        P("delta", "2", "2");
        P("delta", "-2", "-2");
        P("delta", "\"NaN\"", "NaN");
        P("delta", "NaN", "NaN");
        P("delta", "1e308", "1e308");
        P("requireFullCoverage", "\"yes\"", "yes");
        P("requireFullCoverage", "1", "1");
        all.Add(new HostileCase("recall: lambda = -0 is an ordinary 0", "POST", Recall, $$"""{"query":{{V()}},"lambda":-0}""", 200));
        all.Add(new HostileCase("recall: one denormal element is an ordinary vector", "POST", Recall, $$"""{"query":{{VAt3("1e-45")}}}""", 200));

        void U(string member, string value) =>
            all.Add(Bad($"recall: unknown member {member}", "POST", Recall, $$"""{"query":{{V()}},"{{member}}":{{value}}}""", member, "*", "unknown-member"));

        U("lamda", "0.5");
        U("k3", "2");
        U("queryTxt", "\"x\"");
        U("$type", "\"Polymorphic.Payload\"");
        U("__proto__", "{\"k1\":1}");

        void S(string name, string body, string? field = null, string? actual = null) =>
            all.Add(Bad($"recall: body {name}", "POST", Recall, body, field, actual));

        S("an array", "[]");
        S("a string", "\"x\"");
        S("a number", "123");
        S("null", "null");
        S("empty", "");
        S("truncated", "{\"query\":[1,");
        S("unterminated object", "{");
        S("trailing garbage", $$"""{"query":{{V()}}}x""");
        S("trailing comma", $$"""{"query":{{V()}},}""");
        S("with a comment", $$"""{/* c */"query":{{V()}}}""");
        S("single quotes", "{'query':[1]}");
        S("nested 10000 deep", new string('[', 10000) + new string(']', 10000));
        S("object nested 5000 deep", string.Concat(Enumerable.Repeat("{\"a\":", 5000)) + "1" + new string('}', 5000));
        all.Add(Bad("recall: body of invalid UTF-8", "POST", Recall, null, null, null) with
        {
            BodyBytes = [.. "{\"queryText\":\""u8, 0xC3, 0x28, 0xFF, .. "\"}"u8],
        });
    }

    private static void Rewards(List<HostileCase> all)
    {
        void T(string name, string token, string field = "token", string? actual = null, string? reason = "token-invalid") =>
            all.Add(Bad($"reward: token {name}", "POST", Reward, $$"""{"token":{{token}},"reward":1}""", field, actual, reason));

        T("'a.b'", "\"a.b\"");
        T("'AAAA.BBBB'", "\"AAAA.BBBB\"");
        T("'.'", "\".\"");
        T("'a.b.c'", "\"a.b.c\"");
        T("of garbage", "\"garbage\"");
        T("empty", "\"\"");
        T("of 10000 characters", $"\"{new string('A', 5000)}.{new string('B', 4999)}\"");
        T("with a control character", "\"a\\u0000.b\"");
        T("forged (one character changed)", "\"{forgedToken}\"");
        T("of another bank of the tenant", "\"{otherToken}\"");
        T("of another tenant's bank of the same name", "\"{betaToken}\"");
        T("as a number", "5", actual: "5", reason: null);
        T("as an array", "[\"{token}\"]", reason: null);
        T("null", "null", reason: "missing");
        all.Add(Bad("reward: token missing", "POST", Reward, """{"reward":1}""", "token", null, "missing"));
        all.Add(Bad("reward: alpha's token on beta's bank of the same name", "POST", Reward, """{"token":"{token}","reward":1}""", "token", null, "token-invalid") with { Key = "beta" });

        void R(string name, string reward, string? actual = "*", string? reason = null) =>
            all.Add(Bad($"reward: reward {name}", "POST", Reward, $$"""{"token":"{token}","reward":{{reward}}}""", "reward", actual, reason));

        R("\"NaN\"", "\"NaN\"", "NaN");
        R("NaN bare", "NaN", "NaN");
        R("\"Infinity\"", "\"Infinity\"", "Infinity");
        R("Infinity bare", "Infinity", "Infinity");
        R("-Infinity bare", "-Infinity", "-Infinity");
        R("1e309", "1e309", "1e309");
        R("-1e309", "-1e309", "-1e309");
        R("as a word", "\"high\"", "high");
        R("true", "true", "true");
        R("as an array", "[1]");
        R("as an object", "{}");
        R("null", "null", null, "missing");
        all.Add(Bad("reward: reward missing", "POST", Reward, """{"token":"{token}"}""", "reward", null, "missing"));

        void M(string name, string ids, string field, string? actual = "*") =>
            all.Add(Bad($"reward: memoryIds {name}", "POST", Reward, $$"""{"token":"{token}","reward":1,"memoryIds":{{ids}}}""", field, actual));

        M("as a string", "\"{returned}\"", "memoryIds");
        M("with a number", "[5]", "memoryIds[0]", "5");
        M("with garbage", "[\"garbage\"]", "memoryIds[0]", "garbage");
        M("with garbage second", "[\"{returned}\",\"nope\"]", "memoryIds[1]", "nope");
        M("with null", "[null]", "memoryIds[0]", null);
        M("naming a memory the recall did not return", "[\"{returned}\",\"{notReturned}\"]", "memoryIds[1]", "{notReturned}");
        M("naming another bank's memory", "[\"{otherId}\"]", "memoryIds[0]", "{otherId}");
        M("naming another tenant's memory", "[\"{betaId}\"]", "memoryIds[0]", "{betaId}");
        M("naming a forged id", "[\"{forgedId}\"]", "memoryIds[0]", "{forgedId}");
        M("with 65 ids", "[" + string.Join(',', Enumerable.Repeat("\"{returned}\"", 65)) + "]", "memoryIds");

        all.Add(Bad("reward: unknown member rewrd", "POST", Reward, """{"token":"{token}","reward":1,"rewrd":1}""", "rewrd", "*", "unknown-member"));
        all.Add(Bad("reward: unknown member memoryId (singular)", "POST", Reward, """{"token":"{token}","reward":1,"memoryId":"{returned}"}""", "memoryId", "*", "unknown-member"));
        all.Add(Bad("reward: body an array", "POST", Reward, "[]", null, null));
        all.Add(Bad("reward: body null", "POST", Reward, "null", null, null));
        all.Add(Bad("reward: body truncated", "POST", Reward, """{"token":"{token}","rew""", null, null));
        all.Add(Bad("reward: Idempotency-Key of 201 characters", "POST", Reward, """{"token":"{token}","reward":1}""", "Idempotency-Key", "*") with
        {
            Headers = [("Idempotency-Key", new string('k', 201))],
        });
        all.Add(Bad("reward: Idempotency-Key empty", "POST", Reward, """{"token":"{token}","reward":1}""", "Idempotency-Key", null) with
        {
            Headers = [("Idempotency-Key", "")],
        });
        all.Add(Bad("reward: Idempotency-Key with a control character", "POST", Reward, """{"token":"{token}","reward":1}""", "Idempotency-Key", null) with
        {
            Headers = [("Idempotency-Key", "a\u0001b")],
        });
    }

    private static void Writes(List<HostileCase> all)
    {
        string Body(string intent) => $$"""{"intent":{{intent}},"experience":"e","success":true}""";
        void I(string name, string intent, string field, string? actual = "*", string? reason = null) =>
            all.Add(Bad($"write: intent {name}", "POST", Write, Body(intent), field, actual, reason));

        I("empty", "[]", "intent");
        I("of 3 dimensions", "[1,0,0]", "intent");
        I("zero", VAll("0"), "intent");
        I("1e39 in one element", VAt3("1e39"), "intent[3]", "1e39");
        I("NaN as a string", VAt3("\"NaN\""), "intent[3]", "NaN");
        I("NaN as a bare token", VAt3("NaN"), "intent[3]", "NaN");
        I("Infinity as a bare token", VAt3("Infinity"), "intent[3]", "Infinity");
        I("-Infinity as a string", VAt3("\"-Infinity\""), "intent[3]", "-Infinity");
        I("null element", VAt3("null"), "intent[3]", "null");
        I("as a string", "\"up\"", "intent", "up");
        all.Add(Bad("write: neither intent nor intentText", "POST", Write, """{"experience":"e","success":true}""", "intent", null, "missing"));
        all.Add(Bad("write: intentText over 64 Ki", "POST", Write, $$"""{"intent":{{V()}},"intentText":"{{new string('t', (64 * 1024) + 1)}}","experience":"e","success":true}""", "intentText"));
        all.Add(Bad("write: embedderId of another model", "POST", Write, $$"""{"intent":{{V()}},"experience":"e","success":true,"embedderId":"other-model"}""", "embedderId", "other-model"));

        void F(string name, string body, string field, string? actual = "*", string? reason = null) =>
            all.Add(Bad($"write: {name}", "POST", Write, body, field, actual, reason));

        F("experience missing", $$"""{"intent":{{V()}},"success":true}""", "experience", null, "missing");
        F("experience null", $$"""{"intent":{{V()}},"experience":null,"success":true}""", "experience", null, "missing");
        F("experience a number", $$"""{"intent":{{V()}},"experience":5,"success":true}""", "experience", "5");
        F("experience an array", $$"""{"intent":{{V()}},"experience":["e"],"success":true}""", "experience");
        F("experience over 1 Mi characters", $$"""{"intent":{{V()}},"experience":"{{new string('x', (1 << 20) + 1)}}","success":true}""", "experience");
        F("success missing", $$"""{"intent":{{V()}},"experience":"e"}""", "success", null, "missing");
        F("success null", $$"""{"intent":{{V()}},"experience":"e","success":null}""", "success", null, "missing");
        F("success a string", $$"""{"intent":{{V()}},"experience":"e","success":"true"}""", "success", "true");
        F("success a number", $$"""{"intent":{{V()}},"experience":"e","success":1}""", "success", "1");
        F("recallToken 'a.b'", $$"""{"intent":{{V()}},"experience":"e","success":true,"recallToken":"a.b"}""", "recallToken", null, "token-invalid");
        F("recallToken forged", $$"""{"intent":{{V()}},"experience":"e","success":true,"recallToken":"{forgedToken}"}""", "recallToken", null, "token-invalid");
        F("recallToken of another bank", $$"""{"intent":{{V()}},"experience":"e","success":true,"recallToken":"{otherToken}"}""", "recallToken", null, "token-invalid");
        F("recallToken of another tenant", $$"""{"intent":{{V()}},"experience":"e","success":true,"recallToken":"{betaToken}"}""", "recallToken", null, "token-invalid");
        F("recallToken a number", $$"""{"intent":{{V()}},"experience":"e","success":true,"recallToken":5}""", "recallToken", "5");
        F("unknown member sucess", $$"""{"intent":{{V()}},"experience":"e","success":true,"sucess":false}""", "sucess", "*", "unknown-member");
        F("unknown member intentTxt", $$"""{"intent":{{V()}},"experience":"e","success":true,"intentTxt":"x"}""", "intentTxt", "*", "unknown-member");
        F("ttlSeconds 0", $$"""{"intent":{{V()}},"experience":"e","success":true,"ttlSeconds":0}""", "ttlSeconds", "0");
        F("ttlSeconds 0.5 (under a second)", $$"""{"intent":{{V()}},"experience":"e","success":true,"ttlSeconds":0.5}""", "ttlSeconds", "0.5");
        F("ttlSeconds -1", $$"""{"intent":{{V()}},"experience":"e","success":true,"ttlSeconds":-1}""", "ttlSeconds", "-1");
        F("ttlSeconds past 100 years", $$"""{"intent":{{V()}},"experience":"e","success":true,"ttlSeconds":3155760001}""", "ttlSeconds", "3155760001");
        F("ttlSeconds NaN", $$"""{"intent":{{V()}},"experience":"e","success":true,"ttlSeconds":"NaN"}""", "ttlSeconds", "*");
        F("ttlSeconds Infinity bare", $$"""{"intent":{{V()}},"experience":"e","success":true,"ttlSeconds":Infinity}""", "ttlSeconds", "*");
        F("ttlSeconds 1e309", $$"""{"intent":{{V()}},"experience":"e","success":true,"ttlSeconds":1e309}""", "ttlSeconds", "*");
        F("ttlSeconds a word", $$"""{"intent":{{V()}},"experience":"e","success":true,"ttlSeconds":"soon"}""", "ttlSeconds", "*");
        F("unknown member q", $$"""{"intent":{{V()}},"experience":"e","success":true,"q":1e308}""", "q", "*", "unknown-member");
        all.Add(Bad("write: beta's write with alpha's recallToken", "POST", Write, Body(V()).Replace("}", ",\"recallToken\":\"{token}\"}", StringComparison.Ordinal), "recallToken", null, "token-invalid") with { Key = "beta" });
        all.Add(Bad("write: Idempotency-Key of 201 characters", "POST", Write, Body(V()), "Idempotency-Key", "*") with { Headers = [("Idempotency-Key", new string('k', 201))] });
        all.Add(Bad("write: Idempotency-Key with a control character", "POST", Write, Body(V()), "Idempotency-Key", null) with { Headers = [("Idempotency-Key", "a\u0007b")] });
        all.Add(Bad("write: body an array", "POST", Write, "[]", null, null));
        all.Add(Bad("write: body null", "POST", Write, "null", null, null));
        all.Add(Bad("write: body truncated", "POST", Write, """{"intent":[1,2""", null, null));
    }

    private static void Listing(List<HostileCase> all)
    {
        void L(string name, string query, string field, string? actual, string? reason = null) =>
            all.Add(Bad($"list: {name}", "GET", $"{Write}?{query}", null, field, actual, reason));

        L("limit 0", "limit=0", "limit", "0");
        L("limit -1", "limit=-1", "limit", "-1");
        L("limit 1001", "limit=1001", "limit", "1001");
        L("limit 2147483648", "limit=2147483648", "limit", "2147483648");
        L("limit 99999999999999999999", "limit=99999999999999999999", "limit", "99999999999999999999");
        L("limit abc", "limit=abc", "limit", "abc");
        L("limit 1.5", "limit=1.5", "limit", "1.5");
        L("limit 1e3", "limit=1e3", "limit", "1e3");
        L("limit given twice", "limit=1&limit=2", "limit", null);
        L("state unknown", "state=deleted", "state", "deleted");
        L("state in another case", "state=Archived", "state", "Archived");
        L("state empty", "state=", "state", null);
        L("state a number", "state=1", "state", "1");
        L("state given twice", "state=active&state=archived", "state", null);
        L("cursor of garbage", "cursor=garbage", "cursor", "garbage", "cursor-invalid");
        L("cursor 'a.b'", "cursor=a.b", "cursor", "a.b", "cursor-invalid");
        L("cursor forged (shard 99)", "cursor={forgedCursor}", "cursor", "{forgedCursor}", "cursor-invalid");
        L("cursor of another bank of the tenant", "cursor={otherCursor}", "cursor", "{otherCursor}", "cursor-invalid");
        L("cursor of another tenant's bank of the same name", "cursor={betaCursor}", "cursor", "{betaCursor}", "cursor-invalid");
        // Over the API's query-string limit: refused on the raw target before routing. A query value is data, though:
        // a NUL in a cursor is the listing's bad cursor.
        L("cursor of 5000 characters", $"cursor={new string('A', 5000)}", "path", "*");
        all.Add(Bad("list: cursor with a NUL", "GET", $"{Write}?cursor=%00", null, "cursor", null, "cursor-invalid") with { TransportRejection = true });
        L("cursor given twice", "cursor={cursor}&cursor={cursor}", "cursor", null, "cursor-invalid");
        all.Add(Bad("list: beta lists its bank with alpha's cursor", "GET", $"{Write}?cursor={{cursor}}", null, "cursor", "{cursor}", "cursor-invalid") with { Key = "beta" });
    }

    private static void MemoryPaths(List<HostileCase> all)
    {
        foreach (var (method, action) in new[] { ("GET", ""), ("DELETE", ""), ("PATCH", ""), ("POST", "/archive"), ("POST", "/restore") })
        {
            // An edit's body is good: only its id is wrong.
            string? body = method == "PATCH" ? """{"experience":"x"}""" : null;
            string label = method + action;
            void B(string name, string id, string? actual = "*") =>
                all.Add(Bad($"{label} memory: id {name}", method, $"{Write}/{id}{action}", body, "memoryId", actual));
            void N(string name, string id, string key = "alpha") =>
                all.Add(new HostileCase($"{label} memory: {name}", method, $"{Write}/{id}{action}", body, 404, "memoryId") { Key = key });

            B("of garbage", "garbage", "garbage");
            B("'1-2-3'", "1-2-3", "1-2-3");
            B("with the slot out of range", "00000001-ffff-1", "00000001-ffff-1");
            B("of 41 characters", "00000001-0001-" + new string('1', 27));
            B("a space", "%20", " ");
            B("non-ASCII", "%C3%A9", "é");
            all.Add(Bad($"{label} memory: id a NUL", method, $"{Write}/%00{action}", body, "memoryId", null) with { TransportRejection = true });
            B("double-encoded dots", "%252E%252E", "%2E%2E");
            // Longer than the API's path limit: refused on the raw target before routing, so it names the path.
            all.Add(Bad($"{label} memory: id of 7000 characters", method, $"{Write}/{new string('a', 7000)}{action}", body, "path", "*") with { AlsoFields = ["memoryId"] });
            N("id forged", "{forgedId}");
            N("id of another bank of the tenant", "{otherId}");
            N("id of another tenant's bank of the same name", "{betaId}");
            N("beta asks for alpha's id on its bank of the same name", "{id}", "beta");
        }
    }

    // An edit replaces the experience and/or the whole metadata of a memory: a body with neither, of the wrong type, over
    // the limits or with a member it does not know is refused naming the member, and the memory is unchanged.
    private static void Edits(List<HostileCase> all)
    {
        void P(string name, string body, string field, string? actual = "*", string? reason = null) =>
            all.Add(Bad($"edit: {name}", "PATCH", Write + "/{id}", body, field, actual, reason));

        P("an empty object", "{}", "experience", null, "missing");
        P("experience and metadata null", """{"experience":null,"metadata":null}""", "experience", null, "missing");
        P("experience a number", """{"experience":5}""", "experience");
        P("experience an array", """{"experience":["e"]}""", "experience");
        P("experience over 1 Mi characters", $$"""{"experience":"{{new string('x', (1 << 20) + 1)}}"}""", "experience");
        P("metadata an array", """{"metadata":["a"]}""", "metadata");
        P("metadata with a bad key", """{"metadata":{"bad key!":"v"}}""", "metadata.bad key!", null);
        P("metadata with a number value", """{"metadata":{"a":1}}""", "metadata.a");
        P("metadata of 17 entries", "{\"metadata\":{" + string.Join(',', Enumerable.Range(0, 17).Select(i => $"\"k{i}\":\"v\"")) + "}}", "metadata", null);
        P("unknown member experiance", """{"experiance":"x"}""", "experiance", "*", "unknown-member");
        P("unknown member q", """{"experience":"x","q":1e308}""", "q", "*", "unknown-member");
        P("unknown member scope (a memory's scope is not edited)", """{"experience":"x","scope":{"userId":"u"}}""", "scope", "*", "unknown-member");
        P("not an object", "[1]", "body", null);
    }

    // Dot segments, encoded slashes and control characters must never reach a route they do not name: Kestrel collapses
    // "/memories/.." to the bank itself, and DELETE of that deleted the whole bank.
    private static void PathTricks(List<HostileCase> all)
    {
        void D(string name, string method, string path, string field = "path") =>
            all.Add(Bad($"path: {method} {name}", method, path, null, field, "*"));
        // Not dot segments, but characters no id or bank name has: a bad path or a bad id, as the server sees it.
        void E(string name, string method, string path) =>
            all.Add(Bad($"path: {method} {name}", method, path, null, "path", "*") with { AlsoFields = ["memoryId"] });

        D("memories/..", "DELETE", $"{Write}/..");
        all.Add(Bad("path: PATCH memories/..", "PATCH", $"{Write}/..", """{"experience":"x"}""", "path", "*"));
        all.Add(Bad("path: PATCH memories/%2E%2E", "PATCH", $"{Write}/%2E%2E", """{"experience":"x"}""", "path", "*"));
        all.Add(Bad("path: PATCH memories/{id}/..", "PATCH", $"{Write}/{{id}}/..", """{"experience":"x"}""", "path", "*"));
        D("memories/../archive", "POST", $"{Write}/../archive");
        D("memories/%2E%2E/restore", "POST", $"{Write}/%2E%2E/restore");
        D("memories/{id}/archive/..", "POST", $"{Write}/{{id}}/archive/..");
        D("memories/%2E%2E", "DELETE", $"{Write}/%2E%2E");
        D("memories/%2e%2e", "DELETE", $"{Write}/%2e%2e");
        D("memories/.%2E", "DELETE", $"{Write}/.%2E");
        D("memories/.", "DELETE", $"{Write}/.");
        D("memories/%2E", "DELETE", $"{Write}/%2E");
        D("memories/../..", "DELETE", $"{Write}/../..");
        D("memories/{id}/..", "DELETE", $"{Write}/{{id}}/..");
        // Encoded separators are refused on the raw target before routing: the answer names the path.
        D("memories/%2E%2E%2F%2E%2E", "DELETE", $"{Write}/%2E%2E%2F%2E%2E", "path");
        D("banks/x/../{bank}", "DELETE", "/v1/banks/x/../{bank}");
        D("banks/x/%2E%2E/{bank}", "DELETE", "/v1/banks/x/%2E%2E/{bank}");
        D("banks/{bank}/./memories/{id}", "DELETE", "/v1/banks/{bank}/./memories/{id}");
        D("banks/{bank}/stats/..", "DELETE", $"{Bank}/stats/..");
        E("banks/{bank}/memories/..;", "DELETE", $"{Write}/..;");
        E("overlong UTF-8 dots", "DELETE", $"{Write}/%C0%AE%C0%AE");
        D("memories/.. (GET)", "GET", $"{Write}/..");
        D("banks/{bank}/.. (GET)", "GET", $"{Bank}/..");
        D("banks/%2E%2E (GET)", "GET", "/v1/banks/%2E%2E");
        all.Add(Bad("path: DELETE absolute-form target with ..", "DELETE", "http://127.0.0.1/v1/banks/{bank}/memories/..", null, "path", "*") with { TransportRejection = true });
        E("memories/..\\", "DELETE", $"{Write}/..\\");
        D("encoded slash in the bank name", "DELETE", "/v1/banks/{bank}%2Fmemories%2F{id}", "path");
        D("encoded slash in the id", "DELETE", $"{Write}/{{id}}%2F..", "path");
        D("encoded backslash in the id", "DELETE", $"{Write}/{{id}}%5C..", "path");
        E("a raw control character", "DELETE", $"{Write}/a\u0001b");
        E("a raw tab", "DELETE", $"{Write}/a\tb");
        E("a raw DEL", "DELETE", $"{Write}/a\u007fb");
        // Over Kestrel's request-line limit: refused before routing (400 or 414), and still as problem details.
        all.Add(Bad("path: DELETE an id of 20000 characters", "DELETE", $"{Write}/{new string('a', 20000)}", null, null, null) with { AlsoAccepted = [414], TransportRejection = true });
        all.Add(Bad("path: GET a bank name of 20000 characters", "GET", $"/v1/banks/{new string('b', 20000)}", null, null, null) with { AlsoAccepted = [414], TransportRejection = true });
    }

    private static void Banks(List<HostileCase> all)
    {
        string Spec(string extra) => $$"""{"name":"{newBank}","dimension":16,"embedderId":"test-embedder"{{extra}}}""";
        void C(string name, string body, string field, string? actual = "*", string? reason = null) =>
            all.Add(Bad($"create: {name}", "POST", "/v1/banks", body, field, actual, reason));

        C("name missing", """{"dimension":16,"embedderId":"test-embedder"}""", "name", null, "missing");
        C("name null", """{"name":null,"dimension":16,"embedderId":"test-embedder"}""", "name", null, "missing");
        C("name empty", """{"name":"","dimension":16,"embedderId":"test-embedder"}""", "name", "");
        C("name with a space", """{"name":"a b","dimension":16,"embedderId":"test-embedder"}""", "name", "a b");
        C("name with a slash", """{"name":"a/b","dimension":16,"embedderId":"test-embedder"}""", "name", "a/b");
        C("name non-ASCII", """{"name":"bänk","dimension":16,"embedderId":"test-embedder"}""", "name", "bänk");
        C("name of 96 characters", $$"""{"name":"{{new string('n', 96)}}","dimension":16,"embedderId":"test-embedder"}""", "name");
        C("name a number", """{"name":5,"dimension":16,"embedderId":"test-embedder"}""", "name", "5");
        C("name an array", """{"name":["x"],"dimension":16,"embedderId":"test-embedder"}""", "name");
        C("dimension 0", Spec("").Replace("16", "0", StringComparison.Ordinal), "dimension", "0");
        C("dimension -1", Spec("").Replace("16", "-1", StringComparison.Ordinal), "dimension", "-1");
        C("dimension 8193", Spec("").Replace("16", "8193", StringComparison.Ordinal), "dimension", "8193");
        C("dimension 2147483648", Spec("").Replace("16", "2147483648", StringComparison.Ordinal), "dimension", "2147483648");
        C("dimension 1.5", Spec("").Replace("16", "1.5", StringComparison.Ordinal), "dimension", "1.5");
        C("shardCount 0", Spec(",\"shardCount\":0"), "shardCount", "0");
        C("shardCount 65", Spec(",\"shardCount\":65"), "shardCount", "65");
        C("shardCount -1", Spec(",\"shardCount\":-1"), "shardCount", "-1");
        C("shardCount 2147483647", Spec(",\"shardCount\":2147483647"), "shardCount", "2147483647");
        C("options.alpha 1.5", Spec(",\"options\":{\"alpha\":1.5}"), "options.alpha", "1.5");
        C("options.lambda NaN", Spec(",\"options\":{\"lambda\":NaN}"), "options.lambda", "NaN");
        C("options.k1 0", Spec(",\"options\":{\"k1\":0}"), "options.k1", "0");
        C("options.lamda (unknown)", Spec(",\"options\":{\"lamda\":0.5}"), "options.lamda", "*", "unknown-member");
        C("options.retention.maxActive 0", Spec(",\"options\":{\"retention\":{\"maxActive\":0}}"), "options.retention.maxActive", "0");
        C("options a string", Spec(",\"options\":\"fast\""), "options", "fast");
        C("index.m 0", Spec(",\"index\":{\"m\":0}"), "index.m", "0");
        C("index.m -1", Spec(",\"index\":{\"m\":-1}"), "index.m", "-1");
        C("index.efSearch 0", Spec(",\"index\":{\"efSearch\":0}"), "index.efSearch", "0");
        C("index.exact a string", Spec(",\"index\":{\"exact\":\"yes\"}"), "index.exact", "yes");
        C("index.mm (unknown)", Spec(",\"index\":{\"mm\":4}"), "index.mm", "*", "unknown-member");
        C("embedderId empty", Spec("").Replace("test-embedder", "", StringComparison.Ordinal), "embedderId", "");
        C("unknown member nmae", Spec(",\"nmae\":\"x\""), "nmae", "*", "unknown-member");
        all.Add(Bad("create: body an array", "POST", "/v1/banks", "[]", null, null));
        all.Add(Bad("create: body truncated", "POST", "/v1/banks", "{\"name\":", null, null));
        all.Add(new HostileCase("create: the same name with another spec", "POST", "/v1/banks", """{"name":"{bank}","dimension":32,"embedderId":"test-embedder"}""", 409, "name"));

        void G(string name, string method, string path, int status, string field, string? actual = "*", string key = "alpha") =>
            all.Add(new HostileCase($"{method} bank: {name}", method, path, null, status, field, actual) { Key = key });

        foreach (string suffix in new[] { "", "/stats" })
        {
            string label = suffix.Length == 0 ? "describe" : "stats";
            G($"{label} of a bank never created", "GET", $"/v1/banks/never-created{suffix}", 404, "bank", "never-created");
            G($"{label} of a bank only beta has", "GET", $"/v1/banks/{{betaOnlyBank}}{suffix}", 404, "bank", "{betaOnlyBank}");
            G($"{label} of a name with a space", "GET", $"/v1/banks/a%20b{suffix}", 400, "bank", "a b");
            G($"{label} of a name of 200 characters", "GET", $"/v1/banks/{new string('n', 200)}{suffix}", 400, "bank");
        }

        G("delete a bank never created", "DELETE", "/v1/banks/never-created", 404, "bank", "never-created");
        G("delete a bank only beta has", "DELETE", "/v1/banks/{betaOnlyBank}", 404, "bank", "{betaOnlyBank}");
        G("delete a name with a space", "DELETE", "/v1/banks/a%20b", 400, "bank", "a b");
        G("delete a name of 200 characters", "DELETE", $"/v1/banks/{new string('n', 200)}", 400, "bank");
        all.Add(new HostileCase("DELETE bank: delete a name with a NUL", "DELETE", "/v1/banks/a%00b", null, 400, "bank") { TransportRejection = true });

        foreach (var (label, method, path, body) in new[]
        {
            ("recall", "POST", "/v1/banks/{betaOnlyBank}/recall", $$"""{"query":{{V()}}}"""),
            ("reward", "POST", "/v1/banks/{betaOnlyBank}/reward", """{"token":"{betaToken}","reward":1}"""),
            ("write", "POST", "/v1/banks/{betaOnlyBank}/memories", $$"""{"intent":{{V()}},"experience":"e","success":true}"""),
            ("list", "GET", "/v1/banks/{betaOnlyBank}/memories", (string?)null),
            ("get memory", "GET", "/v1/banks/{betaOnlyBank}/memories/{betaId}", null),
            ("delete memory", "DELETE", "/v1/banks/{betaOnlyBank}/memories/{betaId}", null),
            ("archive memory", "POST", "/v1/banks/{betaOnlyBank}/memories/{betaId}/archive", null),
            ("restore memory", "POST", "/v1/banks/{betaOnlyBank}/memories/{betaId}/restore", null),
            ("retention run", "POST", "/v1/banks/{betaOnlyBank}/retention:run", null),
            ("patch options", "PATCH", "/v1/banks/{betaOnlyBank}/options", """{"alpha":0.5}"""),
            ("calibrate", "POST", "/v1/banks/{betaOnlyBank}/calibrate", """{"apply":true}"""),
        })
        {
            all.Add(new HostileCase($"tenant: {label} on a bank only beta has", method, path, body, 404, "bank", "{betaOnlyBank}"));
        }
    }

    private static void OptionsCases(List<HostileCase> all)
    {
        void O(string method, string name, string body, string? field, string? actual = "*", string? reason = null) =>
            all.Add(Bad($"{method} options: {name}", method, Options, body, field, actual, reason));

        O("PATCH", "alpha 1.5", """{"alpha":1.5}""", "alpha", "1.5");
        O("PATCH", "alpha -0.1", """{"alpha":-0.1}""", "alpha", "-0.1");
        O("PATCH", "alpha \"NaN\"", """{"alpha":"NaN"}""", "alpha", "NaN");
        O("PATCH", "alpha NaN bare", """{"alpha":NaN}""", "alpha", "NaN");
        O("PATCH", "alpha 1e309", """{"alpha":1e309}""", "alpha", "1e309");
        O("PATCH", "lambda 2", """{"lambda":2}""", "lambda", "2");
        O("PATCH", "k1 0", """{"k1":0}""", "k1", "0");
        O("PATCH", "k2 0", """{"k2":0}""", "k2", "0");
        O("PATCH", "k1 2147483648", """{"k1":2147483648}""", "k1", "2147483648");
        O("PATCH", "k2 above k1", """{"k1":2,"k2":5}""", "k2", "5");
        O("PATCH", "delta 5", """{"delta":5}""", "delta", "5");
        O("PATCH", "mergeThreshold a string", """{"mergeThreshold":"x"}""", "mergeThreshold", "x");
        O("PATCH", "maxMemoriesPerKey -1", """{"maxMemoriesPerKey":-1}""", "maxMemoriesPerKey", "-1");
        O("PATCH", "similarityNormalization unknown", """{"similarityNormalization":"Bogus"}""", "similarityNormalization", "Bogus");
        O("PATCH", "lamda (unknown)", """{"lamda":0.5}""", "lamda", "*", "unknown-member");
        O("PATCH", "alpha valid, lamda unknown", """{"alpha":0.4,"lamda":0.5}""", "lamda", "*", "unknown-member");
        // The retention policy (docs/retention.md): each field's range, named with its path; an unknown field is refused.
        O("PATCH", "retention.maxActive 0", """{"retention":{"maxActive":0}}""", "retention.maxActive", "0");
        O("PATCH", "retention.lowQMinVisits 0", """{"retention":{"lowQThreshold":-0.5,"lowQMinVisits":0}}""", "retention.lowQMinVisits", "0");
        O("PATCH", "retention.lowQThreshold NaN", """{"retention":{"lowQThreshold":"NaN"}}""", "retention.lowQThreshold", "NaN");
        O("PATCH", "retention.idleWindowSeconds 0.5", """{"retention":{"idleWindowSeconds":0.5}}""", "retention.idleWindowSeconds", "0.5");
        O("PATCH", "retention.idleWindowSeconds 1e300", """{"retention":{"idleWindowSeconds":1e300}}""", "retention.idleWindowSeconds", "1E+300");
        O("PATCH", "retention.retentionPeriodSeconds -1", """{"retention":{"retentionPeriodSeconds":-1}}""", "retention.retentionPeriodSeconds", "-1");
        O("PATCH", "retention.maxPerRun 100001", """{"retention":{"maxPerRun":100001}}""", "retention.maxPerRun", "100001");
        O("PATCH", "retention.maxPerRun 1.5", """{"retention":{"maxPerRun":1.5}}""", "retention.maxPerRun", "1.5");
        O("PATCH", "retention.protectQ a string", """{"retention":{"protectQ":"high"}}""", "retention.protectQ", "high");
        O("PATCH", "retention an array", """{"retention":[1]}""", "retention");
        O("PATCH", "retention.maxActiv (unknown)", """{"retention":{"maxActiv":5}}""", "retention.maxActiv", "*", "unknown-member");
        O("PUT", "retention.maxActive -1", FullOptions("retention", """{"maxActive":-1}"""), "retention.maxActive", "-1");
        O("PATCH", "body an array", "[]", null, null);
        O("PATCH", "body null", "null", null, null);
        O("PATCH", "body truncated", "{\"alpha\":", null, null);
        // PUT replaces the options whole, so every case sends all of them with one member wrong (or one missing).
        O("PUT", "alpha 1.5", FullOptions("alpha", "1.5"), "alpha", "1.5");
        O("PUT", "alpha NaN bare", FullOptions("alpha", "NaN"), "alpha", "NaN");
        O("PUT", "k1 0", FullOptions("k1", "0"), "k1", "0");
        O("PUT", "lamda (unknown)", FullOptions("lamda", "0.5"), "lamda", "*", "unknown-member");
        O("PUT", "one option only", """{"alpha":0.4}""", "lambda", null, "missing");
        O("PUT", "epsilon missing", FullOptions("epsilon", null), "epsilon", null, "missing");
        O("PUT", "body an array", "[]", null, null);
    }

    private static void Calibrations(List<HostileCase> all)
    {
        void K(string name, string body, string field, string? actual = "*", string? reason = null) =>
            all.Add(Bad($"calibrate: {name}", "POST", Calibrate, body, field, actual, reason));

        K("sample 1", """{"sample":1}""", "sample", "1");
        K("sample -1", """{"sample":-1}""", "sample", "-1");
        K("sample 5001", """{"sample":5001}""", "sample", "5001");
        K("sample 2147483648", """{"sample":2147483648}""", "sample", "2147483648");
        K("sample 1e308", """{"sample":1e308}""", "sample", "1e308");
        K("sample a string", """{"sample":"many"}""", "sample", "many");
        K("apply a string", """{"apply":"yes"}""", "apply", "yes");
        K("unknown member sampel", """{"sampel":10}""", "sampel", "*", "unknown-member");
        all.Add(new HostileCase("calibrate: apply with a read-only key", "POST", Calibrate, """{"apply":true}""", 403, "Authorization") { Key = "reader" });
    }

    // A batch names a bad item by its index: the item's own field follows (items[1].intent[3]); the good item before it
    // is not written (the scene must be unchanged).
    private static void Batches(List<HostileCase> all)
    {
        string Good() => $$"""{"intent":{{V()}},"experience":"e","success":true}""";
        void B(string name, string item, string field, string? actual = "*", string? reason = null) =>
            all.Add(Bad($"batch: {name}", "POST", Batch, $$"""{"items":[{{Good()}},{{item}}]}""", field, actual, reason));

        B("intent of 3 dimensions", """{"intent":[1,0,0],"experience":"e","success":true}""", "items[1].intent");
        B("intent NaN", $$"""{"intent":{{VAt3("\"NaN\"")}},"experience":"e","success":true}""", "items[1].intent[3]", "NaN");
        B("intent zero", $$"""{"intent":{{VAll("0")}},"experience":"e","success":true}""", "items[1].intent");
        B("neither intent nor intentText", """{"experience":"e","success":true}""", "items[1].intent", null, "missing");
        B("experience missing", $$"""{"intent":{{V()}},"success":true}""", "items[1].experience", null, "missing");
        B("success missing", $$"""{"intent":{{V()}},"experience":"e"}""", "items[1].success", null, "missing");
        B("experience over 1 Mi characters", $$"""{"intent":{{V()}},"experience":"{{new string('x', (1 << 20) + 1)}}","success":true}""", "items[1].experience");
        B("idempotencyKey of 201 characters", $$"""{"intent":{{V()}},"experience":"e","success":true,"idempotencyKey":"{{new string('k', 201)}}"}""", "items[1].idempotencyKey");
        B("item null", "null", "items[1]", null, "missing");
        all.Add(Bad("batch: items empty", "POST", Batch, """{"items":[]}""", "items", "0"));
        all.Add(Bad("batch: items missing", "POST", Batch, "{}", "items", null, "missing"));
        all.Add(Bad("batch: 1001 items", "POST", Batch, "{\"items\":[" + string.Join(',', Enumerable.Repeat(Good(), 1001)) + "]}", "items", "1001"));
        all.Add(Bad("batch: Idempotency-Key of 201 characters", "POST", Batch, $$"""{"items":[{{Good()}}]}""", "Idempotency-Key", "*") with { Headers = [("Idempotency-Key", new string('k', 201))] });
        all.Add(Bad("batch: body an array", "POST", Batch, "[]", null, null));
        all.Add(Bad("batch: body truncated", "POST", Batch, """{"items":[{"intent":[1,2""", null, null));
    }

    /// <summary>Every route, as (label, method, path, body): the access and transport cases run over all of them.</summary>
    public static IReadOnlyList<(string Label, string Method, string Path, string? Body)> Routes { get; } =
    [
        ("create bank", "POST", "/v1/banks", """{"name":"{newBank}","dimension":16,"embedderId":"test-embedder"}"""),
        ("describe bank", "GET", Bank, null),
        ("patch options", "PATCH", Options, """{"alpha":0.4}"""),
        ("put options", "PUT", Options, """{"alpha":0.4}"""),
        ("delete bank", "DELETE", Bank, null),
        ("stats", "GET", Bank + "/stats", null),
        ("calibrate", "POST", Calibrate, """{"apply":true}"""),
        ("recall", "POST", Recall, $$"""{"query":{{V()}}}"""),
        ("reward", "POST", Reward, """{"token":"{token}","reward":1}"""),
        ("write", "POST", Write, $$"""{"intent":{{V()}},"experience":"e","success":true}"""),
        ("write batch", "POST", Batch, $$"""{"items":[{"intent":{{V()}},"experience":"e","success":true}]}"""),
        ("list", "GET", Write, null),
        ("get memory", "GET", Write + "/{id}", null),
        ("edit memory", "PATCH", Write + "/{id}", """{"experience":"x"}"""),
        ("delete memory", "DELETE", Write + "/{id}", null),
        ("archive memory", "POST", Write + "/{id}/archive", null),
        ("restore memory", "POST", Write + "/{id}/restore", null),
        ("retention run", "POST", Bank + "/retention:run", null),
        ("export", "GET", Export, null),
        ("import", "POST", Import, null),
    ];

    // An import's body is an export stream, not JSON: what is not one is refused with the stream's defect, and nothing
    // is created (the harness checks {newBank} does not exist after each case).
    private static void Transfers(List<HostileCase> all)
    {
        const string type = "application/vnd.memrl.export";
        all.Add(new HostileCase("import: empty body", "POST", Import, "", 400, "stream.magic", "0 byte(s)", "export-corrupted") { ContentType = type });
        all.Add(new HostileCase("import: not an export", "POST", Import, """{"name":"x"}""", 400, "stream.magic", "*", "export-corrupted") { ContentType = type });
        all.Add(new HostileCase("import: preamble only", "POST", Import, null, 400, "stream.frame[0]", "*", "export-truncated")
        {
            ContentType = type,
            BodyBytes = [.. "MEMRLEXP"u8, 0x01, 0x00],
        });
        all.Add(new HostileCase("import: a newer version", "POST", Import, null, 400, "stream.formatVersion", "32767", "export-version")
        {
            ContentType = type,
            BodyBytes = [.. "MEMRLEXP"u8, 0xff, 0x7f],
        });
        all.Add(new HostileCase("import: into an existing bank", "POST", "/v1/banks/{bank}/import", "MEMRLEXP", 409, "bank") { ContentType = type });
        // A backup of a bank is only for a key in Authorization, not one in another header a proxy might log.
        all.Add(new HostileCase("export: a key in X-Api-Key", "GET", Export, null, 401, "Authorization")
        {
            Key = "none",
            Headers = [("X-Api-Key", "memrl_test-alpha-key-0000")],
        });
        all.Add(new HostileCase("export: another tenant's bank", "GET", "/v1/banks/{betaOnlyBank}/export", null, 404, "bank"));
        all.Add(new HostileCase("export: an unknown bank", "GET", "/v1/banks/no-such-bank/export", null, 404, "bank"));
    }

    private static void Access(List<HostileCase> all)
    {
        foreach (var (label, method, path, body) in Routes)
        {
            all.Add(new HostileCase($"auth: {label} without Authorization", method, path, body, 401, "Authorization") { Key = "none" });
            all.Add(new HostileCase($"auth: {label} with an unknown key", method, path, body, 401, "Authorization") { Key = "unknown" });
            all.Add(new HostileCase($"auth: {label} with Basic credentials", method, path, body, 401, "Authorization")
            {
                Key = "none",
                Headers = [("Authorization", "Basic dXNlcjpwYXNz")],
            });
            all.Add(new HostileCase($"auth: {label} with an empty Bearer", method, path, body, 401, "Authorization")
            {
                Key = "none",
                Headers = [("Authorization", "Bearer ")],
            });
            bool mutation = method != "GET" && label != "recall";
            if (mutation)
            {
                all.Add(new HostileCase($"auth: {label} with a read-only key", method, path, body, 403, "Authorization") { Key = "reader" });
            }
        }

        // A control character in any header is refused as a malformed header (400) before authentication looks at it.
        all.Add(new HostileCase("auth: a key with a control character", "GET", Bank, null, 400, "Authorization")
        {
            Key = "none",
            Headers = [("Authorization", "Bearer memrl_test-alpha-key-0000\u0001")],
        });
        all.Add(new HostileCase("auth: the key's tenant in a header changes nothing", "GET", "/v1/banks/{betaOnlyBank}", null, 404, "bank")
        {
            Headers = [("X-Tenant", "beta")],
        });
    }

    private static void Transport(List<HostileCase> all)
    {
        foreach (var (label, method, path, body) in Routes.Where(r => r.Body is not null))
        {
            all.Add(new HostileCase($"415: {label} as text/plain", method, path, body, 415, "Content-Type", "text/plain") { ContentType = "text/plain" });
            all.Add(new HostileCase($"415: {label} as application/xml", method, path, body, 415, "Content-Type", "application/xml") { ContentType = "application/xml" });
            all.Add(new HostileCase($"415: {label} without Content-Type", method, path, body, 415, "Content-Type") { ContentType = null });
            // Over MaxRequestBytes (4 MiB): refused before the body is read.
            string huge = body!.Length > 2 ? body[..^1] + $",\"pad\":\"{new string('x', 5 << 20)}\"}}" : body;
            all.Add(new HostileCase($"413: {label} over the body limit", method, path, huge, 413) { ExpectContinue = true });
        }

        all.Add(new HostileCase("404: an unknown route", "GET", "/v1/nothing-here", null, 404));
        all.Add(new HostileCase("404: an unknown route, browser", "GET", "/v1/nothing-here", null, 404) { Headers = [("Accept", "text/html,application/xhtml+xml")] });
        all.Add(new HostileCase("404: below a memory, browser", "GET", Write + "/{id}/more", null, 404) { Headers = [("Accept", "text/html")] });
        all.Add(new HostileCase("404: the root, browser", "GET", "/", null, 404) { Headers = [("Accept", "text/html")] });
        foreach (var (method, path) in new[]
        {
            ("POST", Bank), ("PUT", Recall), ("GET", Recall), ("DELETE", Bank + "/stats"), ("PUT", Write + "/{id}"), ("GET", Reward), ("POST", Bank + "/stats"), ("PUT", "/v1/banks"),
            ("GET", Write + "/{id}/archive"), ("DELETE", Write + "/{id}/restore"), ("GET", Bank + "/retention:run"),
        })
        {
            all.Add(new HostileCase($"405: {method} {path}", method, path, null, 405));
            all.Add(new HostileCase($"405: {method} {path}, browser", method, path, null, 405) { Headers = [("Accept", "text/html")] });
        }
    }

    private static string Cut(string s) => s.Length <= 24 ? s : s[..24] + "…";

    // Every option of a bank with its default, as JSON; `member` replaced by `value` (or left out when value is null, or
    // added when it is not an option).
    internal static string FullOptions(string member, string? value)
    {
        var options = new List<(string Name, string Value)>
        {
            ("alpha", "0.3"), ("lambda", "0.5"), ("k1", "5"), ("k2", "3"), ("delta", "0.5"), ("qInitSuccess", "0"), ("qInitFailure", "0"),
            ("qFloor", "null"), ("qMin", "null"), ("epsilon", "0"), ("mergeThreshold", "0.9"), ("maxMemoriesPerKey", "32"),
            ("similarityNormalization", "\"Pool\""), ("similarityMean", "0.5187"), ("similarityStdDev", "0.1203"),
            ("rewardMin", "-1"), ("rewardMax", "1"), ("mergeAcrossScopes", "false"), ("retention", "null"),
        };
        int at = options.FindIndex(o => o.Name == member);
        if (at >= 0)
        {
            options.RemoveAt(at);
        }

        if (value is not null)
        {
            options.Insert(Math.Max(at, 0), (member, value));
        }

        return "{" + string.Join(",", options.Select(o => $"\"{o.Name}\":{o.Value}")) + "}";
    }
}
