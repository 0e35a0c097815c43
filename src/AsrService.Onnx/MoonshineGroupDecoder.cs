using AsrService.Core.Recognition;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AsrService.Onnx;

/// <summary>
/// Greedy decoding of several segments (of any streams) together: one decoder call per token for all of them, with
/// the segments as the batch rows of the batched-step model (<see cref="Graph.BatchedStepRewrite"/>). Segments may
/// join while the others decode. Each segment's encoder run and first decoder call (begin-of-sequence, which computes
/// its cross-attention caches) run alone, as in solo decoding, between two batched calls; its caches are then copied
/// into the batch tensors. The cross caches are padded to the longest segment's encoder frames, the self-attention
/// caches at the front to the batch's past length, and two additive biases give the padding no weight. Each row's
/// rotary position is its own past length. From one batched call to the next, the present caches are bound as the
/// next call's pasts, with no copies.
/// </summary>
/// <remarks>
/// A segment that ends (end-of-sequence or its token budget) is reported at once and leaves the batch: the last row
/// moves into its place (one row of each cache copied), so later calls compute only the rows still decoding. When
/// segments join, the self-attention padding that every row has in front is dropped. Each row's tokens equal its solo
/// greedy decode, because the batched model quantizes every row on its own scale (tested in the integration tests).
/// Owned by a <see cref="MoonshineDecoderSession"/>, whose encoder it calls.
/// </remarks>
internal sealed class MoonshineGroupDecoder
{
    /// <summary>The most segments one batched call takes.</summary>
    public const int MaxRows = 16;

    private readonly MoonshineRecognizer _model;
    private readonly MoonshineLayout _layout;
    private readonly MoonshineDecoderInputs _bindings;
    private readonly RunOptions _runOptions;
    private readonly string[] _stepInputNames;
    private readonly string[] _stepOutputNames;
    private readonly OrtValue[] _firstInputs;
    private readonly OrtValue[] _stepInputs;
    private readonly long[] _bos = [TokenDecoder.BeginOfSequence];
    private readonly int _cacheCount;
    private readonly int _selfBiasInput;

    // Per slot of the batch: the segment decoding there, the first self-attention position that is its own (those
    // before it are padding), and its encoder frames.
    private readonly RowState?[] _rows = new RowState?[MaxRows];
    private readonly int[] _start = new int[MaxRows];
    private readonly int[] _frames = new int[MaxRows];
    private readonly long[] _ids = new long[MaxRows];
    private readonly long[] _positions = new long[MaxRows];

    // This decoder's batch buffers; the self-attention ones with spares to re-lay rows into when segments join.
    private float[][] _self;
    private float[][] _selfSpare;
    private float[][] _cross;
    private float[] _crossBias = [];
    private float[] _selfBias = [];

    // The step inputs this decoder wraps around its own buffers, and those over the previous step's presents (bound
    // as the next pasts after rows left the batch; released once that step has run).
    private readonly List<OrtValue> _wrapped = [];
    private readonly List<OrtValue> _selfViews = [];

    private int _active;
    private int _longest;
    private int _pastLength;

    public MoonshineGroupDecoder(MoonshineRecognizer model, MoonshineDecoderInputs bindings, RunOptions runOptions)
    {
        _model = model;
        _layout = model.Layout;
        _bindings = bindings;
        _runOptions = runOptions;
        _cacheCount = bindings.CacheCount;
        _stepInputNames =
        [
            "input_ids", .. _layout.PastDecoderNames, .. _layout.PastEncoderNames,
            Graph.BatchedStepRewrite.CrossAttentionBias, Graph.BatchedStepRewrite.PositionIds, Graph.BatchedStepRewrite.SelfAttentionBias,
        ];
        _selfBiasInput = _stepInputNames.Length - 1;
        _stepOutputNames = bindings.StepOutputNames;
        _firstInputs = new OrtValue[bindings.Names.Length];
        _stepInputs = new OrtValue[_stepInputNames.Length];
        _self = Buffers(_cacheCount);
        _selfSpare = Buffers(_cacheCount);
        _cross = Buffers(_cacheCount);
    }

