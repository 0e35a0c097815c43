using AsrService.Core.Recognition;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AsrService.Onnx;

/// <summary>
/// Greedy decoding of several segments (of any streams) together: one decoder call per token for all of them, with
/// the segments as the batch rows of the batched-step model (<see cref="Graph.BatchedStepRewrite"/>). Each segment's
/// encoder run and first decoder call (begin-of-sequence, which computes its cross-attention caches) run alone, as
/// in solo decoding. Those caches are then copied once into batch tensors padded to the longest segment's encoder
/// frames, with a cross-attention bias that gives the padding no weight; every segment starts from the same one
/// token, so the self-attention caches stay equally long and need no mask. From then on the step's present caches
/// are bound as the next step's past, with no copies.
/// </summary>
/// <remarks>
/// A segment that ends (end-of-sequence or its token budget) is reported at once and leaves the batch: the last row
/// moves into its place (one row of each cache copied), so later calls compute only the rows still decoding. Each
/// row's tokens equal its solo greedy decode, because the batched model quantizes every row on its own scale (tested
/// in the integration tests). Owned by a <see cref="MoonshineDecoderSession"/>, whose encoder it calls.
/// </remarks>
internal sealed class MoonshineGroupDecoder
{
    private readonly MoonshineRecognizer _model;
    private readonly MoonshineLayout _layout;
    private readonly MoonshineDecoderInputs _bindings;
    private readonly RunOptions _runOptions;
    private readonly string[] _stepInputNames;
    private readonly string[] _stepOutputNames;
    private readonly OrtValue[] _firstInputs;
    private readonly OrtValue[] _stepInputs;
    private readonly long[] _bos = [TokenDecoder.BeginOfSequence];
    private readonly float[][] _self;
    private readonly float[][] _cross;
    private readonly int _cacheCount;

    // The step inputs this decoder wraps around its own buffers, and those over the previous step's presents (bound
    // as the next pasts after rows left the batch; released once that step has run).
    private readonly List<OrtValue> _wrapped = [];
    private readonly List<OrtValue> _selfViews = [];
    private float[] _bias = [];
    private long[] _ids = [];

    public MoonshineGroupDecoder(MoonshineRecognizer model, MoonshineDecoderInputs bindings, RunOptions runOptions)
    {
        _model = model;
        _layout = model.Layout;
        _bindings = bindings;
        _runOptions = runOptions;
        _cacheCount = bindings.CacheCount;
        _stepInputNames = ["input_ids", .. _layout.PastDecoderNames, .. _layout.PastEncoderNames, Graph.BatchedStepRewrite.CrossAttentionBias];
        _stepOutputNames = bindings.StepOutputNames;
        _firstInputs = new OrtValue[bindings.Names.Length];
        _stepInputs = new OrtValue[_stepInputNames.Length];
        _self = new float[_cacheCount][];
        _cross = new float[_cacheCount][];
        Array.Fill(_self, []);
        Array.Fill(_cross, []);
    }

    /// <summary>The most segments one group takes.</summary>
    public const int MaxRows = 16;

