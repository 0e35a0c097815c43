using System.Runtime.InteropServices;
using AsrService.Core.Models;
using Microsoft.ML.OnnxRuntime;

namespace AsrService.Onnx;

/// <summary>
/// ONNX Runtime's CUDA provider, loaded as a plugin: the core library we ship is a CPU build, so
/// AppendExecutionProvider_CUDA answers "not enabled in this build". The provider library (from the npm package in
/// the manifest, downloaded on first use) is registered with the environment once per process, and sessions append
/// the CUDA device it reports. Before downloading anything we check that the CUDA 13 runtime libraries it links
/// against can be loaded, so that a machine without a GPU gets a one-line reason at once.
/// </summary>
internal static class CudaExecutionProvider
{
    private const string RegistrationName = "CUDA";
    private static readonly string[] s_requiredLibraries = ["libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13"];
    private static readonly Lock s_lock = new();
    private static OrtEpDevice? s_device;
    private static string? s_failure;

    /// <summary>
    /// Returns the CUDA device to append to session options, or null with the reason it cannot be used.
    /// </summary>
    public static OrtEpDevice? TryGetDevice(ModelCache cache, out string? failure)
    {
        lock (s_lock)
        {
            if (s_device is null && s_failure is null)
            {
                s_failure = Load(cache, out s_device);
            }

            failure = s_failure;
            return s_device;
        }
    }

    private static string? Load(ModelCache cache, out OrtEpDevice? device)
    {
        device = null;
        foreach (var library in s_requiredLibraries)
        {
            if (!NativeLibrary.TryLoad(library, out var handle))
            {
                return $"the CUDA 13 runtime is not installed ({library} cannot be loaded; add its folder to LD_LIBRARY_PATH)";
            }

            NativeLibrary.Free(handle);
        }

        var files = cache.Ensure(cache.Manifest.Get("cuda-provider"));
        var environment = OrtEnv.Instance();
        try
        {
            environment.RegisterExecutionProviderLibrary(RegistrationName, files["provider"]);
        }
        catch (OnnxRuntimeException e)
        {
            return $"ONNX Runtime could not load its CUDA provider: {e.Message}";
        }

        device = environment.GetEpDevices().FirstOrDefault(d => d.EpName == "CUDAExecutionProvider");
        return device is null ? "the CUDA provider loaded but reported no GPU" : null;
    }
}
