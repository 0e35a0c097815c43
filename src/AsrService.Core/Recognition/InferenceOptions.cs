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
    /// Beams for the decode of a closed segment (finals and offline transcription): 1 is greedy decoding; more runs a
    /// beam search with the beams as the batch of one decoder call per step. Interim results stay greedy.
    /// </summary>
    public int BeamSize { get; set; } = 1;

    /// <summary>Decoding stops after this many tokens per second of audio: a guard against a decoder that loops.</summary>
    public double MaxTokensPerSecond { get; set; } = 6.5;

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

        if (MaxTokensPerSecond is <= 0 or > 100)
        {
            throw new ArgumentException($"max tokens per second must be in (0, 100], got {MaxTokensPerSecond}");
        }
    }
}