    /// <summary>
    /// Decodes <paramref name="segments"/> greedily; <paramref name="encode"/> runs the encoder on one segment and
    /// <paramref name="maxTokens"/> gives each segment's token budget. <paramref name="onResult"/> hears each
    /// segment's result (by index) as soon as that segment ends, while the others go on decoding.
    /// </summary>
    public RecognitionResult[] Decode(
        IReadOnlyList<ReadOnlyMemory<float>> segments, Func<ReadOnlyMemory<float>, IDisposableReadOnlyCollection<OrtValue>> encode,
        Func<int, int> maxTokens, Action<int, RecognitionResult>? onResult, CancellationToken cancellationToken)
    {
        var rows = segments.Count;
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, MaxRows, nameof(segments));
        var vocabulary = _layout.VocabularySize;
        var decoding = new RowState[rows];
        var results = new RecognitionResult[rows];
        var firsts = new IDisposableReadOnlyCollection<OrtValue>?[rows];
        IDisposableReadOnlyCollection<OrtValue>? current = null;
        try
        {
            // Each segment alone: encoder, then the first decoder call, which yields its first token and its caches.
            var frames = new int[rows];
            for (var row = 0; row < rows; row++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var encoded = encode(segments[row]);
                using var ids = OrtValue.CreateTensorValueFromMemory(_bos, [1, 1]);
                _bindings.BindFirstCall(_firstInputs, ids, encoded[0]);
                var started = OnnxRunClock.Start();
                firsts[row] = _model.Decoder.Run(_runOptions, _bindings.Names, _firstInputs, _bindings.FirstOutputNames);
                OnnxRunClock.StopRecognizer(started);
                Array.Clear(_firstInputs);
                decoding[row] = new RowState(maxTokens(segments[row].Length));
                decoding[row].Score(Logits.Greedy(firsts[row]![0].GetTensorDataAsSpan<float>()[^vocabulary..], out var logProbability), logProbability);
                frames[row] = (int)firsts[row]![2 + _cacheCount].GetTensorTypeAndShape().Shape[2]; // a value cache: [1, heads, frames, head size]
            }

            var longest = frames.Max();
            CopyIntoBatch(firsts, frames, longest);
            foreach (var first in firsts)
            {
                first!.Dispose();
            }

            Array.Clear(firsts);

            // Slot k of the batch holds row slots[k]. The self-attention pasts start as this decoder's buffers and
            // are afterwards the previous step's presents.
            var slots = Enumerable.Range(0, rows).ToArray();
            var active = rows;
            var pastLength = 1;
            Bind(active, longest, pastLength, selfPasts: null);
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var before = active;
                for (var k = active - 1; k >= 0; k--)
                {
                    var row = slots[k];
                    if (!decoding[row].Ended)
                    {
                        continue;
                    }

                    results[row] = decoding[row].Result(_model.Tokens);
                    onResult?.Invoke(row, results[row]);
                    active--;
                    if (k != active)
                    {
                        MoveSlot(active, k, longest, pastLength);
                        slots[k] = slots[active];
                    }
                }

                if (active == 0)
                {
                    break;
                }

                if (active != before)
                {
                    Bind(active, longest, pastLength, current);
                }

                for (var k = 0; k < active; k++)
                {
                    _ids[k] = decoding[slots[k]].Advance();
                }

                var started = OnnxRunClock.Start();
                var outputs = _model.BatchedStep.Run(_runOptions, _stepInputNames, _stepInputs, _stepOutputNames);
                OnnxRunClock.StopRecognizer(started);
                ReleaseSelfViews();
                current?.Dispose();
                current = outputs;
                pastLength++;
                for (var i = 0; i < _cacheCount; i++)
                {
                    _stepInputs[1 + i] = current[1 + i];
                }

                var logits = current[0].GetTensorDataAsSpan<float>();
                for (var k = 0; k < active; k++)
                {
                    decoding[slots[k]].Score(Logits.Greedy(logits.Slice(k * vocabulary, vocabulary), out var logProbability), logProbability);
                }
            }

