using System.Numerics.Tensors;
using AsrService.Core.Recognition;
using Microsoft.ML.OnnxRuntime;

namespace AsrService.Onnx;

/// <summary>
/// One stream's decoding state for Moonshine: the encoder runs once per segment, then the merged decoder runs once
/// per token. The first decoder call (use_cache_branch = false) computes the cross-attention keys and values from
/// the encoder output; every later call (use_cache_branch = true) takes the previous call's present self-attention
/// caches as its past ones. Those caches are ONNX Runtime's own output buffers handed straight back as inputs, so
/// nothing is copied between steps; only the step's single token id is written, into a buffer the input tensor wraps.
/// </summary>
internal sealed class MoonshineDecoderSession : IRecognizerSession
{
    // The encoder's output length is floor(floor(floor((n - 127) / 64) / 3) / 2) - 1 frames; below about 900
    // samples it is empty. Shorter segments are padded with silence to this many samples.
    private const int MinimumSamples = 4_000;
    private const int SampleRate = 16_000;
    private const int MinimumTokenBudget = 8;

    private readonly MoonshineRecognizer _model;
    private readonly MoonshineLayout _layout;
    private readonly RunOptions _runOptions = new();
    private readonly long[] _tokenId = new long[1];
    private readonly OrtValue _tokenValue;
    private readonly OrtValue _noCache;
    private readonly OrtValue _useCache;
    private readonly OrtValue _emptyCache;
    private readonly string[] _inputNames;
    private readonly OrtValue[] _inputs;
    private readonly string[] _firstOutputNames;
    private readonly string[] _stepOutputNames;
    private readonly float[] _scratch;
    private readonly List<int> _tokens = new(256);
    private float[] _audio = new float[SampleRate * 30];

    // Positions in _inputs.
    private const int TokenInput = 0;
    private const int EncoderInput = 1;
    private const int CacheBranchInput = 2;
    private const int FirstPastInput = 3;

    public MoonshineDecoderSession(MoonshineRecognizer model)
    {
        _model = model;
        _layout = model.Layout;
        _tokenValue = OrtValue.CreateTensorValueFromMemory(_tokenId, [1, 1]);
        _noCache = OrtValue.CreateTensorValueFromMemory(new[] { false }, [1]);
        _useCache = OrtValue.CreateTensorValueFromMemory(new[] { true }, [1]);
        _emptyCache = OrtValue.CreateAllocatedTensorValue(
            OrtAllocator.DefaultInstance, Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float, [1, _layout.Heads, 0, _layout.HeadSize]);

        _inputNames = ["input_ids", "encoder_hidden_states", "use_cache_branch", .. _layout.PastDecoderNames, .. _layout.PastEncoderNames];
        _inputs = new OrtValue[_inputNames.Length];
        _firstOutputNames = ["logits", .. _layout.PresentDecoderNames, .. _layout.PresentEncoderNames];
        _stepOutputNames = ["logits", .. _layout.PresentDecoderNames];
        _scratch = new float[_layout.VocabularySize];
    }

    public RecognitionResult Recognize(ReadOnlySpan<float> samples, CancellationToken cancellationToken = default)
    {
        if (samples.IsEmpty)
        {
            return RecognitionResult.Empty;
        }

        using var encoded = Encode(samples);
        var maxTokens = Math.Max(MinimumTokenBudget, (int)Math.Ceiling(samples.Length / (double)SampleRate * _model.Options.MaxTokensPerSecond));
        return Decode(encoded[0], maxTokens, cancellationToken);
    }

