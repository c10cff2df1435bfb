using System.Text;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using Microsoft.Extensions.AI;

namespace MemRL.Client.Agents;

/// <summary>How an episode ended, as the caller's environment or verifier judged it.</summary>
/// <param name="Success">Whether the task was solved.</param>
/// <param name="Reward">The scalar reward (typically +1/−1 or 1/0).</param>
public sealed record EpisodeOutcome(bool Success, double Reward);

/// <summary>What one episode did.</summary>
public sealed record EpisodeResult(RecallResponse Recall, string Answer, EpisodeOutcome Outcome, string Experience, WriteResponse Written);

/// <summary>
/// MemRL's agent step for a frozen LLM (paper §4, the authors' runners): recall memories for the task, inject them as
/// successful and failed experiences, ask the chat client, let the caller judge the answer, reward the recalled
/// memories, summarise the episode (a script on success, a reflection on failure, via the same chat client) and write it
/// back. Works with any <see cref="IChatClient"/> (an OpenAI-compatible endpoint through <see cref="OpenAICompatible"/>)
/// and any <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> (the offline <see cref="HashingEmbedder"/> by default).
/// </summary>
public sealed class AgentLoop(BankClient bank, IChatClient chat, IEmbeddingGenerator<string, Embedding<float>> embedder, string? embedderId = null)
{
    /// <summary>Longest trajectory text kept in a memory, in characters.</summary>
    public const int MaxTrajectoryLength = 16_000;

    /// <summary>Whose episodes these are: recall sees only memories of this scope, and writes carry it. Null: the whole bank.</summary>
    public ScopeFields? Scope { get; init; }

    /// <summary>Key–values every written memory carries (the agent's name, a task family).</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    /// <summary>Runs one episode.</summary>
    /// <param name="task">The task description (the intent).</param>
    /// <param name="judge">Decides success and reward from the model's answer (tests, a verifier, the environment).</param>
    public async Task<EpisodeResult> RunEpisodeAsync(string task, Func<string, CancellationToken, Task<EpisodeOutcome>> judge, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrWhiteSpace(task))
        {
            throw task is null ? FieldError.Missing(nameof(task), "the task description") : FieldError.Invalid(nameof(task), "a task description with text", FieldError.Quote(task));
        }

        _ = judge ?? throw FieldError.Missing(nameof(judge), "a function that judges the model's answer");
        var embeddings = await embedder.GenerateAsync([task], cancellationToken: cancellationToken);
        float[] intent = embeddings[0].Vector.ToArray();
        var recall = await bank.RecallAsync(intent, new RecallSettings(EmbedderId: embedderId, Filter: ScopeWire.FilterOf(Scope)), cancellationToken);

        var response = await chat.GetResponseAsync(BuildMessages(task, recall.Memories), cancellationToken: cancellationToken);
        string answer = response.Text;
        var outcome = await judge(answer, cancellationToken);
        if (recall.Memories.Count > 0)
        {
            await bank.RewardAsync(recall.Token, outcome.Reward);
        }

        string experience = await SummariseAsync(task, answer, outcome.Success, cancellationToken);
        var written = await bank.WriteAsync(intent, task, experience, outcome.Success, recall.Token, embedderId: embedderId, scope: Scope, metadata: Metadata);
        return new EpisodeResult(recall, answer, outcome, experience, written);
    }

    /// <summary>
    /// The prompt: a system message listing the recalled memories split into successful and failed ones (as the authors'
    /// ALFWorld runner injects them), then the task. With no memory recalled, the task alone.
    /// </summary>
    public static List<ChatMessage> BuildMessages(string task, IReadOnlyList<RecalledMemory> memories)
    {
        var messages = new List<ChatMessage>();
        if (memories.Count > 0)
        {
            var context = new StringBuilder("Experiences from similar tasks. Follow what worked; avoid what failed.\n");
            AppendSection(context, "SUCCESSFUL MEMORIES", memories.Where(m => m.Success));
            AppendSection(context, "FAILED MEMORIES", memories.Where(m => !m.Success));
            messages.Add(new ChatMessage(ChatRole.System, context.ToString()));
        }

        messages.Add(new ChatMessage(ChatRole.User, task));
        return messages;
    }

    private async Task<string> SummariseAsync(string task, string trajectory, bool success, CancellationToken ct)
    {
        string prompt = success
            ? $"The task below was solved. Analyse the trajectory and write a concise 3-5 step high-level script that would solve similar tasks; focus on strategy and decisions, not details.\n\nTask: {task}\n\nTrajectory:\n{trajectory}"
            : $"The task below failed. Write a brief reflection: which assumptions were wrong, what to do differently, what to avoid.\n\nTask: {task}\n\nTrajectory:\n{trajectory}";
        var summary = (await chat.GetResponseAsync([new ChatMessage(ChatRole.User, prompt)], cancellationToken: ct)).Text;
        string kept = trajectory.Length > MaxTrajectoryLength ? trajectory[..MaxTrajectoryLength] : trajectory;
        return success
            ? $"Task: {task}\n\nSCRIPT:\n{summary}\n\nTRAJECTORY:\n{kept}"
            : $"TASK REFLECTION:\nTask: {task}\nWhat went wrong:\n{summary}\nFailed approach:\n{kept}";
    }

    private static void AppendSection(StringBuilder context, string title, IEnumerable<RecalledMemory> memories)
    {
        var list = memories.ToList();
        if (list.Count == 0)
        {
            return;
        }

        context.Append('\n').Append(title).Append(":\n");
        for (int i = 0; i < list.Count; i++)
        {
            context.Append("--- ").Append(i + 1).Append(" ---\n").Append(list[i].Experience).Append('\n');
        }
    }
}
