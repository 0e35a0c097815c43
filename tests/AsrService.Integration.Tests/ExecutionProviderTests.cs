using System.Runtime.InteropServices;
using AsrService.Core.Models;
using AsrService.Core.Recognition;
using AsrService.Onnx;

namespace AsrService.Integration.Tests;

/// <summary>
/// --provider on a machine with or without CUDA 13. Without it (CI), cuda must fail at once with the reason and auto
/// must fall back to the CPU and say so; with it (a GPU host), both must load on CUDA.
/// </summary>
[Collection(ModelCollection.Name)]
public sealed class ExecutionProviderTests(ModelFixture models)
{
    private static readonly bool s_hasCuda = NativeLibrary.TryLoad("libcublasLt.so.13", out _);

    [Fact]
    public void LoadRecognizer_CudaRequested_FailsWithReasonOrRunsOnCuda()
    {
        var options = new InferenceOptions { Provider = ExecutionProviderKind.Cuda };
        if (s_hasCuda)
        {
            using var recognizer = OnnxSpeechModels.LoadRecognizer("tiny", options, models.Cache);
            Assert.Equal("cuda", recognizer.ExecutionProvider);
            return;
        }

        var error = Assert.Throws<ModelLoadException>(() => OnnxSpeechModels.LoadRecognizer("tiny", options, models.Cache));
        Assert.Contains("--provider cuda", error.Message);
        Assert.Contains(".so.13", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void LoadRecognizer_AutoWithoutCuda_FallsBackToCpuAndSaysWhy()
    {
        var messages = new List<string>();
        using var recognizer = OnnxSpeechModels.LoadRecognizer(
            "tiny", new InferenceOptions { Provider = ExecutionProviderKind.Auto }, models.Cache, log: messages.Add);

        if (s_hasCuda)
        {
            Assert.Equal("cuda", recognizer.ExecutionProvider);
            return;
        }

        Assert.Equal("cpu", recognizer.ExecutionProvider);
        Assert.Contains(messages, m => m.Contains("CUDA is not available", StringComparison.Ordinal));
        using var session = recognizer.CreateSession();
        Assert.Equal(string.Empty, session.Recognize(new float[16_000]).Text.Trim('.', ' '));
    }
}