    /// <summary>Runs the encoder on one segment (padded to <see cref="MinimumSamples"/>); the caller owns the result.</summary>
    private IDisposableReadOnlyCollection<OrtValue> Encode(ReadOnlySpan<float> samples)
    {
        var length = Math.Max(samples.Length, MinimumSamples);
        if (_audio.Length < length)
        {
            _audio = new float[length];
        }

        samples.CopyTo(_audio);
        _audio.AsSpan(samples.Length, length - samples.Length).Clear();

        using var audioValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _audio.AsMemory(0, length), [1, length]);
        var started = OnnxRunClock.Start();
        var encoded = _model.Encoder.Run(_runOptions, s_encoderInputNames, [audioValue], s_encoderOutputNames);
        OnnxRunClock.Stop(started);
        return encoded;
    }

    private static readonly string[] s_encoderInputNames = ["input_values"];
    private static readonly string[] s_encoderOutputNames = ["last_hidden_state"];

    private RecognitionResult Decode(OrtValue encoderOutput, int maxTokens, CancellationToken cancellationToken)
    {
        _tokens.Clear();

        // The first call's outputs hold the cross-attention caches used by every later step, so they live until the end.
        using var first = RunFirst(encoderOutput);
        IDisposableReadOnlyCollection<OrtValue> current = first;
        var logProbabilitySum = 0.0;
        var scored = 0;
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var token = PickToken(current, out var logProbability);
                logProbabilitySum += logProbability;
                scored++;
                if (token == TokenDecoder.EndOfSequence || _tokens.Count >= maxTokens)
                {
                    break;
                }

                _tokens.Add(token);
                var next = RunStep(current, token);
                if (!ReferenceEquals(current, first))
                {
                    current.Dispose();
                }

                current = next;
            }
        }
        finally
        {
            if (!ReferenceEquals(current, first))
            {
                current.Dispose();
            }

            Array.Clear(_inputs);
        }

        var text = _model.Tokens.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_tokens));
        var confidence = scored == 0 ? 0f : (float)Math.Exp(logProbabilitySum / scored);
        return new RecognitionResult(text, _tokens.ToArray(), confidence);
    }

    /// <summary>
    /// The decoder's first call, on BOS with empty caches. Afterwards <see cref="_inputs"/> holds the result's
    /// cross-attention caches and selects the cached branch, ready for <see cref="RunStep"/>; the caller owns the
    /// result and must keep it alive for as long as steps run.
    /// </summary>
    private IDisposableReadOnlyCollection<OrtValue> RunFirst(OrtValue encoderOutput)
    {
        var cacheCount = _layout.Layers * 2;
        _tokenId[0] = TokenDecoder.BeginOfSequence;
        _inputs[TokenInput] = _tokenValue;
        _inputs[EncoderInput] = encoderOutput;
        _inputs[CacheBranchInput] = _noCache;
        Array.Fill(_inputs, _emptyCache, FirstPastInput, cacheCount * 2);

        var started = OnnxRunClock.Start();
        var first = _model.Decoder.Run(_runOptions, _inputNames, _inputs, _firstOutputNames);
        OnnxRunClock.Stop(started);
        for (var i = 0; i < cacheCount; i++)
        {
            _inputs[FirstPastInput + cacheCount + i] = first[1 + cacheCount + i];
        }

        _inputs[CacheBranchInput] = _useCache;
        return first;
    }

    /// <summary>
    /// One decoder step: <paramref name="previous"/>'s present self-attention caches become the past ones and
    /// <paramref name="token"/> the input. The caller owns the result; <paramref name="previous"/> may be disposed
    /// once this returns.
    /// </summary>
    private IDisposableReadOnlyCollection<OrtValue> RunStep(IDisposableReadOnlyCollection<OrtValue> previous, int token)
    {
        var cacheCount = _layout.Layers * 2;
        _tokenId[0] = token;
        for (var i = 0; i < cacheCount; i++)
        {
            _inputs[FirstPastInput + i] = previous[1 + i];
        }

        var started = OnnxRunClock.Start();
        var next = _model.Decoder.Run(_runOptions, _inputNames, _inputs, _stepOutputNames);
        OnnxRunClock.Stop(started);
        return next;
    }

    /// <summary>The greedy choice from a decoder call's last logits, with its log-probability.</summary>
    private int PickToken(IDisposableReadOnlyCollection<OrtValue> outputs, out double logProbability)
    {
        var logits = outputs[0].GetTensorDataAsSpan<float>()[^_layout.VocabularySize..];
        var token = TensorPrimitives.IndexOfMax(logits);
        logProbability = LogProbability(logits, token);
        return token;
    }

    /// <summary>
    /// For benchmarks: encodes <paramref name="samples"/> and decodes greedily until the self-attention caches hold
    /// <paramref name="pastLength"/> positions, then keeps that state so that <see cref="FixedStep.Run"/> repeats the
    /// following step, as <see cref="Decode"/> runs it, any number of times without the caches growing. The session
    /// must decode nothing else until the returned object is disposed, since both share <see cref="_inputs"/>.
    /// </summary>
    internal FixedStep PrepareFixedStep(ReadOnlySpan<float> samples, int pastLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pastLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(samples.Length, 1, nameof(samples));
        return new FixedStep(this, Encode(samples), pastLength);
    }

    /// <summary>log softmax(logits)[token], computed without allocating: logit - max - log(sum(exp(logits - max))).</summary>
    private double LogProbability(ReadOnlySpan<float> logits, int token)
    {
        var max = TensorPrimitives.Max(logits);
        var shifted = _scratch.AsSpan(0, logits.Length);
        TensorPrimitives.Subtract(logits, max, shifted);
        TensorPrimitives.Exp(shifted, shifted);
        return logits[token] - max - Math.Log(TensorPrimitives.Sum(shifted));
    }

    public void Dispose()
    {
        _tokenValue.Dispose();
        _noCache.Dispose();
        _useCache.Dispose();
        _emptyCache.Dispose();
        _runOptions.Dispose();
    }

    /// <summary>A decoder state frozen after a given number of greedy steps; see <see cref="PrepareFixedStep"/>.</summary>
    internal sealed class FixedStep : IDisposable
    {
        private readonly MoonshineDecoderSession _session;
        private readonly IDisposableReadOnlyCollection<OrtValue> _encoded;
        private readonly IDisposableReadOnlyCollection<OrtValue> _first;
        private readonly IDisposableReadOnlyCollection<OrtValue> _past;
        private readonly int _token;

        internal FixedStep(MoonshineDecoderSession session, IDisposableReadOnlyCollection<OrtValue> encoded, int pastLength)
        {
            _session = session;
            _encoded = encoded;
            IDisposableReadOnlyCollection<OrtValue>? first = null;
            IDisposableReadOnlyCollection<OrtValue>? current = null;
            try
            {
                first = session.RunFirst(encoded[0]);
                current = first;
                for (var length = 1; length <= pastLength; length++)
                {
                    var token = session.PickToken(current, out _);
                    if (token == TokenDecoder.EndOfSequence)
                    {
                        throw new ArgumentException(
                            $"the audio decodes to {length - 1} tokens, too few for a past of {pastLength}", nameof(pastLength));
                    }

                    if (length == pastLength)
                    {
                        _token = token;
                        break;
                    }

                    var next = session.RunStep(current, token);
                    if (!ReferenceEquals(current, first))
                    {
                        current.Dispose();
                    }

                    current = next;
                }

                _first = first;
                _past = current;
            }
            catch
            {
                if (!ReferenceEquals(current, first))
                {
                    current?.Dispose();
                }

                first?.Dispose();
                encoded.Dispose();
                Array.Clear(session._inputs);
                throw;
            }
        }

        /// <summary>Positions the self-attention caches hold, read from the tensor itself.</summary>
        public long PastLength => _past[1].GetTensorTypeAndShape().Shape[2];

        /// <summary>The token each step feeds: the greedy choice after the frozen past.</summary>
        public int Token => _token;

        /// <summary>One step as the decode loop runs it: rebind the caches, run the decoder, pick the next token.</summary>
        public int Run()
        {
            using var next = _session.RunStep(_past, _token);
            return _session.PickToken(next, out _);
        }

        public void Dispose()
        {
            if (!ReferenceEquals(_past, _first))
            {
                _past.Dispose();
            }

            _first.Dispose();
            _encoded.Dispose();
            Array.Clear(_session._inputs);
        }
    }
}
