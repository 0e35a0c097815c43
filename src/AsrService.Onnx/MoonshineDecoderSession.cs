using AsrService.Core.Recognition;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using static AsrService.Onnx.MoonshineDecoderInputs;

namespace AsrService.Onnx;

/// <summary>
/// One stream's decoding state for Moonshine: the encoder runs once per segment, then the merged decoder runs once
/// per token. The first decoder call (use_cache_branch = false) computes the cross-attention keys and values from
/// the encoder output; every later call (use_cache_branch = true) takes the previous call's present self-attention
/// caches as its past ones. Those caches are ONNX Runtime's own output buffers handed straight back as inputs, so
/// nothing is copied between steps; only the step's single token id is written, into a buffer the input tensor wraps.
/// The steps run through <see cref="NativeDecoderStep"/>, which allocates nothing on the managed heap.
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
    // A run stopped by RunCancellation (a preempted interim) is logged by ONNX Runtime as an error; every failure
    // reaches the caller as an exception with the same message, so these runs log only fatal errors.
    private readonly RunOptions _runOptions = new() { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
    private readonly long[] _tokenId = new long[1];
    private readonly OrtValue _tokenValue;
    private readonly MoonshineDecoderInputs _bindings;
    private readonly OrtValue[] _inputs;
    private readonly NativeDecoderStep _step;
    private readonly List<int> _tokens = new(256);
    private readonly float[] _shortAudio = new float[MinimumSamples];
    private long[] _draftIds = new long[256];
    private long[] _checkIds = new long[64];
    private MoonshineBeamDecoder? _beams;
    private MoonshineGroupDecoder? _group;
    private IncrementalEncoder? _incremental;

    public MoonshineDecoderSession(MoonshineRecognizer model)
    {
        _model = model;
        _layout = model.Layout;
        _tokenValue = OrtValue.CreateTensorValueFromMemory(_tokenId, [1, 1]);
        _bindings = new MoonshineDecoderInputs(_layout);
        _inputs = new OrtValue[_bindings.Names.Length];
        _step = new NativeDecoderStep(model.Decoder, model.SoloStep, _runOptions, _bindings, _layout.VocabularySize);
    }

    /// <summary>
    /// From scratch: beam search when <see cref="InferenceOptions.BeamSize"/> is above 1, otherwise greedy. The
    /// segment is over (a final), so the stem kept for its interim updates is let go.
    /// </summary>
    public RecognitionResult Recognize(ReadOnlySpan<float> samples, CancellationToken cancellationToken = default)
    {
        _incremental?.Release();
        return _model.Options.BeamSize > 1
            ? RecognizeWithBeams(samples, _model.Options.BeamSize, cancellationToken)
            : RecognizeGreedy(samples, ReadOnlySpan<int>.Empty, incremental: false, cancellationToken);
    }

    /// <summary>
    /// Greedy decodes of several segments with their decoder steps batched (<see cref="MoonshineGroupDecoder"/>),
    /// segments from <paramref name="joining"/> joining the batch while it decodes; with a beam search configured, or
    /// one segment and nothing joining, each is decoded alone.
    /// </summary>
    public IReadOnlyList<RecognitionResult> RecognizeGroup(
        IReadOnlyList<ReadOnlyMemory<float>> segments, Action<int, RecognitionResult>? onResult = null,
        Func<int, IReadOnlyList<ReadOnlyMemory<float>>>? joining = null, CancellationToken cancellationToken = default)
    {
        if (_model.Options.BeamSize > 1 || (segments.Count < 2 && joining is null))
        {
            return IRecognizerSession.RecognizeOneByOne(this, segments, onResult, joining, cancellationToken);
        }

        var results = new List<RecognitionResult?>();
        var waiting = new Queue<(int Id, ReadOnlyMemory<float> Samples)>();
        var started = OnnxRunClock.Start();
        try
        {
            // Segments beyond one batch wait here and join as rows come free; empty ones are answered at once.
            void Add(IReadOnlyList<ReadOnlyMemory<float>> added)
            {
                foreach (var samples in added)
                {
                    results.Add(null);
                    if (samples.IsEmpty)
                    {
                        Report(results.Count - 1, RecognitionResult.Empty);
                    }
                    else
                    {
                        waiting.Enqueue((results.Count - 1, samples));
                    }
                }
            }

            void Report(int id, RecognitionResult result)
            {
                results[id] = result;
                onResult?.Invoke(id, result);
            }

            IReadOnlyList<(int Id, ReadOnlyMemory<float> Samples)> Take(int room)
            {
                if (waiting.Count < room && joining is not null)
                {
                    Add(joining(room - waiting.Count));
                }

                var taken = new List<(int, ReadOnlyMemory<float>)>(Math.Min(room, waiting.Count));
                while (taken.Count < room && waiting.TryDequeue(out var next))
                {
                    taken.Add(next);
                }

                return taken;
            }

            Add(segments);
            _group ??= new MoonshineGroupDecoder(_model, _bindings, _runOptions);
            _group.Decode(Take(MoonshineGroupDecoder.MaxRows), Take, segment => Encode(segment.Span), MaxTokens, Report, cancellationToken);
            return results.ConvertAll(r => r!);
        }
        finally
        {
            OnnxRunClock.StopRecognizing(started);
        }
    }

    /// <summary>Beam search with <paramref name="beamSize"/> beams (1 runs the beam code path greedily, for tests).</summary>
    internal RecognitionResult RecognizeWithBeams(ReadOnlySpan<float> samples, int beamSize, CancellationToken cancellationToken = default) =>
        EncodeThenDecode(samples, [], incremental: false, cancellationToken, (encoded, maxTokens, _) =>
        {
            _beams ??= new MoonshineBeamDecoder(_model, _bindings, _runOptions);
            var best = _beams.Decode(encoded, beamSize, maxTokens, cancellationToken);
            var confidence = best.ScoredLength == 0 ? 0f : (float)Math.Exp(best.NormalizedScore);
            return new RecognitionResult(_model.Tokens.Decode(best.Tokens), best.Tokens, confidence);
        });

    private int MaxTokens(int sampleCount) =>
        Math.Max(MinimumTokenBudget, (int)Math.Ceiling(sampleCount / (double)SampleRate * _model.Options.MaxTokensPerSecond));

    /// <summary>
    /// An interim update: greedy, checking <paramref name="draft"/> first, and with the encoder's stem carried over
    /// from the previous update when <paramref name="samples"/> continue the segment it had
    /// (<see cref="IncrementalEncoder"/>, when the recognizer has a split encoder).
    /// </summary>
    public RecognitionResult Recognize(ReadOnlySpan<float> samples, ReadOnlySpan<int> draft, CancellationToken cancellationToken = default) =>
        RecognizeGreedy(samples, draft, incremental: true, cancellationToken);

    private RecognitionResult RecognizeGreedy(ReadOnlySpan<float> samples, ReadOnlySpan<int> draft, bool incremental, CancellationToken cancellationToken) =>
        EncodeThenDecode(samples, draft, incremental, cancellationToken, (encoded, maxTokens, drafted) =>
            Decode(encoded, drafted.Length > maxTokens ? drafted[..maxTokens] : drafted, maxTokens, cancellationToken));

    /// <summary>How a segment's encoder output is decoded, within <paramref name="maxTokens"/>, given a draft.</summary>
    private delegate RecognitionResult EncodedDecode(OrtValue encoded, int maxTokens, ReadOnlySpan<int> draft);

    /// <summary>
    /// What greedy and beam decoding share: an empty segment gives an empty result; otherwise the encoder runs and
    /// <paramref name="decode"/> decodes its output, the whole counted as recognizing time, and cancelling
    /// <paramref name="cancellationToken"/> stops even a model run under way (<see cref="RunCancellation"/>) with
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    private RecognitionResult EncodeThenDecode(
        ReadOnlySpan<float> samples, ReadOnlySpan<int> draft, bool incremental, CancellationToken cancellationToken, EncodedDecode decode)
    {
        if (samples.IsEmpty)
        {
            return RecognitionResult.Empty;
        }

        var started = OnnxRunClock.Start();
        using var cancellation = new RunCancellation(_runOptions, cancellationToken);
        try
        {
            using var encoded = incremental ? EncodeIncrementally(samples) : Encode(samples);
            return decode(encoded[0], MaxTokens(samples.Length), draft);
        }
        catch (Exception e) when (cancellation.Stopped(e))
        {
            throw new OperationCanceledException("the decode was cancelled", e, cancellationToken);
        }
        finally
        {
            OnnxRunClock.StopRecognizing(started);
        }
    }

    /// <summary>
    /// Runs the encoder on a segment. The input tensor wraps the caller's samples, pinned for the run, so a session
    /// holds no audio buffer of its own (one stream owns one session); only a segment shorter than the encoder's
    /// minimum is copied, into a small buffer padded with silence.
    /// </summary>
    internal unsafe IDisposableReadOnlyCollection<OrtValue> Encode(ReadOnlySpan<float> samples)
    {
        if (samples.Length < MinimumSamples)
        {
            samples.CopyTo(_shortAudio);
            _shortAudio.AsSpan(samples.Length).Clear();
            samples = _shortAudio;
        }

        fixed (float* data = samples)
        {
            using var audioValue = OrtValue.CreateTensorValueWithData(
                OrtMemoryInfo.DefaultInstance, TensorElementType.Float, [1, samples.Length], (IntPtr)data, (long)samples.Length * sizeof(float));
            var started = OnnxRunClock.Start();
            var encoded = _model.Encoder.Run(_runOptions, s_encoderInputNames, [audioValue], s_encoderOutputNames);
            OnnxRunClock.StopRecognizer(started);
            return encoded;
        }
    }

    /// <summary>
    /// The encoder output of a segment for an interim update: through <see cref="IncrementalEncoder"/> where the
    /// recognizer has a split encoder and the segment is long enough, otherwise as <see cref="Encode"/>.
    /// </summary>
    internal IDisposableReadOnlyCollection<OrtValue> EncodeIncrementally(ReadOnlySpan<float> samples)
    {
        if (samples.Length >= IncrementalEncoder.MinimumChunk && _model.SplitEncoder is { } split)
        {
            _incremental ??= new IncrementalEncoder(split, _runOptions, _model.Options.InterimEncoderWindowSeconds);
            return _incremental.Encode(samples);
        }

        return Encode(samples);
    }

    /// <summary>Decoder steps this session ran on the solo-step model (for tests).</summary>
    internal long SoloSteps => _step.SoloRuns;

    /// <summary>The incremental encoder of this session's interim updates, once it has run.</summary>
    internal IncrementalEncoder? IncrementalEncoder => _incremental;

    private static readonly string[] s_encoderInputNames = ["input_values"];
    private static readonly string[] s_encoderOutputNames = ["last_hidden_state"];

    /// <summary>
    /// Greedy decoding. The first call takes BOS followed by the draft (an earlier hypothesis of the same growing
    /// segment), so that one parallel call checks the whole draft: its tokens are kept for as long as the model's
    /// own argmax at each position agrees with them, which is exactly what token-by-token greedy decoding would have
    /// produced; at the first disagreement the self-attention caches are cut back to the agreed prefix and decoding
    /// continues one token at a time from the model's own choice. When the new hypothesis meets the draft again
    /// after an edit (a word replaced, added or dropped: <see cref="Realign"/>), the rest of the draft is checked the
    /// same way in one cached call (<see cref="CheckDraft"/>), rather than re-decoded a token at a time.
    /// </summary>
    private RecognitionResult Decode(OrtValue encoderOutput, ReadOnlySpan<int> draft, int maxTokens, CancellationToken cancellationToken)
    {
        var cacheCount = _layout.Layers * 2;
        _tokens.Clear();
        var firstLength = draft.Length + 1;
        using var firstIds = TokenIds(ref _draftIds, TokenDecoder.BeginOfSequence, draft);

        // The first call's outputs hold the cross-attention caches used by every later step, so they live until the end.
        using var first = _model.RunFirstCall(_bindings, _runOptions, _inputs, firstIds, encoderOutput);
        for (var i = 0; i < cacheCount; i++)
        {
            _inputs[FirstPastInput + cacheCount + i] = first[1 + cacheCount + i];
            _inputs[FirstPastInput + i] = first[1 + i];
        }

        var logProbabilitySum = 0.0;
        var scored = 0;
        var agreed = KeepAgreed(first[0].GetTensorDataAsSpan<float>(), draft, ref logProbabilitySum, ref scored, out var next);

        // Past positions: BOS plus the agreed draft tokens. A longer draft leaves cache rows to drop.
        OrtValue[]? trimmed = agreed + 1 < firstLength ? TrimSelfAttentionCaches(first, agreed + 1) : null;
        if (trimmed is not null)
        {
            Array.Copy(trimmed, 0, _inputs, FirstPastInput, cacheCount);
        }

        _inputs[TokenInput] = _tokenValue;
        _inputs[CacheBranchInput] = _bindings.UseCache;
        _step.Bind(_inputs);
        DecoderCalls = 1;
        // Where the hypothesis left the draft, and how many tokens it has made since the one that took that place.
        var draftFrom = agreed;
        var sinceLeft = 0;
        try
        {
            while (next != TokenDecoder.EndOfSequence && _tokens.Count < maxTokens)
            {
                cancellationToken.ThrowIfCancellationRequested();
                _tokens.Add(next);
                var at = agreed < draft.Length ? Realign(draft, draftFrom, sinceLeft, next) : -1;
                var proposal = at < 0 ? default : draft.Slice(at + 1, Math.Min(draft.Length - at - 1, maxTokens - _tokens.Count));
                if (proposal.IsEmpty)
                {
                    next = Logits.Greedy(RunStep(next), out var logProbability);
                    logProbabilitySum += logProbability;
                    scored++;
                    sinceLeft++;
                    DecoderCalls++;
                    continue;
                }

                // The draft picks up again after an edit: check the rest of it in one call, as the first call did.
                var taken = CheckDraft(next, proposal, ref logProbabilitySum, ref scored, out next);
                DecoderCalls++;
                if (taken < proposal.Length)
                {
                    // The caches hold begin-of-sequence and one position per token of the hypothesis.
                    _step.KeepPast(_tokens.Count + 1);
                }

                if (taken > 0)
                {
                    draftFrom = at + 1 + taken;
                    sinceLeft = 0;
                }
                else
                {
                    sinceLeft++;
                }
            }
        }
        finally
        {
            _step.Release();
            if (trimmed is not null)
            {
                foreach (var value in trimmed)
                {
                    value.Dispose();
                }
            }

            Array.Clear(_inputs);
        }

        var text = _model.Tokens.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_tokens));
        var confidence = scored == 0 ? 0f : (float)Math.Exp(logProbabilitySum / scored);
        return new RecognitionResult(text, _tokens.ToArray(), confidence);
    }

    /// <summary>Decoder calls the last greedy decode made (the first call, steps and draft checks): for tests and the `interims` pass.</summary>
    internal int DecoderCalls { get; private set; }

    // How far beyond where the hypothesis would be in the draft had it only replaced tokens one for one, in tokens,
    // it may pick the draft up again: the edits between two interims are a word or two.
    private const int RealignWindow = 4;

    /// <summary>
    /// Where the draft picks up again after the hypothesis left it at <paramref name="from"/> and made
    /// <paramref name="sinceLeft"/> more tokens: of the positions from there up to <see cref="RealignWindow"/> beyond
    /// <paramref name="from"/> + <paramref name="sinceLeft"/> that hold <paramref name="last"/> (the hypothesis's
    /// latest token) and have a draft token after them, the nearest to <paramref name="from"/> +
    /// <paramref name="sinceLeft"/>; -1 if none. A wrong match costs little: the call that checks it gives the next
    /// token all the same, from its first row.
    /// </summary>
    internal static int Realign(ReadOnlySpan<int> draft, int from, int sinceLeft, int last)
    {
        var expected = (long)from + sinceLeft;
        var end = (int)Math.Min(draft.Length - 1L, expected + RealignWindow);
        var found = -1;
        for (var at = Math.Max(from, 0); at < end; at++)
        {
            if (draft[at] == last && (found < 0 || Math.Abs(at - expected) < Math.Abs(found - expected)))
            {
                found = at;
            }
        }

        return found;
    }

    /// <summary>
    /// Feeds <paramref name="token"/> and the <paramref name="proposal"/> after it in one cached call and keeps the
    /// proposed tokens the model agrees with (<see cref="KeepAgreed"/>); the caller cuts the self-attention caches
    /// back to them.
    /// </summary>
    private int CheckDraft(int token, ReadOnlySpan<int> proposal, ref double logProbabilitySum, ref int scored, out int next)
    {
        using var ids = TokenIds(ref _checkIds, token, proposal);
        return KeepAgreed(_step.Run(ids, proposal.Length + 1), proposal, ref logProbabilitySum, ref scored, out next);
    }

    /// <summary>
    /// Reads the logits of a call that fed a token and then <paramref name="fed"/> (one row per position): keeps the
    /// tokens of <paramref name="fed"/> for as long as the model's own argmax agrees with them (added to the
    /// hypothesis, their log probabilities summed), and returns how many it kept; <paramref name="next"/> is the
    /// model's token after the last one kept.
    /// </summary>
    private int KeepAgreed(ReadOnlySpan<float> rows, ReadOnlySpan<int> fed, ref double logProbabilitySum, ref int scored, out int next)
    {
        var vocabulary = _layout.VocabularySize;
        for (var kept = 0; ; kept++)
        {
            next = Logits.Greedy(rows.Slice(kept * vocabulary, vocabulary), out var logProbability);
            logProbabilitySum += logProbability;
            scored++;
            if (kept == fed.Length || next != fed[kept])
            {
                return kept;
            }

            _tokens.Add(next);
        }
    }

    /// <summary>
    /// Token ids [1, 1 + <paramref name="rest"/>.Length] for a decoder call: <paramref name="lead"/>, then
    /// <paramref name="rest"/>, written into <paramref name="buffer"/> (grown when too short), which the value wraps.
    /// </summary>
    private static OrtValue TokenIds(ref long[] buffer, int lead, ReadOnlySpan<int> rest)
    {
        var count = rest.Length + 1;
        if (buffer.Length < count)
        {
            buffer = new long[Math.Max(count, buffer.Length * 2)];
        }

        buffer[0] = lead;
        for (var i = 0; i < rest.Length; i++)
        {
            buffer[i + 1] = rest[i];
        }

        return OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, buffer.AsMemory(0, count), [1, count]);
    }

    /// <summary>
    /// One decoder step: feeds <paramref name="token"/> with the past caches currently bound in the step, which then
    /// binds its present caches as the next step's past (ONNX Runtime's buffers, not copies). Returns the logits.
    /// </summary>
    private ReadOnlySpan<float> RunStep(int token)
    {
        _tokenId[0] = token;
        return _step.Run();
    }

    /// <summary>
    /// For the decoder-step benchmark: decodes <paramref name="samples"/> greedily until the self-attention caches hold
    /// <paramref name="pastLength"/> positions, then freezes that state so that <see cref="FixedStep.Run"/> repeats the
    /// production step (<see cref="RunStep"/>, <see cref="Logits.Greedy"/>) on a past that does not grow.
    /// </summary>
    internal FixedStep PrepareFixedStep(ReadOnlySpan<float> samples, int pastLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pastLength, 1);
        return new FixedStep(this, Encode(samples), pastLength);
    }

    /// <summary>
    /// For tests: the logits after begin-of-sequence and after each of <paramref name="tokens"/> (rows of vocabulary
    /// size), from one parallel decoder call at batch 1.
    /// </summary>
    internal float[] ParallelLogits(ReadOnlySpan<float> samples, ReadOnlySpan<int> tokens)
    {
        using var encoded = Encode(samples);
        using var idsValue = TokenIds(ref _draftIds, TokenDecoder.BeginOfSequence, tokens);
        try
        {
            using var outputs = _model.RunFirstCall(_bindings, _runOptions, _inputs, idsValue, encoded[0]);
            return outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            Array.Clear(_inputs);
        }
    }

    /// <summary>Copies the first <paramref name="keep"/> positions of each self-attention cache of the first call.</summary>
    private OrtValue[] TrimSelfAttentionCaches(IReadOnlyList<OrtValue> first, int keep)
    {
        var trimmed = new OrtValue[_layout.Layers * 2];
        for (var i = 0; i < trimmed.Length; i++)
        {
            trimmed[i] = NativeDecoderStep.FirstPositions(first[1 + i], keep);
        }

        return trimmed;
    }

    /// <summary>A decoder state frozen after a number of greedy steps; see <see cref="PrepareFixedStep"/>.</summary>
    internal sealed class FixedStep : IDisposable
    {
        private readonly MoonshineDecoderSession _session;
        private readonly IDisposableReadOnlyCollection<OrtValue> _encoded;
        private readonly IDisposableReadOnlyCollection<OrtValue> _first;
        private readonly OrtValue[]? _detached;
        private readonly OrtValue[] _pastInputs;

        internal FixedStep(MoonshineDecoderSession session, IDisposableReadOnlyCollection<OrtValue> encoded, int pastLength)
        {
            _session = session;
            _encoded = encoded;
            var cacheCount = session._bindings.CacheCount;
            var vocabulary = session._layout.VocabularySize;
            var inputs = session._inputs;
            session._tokenId[0] = TokenDecoder.BeginOfSequence;
            _first = session._model.RunFirstCall(session._bindings, session._runOptions, inputs, session._tokenValue, encoded[0]);
            for (var i = 0; i < cacheCount; i++)
            {
                inputs[FirstPastInput + i] = _first[1 + i];
                inputs[FirstPastInput + cacheCount + i] = _first[1 + cacheCount + i];
            }

            inputs[CacheBranchInput] = session._bindings.UseCache;
            session._step.Bind(inputs);
            var logits = _first[0].GetTensorDataAsSpan<float>()[^vocabulary..];
            for (var length = 1; ; length++)
            {
                Token = Logits.Greedy(logits, out _);
                if (Token == TokenDecoder.EndOfSequence)
                {
                    session._step.Release();
                    throw new ArgumentException($"the audio decodes to {length - 1} tokens, too few for a past of {pastLength}", nameof(pastLength));
                }

                if (length == pastLength)
                {
                    break;
                }

                logits = session.RunStep(Token);
            }

            // After at least one step the caches are the step's outputs: take them over so that they outlive later runs.
            if (pastLength > 1)
            {
                _detached = session._step.DetachPresents();
                _detached.CopyTo(inputs, FirstPastInput);
            }

            session._step.Release();
            _pastInputs = inputs[FirstPastInput..(FirstPastInput + cacheCount)];
        }

        /// <summary>Positions the self-attention caches hold, read from the tensor itself.</summary>
        public long PastLength => _pastInputs[0].GetTensorTypeAndShape().Shape[2];

        /// <summary>The token each step feeds: the greedy choice after the frozen past.</summary>
        public int Token { get; }

        /// <summary>One step as the decode loop runs it: bind the past caches, run the decoder, pick the next token.</summary>
        public int Run()
        {
            Array.Copy(_pastInputs, 0, _session._inputs, FirstPastInput, _pastInputs.Length);
            _session._step.Bind(_session._inputs);
            return Logits.Greedy(_session.RunStep(Token), out _);
        }

        public void Dispose()
        {
            _session._step.Release();
            foreach (var value in _detached ?? [])
            {
                value.Dispose();
            }

            _first.Dispose();
            _encoded.Dispose();
            Array.Clear(_session._inputs);
        }
    }

    public void Dispose()
    {
        _incremental?.Dispose();
        _beams?.Dispose();
        _step.Dispose();
        _tokenValue.Dispose();
        _bindings.Dispose();
        _runOptions.Dispose();
    }
}
