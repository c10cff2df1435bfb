using MemRL.Client.Agents;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using Microsoft.Extensions.AI;

namespace MemRL.Cluster.Tests;

[Collection(ClusterCollection.Name)]
public sealed class AgentLoopTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Episodes_WriteScriptsAndReflections_InjectThemLater_AndRewardWhatWasRecalled()
    {
        var embedder = new HashingEmbedder(64);
        string name = ClusterFixture.NewBankName("agent");
        await fixture.Memory.CreateBankAsync(name, new BankSpec(64, embedder.EmbedderId, new BankOptions { Delta = 0.2, K1 = 5, K2 = 3 }));
        var bank = fixture.Memory.Bank(name);
        var chat = new ScriptedChatClient(
            "open the drawer, take the key",          // episode 1: answer
            "1. find the drawer 2. take the key",     // episode 1: script
            "open the window",                        // episode 2: answer
            "the key was not at the window",          // episode 2: reflection
            "open the drawer again");                 // episode 3: answer (then its script)
        var loop = new AgentLoop(bank, chat, embedder, embedder.EmbedderId);
        const string task = "find the key in the bedroom";

        var first = await loop.RunEpisodeAsync(task, Judge(success: true));
        Assert.Empty(first.Recall.Memories);
        Assert.Single(chat.Calls[0]);                                        // no memory: the task alone
        Assert.StartsWith($"Task: {task}\n\nSCRIPT:\n1. find the drawer", first.Experience);
        Assert.Contains("TRAJECTORY:\nopen the drawer, take the key", first.Experience);
        var stored = await bank.GetAsync(first.Written.MemoryId);
        Assert.True(stored.Success);
        Assert.Equal(task, stored.IntentText);

        var second = await loop.RunEpisodeAsync(task, Judge(success: false));
        var recalled = Assert.Single(second.Recall.Memories);
        Assert.Equal(first.Written.MemoryId, recalled.Id);
        string context = chat.Calls[2][0].Text;
        Assert.Contains("SUCCESSFUL MEMORIES", context);
        Assert.Contains("1. find the drawer 2. take the key", context);
        Assert.DoesNotContain("FAILED MEMORIES", context);
        Assert.StartsWith("TASK REFLECTION:\nTask: find the key", second.Experience);
        Assert.Contains("What went wrong:\nthe key was not at the window", second.Experience);
        Assert.Equal(-0.3, (await bank.GetAsync(first.Written.MemoryId)).Q, 12);   // the failed episode's reward, alpha 0.3

        var third = await loop.RunEpisodeAsync(task, Judge(success: true));
        Assert.Equal(2, third.Recall.Memories.Count);
        string thirdContext = chat.Calls[4][0].Text;
        Assert.Contains("FAILED MEMORIES", thirdContext);
        Assert.Contains("the key was not at the window", thirdContext);
        Assert.False((await bank.GetAsync(second.Written.MemoryId)).Success);
        Assert.Equal(3, (await bank.GetStatsAsync()).Memories);
    }

    [Fact]
    public async Task Loop_RefusesABankMadeForAnotherEmbedder()
    {
        string name = ClusterFixture.NewBankName("agent-emb");
        await fixture.Memory.CreateBankAsync(name, new BankSpec(64, "some-other-model/2/64"));
        var embedder = new HashingEmbedder(64);
        var loop = new AgentLoop(fixture.Memory.Bank(name), new ScriptedChatClient("x"), embedder, embedder.EmbedderId);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => loop.RunEpisodeAsync("task", Judge(true)));

        var parts = FieldAssert.Parts(error, "embedderId", "memrl-hashing/v1/64");
        Assert.Contains("'some-other-model/2/64'", parts.Expected, StringComparison.Ordinal);
    }

    [Fact]
    public void HashingEmbedder_IsDeterministic_AndPutsSimilarTextsCloser()
    {
        var embedder = new HashingEmbedder(256);
        float[] a = embedder.Embed("find the key in the bedroom");
        float[] b = embedder.Embed("find the keys in the bedroom");
        float[] c = embedder.Embed("compile the kernel with clang");

        Assert.Equal(a, new HashingEmbedder(256).Embed("find the key in the bedroom"));
        Assert.Equal(1.0, Math.Sqrt(a.Sum(x => (double)x * x)), 5);
        Assert.True(Dot(a, b) > 0.6, $"similar texts have similarity {Dot(a, b)}.");
        Assert.True(Dot(a, c) < Dot(a, b) - 0.3, $"unrelated {Dot(a, c)} vs related {Dot(a, b)}.");
    }

    private static Func<string, CancellationToken, Task<EpisodeOutcome>> Judge(bool success) =>
        (_, _) => Task.FromResult(new EpisodeOutcome(success, success ? 1 : -1));

    private static double Dot(float[] a, float[] b) => a.Zip(b, (x, y) => (double)x * y).Sum();

    /// <summary>Answers with scripted texts in order and records every prompt.</summary>
    private sealed class ScriptedChatClient(params string[] answers) : IChatClient
    {
        private readonly Queue<string> _answers = new(answers);

        public List<List<ChatMessage>> Calls { get; } = [];

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Calls.Add([.. messages]);
            string answer = _answers.Count > 0 ? _answers.Dequeue() : "script for a solved task";
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, answer)));
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException("The agent loop does not stream.");

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}
