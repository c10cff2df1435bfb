using MemRL.Bench.Learning;

namespace MemRL.Bench.Learning.Tests;

public sealed class ForgettingCapTests
{
    private static readonly RunSettings Short = new(Epochs: 3, BatchSize: 16, Agents: 8);

    [Theory]
    [InlineData(CapOrder.Utility)]
    [InlineData(CapOrder.Age)]
    [InlineData(CapOrder.Lru)]
    public async Task CappedRun_EndsWithExactlyTheCap_AndReproducesBitForBit(CapOrder order)
    {
        var world = World.Create(Scenario.Load("distractors"), 2026);
        var calibrated = Runner.Calibrated(world);
        var uncapped = await new Runner(world, new ReferenceBackend(), Short).RunAsync(Method.Standard(calibrated).Single(m => m.Name == "memrl"), seed: 3);
        int cap = uncapped.FinalMemories.Count / 4;
        var method = Method.Capped(calibrated, 0.25, cap).Single(m => m.Cap!.Order == order);

        // Eight concurrent agents: recall order varies between runs, the result must not.
        var a = await new Runner(world, new ReferenceBackend(), Short).RunAsync(method, seed: 3);
        var b = await new Runner(world, new ReferenceBackend(), Short).RunAsync(method, seed: 3);

        Assert.Equal(cap, a.FinalMemories.Count);
        Assert.Equal(a.Success.SelectMany(e => e), b.Success.SelectMany(e => e));
        Assert.Equal(a.FinalMemories.Select(m => m.Id).Order(), b.FinalMemories.Select(m => m.Id).Order());
    }
}