    /// <summary>
    /// Decodes <paramref name="segments"/> greedily, and the segments that <paramref name="joining"/> (asked between
    /// decoder calls with the number of rows free) adds while they decode; each comes with the id its result is
    /// reported under. <paramref name="encode"/> runs the encoder on one segment and <paramref name="maxTokens"/>
    /// gives each segment's token budget. <paramref name="onResult"/> hears each segment's result as soon as that
    /// segment ends, while the others go on decoding. Returns when no segment is left decoding and none joins.
    /// </summary>
    public void Decode(
        IReadOnlyList<(int Id, ReadOnlyMemory<float> Samples)> segments, Func<int, IReadOnlyList<(int Id, ReadOnlyMemory<float> Samples)>>? joining,
        Func<ReadOnlyMemory<float>, IDisposableReadOnlyCollection<OrtValue>> encode, Func<int, int> maxTokens,
        Action<int, RecognitionResult> onResult, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(segments.Count, MaxRows, nameof(segments));
        var vocabulary = _layout.VocabularySize;
        IDisposableReadOnlyCollection<OrtValue>? current = null;
        _active = 0;
        _longest = 0;
        _pastLength = 0;
        try
        {
            var joiners = segments;
            while (true)
            {
                if (joiners.Count > 0)
                {
                    Join(joiners, encode, maxTokens, cancellationToken);
                    current?.Dispose();
                    current = null;
                }

                Leave(onResult, current);
                joiners = joining is null || _active == MaxRows ? [] : joining(MaxRows - _active);
                if (joiners.Count > 0)
                {
                    continue;
                }

                if (_active == 0)
                {
                    return;
                }

                cancellationToken.ThrowIfCancellationRequested();
                var outputs = Step();
                ReleaseSelfViews();
                current?.Dispose();
                current = outputs;
                _pastLength++;
                for (var i = 0; i < _cacheCount; i++)
                {
                    _stepInputs[1 + i] = current[1 + i];
                }

                var logits = current[0].GetTensorDataAsSpan<float>();
                for (var k = 0; k < _active; k++)
                {
                    _rows[k]!.Score(Logits.Greedy(logits.Slice(k * vocabulary, vocabulary), out var logProbability), logProbability);
                }
            }
        }
        finally
        {
            current?.Dispose();
            ReleaseWrapped();
            Array.Clear(_rows);
            Array.Clear(_firstInputs);
            Array.Clear(_stepInputs);
        }
    }

