using AsrService.Core.Models;
using AsrService.Core.Recognition;
using AsrService.Onnx.Graph;
using Microsoft.ML.OnnxRuntime;

namespace AsrService.Onnx;

/// <summary>Creates ONNX Runtime sessions with our threading and provider settings, and reports load failures as
/// <see cref="ModelLoadException"/> with the file named.</summary>
internal static class OnnxSessionFactory
{
    /// <summary>
    /// Resolves <see cref="ExecutionProviderKind.Auto"/> and <see cref="ExecutionProviderKind.Cuda"/> to what this
    /// machine can do: cuda fails with the reason when CUDA cannot be used, auto falls back to cpu and says why.
    /// </summary>
    public static ExecutionProviderKind Resolve(InferenceOptions options, ModelCache cache, Action<string>? log)
    {
        if (options.Provider == ExecutionProviderKind.Cpu)
        {
            return ExecutionProviderKind.Cpu;
        }

        if (CudaExecutionProvider.TryGetDevice(cache, out var failure) is not null)
        {
            return ExecutionProviderKind.Cuda;
        }

        if (options.Provider == ExecutionProviderKind.Cuda)
        {
            throw new ModelLoadException($"--provider cuda: {failure}; use --provider cpu, or auto to fall back to the CPU");
        }

        log?.Invoke($"CUDA is not available ({failure}); using the CPU");
        return ExecutionProviderKind.Cpu;
    }

    public static InferenceSession Create(
        string path, InferenceOptions options, int? intraOpThreads = null, ExecutionProviderKind provider = ExecutionProviderKind.Cpu,
        ModelCache? cache = null, Action<string>? log = null) =>
        Create(path, options, intraOpThreads, provider, cache,
            provider == ExecutionProviderKind.Cpu && options.RewriteGraphs ? RewrittenModelFile.Prepare : null, log);

    /// <summary>
    /// A session on the batched-step model built from the merged decoder at <paramref name="path"/>
    /// (<see cref="BatchedStepRewrite"/>), taking its cross-attention keys in the layout that the solo decoder
    /// session returns them in (<paramref name="crossKeysTransposed"/>, see <see cref="MoonshineLayout.CrossKeysTransposed"/>).
    /// </summary>
    public static InferenceSession CreateBatchedStep(
        string path, bool crossKeysTransposed, InferenceOptions options, ExecutionProviderKind provider, ModelCache? cache, Action<string>? log) =>
        Create(path, options, null, provider, cache, model => RewrittenModelFile.PrepareBatchedStep(model, crossKeysTransposed), log);

    /// <summary>
    /// A session on the solo-step model built from the merged decoder at <paramref name="path"/>
    /// (<see cref="SoloStepRewrite"/>), or null when that is not a merged decoder.
    /// </summary>
    public static InferenceSession? CreateSoloStep(string path, InferenceOptions options, ModelCache? cache, Action<string>? log)
    {
        var prepared = RewrittenModelFile.PrepareSoloStep(path);
        if (prepared.IsOriginal)
        {
            return null;
        }

        return Create(
            path, options, null, ExecutionProviderKind.Cpu, cache, PreparedFirst(prepared, RewrittenModelFile.PrepareSoloStep), log,
            SoloStepRewrite.DisabledOptimizers);
    }