            return results;
        }
        finally
        {
            current?.Dispose();
            foreach (var first in firsts)
            {
                first?.Dispose();
            }

            ReleaseWrapped();
            Array.Clear(_firstInputs);
            Array.Clear(_stepInputs);
        }
    }

    /// <summary>Copies each row's first-call caches into the batch buffers, padding the cross caches to <paramref name="longest"/> frames.</summary>
    private void CopyIntoBatch(IDisposableReadOnlyCollection<OrtValue>?[] firsts, int[] frames, int longest)
    {
        var rows = firsts.Length;
        var heads = _layout.Heads;
        var headSize = _layout.HeadSize;
        Fit(ref _bias, rows * longest);
        Fit(ref _ids, rows);
        for (var row = 0; row < rows; row++)
        {
            _bias.AsSpan(row * longest, frames[row]).Clear();
            _bias.AsSpan(row * longest + frames[row], longest - frames[row]).Fill(float.NegativeInfinity);
        }

        for (var i = 0; i < _cacheCount; i++)
        {
            Fit(ref _self[i], rows * heads * headSize);
            Fit(ref _cross[i], rows * heads * longest * headSize);
            for (var row = 0; row < rows; row++)
            {
                firsts[row]![1 + i].GetTensorDataAsSpan<float>().CopyTo(_self[i].AsSpan(row * heads * headSize));
                var cross = firsts[row]![1 + _cacheCount + i].GetTensorDataAsSpan<float>();
                var target = _cross[i].AsSpan(row * heads * longest * headSize, heads * longest * headSize);
                if (IsTransposedKey(i))
                {
                    CopyPadded(cross, target, heads * headSize, frames[row], longest);
                }
                else
                {
                    CopyPadded(cross, target, heads, frames[row] * headSize, longest * headSize);
                }
            }
        }
    }

    /// <summary>
    /// Binds the step inputs for the first <paramref name="active"/> slots: token ids, bias and cross caches over
    /// this decoder's buffers; the self-attention pasts over its buffers (<paramref name="selfPasts"/> null, before
    /// the first step) or over the first slots of the last step's presents.
    /// </summary>
    private void Bind(int active, int longest, int pastLength, IDisposableReadOnlyCollection<OrtValue>? selfPasts)
    {
        var heads = _layout.Heads;
        var headSize = _layout.HeadSize;
        ReleaseWrapped();
        _stepInputs[0] = Wrap(_ids.AsMemory(0, active), [active, 1]);
        for (var i = 0; i < _cacheCount; i++)
        {
            long[] selfShape = [active, heads, pastLength, headSize];
            _stepInputs[1 + i] = selfPasts is null
                ? Wrap(_self[i].AsMemory(0, active * heads * headSize), selfShape)
                : WrapNative(selfPasts[1 + i], selfShape, active * heads * pastLength * headSize);
            _stepInputs[1 + _cacheCount + i] = Wrap(
                _cross[i].AsMemory(0, active * heads * longest * headSize),
                IsTransposedKey(i) ? [active, heads, headSize, longest] : [active, heads, longest, headSize]);
        }

        _stepInputs[^1] = Wrap(_bias.AsMemory(0, active * longest), [active, 1, 1, longest]);
    }

    /// <summary>
    /// Moves slot <paramref name="from"/> of every batch input into slot <paramref name="to"/>: the bias and cross
    /// caches in this decoder's buffers, the self-attention pasts wherever the bound inputs hold them (its buffers
    /// before the first step, the last step's presents after).
    /// </summary>
    private void MoveSlot(int from, int to, int longest, int pastLength)
    {
        MoveBlock(_bias, from, to, longest);
        for (var i = 0; i < _cacheCount; i++)
        {
            MoveBlock(_cross[i], from, to, _layout.Heads * longest * _layout.HeadSize);
            MoveBlock(_stepInputs[1 + i].GetTensorMutableDataAsSpan<float>(), from, to, _layout.Heads * pastLength * _layout.HeadSize);
        }
    }

    private static void MoveBlock(Span<float> buffer, int from, int to, int block) =>
        buffer.Slice(from * block, block).CopyTo(buffer.Slice(to * block, block));

    private OrtValue Wrap<T>(Memory<T> memory, long[] shape)
        where T : unmanaged
    {
        var value = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, memory, shape);
        _wrapped.Add(value);
        return value;
    }

    // A tensor over the first `length` floats of another (ONNX Runtime's) tensor, which must outlive it.
    private unsafe OrtValue WrapNative(OrtValue owner, long[] shape, long length)
    {
        fixed (float* data = owner.GetTensorMutableDataAsSpan<float>())
        {
            var value = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float, shape, (IntPtr)data, length * sizeof(float));
            _selfViews.Add(value);
            return value;
        }
    }

    /// <summary>Disposes the views over the previous step's presents (called once the step that read them has run).</summary>
    private void ReleaseSelfViews()
    {
        foreach (var value in _selfViews)
        {
            value.Dispose();
        }

        _selfViews.Clear();
    }

    private void ReleaseWrapped()
    {
        ReleaseSelfViews();
        foreach (var value in _wrapped)
        {
            value.Dispose();
        }

        _wrapped.Clear();
    }

    /// <summary>Whether cross cache <paramref name="index"/> (layer-major, key then value) is a key in the rewritten layout.</summary>
    private bool IsTransposedKey(int index) => index % 2 == 0 && _layout.CrossKeysTransposed;

    /// <summary>Copies <paramref name="lines"/> runs of <paramref name="run"/> floats to a stride of <paramref name="stride"/>, zeroing the padding.</summary>
    private static void CopyPadded(ReadOnlySpan<float> source, Span<float> target, int lines, int run, int stride)
    {
        for (var line = 0; line < lines; line++)
        {
            var to = target.Slice(line * stride, stride);
            source.Slice(line * run, run).CopyTo(to);
            to[run..].Clear();
        }
    }

    private static void Fit<T>(ref T[] buffer, int length)
    {
        if (buffer.Length < length)
        {
            buffer = new T[length];
        }
    }

    /// <summary>One segment's greedy decode: its tokens so far, the token chosen next, and the running score.</summary>
    private sealed class RowState(int budget)
    {
        private readonly List<int> _tokens = [];
        private double _logProbabilitySum;
        private int _scored;
        private int _next;

        /// <summary>End-of-sequence chosen, or the token budget spent.</summary>
        public bool Ended => _next == TokenDecoder.EndOfSequence || _tokens.Count >= budget;

        public void Score(int next, double logProbability)
        {
            _next = next;
            _logProbabilitySum += logProbability;
            _scored++;
        }

        /// <summary>Takes the chosen token into the sequence and returns it as the next step's input.</summary>
        public int Advance()
        {
            _tokens.Add(_next);
            return _next;
        }

        public RecognitionResult Result(TokenDecoder tokens) =>
            new(tokens.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_tokens)), _tokens.ToArray(), (float)Math.Exp(_logProbabilitySum / _scored));
    }
}
