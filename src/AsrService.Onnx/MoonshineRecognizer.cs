using AsrService.Core.Models;
using AsrService.Core.Recognition;
using Microsoft.ML.OnnxRuntime;

namespace AsrService.Onnx;

/// <summary>
/// Moonshine (encoder-decoder, raw 16 kHz PCM in, SentencePiece tokens out) on ONNX Runtime. This object holds the
/// two sessions and the tokenizer and is shared by every stream; each stream decodes through its own
/// <see cref="MoonshineDecoderSession"/>.
/// </summary>
public sealed class MoonshineRecognizer : ISpeechRecognizer
{
    private readonly InferenceSession _encoder;
    private readonly InferenceSession _decoder;
    private readonly InferenceSession? _soloStep;
    private readonly Lazy<InferenceSession> _batchedStep;
    private readonly Lazy<SplitEncoderModels?> _splitEncoder;

    /// <param name="log">Told of what the recognizer works around: a damaged rewritten copy rebuilt, decoder steps that
    /// cannot use the solo-step model, interim updates that cannot use the split encoder.</param>
    public MoonshineRecognizer(
        string modelName, string encoderPath, string decoderPath, TokenDecoder tokens, InferenceOptions options,
        ExecutionProviderKind provider = ExecutionProviderKind.Cpu, ModelCache? cache = null, Action<string>? log = null)
        : this(modelName, encoderPath, decoderPath, tokens, options, provider, cache, log, createSplitEncoder: null, createSoloStep: null)
    {
    }