    /// <summary>
    /// The encoder at <paramref name="encoderPath"/> split for incremental interim updates (<see cref="EncoderStemSplit"/>),
    /// or null when it does not have the stem that the split needs.
    /// </summary>
    public static SplitEncoderModels? CreateSplitEncoder(string encoderPath, InferenceOptions options, ModelCache? cache, Action<string>? log)
    {
        var stem = RewrittenModelFile.PrepareEncoderPart(encoderPath, "stem");
        if (stem.IsOriginal)
        {
            return null;
        }

        var stemSession = Create(
            encoderPath, options, null, ExecutionProviderKind.Cpu, cache, PreparedFirst(stem, path => RewrittenModelFile.PrepareEncoderPart(path, "stem")), log);
        try
        {
            var restSession = Create(encoderPath, options, null, ExecutionProviderKind.Cpu, cache, path => RewrittenModelFile.PrepareEncoderPart(path, "rest"), log);
            return new SplitEncoderModels(stemSession, restSession);
        }
        catch
        {
            stemSession.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Session configuration entries for <paramref name="intraOpThreads"/> threads per run. ONNX Runtime's pool
    /// threads spin for a while after each run by default. Our sessions take turns on the same cores (the encoder,
    /// then the decoder's steps), so a worker still spinning after one session's run takes a core from the next one.
    /// With 2 threads per run on 2 cores, turning spinning off took a 10 s interim update from 146 to 103 ms and the
    /// offline dev set from RTF 0.026 to 0.024 at a third less CPU (benchmarks/results/2026-11-22-thread-spinning.md).
    /// </summary>
    internal static IReadOnlyList<(string Key, string Value)> ThreadingEntries(int intraOpThreads) =>
        intraOpThreads > 1 ? [("session.intra_op.allow_spinning", "0")] : [];

    /// <param name="rewrite">
    /// Prepares the file (or bytes) to load instead of <paramref name="path"/>; null loads it as it is. It is called
    /// a second time if the rewritten copy it found in the cache does not load (a damaged file): that copy is deleted
    /// first, so the second call rebuilds it from the original, which the model cache has verified.
    /// </param>
    /// <param name="log">Told when a damaged rewritten copy is rebuilt.</param>
    /// <param name="disabledOptimizers">ONNX Runtime graph optimizers not to run on this model (names separated by <c>;</c>).</param>
    private static InferenceSession Create(
        string path, InferenceOptions options, int? intraOpThreads, ExecutionProviderKind provider, ModelCache? cache,
        Func<string, RewrittenModelFile>? rewrite, Action<string>? log, string? disabledOptimizers = null)
    {
        if (!File.Exists(path))
        {
            throw new ModelLoadException($"model file not found: {path}");
        }

        if (options.ProfileDirectory is { } profileDirectory)
        {
            try
            {
                Directory.CreateDirectory(profileDirectory);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ModelLoadException($"cannot create the profile folder {profileDirectory}: {e.Message}", e);
            }
        }

        using var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = intraOpThreads ?? options.IntraOpThreads,
            InterOpNumThreads = 1,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };

        foreach (var (key, value) in ThreadingEntries(sessionOptions.IntraOpNumThreads))
        {
            sessionOptions.AddSessionConfigEntry(key, value);
        }

        if (disabledOptimizers is not null)
        {
            sessionOptions.AddSessionConfigEntry("optimization.disable_specified_optimizers", disabledOptimizers);
        }

        if (provider == ExecutionProviderKind.Cuda)
        {
            var device = CudaExecutionProvider.TryGetDevice(cache ?? new ModelCache(), out var failure)
                ?? throw new ModelLoadException($"--provider cuda: {failure}");
            sessionOptions.AppendExecutionProvider(OrtEnv.Instance(), [device], new Dictionary<string, string>());
            if (Environment.GetEnvironmentVariable("ASR_DISABLE_CPU_FALLBACK") == "1")
            {
                // For GPU measurements: a node the GPU cannot run fails the load instead of silently running on the CPU.
                sessionOptions.AddSessionConfigEntry("session.disable_cpu_ep_fallback", "1");
            }
        }

        try
        {
            if (rewrite is null)
            {
                ProfileInto(sessionOptions, options.ProfileDirectory, path);
                return new InferenceSession(path, sessionOptions);
            }

            var rewritten = rewrite(path);
            try
            {
                return Load(rewritten, sessionOptions, options.ProfileDirectory);
            }
            catch (OnnxRuntimeException e) when (rewritten.FromCache)
            {
                log?.Invoke($"the rewritten copy {rewritten.Path} could not be loaded ({FirstLine(e.Message)}); rebuilding it from {path}");
                RewrittenModelFile.Discard(rewritten.Path);
                return Load(rewrite(path), sessionOptions, options.ProfileDirectory);
            }
        }
        catch (OnnxRuntimeException e)
        {
            throw new ModelLoadException($"ONNX Runtime could not load {path}: {e.Message}", e);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new ModelLoadException($"{path} is not a valid ONNX model: {e.Message}", e);
        }
    }

    /// <summary>
    /// A rewrite for <see cref="Create(string, InferenceOptions, int?, ExecutionProviderKind, ModelCache?, Func{string, RewrittenModelFile}?, Action{string}?, string?)"/>
    /// that returns the file already prepared the first time and prepares it again after that (once a damaged cached
    /// copy has been deleted).
    /// </summary>
    private static Func<string, RewrittenModelFile> PreparedFirst(RewrittenModelFile prepared, Func<string, RewrittenModelFile> again)
    {
        RewrittenModelFile? first = prepared;
        return path =>
        {
            var file = first ?? again(path);
            first = null;
            return file;
        };
    }

    private static InferenceSession Load(RewrittenModelFile rewritten, SessionOptions sessionOptions, string? profileDirectory)
    {
        ProfileInto(sessionOptions, profileDirectory, rewritten.Path);
        return rewritten.Bytes is { } bytes ? new InferenceSession(bytes, sessionOptions) : new InferenceSession(rewritten.Path, sessionOptions);
    }

    /// <summary>
    /// Turns on ONNX Runtime's profiling for a session on <paramref name="file"/> when <paramref name="directory"/> is
    /// set: its trace goes to <c>DIRECTORY/FILE-NAME_DATE.json</c> (named after the file loaded, so that the solo-step,
    /// batched-step and rewritten decoder sessions of one model can be told apart).
    /// </summary>
    private static void ProfileInto(SessionOptions sessionOptions, string? directory, string file)
    {
        if (directory is null)
        {
            return;
        }

        // The prefix first: ONNX Runtime takes it when profiling is turned on.
        sessionOptions.ProfileOutputPathPrefix = Path.Combine(directory, Path.GetFileNameWithoutExtension(file));
        sessionOptions.EnableProfiling = true;
    }

    private static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();
}