    /// <summary>One batched decoder call on the rows' chosen tokens.</summary>
    private IDisposableReadOnlyCollection<OrtValue> Step()
    {
        var total = _pastLength + 1;
        Fit(ref _selfBias, _active * total);
        for (var k = 0; k < _active; k++)
        {
            _ids[k] = _rows[k]!.Advance();
            _positions[k] = _pastLength - _start[k];
            var bias = _selfBias.AsSpan(k * total, total);
            bias[.._start[k]].Fill(float.NegativeInfinity);
            bias[_start[k]..].Clear();
        }

        using var selfBias = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _selfBias.AsMemory(0, _active * total), [_active, 1, 1, total]);
        _stepInputs[_selfBiasInput] = selfBias;
        var started = OnnxRunClock.Start();
        var outputs = _model.BatchedStep.Run(_runOptions, _stepInputNames, _stepInputs, _stepOutputNames);
        OnnxRunClock.StopRecognizer(started);
        _stepInputs[_selfBiasInput] = null!;
        return outputs;
    }

    /// <summary>
    /// Runs each new segment's encoder and first decoder call alone, then re-lays the batch with them in the last
    /// slots: the self-attention caches are copied into this decoder's spare buffers (dropping the padding that all
    /// rows have in front) and the buffers swapped; the cross caches stay in place unless a new segment is longer.
    /// </summary>
    private void Join(
        IReadOnlyList<(int Id, ReadOnlyMemory<float> Samples)> joiners, Func<ReadOnlyMemory<float>, IDisposableReadOnlyCollection<OrtValue>> encode,
        Func<int, int> maxTokens, CancellationToken cancellationToken)
    {
        var firsts = new IDisposableReadOnlyCollection<OrtValue>[joiners.Count];
        var count = 0;
        try
        {
            var vocabulary = _layout.VocabularySize;

            // With no row left in the batch, the cross caches are padded to the new segments alone.
            var longest = _active == 0 ? 0 : _longest;
            for (; count < joiners.Count; count++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var (id, samples) = joiners[count];
                using var encoded = encode(samples);
                using var ids = OrtValue.CreateTensorValueFromMemory(_bos, [1, 1]);
                firsts[count] = _model.RunFirstCall(_bindings, _runOptions, _firstInputs, ids, encoded[0]);
                Array.Clear(_firstInputs);
                var slot = _active + count;
                _rows[slot] = new RowState(id, maxTokens(samples.Length));
                _rows[slot]!.Score(Logits.Greedy(firsts[count][0].GetTensorDataAsSpan<float>()[^vocabulary..], out var logProbability), logProbability);
                _frames[slot] = (int)firsts[count][2 + _cacheCount].GetTensorTypeAndShape().Shape[2]; // a value cache: [1, heads, frames, head size]
                longest = Math.Max(longest, _frames[slot]);
            }

            Relay(firsts, longest);
        }
        finally
        {
            for (var i = 0; i < count; i++)
            {
                firsts[i].Dispose();
            }
        }
    }

    /// <summary>Lays the rows now in the batch and the new ones' first-call caches out for the next call, and binds them.</summary>
    private void Relay(IDisposableReadOnlyCollection<OrtValue>[] firsts, int longest)
    {
        var heads = _layout.Heads;
        var headSize = _layout.HeadSize;
        var old = _active;
        var rows = old + firsts.Length;
        var dropped = old == 0 ? 0 : int.MaxValue;
        for (var k = 0; k < old; k++)
        {
            dropped = Math.Min(dropped, _start[k]);
        }

        var oldPast = _pastLength;
        var past = old == 0 ? 1 : oldPast - dropped;
        for (var k = 0; k < old; k++)
        {
            _start[k] -= dropped;
        }

        for (var k = old; k < rows; k++)
        {
            _start[k] = past - 1; // a new segment's past is its begin-of-sequence token alone
        }

        Fit(ref _crossBias, rows * longest);
        for (var k = 0; k < rows; k++)
        {
            var bias = _crossBias.AsSpan(k * longest, longest);
            bias[.._frames[k]].Clear();
            bias[_frames[k]..].Fill(float.NegativeInfinity);
        }

        // The rows in the batch keep their cross caches where they are unless the new segments are longer: those are
        // the largest buffers (a 30 s segment's are 4 MB per row for tiny), and they never change while a row decodes.
        var widen = old > 0 && longest > _longest;
        for (var i = 0; i < _cacheCount; i++)
        {
            Fit(ref _selfSpare[i], rows * heads * past * headSize);
            var self = _selfSpare[i].AsSpan(0, rows * heads * past * headSize);
            if (widen)
            {
                // Rare, and the old buffer is then garbage: no spare of this size is kept.
                var wider = new float[rows * heads * longest * headSize];
                CopyCross(_cross[i], wider, i, old, _longest, longest);
                _cross[i] = wider;
            }
            else if (_cross[i].Length < rows * heads * longest * headSize)
            {
                Array.Resize(ref _cross[i], rows * heads * longest * headSize);
            }

            var cross = _cross[i].AsSpan(0, rows * heads * longest * headSize);
            if (old > 0)
            {
                // The bound pasts are [old, heads, oldPast, head size], in this decoder's buffers or the last presents.
                ReadOnlySpan<float> pasts = _stepInputs[1 + i].GetTensorMutableDataAsSpan<float>();
                CopyLines(pasts[(dropped * headSize)..], self, old * heads, past * headSize, oldPast * headSize, past * headSize);
            }

            for (var j = 0; j < firsts.Length; j++)
            {
                var k = old + j;
                var row = self.Slice(k * heads * past * headSize, heads * past * headSize);
                row.Clear();
                CopyLines(firsts[j][1 + i].GetTensorDataAsSpan<float>(), row[((past - 1) * headSize)..], heads, headSize, headSize, past * headSize);
                var crossRow = cross.Slice(k * heads * longest * headSize, heads * longest * headSize);
                CopyCross(firsts[j][1 + _cacheCount + i].GetTensorDataAsSpan<float>(), crossRow, i, 1, _frames[k], longest);
            }
        }

        (_self, _selfSpare) = (_selfSpare, _self);
        _active = rows;
        _longest = longest;
        _pastLength = past;
        Bind(selfPasts: null);
    }

    /// <summary>
    /// Copies <paramref name="rows"/> rows of a cross cache padded to <paramref name="from"/> frames into rows padded
    /// to <paramref name="to"/> (at least as many), zeroing the padding; a key in the rewritten layout has frames last.
    /// </summary>
    private void CopyCross(ReadOnlySpan<float> source, Span<float> target, int index, int rows, int from, int to)
    {
        var heads = _layout.Heads;
        var headSize = _layout.HeadSize;
        if (IsTransposedKey(index))
        {
            CopyPadded(source, target, rows * heads * headSize, from, to);
        }
        else
        {
            CopyPadded(source, target, rows * heads, from * headSize, to * headSize);
        }
    }

    /// <summary>Reports the rows that have ended and takes them out of the batch, moving the last rows into their places.</summary>
    private void Leave(Action<int, RecognitionResult> onResult, IDisposableReadOnlyCollection<OrtValue>? presents)
    {
        var before = _active;
        for (var k = _active - 1; k >= 0; k--)
        {
            var row = _rows[k]!;
            if (!row.Ended)
            {
                continue;
            }

            onResult(row.Id, row.Result(_model.Tokens));
            _active--;
            if (k != _active)
            {
                MoveSlot(_active, k);
            }

            _rows[_active] = null;
        }

        if (_active != before && _active > 0)
        {
            Bind(presents);
        }
    }

    /// <summary>
    /// Binds the step inputs for the rows in the batch: token ids, positions, the cross-attention bias and cross
    /// caches over this decoder's buffers; the self-attention pasts over its buffers (<paramref name="selfPasts"/>
    /// null, right after rows joined) or over the first rows of the last step's presents. The self-attention bias,
    /// whose length grows with every call, is bound by <see cref="Step"/>.
    /// </summary>
    private void Bind(IDisposableReadOnlyCollection<OrtValue>? selfPasts)
    {
        var heads = _layout.Heads;
        var headSize = _layout.HeadSize;
        var rows = _active;
        ReleaseWrapped();
        _stepInputs[0] = Wrap(_ids.AsMemory(0, rows), [rows, 1]);
        for (var i = 0; i < _cacheCount; i++)
        {
            long[] selfShape = [rows, heads, _pastLength, headSize];
            _stepInputs[1 + i] = selfPasts is null
                ? Wrap(_self[i].AsMemory(0, rows * heads * _pastLength * headSize), selfShape)
                : WrapNative(selfPasts[1 + i], selfShape, rows * heads * _pastLength * headSize);
            _stepInputs[1 + _cacheCount + i] = Wrap(
                _cross[i].AsMemory(0, rows * heads * _longest * headSize),
                IsTransposedKey(i) ? [rows, heads, headSize, _longest] : [rows, heads, _longest, headSize]);
        }

        _stepInputs[1 + 2 * _cacheCount] = Wrap(_crossBias.AsMemory(0, rows * _longest), [rows, 1, 1, _longest]);
        _stepInputs[2 + 2 * _cacheCount] = Wrap(_positions.AsMemory(0, rows), [rows, 1]);
    }

    /// <summary>
    /// Moves slot <paramref name="from"/> of the batch into slot <paramref name="to"/>: its state, the cross bias and
    /// caches in this decoder's buffers, the self-attention pasts wherever the bound inputs hold them (its buffers
    /// right after rows joined, the last step's presents after a step).
    /// </summary>
    private void MoveSlot(int from, int to)
    {
        _rows[to] = _rows[from];
        _start[to] = _start[from];
        _frames[to] = _frames[from];
        MoveBlock(_crossBias, from, to, _longest);
        for (var i = 0; i < _cacheCount; i++)
        {
            MoveBlock(_cross[i], from, to, _layout.Heads * _longest * _layout.HeadSize);
            MoveBlock(_stepInputs[1 + i].GetTensorMutableDataAsSpan<float>(), from, to, _layout.Heads * _pastLength * _layout.HeadSize);
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

    /// <summary>Copies <paramref name="lines"/> runs of <paramref name="run"/> floats from a stride of
    /// <paramref name="sourceStride"/> to one of <paramref name="targetStride"/>.</summary>
    private static void CopyLines(ReadOnlySpan<float> source, Span<float> target, int lines, int run, int sourceStride, int targetStride)
    {
        for (var line = 0; line < lines; line++)
        {
            source.Slice(line * sourceStride, run).CopyTo(target.Slice(line * targetStride, run));
        }
    }

    private static float[][] Buffers(int count)
    {
        var buffers = new float[count][];
        Array.Fill(buffers, []);
        return buffers;
    }

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
    private sealed class RowState(int id, int budget)
    {
        /// <summary>The id the caller gave the segment, under which its result is reported.</summary>
        public int Id { get; } = id;

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