    /// <param name="createSplitEncoder">Builds the split encoder instead of <see cref="OnnxSessionFactory.CreateSplitEncoder"/> (for tests).</param>
    /// <param name="createSoloStep">Builds the solo-step session instead of <see cref="OnnxSessionFactory.CreateSoloStep"/> (for tests).</param>
    internal MoonshineRecognizer(
        string modelName, string encoderPath, string decoderPath, TokenDecoder tokens, InferenceOptions options,
        ExecutionProviderKind provider, ModelCache? cache, Action<string>? log,
        Func<SplitEncoderModels?>? createSplitEncoder, Func<InferenceSession?>? createSoloStep)
    {
        options.Validate();
        ModelName = modelName;
        Options = options;
        Tokens = tokens;
        Provider = provider;
        _encoder = OnnxSessionFactory.Create(encoderPath, options, provider: provider, cache: cache, log: log);
        try
        {
            _decoder = OnnxSessionFactory.Create(decoderPath, options, provider: provider, cache: cache, log: log);
            Layout = MoonshineLayout.From(_decoder);
        }
        catch
        {
            _encoder.Dispose();
            _decoder?.Dispose();
            throw;
        }

        if (provider == ExecutionProviderKind.Cpu && options.RewriteGraphs && Layout.CrossKeysTransposed)
        {
            _soloStep = OrNone(
                createSoloStep ?? (() => OnnxSessionFactory.CreateSoloStep(decoderPath, options, cache, log)),
                log, "decoder steps will run on the merged decoder", "solo-step model");
        }

        createSplitEncoder ??= () => OnnxSessionFactory.CreateSplitEncoder(encoderPath, options, cache, log);
        _splitEncoder = new Lazy<SplitEncoderModels?>(
            () => provider == ExecutionProviderKind.Cpu && options.RewriteGraphs && options.IncrementalInterims
                ? OrNone(createSplitEncoder, log, "interim updates will encode each segment whole", "split encoder")
                : null,
            LazyThreadSafetyMode.ExecutionAndPublication);
        var crossKeysTransposed = Layout.CrossKeysTransposed;
        _batchedStep = new Lazy<InferenceSession>(
            () => OnnxSessionFactory.CreateBatchedStep(decoderPath, crossKeysTransposed, options, provider, cache, log), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public string ModelName { get; }

    public string ExecutionProvider => Provider == ExecutionProviderKind.Cuda ? "cuda" : "cpu";

    internal ExecutionProviderKind Provider { get; }

    public int IntraOpThreads => Options.IntraOpThreads;

    internal InferenceOptions Options { get; }

    internal TokenDecoder Tokens { get; }

    internal MoonshineLayout Layout { get; }

    internal InferenceSession Encoder => _encoder;

    internal InferenceSession Decoder => _decoder;

    /// <summary>
    /// Binds <paramref name="ids"/> and one encoder output into <paramref name="inputs"/> and runs the merged
    /// decoder's first call (the branch without a past, which computes the cross-attention caches), counted as
    /// recognizer time. The outputs are the logits, then the self- and cross-attention presents.
    /// </summary>
    internal IDisposableReadOnlyCollection<OrtValue> RunFirstCall(
        MoonshineDecoderInputs bindings, RunOptions runOptions, OrtValue[] inputs, OrtValue ids, OrtValue encoderOutput)
    {
        bindings.BindFirstCall(inputs, ids, encoderOutput);
        var started = OnnxRunClock.Start();
        var outputs = _decoder.Run(runOptions, bindings.Names, inputs, bindings.FirstOutputNames);
        OnnxRunClock.StopRecognizer(started);
        return outputs;
    }

    /// <summary>
    /// The encoder split for interim updates that reuse the previous update's stem (<see cref="IncrementalEncoder"/>),
    /// built and loaded by the first interim update (about 70 ms for tiny, 130 ms for base, so that a server whose
    /// clients never ask for interims does not hold its 40-90 MB); null on CUDA, without the graph rewrites, with incremental interims turned off,
    /// for an encoder without the expected stem, or when it cannot be prepared (see <see cref="OrNone"/>).
    /// </summary>
    internal SplitEncoderModels? SplitEncoder => _splitEncoder.Value;

    /// <summary>
    /// The solo-step model's session (<see cref="Graph.SoloStepRewrite"/>), which runs the greedy loop's one-token
    /// steps; null on CUDA, without the graph rewrites, or when it could not be prepared (the merged decoder then runs
    /// those steps, as it runs every other decoder call).
    /// </summary>
    internal InferenceSession? SoloStep => UseSoloStep ? _soloStep : null;

    /// <summary>Whether sessions created from now on run one-token steps on <see cref="SoloStep"/> (for benchmarks and tests that compare).</summary>
    internal bool UseSoloStep { get; set; } = true;

    /// <summary>
    /// One of the models the rewrites add (the solo-step model, the split encoder), or none when it cannot be built or
    /// loaded (a model of another shape than the rewrite expects, a folder without room for it, a file ONNX Runtime
    /// rejects): the recognizer then does without it, slower but serving (<paramref name="instead"/> says how), and
    /// says so once on <paramref name="log"/>. Built once: a failure is not retried at every decode.
    /// </summary>
    private static T? OrNone<T>(Func<T?> create, Action<string>? log, string instead, string what)
        where T : class
    {
        try
        {
            return create();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            log?.Invoke($"{instead}: the {what} could not be prepared ({e.Message})");
            return null;
        }
    }

    /// <summary>The batched-step model for group decoding (<see cref="MoonshineGroupDecoder"/>), built and loaded on first use.</summary>
    internal InferenceSession BatchedStep => _batchedStep.Value;

    /// <summary>Builds (or reads from the cache) and loads the batched-step model now rather than at the first group decode.</summary>
    public void PrepareGroupDecoding() => _ = _batchedStep.Value;

    public IRecognizerSession CreateSession() => new MoonshineDecoderSession(this);

    public void Dispose()
    {
        _encoder.Dispose();
        _decoder.Dispose();
        _soloStep?.Dispose();
        if (_batchedStep.IsValueCreated)
        {
            _batchedStep.Value.Dispose();
        }

        if (_splitEncoder.IsValueCreated)
        {
            _splitEncoder.Value?.Dispose();
        }
    }
}

/// <summary>The decoder's shape, read from its inputs: layers, heads, head size, vocabulary, and the input names.</summary>
internal sealed class MoonshineLayout
{
    private MoonshineLayout(int layers, int heads, int headSize, int vocabularySize, bool crossKeysTransposed)
    {
        Layers = layers;
        CrossKeysTransposed = crossKeysTransposed;
        Heads = heads;
        HeadSize = headSize;
        VocabularySize = vocabularySize;
        PastDecoderNames = new string[layers * 2];
        PastEncoderNames = new string[layers * 2];
        PresentDecoderNames = new string[layers * 2];
        PresentEncoderNames = new string[layers * 2];
        for (var layer = 0; layer < layers; layer++)
        {
            for (var kv = 0; kv < 2; kv++)
            {
                var part = kv == 0 ? "key" : "value";
                PastDecoderNames[layer * 2 + kv] = $"past_key_values.{layer}.decoder.{part}";
                PastEncoderNames[layer * 2 + kv] = $"past_key_values.{layer}.encoder.{part}";
                PresentDecoderNames[layer * 2 + kv] = $"present.{layer}.decoder.{part}";
                PresentEncoderNames[layer * 2 + kv] = $"present.{layer}.encoder.{part}";
            }
        }
    }

    public int Layers { get; }

    public int Heads { get; }

    public int HeadSize { get; }

    public int VocabularySize { get; }

    /// <summary>
    /// Whether the cross-attention key caches are [batch, heads, head size, frames], scaled (the decoder was rewritten
    /// by <see cref="Graph.CrossAttentionKeyRewrite"/>), rather than [batch, heads, frames, head size] as exported.
    /// The value caches are always [batch, heads, frames, head size].
    /// </summary>
    public bool CrossKeysTransposed { get; }

    /// <summary>past_key_values.{layer}.decoder.{key,value}, layer-major.</summary>
    public string[] PastDecoderNames { get; }

    public string[] PastEncoderNames { get; }

    public string[] PresentDecoderNames { get; }

    public string[] PresentEncoderNames { get; }

    public static MoonshineLayout From(InferenceSession decoder)
    {
        var inputs = decoder.InputMetadata;
        var layers = 0;
        while (inputs.ContainsKey($"past_key_values.{layers}.decoder.key"))
        {
            layers++;
        }

        if (layers == 0 || !inputs.ContainsKey("input_ids") || !inputs.ContainsKey("use_cache_branch")
            || !decoder.OutputMetadata.TryGetValue("logits", out var logits))
        {
            throw new ModelLoadException(
                "the decoder is not a merged Moonshine decoder (expected input_ids, use_cache_branch and past_key_values.N.*)");
        }

        var cache = inputs["past_key_values.0.decoder.key"].Dimensions;
        var crossKey = inputs["past_key_values.0.encoder.key"].Dimensions;
        return new MoonshineLayout(layers, cache[1], cache[3], logits.Dimensions[2], crossKeysTransposed: crossKey[2] == cache[3] && crossKey[3] < 0);
    }
}
