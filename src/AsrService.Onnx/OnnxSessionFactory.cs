using AsrService.Core.Models;
using AsrService.Core.Recognition;
using Microsoft.ML.OnnxRuntime;

namespace AsrService.Onnx;

/// <summary>Creates ONNX Runtime sessions with our threading and provider settings, and reports load failures as
/// <see cref="ModelLoadException"/> with the file named.</summary>
internal static class OnnxSessionFactory
{
    public static InferenceSession Create(string path, InferenceOptions options, int? intraOpThreads = null)
    {
        if (!File.Exists(path))
        {
            throw new ModelLoadException($"model file not found: {path}");
        }

        using var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = intraOpThreads ?? options.IntraOpThreads,
            InterOpNumThreads = 1,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };

        if (options.Provider == ExecutionProviderKind.Cuda)
        {
            throw new ModelLoadException("the CUDA execution provider is not available in this build yet; use --provider cpu");
        }

        try
        {
            return new InferenceSession(path, sessionOptions);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ModelLoadException($"ONNX Runtime could not load {path}: {e.Message}", e);
        }
    }
}
