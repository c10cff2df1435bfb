using MemRL.Bench.Learning;

namespace MemRL.Bench.Learning.Tests;

/// <summary>The --beyond methods (credit along provenance, UCB): reproducible for a seed, and each changes the run.</summary>
public sealed class BeyondTests
{
    private static readonly RunSettings Short = new(Epochs: 3);

    [Theory]
    [InlineData("memrl-prov")]
    [InlineData("memrl-ucb")]
    public async Task BeyondMethod_IsDeterministicForASeed_AndDiffersFromPlainMemRL(string name)
    {
        var world = World.Create(Scenario.Load("distractors"), 2026);
        var calibrated = Runner.Calibrated(world);
        var method = Method.Beyond(calibrated).Single(m => m.Name == name);
        var plain = Method.Standard(calibrated).Single(m => m.Name == "memrl");

        var a = await new Runner(world, new ReferenceBackend(), Short).RunAsync(method, seed: 3);
        var b = await new Runner(world, new ReferenceBackend(), Short).RunAsync(method, seed: 3);
        var memrl = await new Runner(world, new ReferenceBackend(), Short).RunAsync(plain, seed: 3);

        Assert.Equal(a.FinalMemories.Select(m => m.Q), b.FinalMemories.Select(m => m.Q));
        Assert.Equal(a.Chosen.SelectMany(e => e), b.Chosen.SelectMany(e => e));
        // The option is live: with the same luck the learned values differ from plain MemRL's.
        Assert.NotEqual(memrl.FinalMemories.Select(m => m.Q), a.FinalMemories.Select(m => m.Q));
    }

    [Fact]
    public void Beyond_IsOffInThePlainMethods_AndOnlyOneOptionDiffersPerMethod()
    {
        var calibrated = Runner.Calibrated(World.Create(Scenario.Load("control"), 2026));
        var memrl = Method.Standard(calibrated).Single(m => m.Name == "memrl").Options!;
        var beyond = Method.Beyond(calibrated).ToDictionary(m => m.Name, m => m.Options!);

        Assert.Equal(0, memrl.ProvenanceDecay);
        Assert.Equal(0, memrl.ExplorationBonus);
        Assert.Equal(memrl, beyond["memrl-prov"] with { ProvenanceDecay = 0, ProvenanceDepth = 1, ProvenanceFanOut = 16 });
        Assert.Equal(memrl, beyond["memrl-ucb"] with { ExplorationBonus = 0 });
    }
}
