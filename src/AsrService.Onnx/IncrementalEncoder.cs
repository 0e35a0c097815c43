using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AsrService.Core.Recognition;
using AsrService.Onnx.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AsrService.Onnx;

/// <summary>
/// The encoder split in two (<see cref="EncoderStemSplit"/>): the stem model, whose output frames depend only on their
/// own samples, and the rest. Shared by all sessions of a recognizer.
/// </summary>
internal sealed class SplitEncoderModels : IDisposable
{
    public SplitEncoderModels(InferenceSession stem, InferenceSession rest)
    {
        Stem = stem;
        Rest = rest;
        var metadata = stem.ModelMetadata.CustomMetadataMap;
        SamplesPerActivationFrame = int.Parse(metadata[EncoderStemSplit.SamplesPerActivationFrameKey], CultureInfo.InvariantCulture);
        ActivationFramesPerLinearFrame = int.Parse(metadata[EncoderStemSplit.ActivationFramesPerLinearFrameKey], CultureInfo.InvariantCulture);
        var restMetadata = rest.ModelMetadata.CustomMetadataMap;
        int Read(string key) => restMetadata.TryGetValue(key, out var text) ? int.Parse(text, CultureInfo.InvariantCulture) : 0;
        Layers = Read(EncoderKeptPrefix.LayersKey);
        Heads = Read(EncoderKeptPrefix.HeadsKey);
        HeadSize = Read(EncoderKeptPrefix.HeadSizeKey);
        LinearFramesPerFrame = Read(EncoderKeptPrefix.StrideKey);
        RestInputs = KeepsPrefix
            ? [EncoderStemSplit.Linear, EncoderStemSplit.Moments, EncoderKeptPrefix.TailStart, EncoderKeptPrefix.DropFrames, EncoderKeptPrefix.PastHidden,
                .. Enumerable.Range(0, Layers).SelectMany(l => new[] { EncoderKeptPrefix.PastKey(l), EncoderKeptPrefix.PastValue(l) })]
            : [EncoderStemSplit.Linear, EncoderStemSplit.Moments];
        RestOutputs = [EncoderKeptPrefix.Output,
            .. Enumerable.Range(0, Layers).SelectMany(l => new[] { EncoderKeptPrefix.PresentKey(l), EncoderKeptPrefix.PresentValue(l) })];
        if (KeepsPrefix)
        {
            EmptyPast = CreateEmptyPast();
        }
    }

    public InferenceSession Stem { get; }

    public InferenceSession Rest { get; }

    /// <summary>The first convolution's stride.</summary>
    public int SamplesPerActivationFrame { get; }

    /// <summary>The second convolution's stride.</summary>
    public int ActivationFramesPerLinearFrame { get; }

    public int SamplesPerLinearFrame => SamplesPerActivationFrame * ActivationFramesPerLinearFrame;

    /// <summary>Whether the rest model can take the encoding of a segment's first frames from an earlier call (<see cref="EncoderKeptPrefix"/>).</summary>
    public bool KeepsPrefix => Layers > 0;

    /// <summary>The third convolution's stride: frames of L per encoder output frame (0 when the rest does not keep a prefix).</summary>
    public int LinearFramesPerFrame { get; }

    /// <summary>Samples per encoder output frame (384 for Moonshine: 41.7 frames a second).</summary>
    public int SamplesPerFrame => SamplesPerLinearFrame * LinearFramesPerFrame;

    public int Layers { get; }

    public int Heads { get; }

    public int HeadSize { get; }

    /// <summary>
    /// The rest model's inputs: L, the moments, the first frame to compute, the frames whose keys and values the
    /// presents leave out, the kept output, then each layer's kept keys and values (from <see cref="FirstPastInput"/>).
    /// </summary>
    public string[] RestInputs { get; }

    /// <summary>The index in <see cref="RestInputs"/> of the kept output, which the kept keys and values follow.</summary>
    public const int FirstPastInput = 4;

