namespace MemRL.Tests;

/// <summary>Waits on a condition with a deadline (tests never sleep for a fixed time).</summary>
internal static class Wait
{
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {seconds} s waiting for {what}.");
            }

            await Task.Delay(20);
        }
    }

    public static Task UntilAsync(Func<bool> condition, string what, int seconds = 60) => UntilAsync(() => Task.FromResult(condition()), what, seconds);
}
