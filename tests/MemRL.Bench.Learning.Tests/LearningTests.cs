using MemRL.Bench.Learning;

namespace MemRL.Bench.Learning.Tests;

public sealed class MetricsTests
{
    // Three tasks over three epochs: task 0 always solved, task 1 solved then lost, task 2 solved only last.
    private static readonly bool[][] Epochs =
    [
        [true, true, false],
        [true, false, false],
        [true, false, true],
    ];

    private static readonly int[] All = [0, 1, 2];

    [Fact]
    public void SuccessRate_IsTheShareSolvedInTheEpoch()
    {
        Assert.Equal(2 / 3.0, Metrics.SuccessRate(Epochs[0], All), 12);
        Assert.Equal(1 / 3.0, Metrics.SuccessRate(Epochs[1], All), 12);
        Assert.Equal(0.5, Metrics.SuccessRate(Epochs[1], [0, 2]), 12);
    }

    [Fact]
    public void CumulativeSuccessRate_CountsTasksSolvedAtLeastOnce_AndNeverFalls()
    {
        Assert.Equal([2 / 3.0, 2 / 3.0, 1.0], Metrics.CumulativeSuccessRate(Epochs, All));
    }

    [Fact]
    public void ForgettingRate_IsLostOverFailed_AndNotApplicableWithoutFailures()
    {
        Assert.Null(Metrics.ForgettingRate(Epochs, 0, All));
        Assert.Equal(0.5, Metrics.ForgettingRate(Epochs, 1, All));   // task 1 lost; tasks 1 and 2 failed
        Assert.Equal(0.0, Metrics.ForgettingRate(Epochs, 2, All));   // task 1 failed again, nothing newly lost
        Assert.Null(Metrics.ForgettingRate([[true], [true]], 1, [0]));
    }

    [Fact]
    public void Bootstrap_CoversTheTrueDifference_OnASyntheticCase()
    {
        var random = new Random(3);
        // Paired units whose true mean difference is 0.1.
        var diffs = Enumerable.Range(0, 2000).Select(_ => (random.NextDouble() < 0.55 ? 1.0 : 0.0) - (random.NextDouble() < 0.45 ? 1.0 : 0.0)).ToList();

        var (mean, low, high) = Metrics.Bootstrap(diffs);

        Assert.InRange(0.1, low, high);
        Assert.True(low > 0, $"the interval [{low}, {high}] should exclude 0 for a difference of 0.1 over 2000 units.");
        Assert.InRange(mean, low, high);
    }

    [Fact]
    public void QBins_CorrelateQWithSuccess_WhenHigherQMeansMoreSuccess()
    {
        var random = new Random(4);
        var uses = Enumerable.Range(0, 4000).Select(i =>
        {
            double q = random.NextDouble();
            return new MemoryUse($"m{i % 50}", q, random.NextDouble() < q, 0);
        }).ToList();

        var (_, rates, counts, r) = Metrics.QBins(uses);

        Assert.True(r > 0.9, $"Pearson r is {r}; success rises with Q by construction.");
        Assert.Equal(4000, counts.Sum());
        Assert.True(rates[^1] > rates[0]);
    }
}

public sealed class PolicyTests
{
    private static readonly Scenario Scenario = Scenario.Load("distractors");
    private static readonly Policy Policy = new(Scenario);

    [Fact]
    public void SuccessProbability_FollowsTheSpecification()
    {
        var spec = Scenario.Policy;
        double right = spec.SuccessIfRight, wrong = spec.SuccessIfWrong;

        // Right strategy in first place among two successes: followed with 0.6 / 0.85.
        double first = 0.6 / 0.85;
        Assert.Equal((first * right) + ((1 - first) * wrong), Policy.SuccessProbability([new(3, true), new(5, true)], right: 3), 4);
        // Only a misleading success: always followed, always wrong.
        Assert.Equal(wrong, Policy.SuccessProbability([new(5, true)], right: 3), 4);
        // No memory: a uniform guess over all strategies.
        double guess = 1.0 / Scenario.Strategies;
        Assert.Equal((guess * right) + ((1 - guess) * wrong), Policy.SuccessProbability([], right: 3), 4);
        // A reflection naming a wrong strategy removes it from the guesses: helps a little.
        double avoided = 1.0 / (Scenario.Strategies - 1);
        Assert.Equal((avoided * right) + ((1 - avoided) * wrong), Policy.SuccessProbability([new(5, false)], right: 3), 4);
    }

