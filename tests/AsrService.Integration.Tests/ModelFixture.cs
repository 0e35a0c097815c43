using AsrService.Core.Models;
using AsrService.Core.Recognition;
using AsrService.Onnx;

namespace AsrService.Integration.Tests;

/// <summary>
/// The real models, loaded once for the whole test assembly. They come from the model cache ($ASR_MODELS_DIR or
/// ~/.cache/asrservice/models) and are downloaded there on first use; a download failure fails the tests with the
/// cache's message rather than skipping them, because the models can always be fetched where the tests run.
/// </summary>
public sealed class ModelFixture : IDisposable
{
    private readonly Lazy<MoonshineRecognizer> _base;

    public ModelFixture()
    {
        Cache = new ModelCache();
        Options = new InferenceOptions();
        Tiny = OnnxSpeechModels.LoadRecognizer("tiny", Options, Cache);
        VoiceActivity = OnnxSpeechModels.LoadVoiceActivityModel(Options, Cache);
        _base = new Lazy<MoonshineRecognizer>(() => OnnxSpeechModels.LoadRecognizer("base", Options, Cache));
    }

    public ModelCache Cache { get; }

    public InferenceOptions Options { get; }

    public MoonshineRecognizer Tiny { get; }

    public MoonshineRecognizer Base => _base.Value;

    public SileroVoiceActivityModel VoiceActivity { get; }

    public void Dispose()
    {
        Tiny.Dispose();
        VoiceActivity.Dispose();
        if (_base.IsValueCreated)
        {
            _base.Value.Dispose();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ModelCollection : ICollectionFixture<ModelFixture>
{
    public const string Name = "models";
}
