using AsrService.Core.Models;
using AsrService.Core.Recognition;

namespace AsrService.Onnx;

/// <summary>
/// Loads the models a pipeline needs, by name from the manifest (downloading into the cache on first use) or from a
/// folder holding Moonshine's encoder_model.onnx and decoder_model_merged.onnx.
/// </summary>
public static class OnnxSpeechModels
{
    public const string DefaultModel = "tiny";

    public static MoonshineRecognizer LoadRecognizer(
        string nameOrPath, InferenceOptions options, ModelCache cache, CancellationToken cancellationToken = default, Action<string>? log = null)
    {
        var provider = OnnxSessionFactory.Resolve(options, cache, log);
        string encoder;
        string decoder;
        string name;
        if (Directory.Exists(nameOrPath))
        {
            name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(nameOrPath)));
            encoder = Path.Combine(nameOrPath, "encoder_model.onnx");
            decoder = Path.Combine(nameOrPath, "decoder_model_merged.onnx");
            if (!File.Exists(encoder) || !File.Exists(decoder))
            {
                throw new ModelLoadException($"{nameOrPath} must hold encoder_model.onnx and decoder_model_merged.onnx");
            }
        }
        else
        {
            var spec = cache.Manifest.Get(nameOrPath);
            if (spec.Kind != "moonshine")
            {
                throw new ModelLoadException($"'{nameOrPath}' is a {spec.Kind} model, not a speech recognizer");
            }

            var files = cache.Ensure(spec, cancellationToken);
            name = spec.Name;
            encoder = files["encoder"];
            decoder = files["decoder"];
        }

        var tokens = TokenDecoder.FromLlamaTokenizerJs(cache.Ensure(cache.Manifest.Get("tokenizer").Files["vocabulary"], cancellationToken));
        return new MoonshineRecognizer(name, encoder, decoder, tokens, options, provider, cache);
    }

    /// <summary>
    /// Writes the rewritten copy of a model file that CPU sessions load (see <see cref="Graph.QuantizedMatMulRewrite"/>)
    /// into the cache now rather than at first load, e.g. while building a container image whose model folder is
    /// read-only at run time. Returns its path, or null when the model has nothing to rewrite.
    /// </summary>
    public static string? PrepareGraphRewrites(string modelPath)
    {
        var rewritten = Graph.RewrittenModelFile.Prepare(modelPath);
        return rewritten.Bytes is null && rewritten.Path != modelPath ? rewritten.Path : null;
    }

    public static SileroVoiceActivityModel LoadVoiceActivityModel(InferenceOptions options, ModelCache cache, CancellationToken cancellationToken = default) =>
        new(cache.Ensure(cache.Manifest.Get("silero-vad").Files["model"], cancellationToken), options);
}