    /// <summary>The rest model's outputs: the encoder output, then each layer's keys and values.</summary>
    public string[] RestOutputs { get; }

    /// <summary>
    /// Empty past inputs for a call that computes every frame: the output [1, 0, hidden] and a layer's keys or values
    /// [1, heads, 0, head size] in float16 (the hidden size is heads × head size in Moonshine).
    /// </summary>
    public (OrtValue Hidden, OrtValue KeysOrValues) EmptyPast { get; } = (null!, null!);

    private static readonly float[] s_nothing = GC.AllocateArray<float>(1, pinned: true);

    private unsafe (OrtValue, OrtValue) CreateEmptyPast()
    {
        var data = (IntPtr)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(s_nothing));
        var hidden = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float, [1, 0, Heads * HeadSize], data, 0);
        var keys = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float16, [1, Heads, 0, HeadSize], data, 0);
        return (hidden, keys);
    }

    public void Dispose()
    {
        Stem.Dispose();
        Rest.Dispose();
        EmptyPast.Hidden?.Dispose();
        EmptyPast.KeysOrValues?.Dispose();
    }
}

/// <summary>
/// One session's encoder for interim updates of a growing segment. It keeps the stem's linear output (L, see
/// <see cref="EncoderStemSplit"/>) and the running moments of the stem's activations for the samples it has seen, and
/// when it is given the same segment again with more samples, it runs the stem on the new samples only (plus a few
/// already seen, at least <see cref="MinimumChunk"/> samples in all) before running the rest of the encoder. Given a
/// segment that does not continue the one it holds, it starts over.
/// <para>With a re-encoded window (<see cref="InferenceOptions.InterimEncoderWindowSeconds"/>), it also keeps the
/// previous update's encoder output and every layer's attention keys and values, and the rest of the encoder computes
/// only the frames from the window's start on: the last window's worth of frames that the previous update had, and
/// the new ones (<see cref="EncoderKeptPrefix"/>). Older frames keep the encoding an earlier update gave them, when
/// they already had at least a window of audio after them. Once the segment has grown by half since its last whole
/// encoding, an update encodes it whole again (<see cref="WholeAgainAfterGrowth"/>). Without a window, every frame is
/// computed each time.</para>
/// </summary>
/// <remarks>
/// The kept frames of L equal what the stem computes for the whole segment up to rounding (7e-7 measured), but the
/// encoder output is not bit-identical to the exported encoder's: the rest of the encoder quantizes its activations
/// per call, which turns last-bit differences into visible ones now and then. With a window the output is further
/// from it (an approximation: frames before the window do not see the audio since their update). Finals therefore
/// never use this encoder. Buffers come from <see cref="ArrayPool{T}.Shared"/> and go back there on
/// <see cref="Release"/>; the kept encoder outputs are ONNX Runtime's, released there too.
/// </remarks>
internal sealed class IncrementalEncoder : IDisposable
{
    /// <summary>The fewest samples the stem runs on: whole segments shorter than this are not encoded here.</summary>
    public const int MinimumChunk = 4_000;

    /// <summary>
    /// With a window, an update encodes the whole segment again once the segment is this many times as long as at its
    /// last whole encoding, so that no kept frame was encoded with less than two thirds of the audio there is now.
    /// On the dev set (tiny, 3 s window) this took the words of updates that differ from a decode from scratch from
    /// 9.7 to 6.6 % (5.4 % without a window) at the same cost per update; 1.25 cost more for no gain.
    /// </summary>
    internal const double WholeAgainAfterGrowth = 1.5;

    private const int SampleRate = 16_000;

    private static readonly string[] s_stemInputs = ["input_values"];
    private static readonly string[] s_stemOutputs = [EncoderStemSplit.Activation, EncoderStemSplit.Linear];
    private static readonly string[] s_outputOnly = [EncoderKeptPrefix.Output];

