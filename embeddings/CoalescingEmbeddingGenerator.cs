using System.Collections.Concurrent;
using MemRL.Errors;
using Microsoft.Extensions.AI;

namespace MemRL.Embeddings;

/// <summary>
/// Runs single-text requests that arrive together as one batch of the inner generator, with at most
/// <c>maxConcurrentRuns</c> runs at once. A local model such as <see cref="MiniLmEmbedder"/> is CPU-bound and blocks its
/// thread: without this, 64 concurrent requests are 64 model runs time-sliced over the cores, each holding a pool thread
/// (Orleans' too) for the whole slowed run, while a batch of 20 costs about half as much per text as 20 single runs
/// (docs/benchmarks.md, "Text embedders" and "Text recall and filtered recall"). A lone request is run at once, alone, so
/// one agent waits no longer than before. Requests of several texts, or with options, go straight to the inner generator.
/// </summary>
public sealed class CoalescingEmbeddingGenerator : DelegatingEmbeddingGenerator<string, Embedding<float>>
{
    private readonly ConcurrentQueue<Pending> _queue = new();
    private readonly int _maxBatchSize;
    private readonly int _maxRuns;
    private int _runs;

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    /// <param name="inner">The generator that embeds each batch; it must accept up to <paramref name="maxBatchSize"/> texts at once.</param>
    /// <param name="maxBatchSize">Most texts per inner run (default 20, MiniLM's fastest per text on 2 cores).</param>
    /// <param name="maxConcurrentRuns">Most inner runs at once (0, the default: one per processor, as each MiniLM run uses one thread).</param>
    public CoalescingEmbeddingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner, int maxBatchSize = 20, int maxConcurrentRuns = 0)
        : base(inner ?? throw FieldError.Missing(nameof(inner), "the embedding generator to batch for"))
    {
        if (maxBatchSize is < 1 or > 1024)
        {
            throw FieldError.OutOfRange(nameof(maxBatchSize), "an integer in [1, 1024]", FieldError.Format(maxBatchSize));
        }

        if (maxConcurrentRuns is < 0 or > 256)
        {
            throw FieldError.OutOfRange(nameof(maxConcurrentRuns), "an integer in [0, 256] (0: one per processor)", FieldError.Format(maxConcurrentRuns));
        }

        _maxBatchSize = maxBatchSize;
        _maxRuns = maxConcurrentRuns == 0 ? Environment.ProcessorCount : maxConcurrentRuns;
    }

    /// <inheritdoc />
    public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        _ = values ?? throw FieldError.Missing(nameof(values), "the texts to embed");
        var texts = values as IReadOnlyList<string> ?? values.ToList();
        if (texts.Count != 1 || options is not null)
        {
            return await base.GenerateAsync(texts, options, cancellationToken);
        }

        _ = texts[0] ?? throw FieldError.Missing("values[0]", "a text to embed");
        cancellationToken.ThrowIfCancellationRequested();
        var pending = new Pending(texts[0], cancellationToken);
        _queue.Enqueue(pending);
        TryStartRun();
        // A caller that gives up is answered at once; a batch already running for it finishes for the others.
        await using (cancellationToken.Register(static p => ((Pending)p!).Completion.TrySetCanceled(((Pending)p!).Token), pending))
        {
            return [await pending.Completion.Task];
        }
    }

    private void TryStartRun()
    {
        while (!_queue.IsEmpty)
        {
            int runs = Volatile.Read(ref _runs);
            if (runs >= _maxRuns)
            {
                return;
            }

            if (Interlocked.CompareExchange(ref _runs, runs + 1, runs) == runs)
            {
                // A pool work item: the inner run blocks its thread, and must not run on the caller's stack, which may
                // be a request's that has other work to do.
                _ = Task.Run(DrainAsync);
                return;
            }
        }
    }

    private async Task DrainAsync()
    {
        var batch = new List<Pending>(_maxBatchSize);
        try
        {
            while (true)
            {
                batch.Clear();
                while (batch.Count < _maxBatchSize && _queue.TryDequeue(out var p))
                {
                    if (!p.Completion.Task.IsCompleted)
                    {
                        batch.Add(p);
                    }
                }

                if (batch.Count == 0)
                {
                    break;
                }

                await RunAsync(batch);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _runs);
        }

        // A request queued after the last dequeue but before the decrement saw every run busy and started none.
        TryStartRun();
    }

    private async Task RunAsync(List<Pending> batch)
    {
        if (batch.Count == 1)
        {
            await RunAloneAsync(batch[0]);
            return;
        }

        GeneratedEmbeddings<Embedding<float>> result;
        try
        {
            // No caller's token: the run serves every caller in it (each one's own wait is cancellable).
            result = await base.GenerateAsync(batch.Select(p => p.Text).ToList(), null, CancellationToken.None);
        }
        catch (Exception)
        {
            // One text must not fail the others that happened to arrive with it: each runs alone and gets its own answer.
            foreach (var p in batch)
            {
                await RunAloneAsync(p);
            }

            return;
        }

        if (result.Count != batch.Count)
        {
            var error = new InvalidOperationException($"The embedding generator returned {result.Count} embeddings for a batch of {batch.Count} texts.");
            batch.ForEach(p => p.Completion.TrySetException(error));
            return;
        }

        for (int i = 0; i < batch.Count; i++)
        {
            batch[i].Completion.TrySetResult(result[i]);
        }
    }

    private async Task RunAloneAsync(Pending p)
    {
        try
        {
            var result = await base.GenerateAsync([p.Text], null, p.Token);
            p.Completion.TrySetResult(result.Count == 1
                ? result[0]
                : throw new InvalidOperationException($"The embedding generator returned {result.Count} embeddings for one text."));
        }
        catch (OperationCanceledException) when (p.Token.IsCancellationRequested)
        {
            p.Completion.TrySetCanceled(p.Token);
        }
        catch (Exception e)
        {
            p.Completion.TrySetException(e);
        }
    }

    private sealed class Pending(string text, CancellationToken token)
    {
        public string Text { get; } = text;

        public CancellationToken Token { get; } = token;

        // Continuations run on the pool, not inside the drain loop, which has the next batch to run.
        public TaskCompletionSource<Embedding<float>> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
