using MemRL.Bench.Learning;

namespace MemRL.Bench.Learning.Tests;

public sealed class ForgettingTests
{
    [Fact]
    public void Units_PutEachLossDownToLuck_AMisleadingMemory_OrAGuess()
    {
        var world = World.Create(Scenario.Load("distractors"), 2026);
        var settings = new RunSettings(Epochs: 3);
        int n = world.Tasks.Count;
        int right0 = world.Tasks[0].RightStrategy, right1 = world.Tasks[1].RightStrategy, right2 = world.Tasks[2].RightStrategy;
        int wrong(int r) => (r + 1) % world.Scenario.Strategies;
        // Task 0: solved, then lost with the right strategy (luck). Task 1: solved, lost following a wrong success
        // (misled). Task 2: solved, lost guessing wrong, then solved. Task 3: failed throughout (failures, no losses).
        var success = new[] { Row(n, 0, 1, 2), Row(n), Row(n, 2) };
        var chosen = Enumerable.Range(0, 3).Select(_ => Enumerable.Repeat(0, n).ToArray()).ToArray();
        var followed = Enumerable.Range(0, 3).Select(_ => new bool[n]).ToArray();
        chosen[1][0] = right0;
        chosen[1][1] = wrong(right1);
        followed[1][1] = true;
        chosen[1][2] = wrong(right2);
        var run = new RunResult("memrl", 1, success, [], [], [], chosen, followed);

        var units = new ForgettingReport(world, settings, [run]).Units("memrl", t => t.Id < 4);

        Assert.Equal(4, units.Count);
        Assert.Equal((2, 1, 1, 1, 0, 0), (units[0].Failed, units[0].Lost, units[0].SolvedBefore, units[0].Luck, units[0].Misled, units[0].Guessed));
        Assert.Equal((1, 0), (units[1].Misled, units[1].Luck));
        Assert.Equal((1, 1, 1), (units[2].Failed, units[2].Lost, units[2].Guessed));
        Assert.Equal((2, 0, 0), (units[3].Failed, units[3].Lost, units[3].SolvedBefore));
        // Each failure weighted by the previous epoch's SR: 3/n solved in epoch 0, 0 in epoch 1.
        Assert.Equal(3.0 / n, units[0].FailedTimesPreviousSr, 12);
    }

    [Fact]
    public void BootstrapRatio_IsTheRatioOfSums_AndItsPairedDifferenceCoversTheTruth()
    {
        var random = new Random(5);
        var a = Enumerable.Range(0, 1500).Select(_ => (random.NextDouble() < 0.3 ? 1.0 : 0.0, 1.0)).ToList();
        var b = Enumerable.Range(0, 1500).Select(_ => (random.NextDouble() < 0.1 ? 1.0 : 0.0, 1.0)).ToList();

        var single = Metrics.BootstrapRatio([(1, 4), (2, 4)]);
        var (mean, low, high) = Metrics.BootstrapRatio(a, b);

        Assert.Equal(3 / 8.0, single.Mean, 12);
        Assert.InRange(0.2, low, high);
        Assert.True(low > 0.1, $"the interval [{low}, {high}] should exclude 0.1 for a true difference of 0.2 over 1500 units.");
        Assert.InRange(mean, low, high);
        Assert.Throws<ArgumentException>(() => Metrics.BootstrapRatio(a, b.Take(3).ToList()));
    }

    private static bool[] Row(int n, params int[] solved)
    {
        var row = new bool[n];
        foreach (int t in solved)
        {
            row[t] = true;
        }

        return row;
    }
}