    private readonly SplitEncoderModels _models;
    private readonly RunOptions _runOptions;
    private readonly int? _windowFrames;
    private readonly float[] _moments = new float[2];
    private readonly long[] _tailStart = new long[1];
    private readonly long[] _dropFrames = new long[1];
    private readonly OrtValue[] _restInputs;
    private float[] _samples = [];
    private int _sampleCount;
    private float[] _linear = [];
    private int _linearFrames;
    private int _linearChannels;
    private int _activationFrames;
    private int _activationChannels;
    private double _sum;
    private double _sumOfSquares;
    private IDisposableReadOnlyCollection<OrtValue>? _kept;
    private int _wholeSamples;

    /// <param name="models">The split encoder.</param>
    /// <param name="runOptions">The session's run options (for cancellation).</param>
    /// <param name="windowSeconds">
    /// Seconds at the end of the segment that each update re-encodes besides the new audio; null or 0 re-encodes every frame.
    /// </param>
    public IncrementalEncoder(SplitEncoderModels models, RunOptions runOptions, double? windowSeconds = null)
    {
        _models = models;
        _runOptions = runOptions;
        _windowFrames = windowSeconds is > 0 and var seconds && models.KeepsPrefix
            ? (int)Math.Ceiling(seconds * SampleRate / models.SamplesPerFrame)
            : null;
        _restInputs = new OrtValue[models.RestInputs.Length];

        // The next update computes the window's frames again, so their keys and values are not kept.
        _dropFrames[0] = _windowFrames ?? 0;
    }

    /// <summary>Frames of L that the last <see cref="Encode"/> took from what it kept (for tests and benchmarks).</summary>
    internal int ReusedFrames { get; private set; }

    /// <summary>Encoder output frames that the last <see cref="Encode"/> took from the previous update (for tests and benchmarks).</summary>
    internal int ReusedOutputFrames { get; private set; }

    /// <summary>Frames of L kept.</summary>
    internal int KeptFrames => _linearFrames;

    /// <summary>Samples whose stem output is kept.</summary>
    internal int KeptSamples => _sampleCount;

    /// <summary>The kept frames of L, frame-major (for tests).</summary>
    internal ReadOnlySpan<float> KeptLinear => _linear.AsSpan(0, _linearFrames * _linearChannels);

    /// <summary>The mean and variance of the stem's activations that the last <see cref="Encode"/> passed on (for tests).</summary>
    internal (float Mean, float Variance) Moments => (_moments[0], _moments[1]);

    /// <summary>Frames whose keys and values are kept for the next update (for tests).</summary>
    internal int KeptKeyFrames => _kept is { Count: > 1 } kept ? (int)kept[1].GetTensorTypeAndShape().Shape[2] : 0;

    /// <summary>Bytes of encoder outputs, keys and values kept for the next update (ONNX Runtime's memory).</summary>
    internal long KeptEncodingBytes =>
        _kept?.Sum(v => v.GetTensorTypeAndShape() is var info && info.ElementDataType == TensorElementType.Float16
            ? info.ElementCount * 2
            : info.ElementCount * sizeof(float)) ?? 0;

