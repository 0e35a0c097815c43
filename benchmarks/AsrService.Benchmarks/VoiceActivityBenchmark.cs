using AsrService.Core.Models;
using AsrService.Core.Recognition;
using AsrService.Core.Vad;
using AsrService.Onnx;
using BenchmarkDotNet.Attributes;

namespace AsrService.Benchmarks;

/// <summary>
/// One 32 ms Silero VAD window (512 samples at 16 kHz) on a long-lived stream, i.e. what every stream pays 31.25
/// times per second of audio whether anyone speaks or not. The windows walk through a real utterance so that the
/// recurrent state sees speech and pauses as it does in service.
/// </summary>
/// <remarks>Public and unsealed because BenchmarkDotNet derives its generated runner from benchmark classes.</remarks>
public class VoiceActivityBenchmark
{
    private const string Utterance = "1688-142285-0007";

    private SileroVoiceActivityModel _model = null!;
    private IVoiceActivityStream _stream = null!;
    private float[] _audio = null!;
    private int _windowCount;
    private int _nextWindow;

    [GlobalSetup]
    public void Setup()
    {
        _model = OnnxSpeechModels.LoadVoiceActivityModel(new InferenceOptions(), new ModelCache());
        _stream = _model.CreateStream();
        _audio = RepositoryLayout.ReadUtterance(Utterance);
        _windowCount = _audio.Length / _model.WindowSamples;
    }

    [Benchmark]
    public float Window()
    {
        var window = _audio.AsSpan(_nextWindow * _model.WindowSamples, _model.WindowSamples);
        _nextWindow = _nextWindow + 1 == _windowCount ? 0 : _nextWindow + 1;
        return _stream.Process(window);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stream.Dispose();
        _model.Dispose();
    }
}
