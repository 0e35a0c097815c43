using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
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
    }

    public InferenceSession Stem { get; }

    public InferenceSession Rest { get; }

    /// <summary>The first convolution's stride.</summary>
    public int SamplesPerActivationFrame { get; }

    /// <summary>The second convolution's stride.</summary>
    public int ActivationFramesPerLinearFrame { get; }

    public int SamplesPerLinearFrame => SamplesPerActivationFrame * ActivationFramesPerLinearFrame;

    public void Dispose()
    {
        Stem.Dispose();
        Rest.Dispose();
    }
}

/// <summary>
/// One session's encoder for interim updates of a growing segment. It keeps the stem's linear output (L, see
/// <see cref="EncoderStemSplit"/>) and the running moments of the stem's activations for the samples it has seen, and
/// when it is given the same segment again with more samples, it runs the stem on the new samples only (plus a few
/// already seen, at least <see cref="MinimumChunk"/> samples in all) before running the rest of the encoder on every
/// frame. Given a segment that does not continue the one it holds, it starts over.
/// </summary>
/// <remarks>
/// The kept frames equal what the stem computes for the whole segment up to rounding (7e-7 measured), but the encoder
/// output is not bit-identical to the exported encoder's: the rest of the encoder quantizes its activations per call,
/// which turns last-bit differences into visible ones now and then. Finals therefore never use it.
/// Buffers come from <see cref="ArrayPool{T}.Shared"/> and go back there on <see cref="Release"/>.
/// </remarks>
internal sealed class IncrementalEncoder : IDisposable
{
    /// <summary>The fewest samples the stem runs on: whole segments shorter than this are not encoded here.</summary>
    public const int MinimumChunk = 4_000;

    private static readonly string[] s_stemInputs = ["input_values"];
    private static readonly string[] s_stemOutputs = [EncoderStemSplit.Activation, EncoderStemSplit.Linear];
    private static readonly string[] s_restInputs = [EncoderStemSplit.Linear, EncoderStemSplit.Moments];
    private static readonly string[] s_restOutputs = ["last_hidden_state"];

    private readonly SplitEncoderModels _models;
    private readonly RunOptions _runOptions;
    private readonly float[] _moments = new float[2];
    private float[] _samples = [];
    private int _sampleCount;
    private float[] _linear = [];
    private int _linearFrames;
    private int _linearChannels;
    private int _activationFrames;
    private int _activationChannels;
    private double _sum;
    private double _sumOfSquares;

    public IncrementalEncoder(SplitEncoderModels models, RunOptions runOptions)
    {
        _models = models;
        _runOptions = runOptions;
    }

    /// <summary>Frames of L that the last <see cref="Encode"/> took from what it kept (for tests and benchmarks).</summary>
    internal int ReusedFrames { get; private set; }

    /// <summary>Frames of L kept.</summary>
    internal int KeptFrames => _linearFrames;

    /// <summary>Samples whose stem output is kept.</summary>
    internal int KeptSamples => _sampleCount;

    /// <summary>The kept frames of L, frame-major (for tests).</summary>
    internal ReadOnlySpan<float> KeptLinear => _linear.AsSpan(0, _linearFrames * _linearChannels);

    /// <summary>The mean and variance of the stem's activations that the last <see cref="Encode"/> passed on (for tests).</summary>
    internal (float Mean, float Variance) Moments => (_moments[0], _moments[1]);

    /// <summary>
    /// The encoder output for <paramref name="samples"/> (at least <see cref="MinimumChunk"/> of them), reusing the
    /// stem output of the samples it has already seen when they are the start of these.
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
        fixed (float* linear = _linear)
        fixed (float* moments = _moments)
        {
            using var linearValue = OrtValue.CreateTensorValueWithData(
                OrtMemoryInfo.DefaultInstance, TensorElementType.Float, [1, _linearFrames, _linearChannels], (IntPtr)linear,
                (long)_linearFrames * _linearChannels * sizeof(float));
            using var momentsValue = OrtValue.CreateTensorValueWithData(
                OrtMemoryInfo.DefaultInstance, TensorElementType.Float, [2], (IntPtr)moments, 2 * sizeof(float));
            var started = OnnxRunClock.Start();
            var encoded = _models.Rest.Run(_runOptions, s_restInputs, [linearValue, momentsValue], s_restOutputs);
            OnnxRunClock.StopRecognizer(started);
            return encoded;
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