    /// <summary>
    /// The encoder output for <paramref name="samples"/> (at least <see cref="MinimumChunk"/> of them), reusing the
    /// stem output of the samples it has already seen when they are the start of these, and with a window, the
    /// encoding of the frames before it. The values returned stay valid until the next call or <see cref="Release"/>;
    /// disposing them is the caller's part either way.
    /// </summary>
    public unsafe IDisposableReadOnlyCollection<OrtValue> Encode(ReadOnlySpan<float> samples)
    {
        if (samples.Length < MinimumChunk)
        {
            throw new ArgumentException($"at least {MinimumChunk} samples are needed, got {samples.Length}", nameof(samples));
        }

        // Compared bit for bit (a vectorized byte compare): only the very samples the kept frames came from continue them.
        if (samples.Length < _sampleCount
            || !MemoryMarshal.AsBytes(samples[.._sampleCount]).SequenceEqual(MemoryMarshal.AsBytes(_samples.AsSpan(0, _sampleCount))))
        {
            Forget();
        }

        // Resume at the first frame not kept, or earlier so that the stem sees at least MinimumChunk samples.
        var perFrame = _models.SamplesPerLinearFrame;
        var resume = Math.Min(_linearFrames, (samples.Length - MinimumChunk) / perFrame);
        var start = resume * perFrame;
        fixed (float* data = samples)
        {
            var chunk = samples.Length - start;
            using var audio = OrtValue.CreateTensorValueWithData(
                OrtMemoryInfo.DefaultInstance, TensorElementType.Float, [1, chunk], (IntPtr)(data + start), (long)chunk * sizeof(float));
            var started = OnnxRunClock.Start();
            using var stem = _models.Stem.Run(_runOptions, s_stemInputs, [audio], s_stemOutputs);
            OnnxRunClock.StopRecognizer(started);
            AddMoments(stem[0], resume * _models.ActivationFramesPerLinearFrame);
            AppendLinear(stem[1], resume);
        }

        ReusedFrames = resume;
        KeepSamples(samples);
        var count = (double)_activationFrames * _activationChannels;
        var mean = _sum / count;
        _moments[0] = (float)mean;
        _moments[1] = (float)Math.Max(0, (_sumOfSquares / count) - (mean * mean));

        // With a window: keep the frames before the last window of the previous update's, compute the rest.
        var keptOutputFrames = _kept is null ? 0 : (int)_kept[0].GetTensorTypeAndShape().Shape[1];
        var tailStart = _windowFrames is { } window && samples.Length < WholeAgainAfterGrowth * _wholeSamples
            ? Math.Max(0, keptOutputFrames - window)
            : 0;
        if (tailStart == 0)
        {
            _wholeSamples = samples.Length;
        }
        ReusedOutputFrames = tailStart;
        _tailStart[0] = tailStart;
        fixed (float* linear = _linear)
        fixed (float* moments = _moments)
        fixed (long* first = _tailStart)
        fixed (long* drop = _dropFrames)
        {
            using var linearValue = OrtValue.CreateTensorValueWithData(
                OrtMemoryInfo.DefaultInstance, TensorElementType.Float, [1, _linearFrames, _linearChannels], (IntPtr)linear,
                (long)_linearFrames * _linearChannels * sizeof(float));
            using var momentsValue = OrtValue.CreateTensorValueWithData(
                OrtMemoryInfo.DefaultInstance, TensorElementType.Float, [2], (IntPtr)moments, 2 * sizeof(float));
            using var startValue = OrtValue.CreateTensorValueWithData(
                OrtMemoryInfo.DefaultInstance, TensorElementType.Int64, [], (IntPtr)first, sizeof(long));
            using var dropValue = OrtValue.CreateTensorValueWithData(
                OrtMemoryInfo.DefaultInstance, TensorElementType.Int64, [], (IntPtr)drop, sizeof(long));
            _restInputs[0] = linearValue;
            _restInputs[1] = momentsValue;
            if (_models.KeepsPrefix)
            {
                _restInputs[2] = startValue;
                _restInputs[3] = dropValue;
            }

            const int firstPast = SplitEncoderModels.FirstPastInput;
            for (var i = firstPast; i < _restInputs.Length; i++)
            {
                // Past output, then keys and values; the previous update's outputs are in the same order. Its keys
                // and values hold the frames before this update's start, which the model reads, and no more.
                _restInputs[i] = tailStart > 0 ? _kept![i - firstPast] : i == firstPast ? _models.EmptyPast.Hidden : _models.EmptyPast.KeysOrValues;
            }

            IDisposableReadOnlyCollection<OrtValue> encoded;
            var started = OnnxRunClock.Start();
            try
            {
                encoded = _models.Rest.Run(_runOptions, _models.RestInputs, _restInputs, _windowFrames is null ? s_outputOnly : _models.RestOutputs);
            }
            finally
            {
                OnnxRunClock.StopRecognizer(started);
                Array.Clear(_restInputs);
            }

            if (_windowFrames is null)
            {
                return encoded;
            }

            _kept?.Dispose();
            _kept = null;
            if (encoded[0].GetTensorTypeAndShape().Shape[1] <= _windowFrames)
            {
                // Not longer than the window: the next update encodes every frame again, so nothing is worth keeping.
                return encoded;
            }

            _kept = encoded;
            return new Borrowed(encoded[0]);
        }
    }