    [Fact]
    public void EmpiricalSuccessFrequency_MatchesTheModel()
    {
        var random = new Random(9);
        List<ContextItem> context = [new(2, true), new(3, true), new(4, false)];
        const int n = 20_000;
        int wins = 0;
        for (int i = 0; i < n; i++)
        {
            wins += Policy.Succeeds(Policy.Choose(context, random.NextDouble()), right: 3, random.NextDouble()) ? 1 : 0;
        }

        double p = Policy.SuccessProbability(context, 3);
        double sigma = Math.Sqrt(p * (1 - p) / n);
        Assert.InRange(wins / (double)n, p - (4 * sigma), p + (4 * sigma));
    }

    [Fact]
    public void Experience_CarriesTheStrategy_BackThroughText()
    {
        var task = new TaskSpec(1, 0, false, [1f], 3, "task 1");
        Assert.Equal(7, Policy.StrategyOf(Policy.Experience(task, 7, success: true)));
        Assert.Equal(11, Policy.StrategyOf(Policy.Experience(task, 11, success: false)));
    }
}

public sealed class ScenarioTests
{
    [Theory]
    [InlineData("\"families\": 8", "\"families\": 0", "families is 0; expected at least 1")]
    [InlineData("\"mainStrategyShare\": 0.6", "\"mainStrategyShare\": 1.6", "mainStrategyShare is 1.6; expected a number in [0, 1]")]
    [InlineData("\"lookAlikeFamilies\": 4", "\"lookAlikeFamilies\": 40", "lookAlikeFamilies is 40; expected an integer in [0, families (8)]")]
    [InlineData("\"successIfRight\": 0.9", "\"successIfRight\": 2", "policy.successIfRight is 2; expected a probability")]
    public void Parse_RejectsBadFields_NamingThem(string good, string bad, string expected)
    {
        string json = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "scenarios", "distractors.json"));
        Assert.Contains(good, json);

        var error = Assert.Throws<ArgumentException>(() => Scenario.Parse(json.Replace(good, bad), "test.json"));

        Assert.Contains(expected, error.Message);
        Assert.StartsWith("test.json", error.Message);
    }

    [Fact]
    public void ShippedScenarios_AreValid_AndWithinThePapersSimilarityRange()
    {
        foreach (string name in new[] { "distractors", "distractors-sparse", "control", "null-signal" })
        {
            var world = World.Create(Scenario.Load(name), seed: 2026);
            Assert.InRange(world.MeanPairwiseSimilarity(), 0.15, 0.55);
        }
    }
}

public sealed class RunnerTests
{
    private static readonly RunSettings Short = new(Epochs: 3, BatchSize: 16, Agents: 4);

    [Fact]
    public async Task SeededRuns_ReproduceBitForBit()
    {
        var world = World.Create(Scenario.Load("distractors"), 2026);
        var method = Method.Standard(Runner.Calibrated(world)).Single(m => m.Name == "memrl");

        var a = await new Runner(world, new ReferenceBackend(), Short).RunAsync(method, seed: 7);
        var b = await new Runner(world, new ReferenceBackend(), Short).RunAsync(method, seed: 7);

        Assert.Equal(Flatten(a), Flatten(b));
        Assert.Equal(a.FinalMemories.Select(m => m.Q), b.FinalMemories.Select(m => m.Q));
    }

