namespace AsrService.Core.Recognition;

/// <summary>Where models run.</summary>
public enum ExecutionProviderKind
{
    /// <summary>ONNX Runtime's CPU provider.</summary>
    Cpu,

    /// <summary>NVIDIA CUDA through ONNX Runtime's CUDA plugin provider; fails if CUDA cannot be loaded.</summary>
    Cuda,

    /// <summary>CUDA when it loads, otherwise CPU.</summary>
    Auto,
}

/// <summary>How model sessions are created: the execution provider and the threads each run may use.</summary>
public sealed class InferenceOptions
{
    /// <summary>Threads one ONNX Runtime run may use (intra-op). Default: all cores, which suits one stream at a time.</summary>
    public int IntraOpThreads { get; set; } = Environment.ProcessorCount;

    public ExecutionProviderKind Provider { get; set; } = ExecutionProviderKind.Cpu;

    /// <summary>
    /// Apply the load-time graph rewrites on the CPU (int8 weight MatMuls left behind a dequantization become one
    /// dynamically quantized MatMul; see AsrService.Onnx.Graph). On by default; off loads the models as downloaded.
    /// </summary>
    public bool RewriteGraphs { get; set; } = true;

    /// <summary>
    /// Interim updates of a growing segment keep the start of the encoder's work from the previous update and redo it
    /// for the new audio only (CPU, with the graph rewrites). Finals are decoded from scratch either way. On by default.
    /// </summary>
    public bool IncrementalInterims { get; set; } = true;

    /// <summary>
    /// With <see cref="IncrementalInterims"/>: seconds at the end of an open segment that an interim update encodes
    /// again besides the new audio. Frames before that keep the encoding an earlier update gave them, so an update of
    /// a long segment costs about the same as one of a short one; the approximation is that those frames do not see
    /// the audio that came after their update. 0 encodes the whole segment at every update. Finals are exact either way.
    /// </summary>
    public double InterimEncoderWindowSeconds { get; set; } = DefaultInterimEncoderWindowSeconds;

    /// <summary>
    /// 3 s: a 10 s update on tiny 106 → 68 ms (0.53 → 0.34 of a decode from scratch); on the dev set 6.6 % of the
    /// updates' words differ from a decode from scratch against 5.4 % without the window (base 6.0 against 4.0 %)
    /// (benchmarks/results/2026-12-07-encoder-window.md).
    /// </summary>
    public const double DefaultInterimEncoderWindowSeconds = 3;

    /// <summary>
    /// Beams for the decode of a closed segment (finals and offline transcription): 1 is greedy decoding; more runs a
    /// beam search with the beams as the batch of one decoder call per step. Interim results stay greedy.
    /// </summary>
    public int BeamSize { get; set; } = 1;

    /// <summary>Decoding stops after this many tokens per second of audio: a guard against a decoder that loops.</summary>
    public double MaxTokensPerSecond { get; set; } = 6.5;

    /// <summary>
    /// A folder for ONNX Runtime's profile of every model session (Chrome trace JSON, one file per session, written
    /// when the session is disposed), for finding where the time goes on a given machine; null (the default) profiles
    /// nothing. The profiler slows every run, so a profiled run is not a speed measurement.
    /// </summary>
    public string? ProfileDirectory { get; set; }

    /// <summary>The largest <see cref="InterimEncoderWindowSeconds"/> accepted (twice the default longest segment).</summary>
    public const double MaxInterimEncoderWindowSeconds = 60;

    public void Validate()
    {
        if (IntraOpThreads is < 1 or > 256)
        {
            throw new ArgumentException($"threads must be between 1 and 256, got {IntraOpThreads}");
        }

        if (BeamSize is < 1 or > BeamSearch.MaxBeamSize)
        {
            throw new ArgumentException($"beam size must be between 1 and {BeamSearch.MaxBeamSize}, got {BeamSize}");
        }

        if (InterimEncoderWindowSeconds is < 0 or > MaxInterimEncoderWindowSeconds || double.IsNaN(InterimEncoderWindowSeconds))
        {
            throw new ArgumentException($"the interim encoder window must be between 0 and {MaxInterimEncoderWindowSeconds} seconds, got {InterimEncoderWindowSeconds}");
        }

        if (ProfileDirectory is { } profile && string.IsNullOrWhiteSpace(profile))
        {
            throw new ArgumentException("the profile folder must not be empty");
        }

        if (MaxTokensPerSecond is <= 0 or > 100)
        {
            throw new ArgumentException($"max tokens per second must be in (0, 100], got {MaxTokensPerSecond}");
        }
    }
}