    /// <summary>Forgets the kept segment and gives the buffers back to the shared pool.</summary>
    public void Release()
    {
        Forget();
        Return(ref _samples);
        Return(ref _linear);
    }

    public void Dispose() => Release();

    private void Forget()
    {
        _kept?.Dispose();
        _kept = null;
        _sampleCount = 0;
        _linearFrames = 0;
        _activationFrames = 0;
        _sum = 0;
        _sumOfSquares = 0;
    }

    /// <summary>
    /// Adds the activations not counted yet to the running moments. The chunk's activation frames start at global
    /// frame <paramref name="firstFrame"/>; those before the frames already counted were counted by an earlier call.
    /// </summary>
    private void AddMoments(OrtValue activation, int firstFrame)
    {
        var shape = activation.GetTensorTypeAndShape().Shape;
        var channels = (int)shape[1];
        var frames = (int)shape[2];
        var from = Math.Max(0, _activationFrames - firstFrame);
        var values = activation.GetTensorDataAsSpan<float>();
        double sum = 0, sumOfSquares = 0;
        for (var channel = 0; channel < channels; channel++)
        {
            foreach (var value in values.Slice((channel * frames) + from, frames - from))
            {
                sum += value;
                sumOfSquares += (double)value * value;
            }
        }

        _sum += sum;
        _sumOfSquares += sumOfSquares;
        _activationFrames = firstFrame + frames;
        _activationChannels = channels;
    }

    /// <summary>Writes the chunk's frames of L from frame <paramref name="firstFrame"/> on, replacing any kept there.</summary>
    private void AppendLinear(OrtValue linear, int firstFrame)
    {
        var shape = linear.GetTensorTypeAndShape().Shape;
        _linearChannels = (int)shape[2];
        var frames = (int)shape[1];
        var total = firstFrame + frames;
        Grow(ref _linear, firstFrame * _linearChannels, total * _linearChannels);
        linear.GetTensorDataAsSpan<float>().CopyTo(_linear.AsSpan(firstFrame * _linearChannels));
        _linearFrames = total;
    }

    private void KeepSamples(ReadOnlySpan<float> samples)
    {
        Grow(ref _samples, _sampleCount, samples.Length);
        samples[_sampleCount..].CopyTo(_samples.AsSpan(_sampleCount));
        _sampleCount = samples.Length;
    }

    /// <summary>Makes <paramref name="buffer"/> hold at least <paramref name="needed"/> values, keeping the first <paramref name="kept"/>.</summary>
    private static void Grow(ref float[] buffer, int kept, int needed)
    {
        if (buffer.Length >= needed)
        {
            return;
        }

        var larger = ArrayPool<float>.Shared.Rent(Math.Max(needed, buffer.Length * 3 / 2));
        buffer.AsSpan(0, kept).CopyTo(larger);
        Return(ref buffer);
        buffer = larger;
    }

    private static void Return(ref float[] buffer)
    {
        if (buffer.Length > 0)
        {
            ArrayPool<float>.Shared.Return(buffer);
        }

        buffer = [];
    }
}

/// <summary>A value lent by its owner: disposing the collection leaves the value alone.</summary>
internal sealed class Borrowed(OrtValue value) : IDisposableReadOnlyCollection<OrtValue>
{
    public int Count => 1;

    public OrtValue this[int index] => index == 0 ? value : throw new ArgumentOutOfRangeException(nameof(index));

    public IEnumerator<OrtValue> GetEnumerator()
    {
        yield return value;
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    public void Dispose()
    {
    }
}