    [Fact]
    public void StreamSeeds_AreFixedAcrossProcesses()
    {
        // Pinned values: a change here means recorded benchmark figures no longer reproduce.
        Assert.Equal(Runner.StreamSeed(1, 1), Runner.StreamSeed(1, 1));
        Assert.NotEqual(Runner.StreamSeed(1, 1), Runner.StreamSeed(1, 2));
        Assert.NotEqual(Runner.StreamSeed(1, 1), Runner.StreamSeed(2, 1));
        // Computed independently (SplitMix64's finaliser over (seed << 32 | stream), low 32 bits).
        Assert.Equal(574581089, Runner.StreamSeed(1, 1));
    }

    [Fact]
    public async Task AlphaZero_AndLambdaZero_GiveIdenticalRuns()
    {
        var world = World.Create(Scenario.Load("distractors"), 2026);
        var calibrated = Runner.Calibrated(world);
        var runner = new Runner(world, new ReferenceBackend(), Short);

        var alphaZero = await runner.RunAsync(new Method("alpha-0", calibrated with { Alpha = 0 }), seed: 3);
        var lambdaZero = await runner.RunAsync(new Method("lambda-0", calibrated with { Lambda = 0 }), seed: 3);

        Assert.Equal(Flatten(lambdaZero), Flatten(alphaZero));
    }

    [Theory]
    [InlineData("distractors", -1.0, 0.0)]
    [InlineData("distractors-sparse", 0.0, 0.5)]
    public void Calibrated_TakesTheRewardRangeFromTheRewardSpec_AndQInitItsMidpoint(string name, double rewardMin, double qInit)
    {
        var options = Runner.Calibrated(World.Create(Scenario.Load(name), 2026));

        Assert.Equal((rewardMin, 1.0, qInit, qInit), (options.RewardMin!.Value, options.RewardMax!.Value, options.QInitSuccess, options.QInitFailure));
        var memrl = Method.Standard(options).Single(m => m.Name == "memrl").Options!;
        Assert.Equal((qInit, 0.3), (memrl.QInitFailure, memrl.Alpha));
    }

    // The 1/0 scenario too: its banks carry the [0, 1] range and start Q at 0.5 on both backends.
    [Theory]
    [InlineData("distractors")]
    [InlineData("distractors-sparse")]
    public async Task TheCluster_RunsExactlyAsTheReferenceBank(string name)
    {
        var world = World.Create(Scenario.Load(name), 2026);
        var method = Method.Standard(Runner.Calibrated(world)).Single(m => m.Name == "memrl");
        await using var cluster = await ClusterBackend.StartAsync(shards: 3);

        var onCluster = await new Runner(world, cluster, Short).RunAsync(method, seed: 5);
        var inProcess = await new Runner(world, new ReferenceBackend(), Short).RunAsync(method, seed: 5);

        Assert.Equal(Flatten(inProcess), Flatten(onCluster));
        Assert.Equal(inProcess.FinalMemories.Select(m => m.Q).Order(), onCluster.FinalMemories.Select(m => m.Q).Order());
        Assert.Equal(inProcess.Uses.Select(u => u.Q), onCluster.Uses.Select(u => u.Q));
    }

    [Fact]
    public async Task Transfer_EvaluatesOnlyHeldOutTasks_WithoutWriting()
    {
        var world = World.Create(Scenario.Load("control"), 2026);
        var settings = Short with { Transfer = true };
        var runner = new Runner(world, new ReferenceBackend(), settings);
        var (train, heldOut) = runner.Split(seed: 1);

        var run = await runner.RunAsync(Method.Standard(Runner.Calibrated(world)).Single(m => m.Name == "memrl"), seed: 1);

        Assert.Equal((int)Math.Round(world.Tasks.Count * 0.7), train.Length);
        Assert.Empty(train.Select(t => t.Id).Intersect(heldOut.Select(t => t.Id)));
        Assert.Equal(train.Length * settings.Epochs, run.FinalMemories.Count);
        Assert.All(heldOut, t => Assert.False(run.Success[0][t.Id]));
    }

    private static string Flatten(RunResult r) => string.Join("", r.Success.SelectMany(e => e).Select(s => s ? '1' : '0'));
}
