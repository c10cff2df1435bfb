using System.Security.Cryptography;
using MemRL.Bench.Learning;

namespace MemRL.Bench.Learning.Tests;

/// <summary>The language scenario reproduces from what is committed: its text, its embeddings file and their checksums.</summary>
public sealed class LanguageScenarioTests
{
    private static readonly RunSettings Short = new(Epochs: 4, BatchSize: 16, Agents: 4);

    private static readonly Lazy<World> Language = new(() => World.Create(Scenario.Load("language"), seed: 2026));

    [Fact]
    public void EmbeddingsFile_MatchesItsScenario_InCountDimensionAndChecksums()
    {
        var scenario = Scenario.Load("language");
        var spec = scenario.Embeddings!;
        string path = Path.Combine(scenario.Folder, spec.File);

        Assert.Equal(scenario.Language!.Texts.Count(), spec.Count);
        Assert.Equal((scenario.Dimension, "minilm-l6-v2/onnx-1/384"), (spec.Dimension, spec.Model));
        Assert.Equal((long)spec.Count * spec.Dimension * sizeof(float), new FileInfo(path).Length);
        Assert.Equal(spec.Sha256, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))));
        Assert.Equal(spec.TextsSha256, LanguageEmbeddings.TextsSha256(scenario.Language));
    }

    [Fact]
    public void LanguageWorld_HasEveryTaskOfTheText_WithUnitIntentsPerPhrasing()
    {
        var world = Language.Value;
        var s = world.Scenario;

        Assert.Equal(s.TaskCount, world.Tasks.Count);
        Assert.Equal(s.LookAlikeFamilies * s.TasksPerFamily, world.Tasks.Count(t => t.LookAlike));
        Assert.All(world.Tasks, t =>
        {
            Assert.Equal(3, t.Phrasings!.Count);
            Assert.All(t.Phrasings, v => Assert.InRange(MemRL.Index.VectorMath.Dot(v, v), 0.999f, 1.001f));
            Assert.NotEqual(t.IntentAt(0), t.IntentAt(1));
            Assert.Same(t.IntentAt(0), t.IntentAt(3));
        });
        // The right strategy comes from the text: the family's, or the task's own where it names one.
        var firstFamily = s.Language!.Families[0];
        Assert.Equal(Array.IndexOf(s.Language.Strategies, firstFamily.Strategy), world.Tasks[0].RightStrategy);
        Assert.Equal(Array.IndexOf(s.Language.Strategies, firstFamily.Tasks[^1].Strategy), world.Tasks[s.TasksPerFamily - 1].RightStrategy);
        Assert.Equal(0, world.TwinOf(s.Families));
        Assert.Null(world.TwinOf(0));
    }

    [Fact]
    public void LookAlikeFamilies_AreCloserToTheirTwinThanToOtherFamilies()
    {
        // The property the scenario was written for, measured on the committed embeddings: a look-alike family's tasks
        // sit nearer to their twin's than to any other real family's (mean cosine of first phrasings).
        var world = Language.Value;
        var s = world.Scenario;
        double Mean(int a, int b) => world.Tasks.Where(t => t.Family == a)
            .SelectMany(x => world.Tasks.Where(t => t.Family == b).Select(y => (double)MemRL.Index.VectorMath.Dot(x.Intent, y.Intent))).Average();
        for (int f = s.Families; f < s.Families + s.LookAlikeFamilies; f++)
        {
            int twin = world.TwinOf(f)!.Value;
            double toTwin = Mean(f, twin);
            Assert.All(Enumerable.Range(0, s.Families).Where(o => o != twin), o => Assert.True(Mean(f, o) < toTwin,
                $"{world.FamilyName(f)}: mean similarity to {world.FamilyName(o)} is {Mean(f, o):F3}, to its twin {world.FamilyName(twin)} {toTwin:F3}."));
        }
    }

    [Fact]
    public void ChangedPhrasing_IsRefused_NamingTheTextsChecksum()
    {
        var scenario = Scenario.Load("language");
        var families = scenario.Language!.Families.ToArray();
        var tasks = families[0].Tasks.ToArray();
        tasks[0] = tasks[0] with { Phrasings = ["Install the Python package requests.", .. tasks[0].Phrasings[1..]] };
        families[0] = families[0] with { Tasks = tasks };
        var changed = scenario with { Language = scenario.Language with { Families = families } };

        var error = Assert.Throws<ArgumentException>(() => World.Create(changed, 2026));

        Assert.Contains("embeddings.textsSha256", error.Message);
    }

    [Fact]
    public void TamperedEmbeddingsFile_IsRefused_NamingTheFileChecksum()
    {
        var scenario = Scenario.Load("language");
        string folder = Directory.CreateTempSubdirectory("memrl-lang-").FullName;
        try
        {
            var bytes = File.ReadAllBytes(Path.Combine(scenario.Folder, scenario.Embeddings!.File));
            bytes[1000] ^= 1;
            File.WriteAllBytes(Path.Combine(folder, scenario.Embeddings.File), bytes);

            var error = Assert.Throws<ArgumentException>(() => World.Create(scenario with { Folder = folder }, 2026));

            Assert.Contains("expected embeddings.sha256", error.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("\"lookAlikeOf\": \"python-package\"", "\"lookAlikeOf\": \"no-such-family\"", "language.families[8].lookAlikeOf is 'no-such-family'")]
    [InlineData("\"strategy\": \"apt-install\",\n        \"tasks\"", "\"strategy\": \"pip-install\",\n        \"tasks\"", "language.families[8].strategy is 'pip-install'; expected a strategy other than its twin")]
    [InlineData("\"tasksPerFamily\": 10", "\"tasksPerFamily\": 9", "language.families[0].tasks is 10; expected 9 tasks")]
    [InlineData("\"strategies\": 12", "\"strategies\": 11", "language.strategies is 12; expected 11 names")]
    [InlineData("\"count\": 360", "\"count\": 359", "embeddings.count is 359; expected 360")]
    public void Parse_RejectsInconsistentText_NamingTheField(string good, string bad, string expected)
    {
        string json = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "scenarios", "language.json"));
        Assert.Contains(good, json);

        var error = Assert.Throws<ArgumentException>(() => Scenario.Parse(json.Replace(good, bad), "language.json"));

        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public async Task LanguageRun_IsDeterministicForASeed()
    {
        var world = Language.Value;
        var method = Method.Standard(Runner.Calibrated(world)).Single(m => m.Name == "memrl");

        var a = await new Runner(world, new ReferenceBackend(), Short).RunAsync(method, seed: 11);
        var b = await new Runner(world, new ReferenceBackend(), Short).RunAsync(method, seed: 11);

        Assert.Equal(Flatten(a), Flatten(b));
        Assert.Equal(a.Uses.Select(u => u.Q), b.Uses.Select(u => u.Q));
        Assert.Equal(a.FinalMemories.Select(m => m.Q), b.FinalMemories.Select(m => m.Q));
        // Memory is used: with the same luck, memory-free and MemRL runs differ.
        var none = await new Runner(world, new ReferenceBackend(), Short).RunAsync(Method.Standard(Runner.Calibrated(world))[0], seed: 11);
        Assert.NotEqual(Flatten(none), Flatten(a));
    }

    [Fact]
    public async Task TheCluster_RunsTheLanguageScenarioExactlyAsTheReferenceBank()
    {
        var world = Language.Value;
        var method = Method.Standard(Runner.Calibrated(world)).Single(m => m.Name == "memrl");
        await using var cluster = await ClusterBackend.StartAsync(shards: 3);

        var onCluster = await new Runner(world, cluster, Short).RunAsync(method, seed: 5);
        var inProcess = await new Runner(world, new ReferenceBackend(), Short).RunAsync(method, seed: 5);

        Assert.Equal(Flatten(inProcess), Flatten(onCluster));
        Assert.Equal(inProcess.Uses.Select(u => u.Q), onCluster.Uses.Select(u => u.Q));
        Assert.Equal(inProcess.FinalMemories.Select(m => m.Q).Order(), onCluster.FinalMemories.Select(m => m.Q).Order());
    }

    private static string Flatten(RunResult r) => string.Join("", r.Success.SelectMany(e => e).Select(s => s ? '1' : '0'))
        + "|" + string.Join(",", r.Chosen.SelectMany(e => e));
}
