using AsrService.Core.Recognition;
using AsrService.Core.Vad;
using Microsoft.ML.OnnxRuntime;

namespace AsrService.Onnx;

/// <summary>
/// Silero VAD v5 at 16 kHz. The model sees each 512-sample window with the 64 samples before it and carries an LSTM
/// state of [2, 1, 128] from window to window; that state is what makes each stream's detector stateful.
/// </summary>
public sealed class SileroVoiceActivityModel : IVoiceActivityModel, IDisposable
{
    internal const int Window = 512;
    internal const int Context = 64;
    internal const int StateSize = 2 * 1 * 128;

    private readonly InferenceSession _session;

    public SileroVoiceActivityModel(string path, InferenceOptions options)
    {
        // One window is a few microseconds of arithmetic: more than one thread only adds hand-off cost.
        _session = OnnxSessionFactory.Create(path, options, intraOpThreads: 1);
    }

    public int WindowSamples => Window;

    public IVoiceActivityStream CreateStream() => new Stream(_session);

    public void Dispose() => _session.Dispose();

    private sealed class Stream : IVoiceActivityStream
    {
        private static readonly string[] s_inputNames = ["input", "state", "sr"];
        private static readonly string[] s_outputNames = ["output", "stateN"];

        private readonly InferenceSession _session;
        private readonly RunOptions _runOptions = new();
        private readonly float[] _input = new float[Context + Window];
        private readonly float[] _state = new float[StateSize];
        private readonly float[] _nextState = new float[StateSize];
        private readonly float[] _probability = new float[1];
        private readonly long[] _sampleRate = [16_000];
        private readonly OrtValue[] _inputs;
        private readonly OrtValue[] _outputs;

        public Stream(InferenceSession session)
        {
            _session = session;
            _inputs =
            [
                OrtValue.CreateTensorValueFromMemory(_input, [1, Context + Window]),
                OrtValue.CreateTensorValueFromMemory(_state, [2, 1, 128]),
                OrtValue.CreateTensorValueFromMemory(_sampleRate, []),
            ];
            _outputs =
            [
                OrtValue.CreateTensorValueFromMemory(_probability, [1, 1]),
                OrtValue.CreateTensorValueFromMemory(_nextState, [2, 1, 128]),
            ];
        }

        public float Process(ReadOnlySpan<float> window)
        {
            if (window.Length != Window)
            {
                throw new ArgumentException($"a VAD window is {Window} samples, got {window.Length}", nameof(window));
            }

            window.CopyTo(_input.AsSpan(Context));
            var started = OnnxRunClock.Start();
            _session.Run(_runOptions, s_inputNames, _inputs, s_outputNames, _outputs);
            OnnxRunClock.Stop(started);
            _nextState.CopyTo(_state, 0);
            _input.AsSpan(Window, Context).CopyTo(_input);
            return _probability[0];
        }

        public void Reset()
        {
            Array.Clear(_input);
            Array.Clear(_state);
        }

        public void Dispose()
        {
            foreach (var value in _inputs)
            {
                value.Dispose();
            }

            foreach (var value in _outputs)
            {
                value.Dispose();
            }

            _runOptions.Dispose();
        }
    }
}
