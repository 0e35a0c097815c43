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
        return new MoonshineRecognizer(name, encoder, decoder, tokens, options, provider, cache, log);
    }

    /// <summary>
    /// Writes the files that CPU sessions load instead of a model file into the cache now rather than at first load,
    /// e.g. while building a container image whose model folder is read-only at run time: the rewritten copy (see
    /// <see cref="Graph.QuantizedMatMulRewrite"/>), for an encoder the two parts that interim updates run
    /// (<see cref="Graph.EncoderStemSplit"/>), and for a merged decoder the solo-step model (<see cref="Graph.SoloStepRewrite"/>). Returns their paths; none when the model has nothing to rewrite.
    /// </summary>
    public static IReadOnlyList<string> PrepareGraphRewrites(string modelPath)
    {
        Graph.RewrittenModelFile[] prepared =
        [
            Graph.RewrittenModelFile.Prepare(modelPath),
            Graph.RewrittenModelFile.PrepareEncoderPart(modelPath, "stem"),
            Graph.RewrittenModelFile.PrepareEncoderPart(modelPath, "rest"),
            Graph.RewrittenModelFile.PrepareSoloStep(modelPath),
        ];
        return [.. prepared.Where(file => file.Bytes is null && file.Path != modelPath).Select(file => file.Path)];
    }

    public static SileroVoiceActivityModel LoadVoiceActivityModel(InferenceOptions options, ModelCache cache, CancellationToken cancellationToken = default) =>
        new(cache.Ensure(cache.Manifest.Get("silero-vad").Files["model"], cancellationToken), options);
}
